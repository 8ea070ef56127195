"""Frequencies and time grids: read an alias, the season it implies, the calendar cycles worth
giving a model and their inputs, the stamps a series continues with.

A panel's series are all regular at one frequency, so one grid running from the earliest to
the latest stamp holds each series' stamps at consecutive positions: calendar inputs and
forecast stamps are computed once per grid point and looked up by position, not built per
series. Where series fall between a grid's points (hourly series starting at :30 beside ones
at :00), `grid_through` gives None and the callers take the per-series way.

pandas is imported inside the functions: this module is cheap to import.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

# ---- aliases -------------------------------------------------------------------------------

# Aliases pandas 3 no longer parses, mapped to their modern spelling. Only
# tried after the string as given fails, so pandas 2 keeps its own reading.
_LEGACY_ALIASES = {
    "H": "h",
    "BH": "bh",
    "T": "min",
    "S": "s",
    "L": "ms",
    "U": "us",
    "N": "ns",
    "M": "ME",
    "BM": "BME",
    "SM": "SME",
    "Q": "QE",
    "BQ": "BQE",
    "A": "YE",
    "Y": "YE",
    "BA": "BYE",
    "BY": "BYE",
    "AS": "YS",
    "BAS": "BYS",
}


def parse_freq(freq: str):
    """The offset for freq, reading legacy aliases too; None if unparseable."""
    from pandas.tseries.frequencies import to_offset

    candidates = [freq]
    # A pandas frequency is an optional multiple, an alias and an optional
    # anchor: "30T", "Q-DEC". Only the alias part may need renaming.
    match = re.fullmatch(r"([+-]?\d*)([A-Za-z]+)(-.*)?", freq)
    if match and match[2] in _LEGACY_ALIASES:
        multiple, alias, anchor = match.groups(default="")
        candidates.append(multiple + _LEGACY_ALIASES[alias] + anchor)
    for candidate in candidates:
        try:
            with warnings.catch_warnings():
                # pandas 2 warns that legacy aliases are deprecated; we map them.
                warnings.simplefilter("ignore", FutureWarning)
                return to_offset(candidate)
        except (ValueError, TypeError):
            continue
    return None


def normalise_freq(freq) -> str:
    """A canonical pandas alias for `freq` (string or offset); OptionError if pandas does not know it."""
    from pandas.tseries.frequencies import to_offset

    from tsgate.errors import OptionError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_offset(freq).freqstr
    except (ValueError, TypeError) as exc:
        raise OptionError(f"unknown frequency {freq!r}: use a pandas alias such as D, h, 30min, W, MS or QS") from exc


def inferred_freq(stamps) -> str | None:
    """The canonical alias pandas infers for these stamps, or None when they are not regular."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(stamps)
    return normalise_freq(freq) if freq is not None else None


def fixed_step(offset, tz) -> int | None:
    """Nanoseconds per step where every step of `offset` lasts as long (clock steps, and days on
    stamps without a zone, where no daylight-saving change stretches one); None for calendar steps."""
    import pandas as pd

    if isinstance(offset, pd.offsets.Tick) or (isinstance(offset, pd.offsets.Day) and tz is None):
        return pd.Timedelta(offset).value
    return None


# ---- the season ----------------------------------------------------------------------------

# Steps per seasonal cycle for each offset kind. Days cycle over a week and
# sub-daily ticks over a day; years have no shorter cycle worth modelling.
_WEEKLY_CYCLE_DAYS = 7
_BUSINESS_DAYS_PER_WEEK = 5
_WEEKS_PER_YEAR = 52
_MONTHS_PER_YEAR = 12
_QUARTERS_PER_YEAR = 4
DAY_NANOS = 24 * 60 * 60 * 10**9
# The longest sub-daily season offered: one day of 1-minute data. Finer data
# (seconds) would need lookbacks of 86,400 steps, so it gets no season.
_MAX_DAILY_SEASON = 1440


def month_and_quarter_offsets() -> tuple[tuple, tuple]:
    """pandas' offset classes that step by months, and those that step by quarters."""
    from pandas.tseries import offsets

    monthly = (offsets.MonthBegin, offsets.MonthEnd, offsets.BusinessMonthBegin, offsets.BusinessMonthEnd)
    quarterly = (offsets.QuarterBegin, offsets.QuarterEnd, offsets.BQuarterBegin, offsets.BQuarterEnd)
    return monthly, quarterly


def _per_cycle(cycle: int, n: int) -> int | None:
    """Steps per cycle when each step spans n units; None unless whole and > 1."""
    if n < 1 or cycle % n != 0 or cycle // n <= 1:
        return None
    return cycle // n


def _season_of(offset) -> int | None:
    from pandas.tseries import offsets

    monthly, quarterly = month_and_quarter_offsets()
    # Day before Tick: pandas 2 makes Day a Tick, pandas 3 does not.
    if isinstance(offset, offsets.Day):
        return _per_cycle(_WEEKLY_CYCLE_DAYS, offset.n)
    if isinstance(offset, offsets.Tick):
        nanos = offset.nanos
        if nanos > 0 and nanos % DAY_NANOS == 0:  # e.g. "24h" is daily
            return _per_cycle(_WEEKLY_CYCLE_DAYS, nanos // DAY_NANOS)
        season = _per_cycle(DAY_NANOS, nanos)
        if season is None or season > _MAX_DAILY_SEASON:
            return None
        return season
    if isinstance(offset, (offsets.BusinessDay, offsets.CustomBusinessDay)):
        return _per_cycle(_BUSINESS_DAYS_PER_WEEK, offset.n)
    if isinstance(offset, offsets.Week):
        return _per_cycle(_WEEKS_PER_YEAR, offset.n)
    if isinstance(offset, monthly):
        return _per_cycle(_MONTHS_PER_YEAR, offset.n)
    if isinstance(offset, quarterly):
        return _per_cycle(_QUARTERS_PER_YEAR, offset.n)
    return None  # yearly, business-hourly and anything else: no season


def infer_season(freq: str | None) -> int | None:
    """The usual seasonal period for a pandas frequency string, or None.

    Monthly 12, quarterly 4, weekly 52, daily 7, business daily 5, hourly 24,
    half-hourly 48, 15-minutely 96, k-minutely 1440 / k when whole. Multiples
    divide the cycle ("2h" -> 12). Yearly, unknown and unparseable -> None.
    """
    if not isinstance(freq, str) or not freq.strip():
        return None
    offset = parse_freq(freq.strip())
    return None if offset is None else _season_of(offset)


# ---- the time grid -------------------------------------------------------------------------


def grid_through(stamps, freq: str, before: int = 0, after: int = 0, most: int | None = None):
    """(grid, positions): a regular grid at `freq` from `before` steps ahead of the earliest stamp
    to `after` steps past the latest, and each stamp's position on it; None if a stamp is off it,
    or if the grid would be longer than `most` points (series far apart in time at a fine step)."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    most = most if most is not None else max(100_000, 4 * len(stamps) * (before + after + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = pd.date_range(end=stamps.min(), periods=before + 1, freq=freq)[0]
        end = pd.date_range(start=stamps.max(), periods=after + 1, freq=freq)[-1]
        offset = to_offset(freq)
        if isinstance(offset, pd.offsets.Tick) and (end - start) // pd.Timedelta(offset) + 1 > most:
            return None
        grid = pd.date_range(start, end, freq=freq)
    if len(grid) > most:
        return None
    positions = grid.get_indexer(stamps)
    return None if (positions < 0).any() else (grid, positions)


def stamp_ranges(starts, lengths, freq: str) -> list:
    """One DatetimeIndex per series: `lengths[i]` stamps at `freq` from `starts[i]`."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [pd.date_range(start, periods=int(n), freq=freq) for start, n in zip(starts, lengths)]


def future_stamps(last, freq: str, horizon: int):
    """The `horizon` stamps after each of `last`, continuing the frequency: S * H stamps, series by series."""
    import pandas as pd

    on_grid = grid_through(last, freq, after=horizon)
    if on_grid is not None:
        grid, positions = on_grid
        return grid[(positions[:, None] + np.arange(1, horizon + 1)).ravel()].as_unit("ns")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = [pd.date_range(stamp, periods=horizon + 1, freq=freq)[1:] for stamp in last]
    return (parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]).as_unit("ns")


def shift_stamps(stamps, steps: np.ndarray, freq: str):
    """Each stamp moved `steps[i]` steps of `freq` forward: by arithmetic for fixed-length steps, by
    positions on one shared grid for calendar steps (months, weeks), one by one only off such a grid."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    steps = np.asarray(steps, dtype=np.int64)
    step = fixed_step(offset, stamps.tz)
    if step is not None:
        return stamps + pd.to_timedelta(steps * step, unit="ns")
    if len(steps) == 0:
        return stamps
    on_grid = grid_through(stamps, freq, after=int(steps.max()))
    if on_grid is not None:
        grid, positions = on_grid
        return grid[positions + steps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.DatetimeIndex([stamp + int(k) * offset for stamp, k in zip(stamps, steps)])


# ---- calendar inputs -----------------------------------------------------------------------


def calendar_cycles(freq: str) -> tuple[str, ...]:
    """The calendar cycles worth giving a series at this frequency: the ones longer than a step
    and repeated within the data (hour of day and day of week for sub-daily data, day of week and
    time of year for daily, time of year for monthly and quarterly). Weekly and yearly data get
    none: a weekly step cannot see the day, and time of year on weekly data was not measurable here."""
    from pandas.tseries import offsets

    offset = parse_freq(freq)
    if offset is None:
        return ()
    if isinstance(offset, offsets.Tick) and not isinstance(offset, offsets.Day) and offset.nanos < DAY_NANOS:
        return ("day", "week")
    if isinstance(offset, (offsets.Day, offsets.BusinessDay, offsets.Tick)):
        return ("week", "year")
    monthly, quarterly = month_and_quarter_offsets()
    if isinstance(offset, monthly + quarterly):
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
    on_grid = grid_through(first.append(last), freq, most=2 * int(series_lengths.sum()) + 10_000)
    if on_grid is not None:
        grid, positions = on_grid
        return calendar_features(grid, cycles), positions[:len(first)]
    indexes = series_index()
    starts = np.concatenate([[0], np.cumsum([len(index) for index in indexes])[:-1]])
    return np.concatenate([calendar_features(index, cycles) for index in indexes]), starts


def context_calendar(last, length: int, freq: str, cycles: tuple[str, ...]) -> np.ndarray:
    """Calendar inputs (S, L, F) of the `length` steps ending at each of `last`."""
    import pandas as pd

    on_grid = grid_through(last, freq, before=length - 1)
    if on_grid is not None:
        grid, positions = on_grid
        features = calendar_features(grid, cycles)
        return features[positions[:, None] - (length - 1) + np.arange(length)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.stack([calendar_features(pd.date_range(end=stamp, periods=length, freq=freq), cycles) for stamp in last])
