"""compare's whole run: an optional search per backbone, the comparison, optional claims.

The CLI hands over parsed options and callbacks and gets back plain data; the order lives here:
the search (tune.py) sees only the data before the first test period, the comparison (compare.py)
trains what the search found, and the claims (claims.py) are judged with the search's trials in
the rows, since "converges more easily" reads their spread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Experiment:
    """What compare found: the comparison, and the claims with their plan when asked for."""

    comparison: object  # compare.Comparison
    claims: list | None = None  # [claims.Claim]
    plan: object = None  # claims.ClaimsPlan


def run_experiment(series, template, options, request=None, claims: bool = False, on_step=None, on_trial=None,
                   on_plan=None, keep_models: bool = False, jobs: int | None = 1) -> Experiment:
    """Tune each backbone when `request` (tune.TuningRequest) is given, then compare them, then test
    the claims when asked. Callbacks: on_step(done, total, label) for training, on_trial(...) for
    the search's trials (tune.tune), on_plan(plan) before the claims' sweeps."""
    from tsgate.compare import run_comparison

    templates = tuning = None
    if request is not None:
        from tsgate.tune import tune_comparison

        started = time.perf_counter()
        templates, found = tune_comparison(series, template, options, request, jobs, on_trial)
        tuning = ({name: result.summary() for name, result in found.items()},
                  {**request.settings(), "seconds": time.perf_counter() - started})
    if not claims:
        return Experiment(run_comparison(series, template, options, on_step, keep_models, jobs, templates, tuning))
    from tsgate.claims import run_claims

    comparison, judged, plan = run_claims(series, template, options, on_step=on_step, on_plan=on_plan, jobs=jobs,
                                          templates=templates, tuning=tuning)
    return Experiment(comparison, judged, plan)
