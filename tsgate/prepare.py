"""Preparing a fit: a SeriesSet and the options a fit resolves from the data, turned into a training plan.

Everything a fit decides from the data before any network trains happens here, in this order:
which series it learns from, the base lookback and each member's, the scaling fitted on each
series' training part, the calendar inputs, the anchor's season, and the windows of each lookback.
The plan is plain data; schedule.py trains the members on it.

One series, or a strict set, must hold a whole window at the lookback, and `--lookback auto` fits
the shortest series. A panel (several series, not strict) keeps every series instead: the auto
lookback follows its median training length, a series whose training part holds no whole window
learns from padded windows (windows.pad_series, with a mask input), and a series too short to give
even one padded window is a fallback: it trains nothing and is forecast by the networks from its
own points (padded), or by its last value when it has one point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tsgate.errors import DataError


@dataclass
class TrainingPlan:
    series: object  # SeriesSet: the series the fit learns from and forecasts
    left_out: list[tuple[str, str]]  # (id, why) of series the plan leaves out: none, as a panel keeps every series
    horizon: int
    base_lookback: int  # the given lookback, or the auto choice
    lookbacks: list[int]  # each member's
    train_lengths: np.ndarray  # (S,) each series' length without its validation part
    scaling: object  # windows.Scaling fitted on the training parts; constant series flagged in a panel
    scaled: np.ndarray  # (T_total, C) the series end to end, scaled, in the windows' dtype
    season: int | None  # the frequency's season, None when it has none
    cycles: tuple[str, ...]  # calendar cycles the networks read
    calendar: tuple[np.ndarray, np.ndarray] | None  # (features (G, F) on one grid, each series' first position (S,))
    anchor_season: int  # 0 none, 1 the last value, m the last season of m steps (member_anchor: each member's)
    windows: dict  # {lookback: windows.WindowSet}, one per distinct member lookback
    seconds: float  # spent cutting the windows
    fallback: np.ndarray | None = None  # (S,) bool: too short to learn from, forecast all the same (a panel only)
    masked: bool = False  # the networks read a mask input (some window or forecast is padded)
    covariates: object = None  # covariates.CovariatePlan, or None: no covariates

    def member_anchor(self, k: int) -> int:
        """Member k's anchor: the plan's, or the last value where its lookback holds no whole season,
        so that one short member does not take the seasonal anchor from the others."""
        return self.anchor_season if self.lookbacks[k] >= self.anchor_season else 1

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Every series left out: by the loader, then by this plan."""
        return list(self.series.skipped) + self.left_out


def plan_training(series, *, lookback: int | str, horizon: int, val_fraction: float, members: int, anchor: str,
                  calendar: bool, scaler: str) -> TrainingPlan:
    """The plan of a fit of `members` networks on `series`; DataError where the data cannot be learned
    from. A panel (several series, not `series.strict`) pads or falls back where one series would refuse."""
    from tsgate.auto import choose_anchor
    from tsgate.covariates import plan_covariates
    from tsgate.freq import calendar_cycles
    from tsgate.windows import storage_dtype

    shape = plan_shape(series, lookback=lookback, horizon=horizon, val_fraction=val_fraction, members=members,
                       scaler=scaler)
    series, base, left_out, fallback = shape.resolved
    lookbacks, lengths, scaling, learn, masked = shape.lookbacks, shape.lengths, shape.scaling, shape.learn, shape.masked
    scaled = scaling.transform_flat(series.flat, series.offsets, dtype=storage_dtype(scaler))  # (T_total, C)
    season = series.season
    cycles = calendar_cycles(series.freq) if calendar else ()
    parts = np.split(scaled, series.offsets[1:-1])
    anchor_season = choose_anchor(anchor, season, lookbacks[0],
                                  [part[:t] for part, t, keep in zip(parts, lengths, learn) if keep], horizon)
    started = time.perf_counter()
    covariates = plan_covariates(series, scaler, lengths, max(lookbacks), scaled.dtype)
    windows = {member: member_windows(series, scaled, lengths, member, horizon, cycles, learn, masked, covariates)
               for member in sorted(set(lookbacks))}
    return TrainingPlan(series, left_out, horizon, base, lookbacks, lengths, scaling, scaled, season, cycles,
                        calendar_grid(series, cycles), anchor_season, windows, time.perf_counter() - started,
                        fallback, masked, covariates)


@dataclass
class PlanShape:
    """What fixes the networks' shapes before any window is cut: the series kept, each member's
    lookback, the training lengths, the scaling, which series train, and whether a mask is read."""

    resolved: tuple  # usable_series' answer: (series, base lookback, left out, fallback flags)
    lookbacks: list[int]
    lengths: np.ndarray  # (S,) each series' training length (a fallback's whole length)
    scaling: object
    learn: np.ndarray  # (S,) the series the networks learn from
    masked: bool


def plan_shape(series, *, lookback: int | str, horizon: int, val_fraction: float, members: int, scaler: str) -> PlanShape:
    """The first steps of plan_training, which sizes.first_member_config also needs."""
    from tsgate.windows import fit_scaling

    (series, base, left_out, fallback), lookbacks = resolve_lookbacks(series, lookback=lookback, horizon=horizon,
                                                                      val_fraction=val_fraction, members=members)
    # A fallback has no validation part: its scaler reads all of it.
    lengths = np.where(fallback, series.length_array, train_lengths(series, horizon, val_fraction))
    scaling = fit_scaling(scaler, series.flat, series.offsets, lengths, series.labels, constant="flag" if series.lenient else "error")
    learn = ~scaling.is_constant() & ~fallback  # constant series forecast their constant: nothing to learn
    if not learn.any():
        raise DataError(f"all {len(learn)} series are constant over their training part or too short to learn from: "
                        "there is nothing to learn")
    masked = series.lenient and needs_mask(series, lengths, lookbacks, horizon, learn, scaling.is_constant())
    return PlanShape((series, base, left_out, fallback), lookbacks, lengths, scaling, learn, masked)


def needs_mask(series, lengths: np.ndarray, lookbacks: list[int], horizon: int, learn: np.ndarray,
               constant: np.ndarray) -> bool:
    """Whether any member pads a training window, or any series the networks forecast is shorter than
    the longest lookback."""
    from tsgate.windows import window_padding

    pads = any(window_padding(lengths, member, horizon, learn).any() for member in set(lookbacks))
    return bool(pads or (series.length_array[~constant] < max(lookbacks)).any())


def member_windows(series, scaled: np.ndarray, lengths: np.ndarray, lookback: int, horizon: int,
                   cycles: tuple[str, ...], learn: np.ndarray, masked: bool, covariates=None):
    """The windows of one member lookback; with `masked`, over the series padded as that lookback needs
    (no series padded: a mask of ones); `covariates` (a covariates.CovariatePlan) ride along."""
    from dataclasses import replace

    from tsgate.freq import shift_stamps
    from tsgate.windows import build_windows, pad_series, window_padding

    first_future = scaled.shape[1] + 2 * len(cycles) + (0 if covariates is None else covariates.widths["past"])
    if not masked:
        return build_windows(scaled, series.offsets, lengths, lookback, horizon, calendar_grid(series, cycles), learn,
                             scaled.dtype, covariates=covariates and covariates.windows(first_future))
    pad = window_padding(lengths, lookback, horizon, learn)
    values, padding = pad_series(scaled, series.offsets, pad)
    # The padded series start `pad` steps earlier: their padding reads the calendar of those steps,
    # as a padded forecast does (Forecaster.network_inputs).
    padded = replace(series, flat=series.flat[:0].reshape(0, series.flat.shape[1]), offsets=padding.offsets,
                     first=shift_stamps(series.first, -pad, series.freq))
    return build_windows(values, padding.offsets, lengths + pad, lookback, horizon, calendar_grid(padded, cycles),
                         learn, scaled.dtype, padding, covariates and covariates.windows(first_future, pad))


def resolve_lookbacks(series, *, lookback: int | str, horizon: int, val_fraction: float, members: int):
    """(usable_series' answer, each member's lookback): the lookbacks a fit of `members` networks uses."""
    from tsgate.auto import member_lookbacks

    usable, base, left_out, fallback = usable_series(series, lookback, horizon, val_fraction)
    lengths = train_lengths(usable, horizon, val_fraction)[~fallback]
    room = int(np.median(lengths) if usable.lenient else lengths.min()) - horizon
    lookbacks = member_lookbacks(base, members, horizon, room, auto=lookback == "auto")
    return (usable, base, left_out, fallback), lookbacks


def usable_series(series, lookback: int | str, horizon: int, val_fraction: float):
    """(the series a fit learns from, the base lookback, [(id, why)] of series left out, (S,) fallback flags).

    One series or a strict set refuses a series too short for the lookback, horizon and validation,
    and the auto lookback fits the shortest. A panel (several series, not `series.strict`) keeps
    every series: the auto lookback follows the median training length of the series that hold a
    padded window, and the others are fallbacks."""
    from tsgate.auto import auto_lookback
    from tsgate.windows import MIN_WINDOW_POINTS, check_length, validation_lengths

    lengths = series.length_array
    val = validation_lengths(lengths, horizon, val_fraction)
    train = lengths - val
    if series.lenient:
        fallback = train < horizon + MIN_WINDOW_POINTS  # not one padded training window
        if fallback.all():
            first = int(np.argmax(lengths))
            needed = max(MIN_WINDOW_POINTS, 0 if lookback == "auto" else lookback)  # always more than it has
            check_length(int(lengths[first]), needed, horizon, int(val[first]), series.labels[first])
        base = auto_lookback(series.season, horizon, train[~fallback].tolist(), typical=True) \
            if lookback == "auto" else lookback
        return series, base, [], fallback
    base = auto_lookback(series.season, horizon, train.tolist()) if lookback == "auto" else lookback
    short = lengths < base + horizon + val
    if short.any():
        first = int(np.flatnonzero(short)[0])
        check_length(int(lengths[first]), base, horizon, int(val[first]), series.labels[first])
    return series, base, [], np.zeros(len(lengths), dtype=bool)


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
