"""Settings chosen from the data when the user leaves them on auto: lookback, anchor, calendar inputs.

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


def auto_lookback(season: int | None, horizon: int, train_lengths: list[int]) -> int:
    """The recent span, at most what the shortest training part allows."""
    wanted = recent_span(season, horizon)
    room = min(train_lengths) - horizon  # the shortest series still gives one training window
    if room < 1:
        raise DataError(
            f"the shortest series leaves {min(train_lengths)} training points, too few for horizon {horizon}: "
            "lower --horizon or --val-fraction, or use longer series"
        )
    return int(min(wanted, room, MAX_AUTO_LOOKBACK))


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


# ---- calendar inputs -----------------------------------------------------------------------

CYCLES = ("day", "week", "year")


def calendar_cycles(freq: str) -> tuple[str, ...]:
    """The calendar cycles worth giving a series at this frequency: the ones longer than a step
    and repeated within the data (hour of day and day of week for sub-daily data, day of week and
    time of year for daily, time of year for monthly and quarterly). Weekly and yearly data get
    none: a weekly step cannot see the day, and time of year on weekly data was not measurable here."""
    from pandas.tseries import offsets

    from tsgate.baselines import DAY_NANOS, MONTHLY_OFFSETS, QUARTERLY_OFFSETS, parse_freq

    offset = parse_freq(freq)
    if offset is None:
        return ()
    if isinstance(offset, offsets.Tick) and not isinstance(offset, offsets.Day) and offset.nanos < DAY_NANOS:
        return ("day", "week")
    if isinstance(offset, (offsets.Day, offsets.BusinessDay, offsets.Tick)):
        return ("week", "year")
    if isinstance(offset, MONTHLY_OFFSETS + QUARTERLY_OFFSETS):
        return ("year",)
    return ()


def calendar_features(index, cycles: tuple[str, ...]) -> np.ndarray:
    """Sine and cosine of each cycle's phase at every timestamp: (T, 2 * len(cycles))."""
    day = (index.hour + index.minute / 60 + index.second / 3600) / 24
    phases = {
        "day": day,
        "week": (index.day_of_week + day) / 7,
        "year": (index.day_of_year - 1 + day) / 365.25,
    }
    columns = []
    for cycle in cycles:
        angle = 2 * np.pi * np.asarray(phases[cycle], dtype=np.float64)
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(index), 0))


def calendar_on_grid(first, last, series_lengths: np.ndarray, freq: str, cycles: tuple[str, ...], series_index=None):
    """Calendar inputs for series from `first` to `last` (DatetimeIndex, (S,) each) on one shared
    grid: (features (G, F), each series' first grid position (S,)). Where the series do not share
    a grid, or it would be much longer than the series together (series far apart in time), the
    grid is their own stamps end to end (`series_index()` gives them)."""
    from tsgate.timegrid import grid_through

    on_grid = grid_through(first.append(last), freq, most=2 * int(series_lengths.sum()) + 10_000)
    if on_grid is not None:
        grid, positions = on_grid
        return calendar_features(grid, cycles), positions[:len(first)]
    indexes = series_index()
    starts = np.concatenate([[0], np.cumsum([len(index) for index in indexes])[:-1]])
    return np.concatenate([calendar_features(index, cycles) for index in indexes]), starts


def context_calendar(last, length: int, freq: str, cycles: tuple[str, ...]) -> np.ndarray:
    """Calendar inputs (S, L, F) of the `length` steps ending at each of `last`."""
    import warnings

    import pandas as pd

    from tsgate.timegrid import grid_through

    on_grid = grid_through(last, freq, before=length - 1)
    if on_grid is not None:
        grid, positions = on_grid
        features = calendar_features(grid, cycles)
        return features[positions[:, None] - (length - 1) + np.arange(length)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.stack([calendar_features(pd.date_range(end=stamp, periods=length, freq=freq), cycles) for stamp in last])
