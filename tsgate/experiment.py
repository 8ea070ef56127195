"""train's and compare's whole runs, in order, below the CLI.

The CLI hands over parsed options and callbacks and gets back plain data; the order lives here.
train: the size and budget controls, an optional search, then the fit of what it found. compare:
an optional search per backbone (tune.py), which sees only the data before the first test period,
the comparison (compare.py), which trains what the search found, and the claims (claims.py), judged
with the search's trials in the rows, since "converges more easily" reads their spread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def run_training(series, forecaster, controls: dict, request=None, jobs: int = 1, on_progress=None, on_trial=None):
    """(the fitted forecaster, the search's summary or None): `forecaster` sized by `controls` (the
    keyword arguments of controls.sized_forecaster), tuned when `request` is given, then fitted.
    on_progress(backbone, step, steps, train_loss, val_loss) sees the fit, on_trial(...) the trials."""
    from tsgate.controls import sized_forecaster

    forecaster, tuned = sized_forecaster(series, forecaster, **controls), None
    seconds = controls["budget"].seconds
    if request is not None:
        from tsgate.tune import tune_forecaster

        forecaster, tuned = tune_forecaster(series, forecaster, request, jobs, on_trial, seconds)
    backbone = forecaster.backbone
    forecaster.fit(series, on_progress=on_progress and (lambda *progress: on_progress(backbone, *progress)), jobs=jobs,
                   time_limit=seconds)
    if tuned is not None:  # the model file keeps the search without its timing, so that a rerun writes the same bytes
        forecaster.metrics_["tuning"] = {key: value for key, value in tuned.items() if key != "seconds"}
    return forecaster, tuned


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
