"""Several backbones and the baselines on the same split, scored on a held-out test period.

Forecast origins: fold k (k = 0 .. K-1) holds out the `horizon` points that end
k horizons before the end of each series; everything trained for that fold sees
only the data before its origin (the Forecaster then takes its own validation
part from the end of that). Fold 0 tests on the last horizon of the series.

Each backbone is fitted through the same `Forecaster` a user calls, so the
figures are what `tsgate train` gives.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tsgate.baselines import RidgeBaseline, naive, seasonal_naive
from tsgate.data import series_label
from tsgate.errors import OptionError
from tsgate.intervals import check_levels, in_sample_calibration, interval_span, level_name, recent_scale
from tsgate.metrics import coverage, inside, interval_width, msis, score_all, seasonal_naive_scale, series_calibration
from tsgate.significance import diebold_mariano
from tsgate.windows import gather_windows, last_points_padded, validation_length, validation_lengths, window_starts

METRICS = ("mae", "rmse", "smape", "mase")
# per level: coverage_95, width_95, msis_95, then how coverage spreads over series (metrics.series_calibration)
INTERVAL_METRICS = ("coverage", "width", "msis", "series_miscalibrated", "series_all_inside")
RANK_BY = "mase"  # scale-free, so it ranks fairly across series of different sizes
BASELINES = ("naive", "seasonal_naive", "ridge")


@dataclass(frozen=True)
class CompareOptions:
    models: tuple[str, ...] = ("rnn", "gru", "lstm")  # backbones to train
    seeds: int = 1  # runs per backbone, with seeds seed, seed+1, ...
    folds: int = 1  # rolling origins, stepping back one horizon each
    season: int | None = None  # seasonal-naive lag; None: inferred from the frequency
    levels: tuple[float, ...] = ()  # prediction-interval levels (percent) to score
    match: str = "hidden"  # hidden: every backbone at --hidden; params: hidden sizes solved for one parameter count
    params: int | None = None  # the parameter count --match params aims at; None: the GRU's at --hidden
    budget: str = "steps"  # steps | flops | seconds:S (controls.Budget): what every network gets equally
    covariates_value: bool = False  # also train each backbone without the covariates (rows "<backbone>-no-cov")


NO_COVARIATES = "-no-cov"  # the suffix of a backbone's row trained without the data's covariates


def covariate_labels(options: CompareOptions) -> list[str]:
    """The rows --covariates-value adds: each backbone, and ridge, fitted without covariates."""
    return [name + NO_COVARIATES for name in options.models + ("ridge",)] if options.covariates_value else []


@dataclass
class Run:
    """One trained backbone on one fold with one seed, or one baseline on one fold."""

    model: str
    seed: int | None
    fold: int
    scores: dict
    errors: np.ndarray  # scaled errors (S, C, H) flattened, paired across models
    parameters: int | None = None
    train_seconds: float | None = None
    seconds_per_step: float | None = None
    steps_run: int | None = None
    forecast_ms: float | None = None
    effective_memory: int | None = None  # steps carrying 90% of the forecast's dependence on its window
    hidden: int | None = None


@dataclass
class Comparison:
    """What compare found, as data: render.py and wording.py turn it into tables, JSON and the verdict."""

    rows: list[dict]  # one per model, best first (summarise)
    settings: dict
    test_points: int  # points each seed of a model is scored on: folds x horizon x series x columns
    # (frequency, season, reference length) when the season is as long as the reference series, so
    # seasonal naive fell back to naive (wording.comparison_notes says so); None otherwise
    season_too_long: tuple[str, int, int] | None = None
    models: dict = field(default_factory=dict)  # file name (saved_model_name) -> fitted Forecaster, when kept


def resolve_season(options: CompareOptions, series, reference: int) -> int | None:
    """The seasonal-naive lag: --season (checked), else the data's season when the reference series (the
    shortest, or a panel's median: its shorter series fall back to naive one by one) holds more than one."""
    which = "the median series" if series.lenient else "the shortest series"
    season = options.season
    if season is not None:
        if season < 1:
            raise OptionError(f"--season must be at least 1, got {season}")
        if season >= reference:
            raise OptionError(f"--season {season} is as long as {which} ({reference} points): pass a smaller --season")
        return season
    season = series.season
    return None if season is not None and season >= reference else season


def check_folds(series, template, folds: int) -> None:
    """Every series has room before the first fold's origin: for a whole training window where the set
    is strict, and for MASE's scale (two points) in a panel, whose fits pad or fall back on short series."""
    if folds < 1:
        raise OptionError(f"--folds must be at least 1, got {folds}")
    horizon = template.horizon
    lookback = 1 if template.lookback == "auto" else template.lookback  # auto fits what is there
    for key, length in zip(series.ids, series.lengths):
        before = length - folds * horizon
        if series.lenient and before < 2:
            raise OptionError(f"--folds {folds} leave {series_label(key)} {max(before, 0)} points before its first "
                              "origin, but scoring it needs 2: use fewer --folds or a shorter --horizon")
        needed = lookback + horizon + validation_length(max(before, 0), horizon, template.val_fraction)
        if not series.lenient and before < needed:
            raise OptionError(
                f"--folds {folds} leave {series_label(key)} {max(before, 0)} points before its first origin, but "
                f"training needs {needed} (lookback + horizon + validation): use fewer --folds, a shorter --lookback "
                "or --horizon"
            )


def run_comparison(series, template, options: CompareOptions, on_step=None, keep_models: bool = False,
                   jobs: int | None = 1, templates: dict | None = None, tuning: tuple | None = None) -> Comparison:
    """Train every backbone (x seeds x folds) and the baselines on the same folds; score and rank them.
    The networks train on up to `jobs` worker processes (None: one per core); the rows do not depend on it.
    With `keep_models`, the result holds every fitted network under the file name --save-dir gives it.
    Each backbone trains as `templates[backbone]` (a tuned configuration) where given, else as the
    template set up by the size and budget controls (controls.backbone_templates); `tuning` is the
    search that found them, (summaries by backbone, settings), recorded as with_tuning does."""
    from tsgate.controls import backbone_templates, parse_budget
    from tsgate.ensemble import run_fits

    if not options.models:
        raise OptionError("--models is empty: name at least one of rnn, gru, lstm")
    if options.seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {options.seeds}")
    for backbone in options.models:
        template.with_params(backbone=backbone).check_options()
    workers = template.workers(jobs)
    if options.covariates_value and series.covariates is None:
        raise OptionError("--covariates-value compares each backbone with and without the covariates: name them with "
                          "--past-cov, --future-cov or --static-cov")
    check_folds(series, template, options.folds)
    test_points = options.folds * template.horizon * len(series.ids) * len(series.targets)
    points = options.seeds * test_points
    if points < 2:
        raise OptionError(f"compare would score only {points} forecast point: too few to tell models apart; use --horizon 2 or more, or --folds 2")
    before = series.length_array - options.folds * template.horizon
    # A panel's seasonal naive falls back to naive on its series shorter than a season, one by one,
    # as its networks pad them: the season is dropped only where the typical series is that short.
    reference = int(np.median(before) if series.lenient else before.min())
    season = resolve_season(options, series, reference)
    levels = check_levels(options.levels)
    span = interval_span(series.season, template.horizon)  # what the Forecaster's intervals read
    budget = parse_budget(options.budget)
    chosen, sizing = backbone_templates(split_fold(series, template.horizon, 0)[0], template, options.models,
                                        options.match, options.params, budget)
    chosen.update(templates or {})
    runs: list[Run] = []
    fits: list[PlannedFit] = []
    for fold in range(options.folds):
        train_set, truth = split_fold(series, template.horizon, fold)
        scoring = Scoring(mase_scale(train_set, season), levels)  # scale: (S, 1, C)
        report(on_step, 0, None, f"fold {fold + 1}: baselines")
        runs.extend(baseline_runs(train_set, truth, scoring, template, season, fold, span, options.covariates_value))
        fits += [PlannedFit(chosen[backbone].with_params(seed=template.seed + offset), train_set, truth, scoring, fold)
                 for backbone in options.models for offset in range(options.seeds)]
        blind = replace(train_set, covariates=None)  # the same series, their covariates unseen
        fits += [PlannedFit(chosen[backbone].with_params(seed=template.seed + offset), blind, truth, scoring, fold,
                            backbone + NO_COVARIATES)
                 for backbone in options.models if options.covariates_value for offset in range(options.seeds)]
    label = f"training {len(fits)} fits on {min(workers, len(fits))} process{'es' if min(workers, len(fits)) > 1 else ''}"
    progress = on_step and (lambda done, total, train_loss, val_loss: on_step(done, total, label))
    run_fits([fit.forecaster.fitting(fit.train_set, time_limit=budget.seconds) for fit in fits], workers, progress,
             sum(fit.forecaster.expected_steps(fit.train_set) for fit in fits))
    models = {}
    for fit in fits:
        runs.append(backbone_run(fit))
        if keep_models:
            models[saved_model_name(fit.label or fit.forecaster.backbone, fit.forecaster.seed, fit.fold)] = fit.forecaster
    rows = summarise(runs, list(options.models) + list(BASELINES) + covariate_labels(options), options.seeds,
                     template.horizon, score_names(levels))
    settings = {
        # covariates_value only where set, so that other comparisons keep their documents
        **{k: v for k, v in asdict(options).items() if k != "covariates_value" or v}, "season": season, "rank_by": RANK_BY, "levels": list(levels),
        "models": list(options.models), "forecaster": template.get_params(), "freq": series.freq,
        "series": len(series.ids), "targets": series.targets, "test_points_per_fold": template.horizon,
        "lenient": series.lenient,
        **sizing.settings(),
    }
    fell_back = options.season is None and series.season is not None and season is None
    comparison = Comparison(rows, settings, test_points, (series.freq, series.season, reference) if fell_back else None,
                            models)
    return with_tuning(comparison, *tuning) if tuning else comparison


def with_tuning(comparison: Comparison, summaries: dict, settings: dict) -> Comparison:
    """The comparison with each tuned backbone's search summary in its row (`tuning`) and the search in the settings."""
    for row in comparison.rows:
        if row["model"] in summaries:
            row["tuning"] = summaries[row["model"]]
    comparison.settings["tuning"] = settings
    return comparison


def saved_model_name(backbone: str, seed: int, fold: int) -> str:
    """The file name --save-dir keeps one trained network under."""
    return f"{backbone}-seed{seed}-fold{fold}.tsgate"


def saves_over(name: str, options: CompareOptions, seed: int) -> bool:
    """Whether --save-dir would write a file called `name`, for a template with `seed`. Tested on the
    name rather than by listing every file compare writes: --folds and --seeds may be large."""
    match = re.fullmatch(r"(.+)-seed(-?[0-9]+)-fold([0-9]+)\.tsgate", name)
    if match is None:
        return False
    backbone, number, fold = match[1], int(match[2]), int(match[3])
    return (backbone in options.models and seed <= number < seed + options.seeds and fold < options.folds
            and saved_model_name(backbone, number, fold) == name)


def report(on_step, done: int, total: int, label: str) -> None:
    if on_step:
        on_step(done, total, label)


def split_fold(series, horizon: int, fold: int):
    """(data before the fold's origin, the horizon after it as (S, H, C))."""
    train_set = series.drop_last((fold + 1) * horizon)
    everyone = np.arange(len(series.ids))
    truth = gather_windows(series.flat, series.offsets, everyone, series.length_array - (fold + 1) * horizon, horizon)
    return train_set, truth


def mase_scale(train_set, season: int | None) -> np.ndarray:
    """MASE's scale (S, 1, C): the in-sample seasonal naive error, or the naive one for a series of a
    panel that holds no whole season (seasonal naive forecasts it as naive)."""
    return np.array([[[seasonal_naive_scale(v[:, c], own_season(len(v), season)) for c in range(v.shape[1])]]
                     for v in train_set.values])


def own_season(length: int, season: int | None) -> int:
    """The seasonal naive lag of a series of `length` points: the season where it holds more than one."""
    return season if season and length > season else 1


def scaled_errors(forecast: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Errors in MASE units, ordered (series, column, horizon) so each horizon block is contiguous."""
    return ((forecast - truth) / scale).transpose(0, 2, 1).ravel()


@dataclass(frozen=True)
class Scoring:
    """How a fold's forecasts are scored: MASE's scale per series (S, 1, C) and the interval levels."""

    scale: np.ndarray
    levels: tuple[float, ...]

    def score(self, forecast, truth, bounds: dict) -> tuple[dict, np.ndarray]:
        """(every metric, scaled errors) of point forecasts and their {level: (lower, upper)}."""
        scores = score_all(truth, forecast, self.scale)
        for level, (lower, upper) in bounds.items():
            name = level_name(level)
            scores[f"coverage_{name}"] = coverage(truth, lower, upper)
            scores[f"width_{name}"] = interval_width(lower, upper, self.scale)
            scores[f"msis_{name}"] = msis(truth, lower, upper, self.scale, level)
            # each series and column over the fold's horizon is one binomial draw of `horizon` points
            spread = series_calibration(inside(truth, lower, upper).transpose(0, 2, 1).reshape(-1, truth.shape[1]), level)
            scores[f"series_miscalibrated_{name}"] = spread["miscalibrated"]
            scores[f"series_all_inside_{name}"] = spread["all_inside"]
        return scores, scaled_errors(forecast, truth, self.scale)


def score_names(levels: tuple[float, ...]) -> tuple[str, ...]:
    """The point metrics, then coverage, width and MSIS for each interval level."""
    return METRICS + tuple(f"{kind}_{level_name(level)}" for level in levels for kind in INTERVAL_METRICS)


def baseline_runs(train_set, truth, scoring: Scoring, template, season, fold, span: int,
                  blind_ridge: bool = False) -> list[Run]:
    """naive and seasonal naive (intervals from their errors at every origin of the training data: they
    fit nothing, so those errors are out of sample) and ridge (calibrated on the validation part); with
    `blind_ridge`, ridge once more without the covariates."""
    from tsgate.windows import fit_scaling

    lookback, horizon = template.resolve_lookback(train_set), template.horizon  # ridge reads what the networks read
    offsets = train_set.offsets
    scaling = fit_scaling("standard", train_set.flat, offsets, train_set.lengths, train_set.labels)
    scaled = scaling.transform_flat(train_set.flat, offsets)  # (T_total, C), float64
    recent = np.stack([recent_scale(v, span) for v in np.split(scaled, offsets[1:-1])]) * scaling.scale  # (S, C), raw
    cycle, points = last_points_padded(train_set.flat, offsets, season or 1)  # (S, season, C); short ones padded
    no_season = (points < (season or 1))[:, None, None]  # (S, 1, 1): a panel's series shorter than a season
    runs = []
    for name, method, reads in (("naive", naive, 1),
                                ("seasonal_naive", lambda x, h: seasonal_naive(x, h, season), season or 1)):
        forecast = np.where(no_season, naive(cycle, horizon), method(cycle, horizon))
        bounds = {}
        if scoring.levels:
            calibration = in_sample_calibration(scaled, offsets, method, reads, horizon, span)
            bounds = calibration.bounds(forecast, recent, scoring.levels)
        runs.append(Run(name, None, fold, *scoring.score(forecast, truth, bounds)))
    runs.append(ridge_run(train_set, truth, scoring, scaling, scaled, recent, lookback, template, fold, span))
    if blind_ridge:
        blind = ridge_run(replace(train_set, covariates=None), truth, scoring, scaling, scaled, recent, lookback,
                          template, fold, span)
        runs.append(replace(blind, model="ridge" + NO_COVARIATES))
    return runs


def ridge_run(train_set, truth, scoring: Scoring, scaling, scaled, recent, lookback: int, template, fold: int,
              span: int) -> Run:
    """Ridge on the lag window of every standard-scaled series (and, with covariates, on the window's
    covariates: covariates.window_features); with levels, first fitted without the validation part (as
    the networks are) to calibrate its intervals on it."""
    from tsgate.covariates import plan_covariates, window_features

    horizon, offsets = template.horizon, train_set.offsets
    bounds = {}
    started = time.perf_counter()
    covariates = plan_covariates(train_set, "standard", train_set.length_array, 1, np.float64)
    windows = ridge_windows(scaled, offsets, lookback, horizon, covariates=covariates)
    if scoring.levels:
        calibration = ridge_calibration(scaled, offsets, windows, lookback, horizon, template.val_fraction, span,
                                        covariates)
    ridge = fit_ridge(windows)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    everyone = np.arange(len(offsets) - 1)
    last, _ = last_points_padded(scaled, offsets, lookback)  # (S, L, C); a panel's short series led by its first value
    features = None if covariates is None else window_features(covariates, everyone, np.diff(offsets) - lookback,
                                                                 lookback, horizon)
    forecast = scaling.inverse(everyone, ridge.predict(last, features))
    forecast_ms = 1000 * (time.perf_counter() - started) / len(last)
    if scoring.levels:
        bounds = calibration.bounds(forecast, recent, scoring.levels)
    parameters = ridge.model_.coef_.size + np.size(ridge.model_.intercept_)
    return Run("ridge", None, fold, *scoring.score(forecast, truth, bounds), parameters=int(parameters),
               train_seconds=fitted, forecast_ms=forecast_ms)


def ridge_windows(scaled: np.ndarray, offsets: np.ndarray, lookback: int, horizon: int, ends=None, covariates=None):
    """(lag windows (N, L, C), targets (N, H, C), origins (N,), series numbers (N,), covariate features (N, F)
    or None) of every window of the series end to end in `scaled` whose targets end by ends[s] (default: the
    series' end), series by series; `covariates` is a covariates.CovariatePlan of those series, or None."""
    from tsgate.covariates import window_features

    owners, starts = window_starts(np.diff(offsets) if ends is None else ends, lookback + horizon)
    windows = gather_windows(scaled, offsets, owners, starts, lookback + horizon)  # (N, L + H, C)
    features = None if covariates is None else window_features(covariates, owners, starts, lookback, horizon)
    return windows[:, :lookback], windows[:, lookback:], starts + lookback, owners, features


def fit_ridge(windows) -> RidgeBaseline:
    x, y, _, _, features = windows
    return RidgeBaseline().fit(x, y, features)


def ridge_calibration(scaled: np.ndarray, offsets: np.ndarray, windows, lookback: int, horizon: int,
                      val_fraction: float, span: int, covariates=None):
    """Ridge fitted on each series without its validation part, calibrated on that part's windows
    (taken from `windows`, every window of the series as ridge_windows gives them)."""
    from tsgate.intervals import calibrate, recent_scales_one_by_one

    lengths = np.diff(offsets)
    train_ends = lengths - validation_lengths(lengths, horizon, val_fraction)
    ridge = fit_ridge(ridge_windows(scaled, offsets, lookback, horizon, train_ends, covariates))
    _, _, origins, owners, _ = windows
    held_out = origins >= train_ends[owners]  # every target in the validation part, as for the networks
    x, y, origins, owners, features = (None if part is None else part[held_out] for part in windows)
    scales = recent_scales_one_by_one(scaled, offsets, owners, origins, span)
    return calibrate(ridge.predict(x, features) - y, scales, owners, span, origins, n_series=len(offsets) - 1)


@dataclass
class PlannedFit:
    """One backbone with one seed on one fold: trained by run_fits, then scored on the fold's test points."""

    forecaster: object  # a Forecaster, fitted by run_fits
    train_set: object  # SeriesSet up to the fold's origin
    truth: np.ndarray  # (S, H, C) the fold's test points
    scoring: Scoring
    fold: int
    label: str | None = None  # the row's name when it is not the backbone's (a backbone without covariates)


def backbone_run(fit: PlannedFit) -> Run:
    """The fitted forecaster's scores on its fold's test points."""
    forecaster, scoring = fit.forecaster, fit.scoring
    started = time.perf_counter()
    prediction = forecaster.predict_array(fit.train_set, scoring.levels)  # every series: a panel's fit keeps them all
    forecast_ms = 1000 * (time.perf_counter() - started) / len(prediction.values)
    metrics = forecaster.metrics_
    return Run(fit.label or forecaster.backbone, forecaster.seed, fit.fold, *scoring.score(prediction.values, fit.truth, prediction.bounds),
               parameters=metrics["parameters"], train_seconds=metrics["train_seconds"],
               seconds_per_step=metrics["seconds_per_step"], steps_run=metrics["steps_run"], forecast_ms=forecast_ms,
               effective_memory=memory_of(forecaster, fit.train_set), hidden=forecaster.hidden)


MEMORY_WINDOWS = 256  # windows spread over the training data that measure a network's memory


def memory_of(forecaster, train_set) -> int:
    """The effective memory (gates.effective_memory) of the first network over its training windows."""
    from tsgate import gates

    inputs = forecaster.first_network_inputs(train_set, MEMORY_WINDOWS)
    return gates.effective_memory(gates.memory_profile(forecaster.first_network(), inputs))


def summarise(runs: list[Run], names: list[str], seeds: int, horizon: int, metrics: tuple[str, ...] = METRICS) -> list[dict]:
    """One row per model: figures averaged over folds per seed, then mean and std over seeds."""
    rows = [summary_row(name, [r for r in runs if r.model == name], metrics) for name in names]
    order = sorted(range(len(rows)), key=lambda i: rows[i][RANK_BY])
    for rank, index in enumerate(order, start=1):
        rows[index]["rank"] = rank
    best = names[order[0]]
    reference = paired_errors(runs, best, seeds)
    for row in rows:
        if row["model"] == best:
            row["dm_p"] = None
            continue
        errors = paired_errors(runs, row["model"], seeds)
        row["dm_p"] = diebold_mariano(errors, reference, min(horizon, len(errors) - 1), power=1).p_value
    return sorted(rows, key=lambda row: row["rank"])


def summary_row(name: str, runs: list[Run], metrics: tuple[str, ...] = METRICS) -> dict:
    per_seed: dict = {}
    for run in runs:
        per_seed.setdefault(run.seed, []).append(run)
    row = {"model": name, "kind": "baseline" if name.removesuffix(NO_COVARIATES) in BASELINES else "recurrent", "rank": None,
           "parameters": runs[0].parameters, "hidden": runs[0].hidden}
    for column in ("train_seconds", "seconds_per_step", "steps_run", "forecast_ms", "effective_memory"):
        row[column] = mean_or_none([getattr(r, column) for r in runs])
    for metric in metrics:
        seed_means = [np.mean([r.scores[metric] for r in group]) for group in per_seed.values()]
        row[metric] = float(np.mean(seed_means))
        row[f"{metric}_std"] = float(np.std(seed_means, ddof=1)) if len(seed_means) > 1 else 0.0
    return row


def mean_or_none(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def paired_errors(runs: list[Run], name: str, seeds: int) -> np.ndarray:
    """All scaled errors of `name` in (seed, fold, series, column, horizon) order; deterministic baselines repeat per seed."""
    mine = sorted((r for r in runs if r.model == name), key=lambda r: ((r.seed or 0), r.fold))
    if mine[0].seed is None:
        mine = mine * seeds
    return np.concatenate([r.errors for r in mine])
