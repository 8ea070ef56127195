"""Forecast accuracy: MAE, RMSE, sMAPE and MASE for points; coverage, width and MSIS for intervals, and
how coverage spreads over series.

Forecasts and truths are float arrays of shape (N, H, C): N forecast origins,
H horizon steps, C target columns. Every metric averages over all of them.

MAE and RMSE are the numpy reductions scikit-learn's mean_absolute_error and
root_mean_squared_error compute for one column, to the last bit (tests/test_metrics.py
checks it), so scoring needs no scikit-learn and no particular version of it.
"""

import numpy as np

from tsgate.errors import DataError, OptionError


def _check_pair(y_true, y_pred):
    """Both arrays as floats of one shape, finite and non-empty."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise DataError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and "
            f"{y_pred.shape}: pass forecasts aligned with the truth they score"
        )
    if y_true.size == 0:
        raise DataError("cannot score an empty forecast: pass at least one window")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isfinite(values).all():
            raise DataError(
                f"{name} contains NaN or infinite values: "
                "fill or drop them before scoring"
            )
    return y_true, y_pred


def mae(y_true, y_pred) -> float:
    """Mean absolute error over every window, step and column."""
    return float(np.mean(np.abs(_errors(y_true, y_pred))))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error over every window, step and column."""
    errors = _errors(y_true, y_pred)
    return float(np.sqrt(np.mean(errors * errors)))


def _errors(y_true, y_pred) -> np.ndarray:
    """Truth minus forecast, flattened in C order: the order the sums above run in."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return y_true.ravel() - y_pred.ravel()


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent, from 0 to 200.

    The mean of 200 * |F - A| / (|A| + |F|). A term where truth and forecast
    are both 0 is a perfect forecast, so it counts as 0 rather than 0/0.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    numerator = 2.0 * np.abs(y_pred - y_true)
    denominator = np.abs(y_true) + np.abs(y_pred)
    terms = np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )
    return float(100.0 * terms.mean())


def seasonal_naive_scale(history, season: int) -> float:
    """MASE's denominator: the in-sample MAE of the seasonal-naive forecast.

    That is mean(|y[t] - y[t - season]|) over a 1-D training series; season=1
    gives the naive (random-walk) forecast. Hyndman & Koehler (2006), "Another
    look at measures of forecast accuracy", IJF 22(4).
    """
    history = np.asarray(history, dtype=float)
    if history.ndim != 1:
        raise DataError(
            f"history must be a 1-D series, got shape {history.shape}: "
            "compute one scale per series and column"
        )
    if not isinstance(season, (int, np.integer)) or season < 1:
        raise OptionError(
            f"season must be a positive integer, got {season!r}: "
            "pass --season 1 or more"
        )
    if history.size <= season:
        raise DataError(
            f"history of {history.size} points is too short for season {season}: "
            f"MASE needs more than {season} training points"
        )
    if not np.isfinite(history).all():
        raise DataError(
            "history contains NaN or infinite values: fill or drop them first"
        )
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    if scale == 0.0:
        # A series equal to itself one season earlier leaves nothing to scale by.
        raise DataError(
            f"MASE is undefined: the training series repeats exactly every {season} "
            "steps (constant seasonal-naive error of 0); report MAE instead"
        )
    return scale


def mase(y_true, y_pred, scale) -> float:
    """Mean absolute scaled error: mean(|y - f| / scale).

    `scale` is a scalar or an array broadcastable to y_true, e.g. one
    seasonal_naive_scale per series and column with shape (N, 1, C).
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred) / _check_scale(scale, y_true.shape)))


def _check_scale(scale, shape) -> np.ndarray:
    scale = np.asarray(scale, dtype=float)
    try:
        scale = np.broadcast_to(scale, shape)
    except ValueError:
        raise DataError(
            f"scale of shape {scale.shape} does not broadcast to forecasts of shape "
            f"{shape}: pass a scalar or an (N, 1, C) array"
        ) from None
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise DataError(
            "scale must be finite and positive everywhere: build it with "
            "seasonal_naive_scale on a non-constant training series"
        )
    return scale


def score_all(y_true, y_pred, scale) -> dict[str, float]:
    """Every metric at once, keyed by its lowercase name."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mase": mase(y_true, y_pred, scale),
    }


def _check_bounds(y_true, lower, upper):
    y_true, lower = _check_pair(y_true, lower)
    _, upper = _check_pair(y_true, upper)
    if (lower > upper).any():
        raise DataError("interval bounds cross (a lower bound above its upper bound): pass (lower, upper) in order")
    return y_true, lower, upper


def coverage(y_true, lower, upper) -> float:
    """Share of true values inside their interval [lower, upper], bounds included."""
    return float(inside(y_true, lower, upper).mean())


def interval_width(lower, upper, scale) -> float:
    """Mean interval width in units of `scale` (MASE's scale, broadcastable like it)."""
    _, lower, upper = _check_bounds(lower, lower, upper)
    return float(np.mean((upper - lower) / _check_scale(scale, lower.shape)))


def msis(y_true, lower, upper, scale, level: float) -> float:
    """Mean scaled interval score of the M4 competition for intervals at `level` percent.

    mean over points of [(U - L) + (2 / a)(L - y) 1{y < L} + (2 / a)(y - U) 1{y > U}] / scale,
    with a = 1 - level / 100: the width, plus a penalty for each miss that grows with the miss
    and with the level promised (Gneiting & Raftery 2007; Makridakis et al. 2020, IJF 36(1)).
    """
    y_true, lower, upper = _check_bounds(y_true, lower, upper)
    alpha = 1.0 - level / 100.0
    score = (upper - lower) + (2.0 / alpha) * ((lower - y_true) * (y_true < lower) + (y_true - upper) * (y_true > upper))
    return float(np.mean(score / _check_scale(scale, y_true.shape)))


# ---- calibration series by series ----------------------------------------------------------------------
# Pooled coverage can be right while every series is wrong (most too wide, a few far too narrow). Each
# series' test points are a binomial draw when its intervals keep their promise, so a series is judged
# against the range that draw would fall in.

RANGE_MASS = 0.95  # a series' coverage outside the central 95% of its binomial draw counts as miscalibrated


def binomial_range(points: int, level: float, mass: float = RANGE_MASS) -> tuple[int, int]:
    """(lo, hi): the fewest and most of `points` values inside a level% interval that a calibrated
    series gives, leaving at most (1 - mass) / 2 of the binomial's probability below lo and above hi."""
    from math import comb

    if points < 1:
        raise DataError(f"a series needs at least one test point to judge its coverage, got {points}")
    p, tail = level / 100.0, (1.0 - mass) / 2.0
    pmf = np.array([comb(points, k) * p**k * (1 - p) ** (points - k) for k in range(points + 1)])
    below = np.concatenate([[0.0], np.cumsum(pmf)[:-1]])  # P(K < k)
    above = 1.0 - np.cumsum(pmf)  # P(K > k)
    lo = int(np.flatnonzero(below <= tail + 1e-12)[-1])
    hi = int(np.flatnonzero(above <= tail + 1e-12)[0])
    return lo, hi


def series_calibration(hits, level: float) -> dict[str, float]:
    """How coverage spreads over series, from each series' inside-or-not flags (a list of 1-D bool arrays,
    or an (S, P) array): the share whose count inside lies outside its binomial_range
    (`miscalibrated`), the share with every point inside (`all_inside`), and the share a calibrated
    series would give with every point inside, the mean of level^points (`all_inside_expected`)."""
    hits = [np.asarray(flags, dtype=bool).ravel() for flags in hits]
    if not hits:
        raise DataError("cannot judge coverage series by series without a series: pass at least one")
    ranges = {n: binomial_range(n, level) for n in {len(flags) for flags in hits}}
    counts = [(int(flags.sum()), len(flags)) for flags in hits]
    outside = [not ranges[n][0] <= k <= ranges[n][1] for k, n in counts]
    return {"miscalibrated": float(np.mean(outside)), "all_inside": float(np.mean([k == n for k, n in counts])),
            "all_inside_expected": float(np.mean([(level / 100.0) ** n for _, n in counts]))}


def inside(y_true, lower, upper) -> np.ndarray:
    """Whether each true value lies inside its interval [lower, upper], bounds included (same shape)."""
    y_true, lower, upper = _check_bounds(y_true, lower, upper)
    return (y_true >= lower) & (y_true <= upper)
