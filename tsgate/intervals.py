"""Prediction intervals: split-conformal, per horizon step, scaled by each series' recent variability
and its own held-out error level.

Calibration (at fit time, on forecasts of windows the network did not train on):
- each error is divided by its series' *recent scale* at the window's origin: the mean
  absolute one-step change over the last `span` points before it (two seasons or three
  horizons, at least MIN_SPAN). So one calibration serves series of any size, and a series whose variability
  has grown gets wider intervals than it had years ago;
- errors grow with the step: each step's scaled errors are divided by their (weighted) mean
  at that step, and the results of all steps pooled into one sample per target column, so a
  short series still has enough of them for a 95% or 99% quantile;
- each series' errors are also divided by its own *level*: how large its held-out errors were
  against the pool's, shrunk toward the pool's by empirical Bayes where the series has few
  windows (series_levels). The recent change says how much a series moves, not how well the
  model forecasts it; the level says the latter. A short series (padded, or a fallback) is
  shrunk toward the level of the padded held-out windows instead, when that is higher;
- every series weighs the same in total, however many windows it has, because a forecast
  is judged series by series;
- the interval at level L is forecast ± q_L * step_mean[h] * recent scale * level, with q_L the
  weighted split-conformal quantile of the pooled sample (Tibshirani et al. 2019, "Conformal
  prediction under covariate shift": the point being predicted counts as one more sample,
  at +infinity, so the quantile holds for a finite sample; with levels read off the same
  errors, in a panel it holds approximately).

Measured on M4 Weekly (benchmarks/README.md#intervals) against per-step quantiles, a
scale over the whole training part, and unweighted windows: each of those was worse in
coverage or MSIS. The levels were chosen on M4 Weekly and Tourism Monthly against a scale
from the anchor's in-sample error, asymmetric quantiles and levels from a split of the
windows (benchmarks/README.md#intervals-per-series).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tsgate.auto import recent_span
from tsgate.config import MIN_SCALE
from tsgate.errors import OptionError

# Calibration windows kept in a model file; past this each series' windows are thinned evenly. As many
# as a fit holds out (windows.MAX_VAL_WINDOWS), so a fit keeps them all: on M4 Weekly, thinning 7,868
# windows to 2,048 moved coverage from 0.953 to 0.960 and MSIS from 15.2 to 15.6. At most 8192 x H x C
# float64 values in the file (0.85 MB at horizon 13).
MAX_CALIBRATION_WINDOWS = 8192

# The recent scale averages at least MIN_SPAN - 1 changes, so it is not itself mostly noise.
MIN_SPAN = 25


def interval_span(season: int | None, horizon: int) -> int:
    """Points the recent scale reads: the span a forecast reads by default (two seasons or three
    horizons), at least MIN_SPAN."""
    return max(recent_span(season, horizon), MIN_SPAN)


def check_levels(levels) -> tuple[float, ...]:
    """The levels, in percent, sorted and without repeats; OptionError outside (0, 100)."""
    checked = set()
    for level in levels or ():
        if isinstance(level, bool) or not (isinstance(level, (int, float)) and math.isfinite(level) and 0 < level < 100):
            raise OptionError(f"--level must be a percentage strictly between 0 and 100 (80, 95, 99.5), got {level!r}")
        checked.add(float(level))
    return tuple(sorted(checked))


def level_name(level: float) -> str:
    """80 -> '80', 97.5 -> '97.5': the suffix of the bound columns."""
    return f"{level:g}"


def bound_columns(target: str, level: float) -> tuple[str, str]:
    return f"{target}_lo_{level_name(level)}", f"{target}_hi_{level_name(level)}"


def recent_scale(values: np.ndarray, span: int) -> np.ndarray:
    """Mean absolute one-step change over the last `span` points of values (T, C): (C,), floored."""
    tail = values[-span:]
    if len(tail) < 2:
        return np.full(values.shape[1], MIN_SCALE)
    return np.maximum(np.abs(np.diff(tail, axis=0)).mean(axis=0), MIN_SCALE)


def recent_scales_at(values: np.ndarray, origins: np.ndarray, span: int, starts=0) -> np.ndarray:
    """recent_scale of values[start:origin] for each origin (and its series' start, for series end
    to end in `values`) at once, (N, C), from cumulative sums."""
    steps = np.abs(np.diff(values, axis=0))  # step i is the change from point i to point i + 1
    total = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(steps, axis=0)])
    first = np.maximum(origins - span, starts)  # the earliest point in the span
    count = origins - 1 - first  # steps between points first .. origin - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total[origins - 1] - total[first]) / count[:, None]
    return np.where(count[:, None] > 0, np.maximum(mean, MIN_SCALE), MIN_SCALE)


def recent_scales_of_series(scaled: np.ndarray, offsets: np.ndarray, owners: np.ndarray, positions: np.ndarray,
                            span: int) -> np.ndarray:
    """recent_scale of series owners[i] before its point positions[i], for series end to end in
    `scaled` (split at `offsets`): (N, C), computed in float64 a chunk of series at a time."""
    from tsgate.windows import series_chunks

    scales = np.empty((len(owners), scaled.shape[1]))
    for first, stop in series_chunks(offsets):
        mine = (owners >= first) & (owners < stop)
        if mine.any():
            base = offsets[first]
            starts = offsets[owners[mine]] - base
            values = scaled[base:offsets[stop]].astype(np.float64)
            scales[mine] = recent_scales_at(values, starts + positions[mine], span, starts)
    return scales


@dataclass(frozen=True)
class Calibration:
    """Scaled absolute errors of held-out forecasts, how much each counts, and each series' error level."""

    scores: np.ndarray  # (N, H, C): |error| / (recent scale at the window's origin x its series' level)
    weights: np.ndarray  # (N,): each series' windows add up to 1
    span: int  # points the recent scale reads
    # (S, C) each series' held-out error level relative to the pool's (series_levels); None: the pool's for
    # every series (a calibration from before per-series levels)
    levels: np.ndarray | None = None

    def series_levels(self, numbers: np.ndarray) -> np.ndarray:
        """(len(numbers), C): the error level of series `numbers`, 1 without per-series levels."""
        if self.levels is None:
            return np.ones((len(numbers), self.scores.shape[2]))
        return self.levels[numbers]

    def step_means(self) -> np.ndarray:
        """(H, C): the weighted mean scaled error at each step; intervals widen with it."""
        return np.einsum("n,nhc->hc", self.weights, self.scores) / self.weights.sum()

    def multipliers(self, levels: tuple[float, ...]) -> np.ndarray:
        """(len(levels), H, C): half-widths in units of the recent scale, one per level."""
        means = self.step_means()
        pooled = np.divide(self.scores, means, out=np.zeros_like(self.scores), where=means > 0)  # (N, H, C)
        weights = np.repeat(self.weights, self.scores.shape[1])
        columns = [conformal_quantiles(pooled[..., c].ravel(), weights, levels) for c in range(self.scores.shape[2])]
        return np.stack(columns, axis=-1)[:, None, :] * means  # (levels, 1, C) * (H, C)

    def bounds(self, forecast: np.ndarray, scale: np.ndarray, levels: tuple[float, ...], numbers=None) -> dict:
        """{level: (lower, upper)}, each (S, H, C), around forecasts (S, H, C) of the calibrated series
        `numbers` (default: all, in order) with recent scales (S, C)."""
        scale = scale * self.series_levels(np.arange(len(forecast)) if numbers is None else numbers)
        half = self.multipliers(levels)[:, None] * scale[None, :, None, :]  # (levels, S, H, C)
        return {level: (forecast - width, forecast + width) for level, width in zip(levels, half)}


def series_levels(scores: np.ndarray, owners: np.ndarray, origins: np.ndarray, n_series: int, prior=None) -> np.ndarray:
    """(S, C): each series' held-out error level relative to the pool's, shrunk toward it by empirical Bayes.

    `scores` (N, H, C) are errors in units of the pool's typical error at each step, of windows of
    series `owners` whose first targets lie at `origins`. Each window is one look at its series'
    level: the log of its mean score (logs, because errors are heavy-tailed and levels multiply). A
    series' raw level is the mean of its looks; neighbouring windows share most of their targets, so
    it holds about (the span its targets cover) / H independent looks, `looks`. Its level is then
    exp((looks * raw + k * (centre + log prior)) / (looks + k) - centre), with centre the mean raw level
    over series, k = the variance of one look within a series over the variance of true levels
    between series (both estimated from all series at once), and `prior` (S, C) the level it is
    shrunk toward (default 1, the pool's). A series with many windows keeps its own level, one with a
    single window stays near its prior, and one without windows gets its prior.
    """
    horizon = scores.shape[1]
    looked = np.log(np.maximum(scores.mean(axis=1), MIN_SCALE))  # (N, C) one look per window
    counts = np.bincount(owners, minlength=n_series)
    has = counts > 0
    prior = np.ones((n_series, scores.shape[2])) if prior is None else prior
    if len(owners) == has.sum():  # one window per series: no series shows how much a look varies
        return prior
    raw = np.zeros_like(prior)
    raw[has] = np.stack([np.bincount(owners, weights=column, minlength=n_series)[has] / counts[has]
                         for column in looked.T], axis=1)
    first, last = np.full(n_series, np.iinfo(np.int64).max), np.full(n_series, -1)
    np.minimum.at(first, owners, origins)
    np.maximum.at(last, owners, origins)
    looks = np.where(has, np.minimum(counts, (last - first + horizon) / horizon), 0.0)[:, None]  # (S, 1)
    noise = ((looked - raw[owners]) ** 2).sum(axis=0) / (len(owners) - has.sum())  # (C,) one look's variance
    spread = raw[has].var(axis=0) - (noise / looks[has]).mean(axis=0)  # (C,) true levels' variance
    if (spread <= 0).all():  # the series differ no more than their noise: every series at its prior
        return prior
    shrink = noise / np.maximum(spread, 1e-12)  # k per column (huge where the spread is none)
    centre = raw[has].mean(axis=0)
    levels = np.exp((looks * raw + shrink * (centre + np.log(prior))) / (looks + shrink) - centre)
    return np.where(has[:, None], levels, prior)


def conformal_quantiles(scores: np.ndarray, weights: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """Weighted split-conformal quantiles of `scores` at each level (in percent).

    The point being predicted counts as one more score at +infinity, of a typical (the mean)
    weight, so with equal weights this is the ceil((n + 1) L)-th smallest score, the usual
    finite-sample-valid split-conformal quantile, and any weights reach as high a level.
    """
    order = np.argsort(scores, kind="stable")
    ranked = np.cumsum(weights[order]) / (weights.sum() + weights.mean())
    quantiles = []
    for level in levels:
        position = int(np.searchsorted(ranked, level / 100 - 1e-12))
        if position >= len(scores):
            needed = math.ceil(level / (100 - level))
            raise OptionError(
                f"a {level_name(level)}% interval needs at least {needed} held-out errors, more than the {len(scores)} "
                "it was calibrated on: use a lower --level, or train on more data or a larger --val-fraction"
            )
        quantiles.append(scores[order[position]])
    return np.asarray(quantiles)


def calibrate(errors: np.ndarray, scales: np.ndarray, owners: np.ndarray, span: int, origins=None,
              short_series=None, short_windows=None, n_series: int | None = None) -> Calibration:
    """A Calibration from held-out errors (N, H, C), the recent scale at each window's origin (N, C)
    and each window's series number (N,), thinned evenly to MAX_CALIBRATION_WINDOWS.

    With `origins` (N,), the position of each window's first target in its series, each of the
    `n_series` series gets its own error level (series_levels) from all its windows before the
    thinning. `short_series` (S,) flags series forecast from fewer points than a full window (padded,
    or a fallback), `short_windows` (N,) the held-out windows that were padded: a short series' level
    is shrunk toward the level of the short windows rather than the pool's, and one without windows
    of its own takes that level."""
    scores = np.abs(errors) / scales[:, None, :]  # (N, H, C)
    levels = None
    if origins is not None:
        n_series = int(owners.max()) + 1 if n_series is None else n_series
        means = pooled_step_means(scores, owners)  # (H, C); 0 at a step no window missed
        normalized = np.divide(scores, means, out=np.zeros_like(scores), where=means > 0)
        prior = short_prior(normalized, owners, short_series, short_windows, n_series)
        levels = series_levels(normalized, owners, origins, n_series, prior)
        scores = scores / levels[owners][:, None, :]
    keep = thinned(owners, max(1, -(-len(errors) // MAX_CALIBRATION_WINDOWS)))
    scores, owners = scores[keep], owners[keep]
    counts = np.bincount(owners)
    return Calibration(scores, 1.0 / counts[owners], span, levels)


def thinned(owners: np.ndarray, stride: int) -> np.ndarray:
    """Positions of every stride-th window of each series (windows grouped by series), its newest kept: every
    series keeps at least one window. (Thinning the pool as one sequence dropped series of few windows
    and shifted the pooled quantile: on M4 Weekly, coverage 0.976 and MSIS 18.39 against 0.971 and 17.48
    from all windows.)"""
    position = np.arange(len(owners))
    if stride == 1:
        return position
    ends = np.flatnonzero(np.r_[owners[1:] != owners[:-1], True])  # the newest window of each series
    end_of = ends[np.searchsorted(ends, position)]
    return position[(end_of - position) % stride == 0]


def pooled_step_means(scores: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """(H, C): the mean score at each step, every series weighing the same (as Calibration.step_means)."""
    weights = 1.0 / np.bincount(owners)[owners]
    return np.einsum("n,nhc->hc", weights, scores) / weights.sum()


def short_prior(normalized: np.ndarray, owners: np.ndarray, short_series, short_windows, n_series: int) -> np.ndarray:
    """(S, C): the level each series is shrunk toward: the pool's (1), or for a short series the mean level
    of the padded held-out windows (every series weighing the same), when that is higher."""
    prior = np.ones((n_series, normalized.shape[2]))
    if short_series is None or short_windows is None or not short_windows.any() or not short_series.any():
        return prior
    mine = owners[short_windows]
    weights = 1.0 / np.bincount(mine)[mine]
    level = np.einsum("n,nc->c", weights, normalized[short_windows].mean(axis=1)) / weights.sum()  # (C,)
    prior[short_series] = np.maximum(level, 1.0)
    return prior


def recent_scales_one_by_one(flat: np.ndarray, offsets: np.ndarray, owners: np.ndarray, origins: np.ndarray,
                            span: int) -> np.ndarray:
    """recent_scales_at of each series alone, (N, C), for windows grouped by series (`owners` sorted) of
    series end to end in `flat`: each scale sums the steps of its own series from its first point, so it
    does not depend on the series before it (recent_scales_of_series, a chunk of series at a time, gives
    the same figures up to rounding)."""
    edges = np.searchsorted(owners, np.arange(len(offsets)))  # owners[edges[n]:edges[n + 1]] == n
    return np.concatenate([recent_scales_at(flat[offsets[n]:offsets[n + 1]], origins[edges[n]:edges[n + 1]], span)
                           for n in np.unique(owners)])


def in_sample_calibration(flat: np.ndarray, offsets: np.ndarray, forecast, lookback: int, horizon: int,
                          span: int) -> Calibration:
    """Calibration of a parameter-free forecast from its errors at every origin of each series (series end
    to end in `flat` (T_total, C), split at `offsets`): `forecast(windows (N, lookback, C), horizon) -> (N, H, C)`.
    For naive and seasonal naive, whose in-sample errors are out-of-sample errors, since nothing was fitted."""
    from tsgate.windows import gather_windows, window_starts

    span_rows = lookback + horizon
    # Origins from point 2 on: the recent scale needs two points before the origin.
    owners, starts = window_starts(np.diff(offsets), span_rows, begin=max(lookback, 2) - lookback)
    if len(owners) == 0:
        raise OptionError(f"the series are too short for in-sample errors at horizon {horizon}")
    windows = gather_windows(flat, offsets, owners, starts, span_rows)  # (N, L + H, C)
    errors = forecast(windows[:, :lookback], horizon) - windows[:, lookback:]
    origins = starts + lookback
    return calibrate(errors, recent_scales_one_by_one(flat, offsets, owners, origins, span), owners, span)
