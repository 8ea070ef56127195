"""tsgate: which recurrent backbone forecasts your series best, at what cost.

`import tsgate` stays light: torch, pandas and scikit-learn load only when a
Forecaster is built or a command needs them.
"""

import os

from tsgate.version import __version__

# OpenMP threads busy-wait by default; on a shared 2-core machine that made
# small recurrent steps 25-30x slower. It must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Forecaster", "__version__"]


def __getattr__(name):
    if name == "Forecaster":
        from tsgate.forecaster import Forecaster

        return Forecaster
    raise AttributeError(f"module 'tsgate' has no attribute {name!r}")
