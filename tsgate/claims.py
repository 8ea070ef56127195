"""The common claims about RNN, GRU and LSTM, tested on the user's data (compare --claims).

First the ordinary comparison (compare.run_comparison, at matched parameter counts unless the user
asked otherwise); its fitted networks give the evidence on size, speed and convergence. Then two
sweeps, every fit of them through one call of ensemble.run_fits (the same worker pool and split):

- history: each backbone on nested suffixes of every fold's training part (the most recent 1/8,
  1/4, 1/2 and all of each series); for a panel, also on nested subsets of the series. Every fit
  of a sweep is scored on the same test points, so only the data it learned from changes.
- lookback: each backbone at multiples of the base lookback, on all the training data.

The sweep fits copy the configuration the comparison trained (matched hidden size, steps), with
`ClaimsOptions.ensemble` networks each and a fixed lookback, so that a smaller data set does not
also get a shorter automatic lookback. This module returns numbers; verdicts.py judges them and
wording.py words them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from tsgate.errors import DataError, OptionError

FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0)  # of each series' training part, most recent first
LOOKBACK_FACTORS = (0.25, 0.5, 1.0, 2.0)  # multiples of the base (automatic or given) lookback
NEAR_BEST = 0.05  # "converged": within 5% of the network's own best validation loss
MIN_WINDOWS = 4  # training windows each series must give a sweep fit
NEEDED_MODELS = ("rnn", "gru", "lstm")


@dataclass(frozen=True)
class ClaimsOptions:
    fractions: tuple[float, ...] = FRACTIONS  # of the training data, for lstm-better-on-large-data
    lookback_factors: tuple[float, ...] = LOOKBACK_FACTORS  # for rnn-enough-for-short-sequences
    ensemble: int = 1  # networks per sweep fit: the sweeps multiply the fits, one network each keeps them cheap


@dataclass(frozen=True)
class SweepPoint:
    """One setting of a sweep: axis "history" (value: fraction of each series), "series" (value:
    fraction of the series of a panel) or "lookback" (value: steps)."""

    axis: str
    value: float
    size: int  # history: training points of the deepest fold; series: series; lookback: the lookback


@dataclass
class ClaimsPlan:
    points: list[SweepPoint]
    dropped: list[dict]  # {"axis", "value", "have", "need"}: settings the data cannot hold
    base_lookback: int
    data: dict  # the data's size: series, points, training windows at the base lookback
    fits: int = 0  # sweep fits (backbones x seeds x folds x distinct points)
    seconds: float | None = None  # the sweep's wall time, estimated from the comparison's networks
    workers: int = 1

    def axis(self, name: str) -> list[SweepPoint]:
        return [point for point in self.points if point.axis == name]

    @property
    def aliases(self) -> dict:
        """{lookback point: history point} for the fit both sweeps share: all the data at the base lookback."""
        full = [p for p in self.axis("history") if p.value == 1.0]
        return {p: full[0] for p in self.axis("lookback") if full and p.value == self.base_lookback}

    @property
    def distinct(self) -> list[SweepPoint]:
        """The points that need fits of their own."""
        return [p for p in self.points if p not in self.aliases]


@dataclass
class Claim:
    id: str
    verdict: str  # verdicts.VERDICTS
    evidence: dict = field(default_factory=dict)


@dataclass
class SweepFit:
    point: SweepPoint
    forecaster: object
    train_set: object  # what it learns from
    score_set: object  # what it forecasts from: the same end, and the series every point of its axis scores
    truth: np.ndarray  # (S, H, C)
    scoring: object  # compare.Scoring
    fold: int


# ---- the plan -----------------------------------------------------------------------------------


def plan_claims(series, template, options, claims: ClaimsOptions = ClaimsOptions()) -> ClaimsPlan:
    """Which sweep settings the data can hold (on its deepest fold, where training data is shortest).
    DataError, in one line, when it holds none of the sweeps."""
    from tsgate.compare import split_fold

    missing = [name for name in NEEDED_MODELS if name not in options.models]
    if missing:
        raise OptionError(f"--claims compares rnn, gru and lstm; --models lacks {', '.join(missing)}: "
                          "use --models rnn,gru,lstm")
    deepest = replace(split_fold(series, template.horizon, options.folds - 1)[0], strict=True)
    base = template.resolve_lookback(deepest)
    points, dropped = [], []
    for fraction in sorted(claims.fractions):
        lengths = np.ceil(fraction * deepest.length_array).astype(np.int64)
        need = points_needed(base, template, lengths)
        if (lengths >= need).all():
            points.append(SweepPoint("history", fraction, int(lengths.sum())))
        else:
            dropped.append({"axis": "history", "value": fraction, "have": int(lengths.min()), "need": int(need.max())})
    points += series_points(len(series.ids), claims.fractions)
    for lookback in sorted({max(1, round(factor * base)) for factor in claims.lookback_factors}):
        need = points_needed(lookback, template, deepest.length_array)
        if (deepest.length_array >= need).all():
            points.append(SweepPoint("lookback", lookback, lookback))
        else:
            dropped.append({"axis": "lookback", "value": lookback, "have": int(deepest.length_array.min()),
                            "need": int(need.max())})
    plan = ClaimsPlan(points, dropped, base, data_size(series, deepest, base, template))
    if all(len(plan.axis(axis)) < 2 for axis in ("history", "series", "lookback")):
        worst = min(dropped, key=lambda d: d["need"] - d["have"]) if dropped else {"have": 0, "need": 0}
        raise DataError(f"--claims needs room for at least two data sizes or two lookbacks, but the shortest series "
                        f"leaves {worst['have']} training points where a sweep fit needs {worst['need']}: use longer "
                        "series, a shorter --horizon or fewer --folds")
    return plan


def points_needed(lookback: int, template, lengths: np.ndarray) -> np.ndarray:
    """Points a series of each length in `lengths` needs for MIN_WINDOWS training windows of `lookback`."""
    from tsgate.windows import validation_lengths

    return lookback + template.horizon + validation_lengths(lengths, template.horizon, template.val_fraction) + MIN_WINDOWS - 1


def series_points(count: int, fractions: tuple[float, ...]) -> list[SweepPoint]:
    """Nested shares of a panel's series, one point per distinct number of series."""
    if count < 2:
        return []
    sizes = sorted({max(1, math.ceil(fraction * count)) for fraction in fractions})
    return [SweepPoint("series", size / count, size) for size in sizes]


def data_size(series, deepest, lookback: int, template) -> dict:
    from tsgate.windows import validation_lengths

    train = deepest.length_array - validation_lengths(deepest.length_array, template.horizon, template.val_fraction)
    windows = np.maximum(train - lookback - template.horizon + 1, 0)
    return {"series": len(series.ids), "points": int(series.length_array.sum()),
            "training_windows": int(windows.sum()), "base_lookback": lookback}


# ---- running it ---------------------------------------------------------------------------------


def run_claims(series, template, options, claims: ClaimsOptions = ClaimsOptions(), on_step=None, on_plan=None,
               jobs: int | None = 1, templates: dict | None = None, tuning: tuple | None = None):
    """(the comparison, [Claim], the ClaimsPlan): compare's rows, then the sweeps. `on_plan(plan)` hears
    the sweeps' size and estimated time before they start; `on_step(done, total, label)` their progress.
    `templates` (tuned configurations) and `tuning` (their search) go to run_comparison, and the
    sweeps copy what it trained."""
    from tsgate.compare import run_comparison
    from tsgate.controls import parse_budget
    from tsgate.ensemble import run_fits

    plan = plan_claims(series, template, options, claims)
    comparison = run_comparison(series, template, options, on_step, keep_models=True, jobs=jobs, templates=templates,
                                tuning=tuning)
    fitted = fitted_by_backbone(comparison.models)
    fits = sweep_fits(series, template, options, plan, claims, fitted)
    plan.fits, plan.workers = len(fits), min(template.workers(jobs), max(len(fits), 1))
    plan.seconds = estimate_seconds(fits, fitted, plan)
    if on_plan:
        on_plan(plan)
    label = f"claims: {len(fits)} sweep fits"
    progress = on_step and (lambda done, total, train_loss, val_loss: on_step(done, total, label))
    time_limit = parse_budget(options.budget).seconds  # --budget seconds:S holds for the sweeps too
    run_fits([fit.forecaster.fitting(fit.train_set, time_limit) for fit in fits], template.workers(jobs), progress,
             sum(fit.forecaster.expected_steps(fit.train_set) for fit in fits))
    runs = {point: [] for point in plan.distinct}
    for fit in fits:
        runs[fit.point].append(sweep_run(fit))
    runs.update({alias: runs[point] for alias, point in plan.aliases.items()})
    return comparison, judge(comparison, fitted, plan, runs, template, options.seeds), plan


def fitted_by_backbone(models: dict) -> dict:
    """{backbone: [fitted Forecaster of each seed and fold]} from a comparison's kept models."""
    fitted: dict = {}
    for forecaster in models.values():
        fitted.setdefault(forecaster.backbone, []).append(forecaster)
    return fitted


def sweep_fits(series, template, options, plan: ClaimsPlan, claims: ClaimsOptions, fitted: dict) -> list[SweepFit]:
    """Every sweep fit: backbone x seed x fold x distinct point (see ClaimsPlan.distinct)."""
    from tsgate.compare import Scoring, mase_scale, resolve_season, split_fold

    season = resolve_season(options, series, min(series.lengths) - options.folds * template.horizon)
    order = np.random.default_rng(template.seed).permutation(len(series.ids))  # the series sweep's nesting
    smallest = np.sort(order[:min((p.size for p in plan.axis("series")), default=len(series.ids))])
    fits = []
    for fold in range(options.folds):
        train_set, truth = split_fold(series, template.horizon, fold)
        train_set = replace(train_set, strict=True)
        scale = mase_scale(train_set, season)  # (S, 1, C): the whole fold's, so every point scores alike
        for point in plan.distinct:
            learn, keep = point_data(point, train_set, order, smallest)
            lookback = point.value if point.axis == "lookback" else plan.base_lookback
            for backbone in NEEDED_MODELS:
                configured = fitted[backbone][0]  # the comparison's configuration: matched size, budget
                for offset in range(options.seeds):
                    forecaster = configured.with_params(lookback=int(lookback), ensemble=claims.ensemble,
                                                        seed=template.seed + offset)
                    fits.append(SweepFit(point, forecaster, learn, train_set.subset(keep), truth[keep],
                                         Scoring(scale[keep], ()), fold))
    return fits


def point_data(point: SweepPoint, train_set, order: np.ndarray, smallest: np.ndarray):
    """(the training data of a sweep point, the series numbers it is scored on)."""
    everyone = np.arange(len(train_set.ids))
    if point.axis == "history":
        return recent_part(train_set, point.value), everyone
    if point.axis == "series":
        return train_set.subset(np.sort(order[:point.size])), np.sort(smallest)
    return train_set, everyone


def recent_part(series, fraction: float):
    """The most recent ceil(fraction x length) points of every series: a suffix, so a smaller
    fraction's points are the end of a larger one's and every fraction ends at the same origin."""
    from tsgate.freq import shift_stamps

    lengths = series.length_array
    keep = np.minimum(lengths, np.ceil(fraction * lengths).astype(np.int64))
    before = np.concatenate([[0], np.cumsum(keep)[:-1]])
    rows = np.repeat(series.offsets[1:] - keep - before, keep) + np.arange(keep.sum())
    covariates = None if series.covariates is None else series.covariates.from_start(lengths - keep)  # still aligned
    return replace(series, flat=series.flat[rows], offsets=np.concatenate([[0], np.cumsum(keep)]).astype(np.int64),
                   first=shift_stamps(series.first, lengths - keep, series.freq), covariates=covariates)


def estimate_seconds(fits: list[SweepFit], fitted: dict, plan: ClaimsPlan) -> float:
    """The sweeps' wall time from the comparison's networks: each backbone's seconds per network,
    scaled by the lookback (a step's cost grows with it), over the worker processes."""
    per_network = {name: np.mean([f.metrics_["train_seconds"] / f.metrics_["members"] for f in group])
                   for name, group in fitted.items()}
    total = sum(per_network[fit.forecaster.backbone] * fit.forecaster.ensemble
                * fit.forecaster.lookback / max(plan.base_lookback, 1) for fit in fits)
    return float(total / plan.workers)


def sweep_run(fit: SweepFit):
    """A fitted sweep network's scores on its point's test points, as a compare.Run."""
    from tsgate.compare import Run

    prediction = fit.forecaster.predict_array(fit.score_set)
    metrics = fit.forecaster.metrics_
    return Run(fit.forecaster.backbone, fit.forecaster.seed, fit.fold, *fit.scoring.score(prediction.values, fit.truth, {}),
               parameters=metrics["parameters"], train_seconds=metrics["train_seconds"],
               seconds_per_step=metrics["seconds_per_step"], steps_run=metrics["steps_run"])


def judge(comparison, fitted: dict, plan: ClaimsPlan, runs: dict, template, seeds: int) -> list[Claim]:
    from tsgate import evidence, verdicts

    gathered = {
        "fewer-parameters-faster": evidence.size_and_speed(comparison, fitted, template.hidden),
        "converges-more-easily": evidence.convergence(comparison, fitted, NEAR_BEST),
        "lstm-better-on-large-data": evidence.data_sweeps(plan, runs, template.horizon, seeds),
        "rnn-enough-for-short-sequences": evidence.lookback_sweep(plan, runs, template.horizon, seeds),
    }
    return [Claim(name, verdicts.JUDGES[name](found), found) for name, found in gathered.items()]
