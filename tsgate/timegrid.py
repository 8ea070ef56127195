"""One regular time axis for all the series of a panel, so that calendar inputs and forecast
timestamps are computed once per grid point and looked up by position, not built per series.

Every series is regular at the panel's frequency, so a grid running from the earliest to
the latest stamp holds each series' stamps at consecutive positions; a series whose stamps
fall between the grid's points (hourly series starting at :30 beside ones at :00) gets None,
and callers then take the per-series way.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def grid_through(stamps: pd.DatetimeIndex, freq: str, before: int = 0, after: int = 0, most: int | None = None):
    """(grid, positions): a regular grid at `freq` from `before` steps ahead of the earliest stamp
    to `after` steps past the latest, and each stamp's position on it; None if a stamp is off it,
    or if the grid would be longer than `most` points (series far apart in time at a fine step)."""
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


def future_stamps(last: pd.DatetimeIndex, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The `horizon` stamps after each of `last`, continuing the frequency: S * H stamps, series by series."""
    on_grid = grid_through(last, freq, after=horizon)
    if on_grid is not None:
        grid, positions = on_grid
        return grid[(positions[:, None] + np.arange(1, horizon + 1)).ravel()].as_unit("ns")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = [pd.date_range(stamp, periods=horizon + 1, freq=freq)[1:] for stamp in last]
    return (parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]).as_unit("ns")
