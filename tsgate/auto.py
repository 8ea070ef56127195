"""Settings chosen from the data when the user leaves them on auto: the lookback and the anchor.

Each choice looks only at the training part of the series (never at the
validation or test period) and is saved in the model file as a plain number.
"""

from __future__ import annotations

import math

import numpy as np

from tsgate.errors import DataError, OptionError

MAX_AUTO_LOOKBACK = 512  # a cap on cost: the recurrent steps grow with the lookback
# Lookbacks of the ensemble's members, as multiples of the base lookback (N-BEATS mixed
# lookbacks of 2 to 7 horizons): members that read different spans err differently.
MEMBER_LOOKBACKS = (1.0, 0.5, 1.5)


def recent_span(season: int | None, horizon: int) -> int:
    """Three horizons, or two seasons when longer: the recent past a forecast reads by default,
    and the span over which prediction intervals measure a series' recent variability."""
    return max(3 * horizon, 2 * (season or 0))


def auto_lookback(season: int | None, horizon: int, train_lengths: list[int], typical: bool = False) -> int:
    """The recent span, at most what the shortest training part allows; with `typical` (a panel, which
    pads the windows of shorter series), what the median training part allows."""
    reference = int(np.median(train_lengths)) if typical else min(train_lengths)
    room = reference - horizon  # the reference series still gives one training window
    if room < 1:
        which = "the median series" if typical else "the shortest series"
        raise DataError(
            f"{which} leaves {reference} training points, too few for horizon {horizon}: "
            "lower --horizon or --val-fraction, or use longer series"
        )
    return int(min(recent_span(season, horizon), room, MAX_AUTO_LOOKBACK))


def member_lookbacks(base: int, members: int, horizon: int, allowed: int, auto: bool) -> list[int]:
    """Each member's lookback: the base for all when the user set one, else a spread around it."""
    if not auto:
        return [base] * members
    spread = [int(round(base * factor)) for factor in MEMBER_LOOKBACKS]
    spread = [min(max(value, min(horizon, base)), allowed) for value in spread]
    return [spread[k % len(spread)] for k in range(members)]


def choose_anchor(kind: str, season: int | None, lookback: int, scaled_train: list[np.ndarray], horizon: int) -> int:
    """The anchor's season: 0 none, 1 the last value, or `season` when seasonal naive is the better
    forecast on the training part (kind auto) or was asked for (kind seasonal)."""
    if kind == "none":
        return 0
    if kind == "last":
        return 1
    usable = season is not None and 1 < season <= lookback
    if kind == "seasonal":
        if not usable:
            raise OptionError(
                f"--anchor seasonal needs a season of at most the lookback ({lookback}); the data's is "
                f"{season or 'unknown'}: raise --lookback, or use --anchor auto or last"
            )
        return season
    if not usable:
        return 1
    return season if in_sample_error(scaled_train, season, horizon) < in_sample_error(scaled_train, 1, horizon) else 1


def in_sample_error(series: list[np.ndarray], season: int, horizon: int) -> float:
    """Mean absolute error of repeating the last `season` values over `horizon` steps, from every
    origin: the mean over series and steps of each series' mean error at that step's lag.

    Series are taken a group of about a million points at a time, all of a group at once."""
    from tsgate.windows import series_chunks

    lengths = np.array([len(values) for values in series], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    lags = [season * (step // season + 1) for step in range(horizon)]  # step `step` repeats the value `lag` before it
    total, count = 0.0, 0
    for first, stop in series_chunks(offsets):
        group_total, group_count = error_sums(series[first:stop], lags)
        total, count = total + group_total, count + group_count
    return total / count if count else math.inf


def error_sums(series: list[np.ndarray], lags: list[int]) -> tuple[float, int]:
    """(sum, count) of the per-series, per-step mean errors behind in_sample_error, for a group of series."""
    lengths = np.array([len(values) for values in series], dtype=np.int64)
    flat = np.concatenate(series).astype(np.float64, copy=False)
    owners = np.repeat(np.arange(len(series)), lengths)
    position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    total, count = 0.0, 0
    for lag in sorted(set(lags)):
        usable = lengths > lag
        if not usable.any():
            continue
        inside = position[lag:] >= lag  # both points of the difference lie in one series
        errors = np.abs(flat[lag:] - flat[:-lag]).mean(axis=1)[inside]
        sums = np.bincount(owners[lag:][inside], weights=errors, minlength=len(series))
        total += lags.count(lag) * (sums[usable] / (lengths[usable] - lag)).sum()
        count += lags.count(lag) * int(usable.sum())
    return total, count
