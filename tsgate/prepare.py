"""Preparing a fit: a SeriesSet and the options a fit resolves from the data, turned into a training plan.

Everything a fit decides from the data before any network trains happens here, in this order:
which series it learns from (a panel leaves out those too short for the lookback, horizon and
validation), the base lookback and each member's, the scaling fitted on each series' training
part, the calendar inputs, the anchor's season, and the windows of each lookback. The plan is
plain data; schedule.py trains the members on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tsgate.errors import DataError


@dataclass
class TrainingPlan:
    series: object  # SeriesSet: the series the fit learns from
    left_out: list[tuple[str, str]]  # (id, why) of the series too short to learn from
    horizon: int
    base_lookback: int  # the given lookback, or the auto choice
    lookbacks: list[int]  # each member's
    train_lengths: np.ndarray  # (S,) each series' length without its validation part
    scaling: object  # windows.Scaling fitted on the training parts; constant series flagged in a panel
    scaled: np.ndarray  # (T_total, C) the series end to end, scaled, in the windows' dtype
    season: int | None  # the frequency's season, None when it has none
    cycles: tuple[str, ...]  # calendar cycles the networks read
    calendar: tuple[np.ndarray, np.ndarray] | None  # (features (G, F) on one grid, each series' first position (S,))
    anchor_season: int  # 0 none, 1 the last value, m the last season of m steps
    windows: dict  # {lookback: windows.WindowSet}, one per distinct member lookback
    seconds: float  # spent cutting the windows

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Every series left out: by the loader, then by this plan."""
        return list(self.series.skipped) + self.left_out


def plan_training(series, *, lookback: int | str, horizon: int, val_fraction: float, members: int, anchor: str,
                  calendar: bool, scaler: str) -> TrainingPlan:
    """The plan of a fit of `members` networks on `series`; DataError where the data cannot be learned
    from. A panel (several series, not `series.strict`) leaves out what one series would refuse."""
    from tsgate.auto import choose_anchor
    from tsgate.freq import calendar_cycles
    from tsgate.windows import build_windows, fit_scaling, storage_dtype

    (series, base, left_out), lookbacks = resolve_lookbacks(series, lookback=lookback, horizon=horizon,
                                                            val_fraction=val_fraction, members=members)
    lengths = train_lengths(series, horizon, val_fraction)
    scaling = fit_scaling(scaler, series.flat, series.offsets, lengths, series.labels, constant="flag" if series.lenient else "error")
    learn = ~scaling.is_constant()  # constant series forecast their constant: nothing to learn
    if not learn.any():
        raise DataError(f"all {len(learn)} series are constant over their training part: there is nothing to learn")
    scaled = scaling.transform_flat(series.flat, series.offsets, dtype=storage_dtype(scaler))  # (T_total, C)
    season = series.season
    cycles = calendar_cycles(series.freq) if calendar else ()
    grid = calendar_grid(series, cycles)
    parts = np.split(scaled, series.offsets[1:-1])
    anchor_season = choose_anchor(anchor, season, min(lookbacks),
                                  [part[:t] for part, t, keep in zip(parts, lengths, learn) if keep], horizon)
    started = time.perf_counter()
    windows = {member: build_windows(scaled, series.offsets, lengths, member, horizon, grid, learn, scaled.dtype)
               for member in sorted(set(lookbacks))}
    return TrainingPlan(series, left_out, horizon, base, lookbacks, lengths, scaling, scaled, season, cycles, grid,
                        anchor_season, windows, time.perf_counter() - started)


def resolve_lookbacks(series, *, lookback: int | str, horizon: int, val_fraction: float, members: int):
    """(usable_series' answer, each member's lookback): the lookbacks a fit of `members` networks uses."""
    from tsgate.auto import member_lookbacks

    usable, base, left_out = usable_series(series, lookback, horizon, val_fraction)
    lengths = train_lengths(usable, horizon, val_fraction)
    lookbacks = member_lookbacks(base, members, horizon, int(lengths.min()) - horizon, auto=lookback == "auto")
    return (usable, base, left_out), lookbacks


def usable_series(series, lookback: int | str, horizon: int, val_fraction: float):
    """(the series a fit learns from, the base lookback, [(id, why)] of series left out).

    A panel (several series, not `series.strict`) leaves out the series too short for the lookback,
    horizon and validation, where one series or a strict set refuses them. With lookback auto, the
    lookback fits the shortest series that can hold a training window at all (as for one series),
    and a panel leaves out the ones that cannot."""
    from tsgate.auto import auto_lookback
    from tsgate.windows import check_length, validation_lengths

    lengths = series.length_array
    val = validation_lengths(lengths, horizon, val_fraction)
    lenient = series.lenient
    if lookback == "auto":
        train = lengths - val
        holding = train[train > horizon]  # a training window with a lookback of one step fits
        pool = holding if lenient and len(holding) else train
        base = auto_lookback(series.season, horizon, pool.tolist())
    else:
        base = lookback
    short = lengths < base + horizon + val
    if not short.any():
        return series, base, []
    first = int(np.flatnonzero(short)[0])
    if not lenient or short.all():
        check_length(int(lengths[first]), base, horizon, int(val[first]), series.labels[first])
    left_out = [(series.ids[k], f"has {lengths[k]} points, fewer than the {base + horizon + val[k]} that lookback "
                 f"{base} + horizon {horizon} + validation {val[k]} need") for k in np.flatnonzero(short)]
    return series.subset(np.flatnonzero(~short)), base, left_out


def train_lengths(series, horizon: int, val_fraction: float) -> np.ndarray:
    """Each series' length without its validation part."""
    from tsgate.windows import validation_lengths

    return series.length_array - validation_lengths(series.length_array, horizon, val_fraction)


def calendar_grid(series, cycles: tuple[str, ...]):
    """The calendar inputs of `series` on one time grid: (features (G, F), each series' first grid
    position (S,)), or None without cycles."""
    from tsgate.freq import calendar_on_grid

    if not cycles:
        return None
    return calendar_on_grid(series.first, series.last, series.length_array, series.freq, cycles, lambda: series.index)
