"""Scale series, split them by time and cut (lookback, horizon) windows as views.

The split is per series: its last `val` points are validation targets. The scaler
sees only the training part, and no training window's target reaches into
validation, so nothing from the validation period leaks into training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tsgate.config import SCALERS
from tsgate.errors import DataError, OptionError


@dataclass(frozen=True)
class Scaling:
    """Per-series, per-column affine map: scaled = (x - center) / scale."""

    center: np.ndarray  # (S, C)
    scale: np.ndarray  # (S, C)
    constant: np.ndarray | None = None  # (S,) bool: constant over the training part (None: none were)

    def transform(self, series, values: np.ndarray) -> np.ndarray:
        """Series number(s) `series`: values (T, C) of one series, or (S, T, C) of the series `series` lists."""
        return (values - self.expand(self.center, series, values)) / self.expand(self.scale, series, values)

    def inverse(self, series, values: np.ndarray) -> np.ndarray:
        return values * self.expand(self.scale, series, values) + self.expand(self.center, series, values)

    def transform_flat(self, flat: np.ndarray, offsets: np.ndarray, numbers=None, dtype=np.float64) -> np.ndarray:
        """Series end to end (T_total, C), split at `offsets`, scaled by the scalers of the stored series
        `numbers` (default: 0, 1, ...), as `dtype`, chunk by chunk."""
        numbers = np.arange(len(offsets) - 1) if numbers is None else np.asarray(numbers)
        scaled = np.empty(flat.shape, dtype=dtype)
        for first, stop in series_chunks(offsets):
            rows = slice(offsets[first], offsets[stop])
            owners = numbers[np.repeat(np.arange(first, stop), np.diff(offsets[first:stop + 1]))]
            scaled[rows] = (flat[rows] - self.center[owners]) / self.scale[owners]
        return scaled

    @staticmethod
    def expand(table: np.ndarray, series, values: np.ndarray) -> np.ndarray:
        rows = table[series]
        return rows if np.ndim(series) == 0 else rows[:, None, :] if values.ndim == 3 else rows

    def is_constant(self) -> np.ndarray:
        return np.zeros(len(self.center), dtype=bool) if self.constant is None else self.constant


def unit_if_zero(scale: np.ndarray) -> np.ndarray:
    """A spread of (nearly) zero scales by 1, as scikit-learn's scalers do."""
    return np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)


# Series per chunk of preprocessing (scaling, anchor choice, recent scales): whole series of about
# this many rows at a time, so its temporary arrays stay a few tens of MB for any panel.
CHUNK_ROWS = 1 << 20


def series_chunks(offsets: np.ndarray, rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """Consecutive groups [first, stop) of whole series, about `rows` rows each (a longer series is a group alone)."""
    count = len(offsets) - 1
    cuts = np.searchsorted(offsets[1:], np.arange(rows, int(offsets[-1]), rows), side="left") + 1
    edges = np.unique(np.concatenate([[0], np.minimum(cuts, count), [count]])).astype(np.int64)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def fit_scaling(kind: str, flat: np.ndarray, offsets: np.ndarray, train_lengths, labels: list[str],
                constant: str = "error") -> Scaling:
    """Each series' scaler, fitted on its training part, for all series at once (segment reductions
    over `flat`, chunk by chunk, no loop over series). A series constant over its training part is an
    error (`constant="error"`), or is allowed and flagged (`constant="flag"`) with a unit scale."""
    offsets, train_lengths = np.asarray(offsets, dtype=np.int64), np.asarray(train_lengths, dtype=np.int64)
    centers, scales, flats = [], [], []
    for first, stop in series_chunks(offsets):
        lengths = train_lengths[first:stop]
        part = flat[ragged_arange(offsets[first:stop], lengths)]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        low, high = np.minimum.reduceat(part, starts, axis=0), np.maximum.reduceat(part, starts, axis=0)
        center, scale = segment_affine(kind, part, starts, lengths, low, high)
        centers.append(center)
        scales.append(scale)
        flats.append(high == low)
    flat_columns = np.concatenate(flats)  # (S, C)
    if constant == "error" and flat_columns.any():
        series, column = (int(i) for i in np.argwhere(flat_columns)[0])
        value = flat[offsets[series], column]
        raise DataError(
            f"{labels[series]} is constant ({value:g}) over its training part: "
            "there is nothing to learn; drop it or forecast it as a constant"
        )
    return Scaling(np.concatenate(centers), np.concatenate(scales), flat_columns.all(axis=1))


def segment_affine(kind: str, part: np.ndarray, starts: np.ndarray, lengths: np.ndarray, low: np.ndarray,
                   high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of every segment of `part` (series end to end, segments at `starts`), (S, C) each,
    per column as scikit-learn's StandardScaler, RobustScaler and MinMaxScaler fit them.

    Written in numpy rather than by calling those scalers: importing scikit-learn costs about
    0.8 s (it imports scipy), a quarter of a short `train`, and for one column each scaler is a
    single statistic. tests/test_windows.py checks equality with scikit-learn's fits.
    """
    counts = lengths[:, None].astype(np.float64)
    if kind == "none":
        return np.zeros_like(low), np.ones_like(low)
    if kind == "standard":
        mean = np.add.reduceat(part, starts, axis=0) / counts
        deviation = part - np.repeat(mean, lengths, axis=0)
        return mean, unit_if_zero(np.sqrt(np.add.reduceat(deviation * deviation, starts, axis=0) / counts))
    if kind == "robust":
        lower, median, upper = segment_percentiles(part, starts, lengths, (25, 50, 75))
        return median, unit_if_zero(upper - lower)
    if kind == "minmax":
        return low, unit_if_zero(high - low)
    raise OptionError(f"unknown --scaler {kind!r}: use one of {', '.join(SCALERS)}")


def segment_percentiles(part: np.ndarray, starts: np.ndarray, lengths: np.ndarray, qs) -> np.ndarray:
    """np.percentile of every segment and column, (len(qs), S, C): the segments of one length are
    stacked and reduced in one call, which gives each exactly what np.percentile gives it alone."""
    results = np.empty((len(qs), len(starts), part.shape[1]))
    order = np.argsort(lengths, kind="stable")
    sizes, first = np.unique(lengths[order], return_index=True)
    for size, members in zip(sizes.tolist(), np.split(order, first[1:])):
        results[:, members] = np.percentile(gather_windows(part, starts, members, 0, size), qs, axis=1)
    return results


def ragged_arange(starts, counts, step: int = 1) -> np.ndarray:
    """np.concatenate([start + step * np.arange(count) for each start, count]) without the loop."""
    starts, counts = np.asarray(starts, dtype=np.int64), np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + step * (np.arange(total, dtype=np.int64) - offsets)


def start_counts(ends, span: int, begin=0) -> np.ndarray:
    """Windows of `span` rows per series that start at or after row `begin` (a number or one per series)
    and end by row ends[s] of series s."""
    return np.maximum(np.asarray(ends, dtype=np.int64) - begin - span + 1, 0)


def window_starts(ends, span: int, begin=0, most: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(series (N,), starts (N,)) of the windows start_counts counts, series by series and oldest
    first: every one, or with `most` at most that many, spread evenly over them."""
    counts = start_counts(ends, span, begin)
    total = int(counts.sum())
    picks = np.arange(total) if most is None or total <= most else np.linspace(0, total - 1, most).round().astype(np.int64)
    last = np.cumsum(counts)  # (S,) the index just past each series' windows
    series = np.searchsorted(last, picks, side="right")
    return series, np.broadcast_to(begin, counts.shape)[series] + picks - (last - counts)[series]


def gather_windows(flat: np.ndarray, offsets, series, starts, length: int) -> np.ndarray:
    """Windows (N, length, ...) of series stored end to end in `flat` (T_total, ...): window i is rows
    starts[i] .. starts[i] + length - 1 of series series[i], which begins at row offsets[series[i]]."""
    first = np.asarray(offsets, dtype=np.int64)[series] + starts  # (N,)
    return flat[first[:, None] + np.arange(length)]  # (N, length, ...)


def validation_length(length: int, horizon: int, fraction: float) -> int:
    """Points held out at the end of a series for early stopping: at least one horizon."""
    return max(horizon, math.ceil(fraction * length))


def validation_lengths(lengths, horizon: int, fraction: float) -> np.ndarray:
    """validation_length of every series at once."""
    return np.maximum(horizon, np.ceil(fraction * np.asarray(lengths, dtype=np.float64))).astype(np.int64)


def check_length(length: int, lookback: int, horizon: int, validation: int, label: str) -> None:
    needed = lookback + horizon + validation
    if length < needed:
        raise DataError(
            f"{label} has {length} points but lookback {lookback} + horizon {horizon} + validation {validation} "
            f"need at least {needed}: lower --lookback or --horizon, or use a longer series"
        )


# Validation checks run every few hundred steps; past this many windows they are thinned
# evenly (every k-th start in every series), so one check costs a bounded forward pass.
MAX_VAL_WINDOWS = 8192


class StartRanges:
    """Window starts held as one range per series, never as one index per window: a panel of ten
    million windows costs a few arrays of S numbers. Start k of the whole set is found by a
    binary search over the series' cumulative counts."""

    def __init__(self, first, counts):
        import torch

        self.first = torch.as_tensor(np.asarray(first, dtype=np.int64))
        counts = torch.as_tensor(np.asarray(counts, dtype=np.int64))
        self.ends = torch.cumsum(counts, 0)  # (S,) the index just past each series' starts
        self.before = self.ends - counts

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def at(self, k):
        """Flat window starts (LongTensor) for indices `k` into the set, in the same order."""
        import torch

        k = k.to(torch.int64)
        series = torch.searchsorted(self.ends, k, right=True)
        return self.first[series] + (k - self.before[series])

    def to(self, device) -> "StartRanges":
        moved = StartRanges.__new__(StartRanges)
        moved.first, moved.ends, moved.before = self.first.to(device), self.ends.to(device), self.before.to(device)
        return moved

    def tensor(self):
        """Every start, materialised (for small sets and tests)."""
        import torch

        return self.at(torch.arange(len(self)))


@dataclass
class WindowSet:
    """Training and validation windows over one concatenated, scaled tensor.

    `flat` (T_total, C) holds the series end to end; a window is `lookback + horizon` rows of
    it, gathered by start index when a batch is drawn (`gather`), so no window exists until
    then. Calendar inputs come from one shared time grid (`calendar`, (G, F)): series s starts
    at grid position `grid_start[s]`, so they cost G rows, not T_total.
    """

    flat: "object"  # torch.Tensor (T_total, C)
    offsets: "object"  # torch.LongTensor (S + 1,): where each series starts in flat
    train: StartRanges  # windows whose targets are training data
    all: StartRanges  # every window: what a refit learns from
    val_starts: "object"  # torch.LongTensor of window starts whose targets are validation data
    series_of_val: np.ndarray  # series number of each validation window, for inverse scaling
    origin_of_val: np.ndarray  # position in its series of each validation window's first target
    lookback: int
    horizon: int
    calendar: "object" = None  # torch.Tensor (G, F) calendar inputs on the shared grid, or None
    grid_start: "object" = None  # torch.LongTensor (S,) each series' first grid position
    mask: "object" = None  # torch.Tensor (T_total,): 1 on series points, 0 on padding; None: no mask input
    covariates: "object" = None  # CovariateWindows, or None: no covariates

    @property
    def n_targets(self) -> int:
        return self.flat.shape[1]

    @property
    def windows(self):
        """Every window as a view (T_total - span + 1, span, C) of flat (targets only)."""
        return self.flat.unfold(0, self.lookback + self.horizon, 1).transpose(1, 2)

    def to(self, device, dtype) -> "WindowSet":
        """The same windows with their tensors on `device`, values in `dtype`."""
        calendar = None if self.calendar is None else self.calendar.to(device, dtype)
        grid_start = None if self.grid_start is None else self.grid_start.to(device)
        mask = None if self.mask is None else self.mask.to(device, dtype)
        covariates = None if self.covariates is None else self.covariates.to(device, dtype)
        return replace(self, flat=self.flat.to(device, dtype), offsets=self.offsets.to(device), train=self.train.to(device),
                       all=self.all.to(device), val_starts=self.val_starts.to(device), calendar=calendar,
                       grid_start=grid_start, mask=mask, covariates=covariates)

    def gather(self, starts):
        """Windows at flat positions `starts`: inputs (B, L, I) with calendar inputs after the
        targets, then the covariates and the mask last, and targets (B, H, C). With future
        covariates the inputs are (B, L + H, I): the H rows after the lookback hold only the
        future covariates of the horizon (models.RecurrentForecaster reads them there)."""
        import torch

        batch = self.windows.index_select(0, starts)  # (B, span, C), the only copy
        inputs, targets = batch[:, :self.lookback], batch[:, self.lookback:]
        series = None
        if self.calendar is not None or self.covariates is not None:
            series = torch.searchsorted(self.offsets, starts, right=True) - 1
        if self.calendar is not None:
            grid = self.grid_start[series] + (starts - self.offsets[series])  # (B,) first grid position
            steps = grid[:, None] + torch.arange(self.lookback, device=starts.device)  # (B, L)
            inputs = torch.cat([inputs, self.calendar[steps]], dim=2)
        if self.covariates is not None:
            inputs = torch.cat([inputs, self.covariates.along(series, starts - self.offsets[series], self.lookback)], dim=2)
        if self.mask is not None:
            rows = starts[:, None] + torch.arange(self.lookback, device=starts.device)  # (B, L)
            inputs = torch.cat([inputs, self.mask[rows].unsqueeze(2)], dim=2)
        if self.covariates is not None and self.covariates.n_future:
            inputs = self.covariates.with_horizon(inputs, series, starts - self.offsets[series], self.lookback, self.horizon)
        return inputs, targets


@dataclass
class CovariateWindows:
    """The covariates of a WindowSet, encoded (covariates.encoded_series): dynamic rows on the same
    grid as each series' targets (padded alike), and each series' static inputs."""

    dynamic: "object"  # torch.Tensor (R_total, Wp + Wf)
    offsets: "object"  # torch.LongTensor (S + 1,): where each series' dynamic rows start
    static: "object"  # torch.Tensor (S, Ws)
    n_past: int  # Wp: the dynamic channels before the future ones
    n_future: int  # Wf
    first_future: int  # the input channel of the first future covariate (after targets, calendar, past)

    def to(self, device, dtype) -> "CovariateWindows":
        return replace(self, dynamic=self.dynamic.to(device, dtype), offsets=self.offsets.to(device),
                       static=self.static.to(device, dtype))

    def along(self, series, local, lookback: int):
        """(B, L, Wp + Wf + Ws) the covariates of the lookback of windows starting at row `local` of `series`."""
        import torch

        rows = (self.offsets[series] + local)[:, None] + torch.arange(lookback, device=local.device)  # (B, L)
        static = self.static[series].unsqueeze(1).expand(-1, lookback, -1)  # (B, L, Ws)
        return torch.cat([self.dynamic[rows], static], dim=2)

    def with_horizon(self, inputs, series, local, lookback: int, horizon: int):
        """`inputs` (B, L, I) and H more rows, zero but for the future covariates of the horizon."""
        import torch

        rows = (self.offsets[series] + local + lookback)[:, None] + torch.arange(horizon, device=local.device)  # (B, H)
        ahead = inputs.new_zeros(len(inputs), horizon, inputs.shape[2])
        ahead[..., self.first_future:self.first_future + self.n_future] = self.dynamic[rows][..., self.n_past:]
        return torch.cat([inputs, ahead], dim=1)


def storage_dtype(scaler: str) -> np.dtype:
    """float32 for scaled series, whose values are a few units around zero: half the memory of
    float64 and as exact for the network, which is float32. Unscaled series (scaler "none") keep
    float64, because normalising a window of large values subtracts nearly equal numbers."""
    return np.dtype(np.float64 if scaler == "none" else np.float32)


def build_windows(scaled: np.ndarray, offsets: np.ndarray, train_lengths, lookback: int, horizon: int,
                  calendar: tuple[np.ndarray, np.ndarray] | None = None, learn=None, dtype=None,
                  padding: "Padding | None" = None, covariates: CovariateWindows | None = None) -> WindowSet:
    """Windows over scaled series end to end (T_total, C) split at `offsets`; `calendar` is
    (grid features (G, F), each series' first grid position (S,)); only the series that `learn`
    marks (default: all) give windows; values are stored as numpy `dtype` (default float64).
    With `padding`, the arrays given are the padded ones (pad_series) and the windows carry its mask;
    `origin_of_val` stays in the series' own positions."""
    import torch

    span = lookback + horizon
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths, train_lengths = np.diff(offsets), np.asarray(train_lengths, dtype=np.int64)
    learn = np.ones(len(lengths), dtype=bool) if learn is None else np.asarray(learn, dtype=bool)
    first = offsets[:-1]
    # Training targets end at or before train_length; validation targets lie in [train_length, length).
    train_counts = np.where(learn, start_counts(train_lengths, span), 0)
    all_counts = np.where(learn, start_counts(lengths, span), 0)
    val_counts_full = np.where(learn, start_counts(lengths, span, train_lengths - lookback), 0)
    stride = max(1, -(-int(val_counts_full.sum()) // MAX_VAL_WINDOWS))
    # Every stride-th start counted back from each series' last window, oldest first.
    val_counts = -(-val_counts_full // stride)
    last_val = lengths - span
    oldest = last_val - stride * (val_counts - 1)
    val_local = ragged_arange(oldest, val_counts, stride)
    owners = np.repeat(np.arange(len(lengths)), val_counts)
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    grid = None if calendar is None else (torch.from_numpy(np.ascontiguousarray(calendar[0], dtype=dtype)),
                                          torch.from_numpy(np.asarray(calendar[1], dtype=np.int64)))
    return WindowSet(
        flat=torch.from_numpy(np.ascontiguousarray(scaled, dtype=dtype)),  # no copy when `scaled` is already it
        offsets=torch.from_numpy(offsets),
        train=StartRanges(first, train_counts),
        all=StartRanges(first, all_counts),
        val_starts=torch.from_numpy(first[owners] + val_local),
        series_of_val=owners,
        origin_of_val=val_local + lookback - (0 if padding is None else padding.pad[owners]),
        lookback=lookback,
        horizon=horizon,
        calendar=None if grid is None else grid[0],
        grid_start=None if grid is None else grid[1],
        mask=None if padding is None else torch.from_numpy(padding.mask.astype(dtype)),
        covariates=covariates,
    )


# ---- padding: windows of series shorter than the lookback ----------------------------------------------

# Points of its own a padded window holds at least: two give the one step the window's scale needs.
MIN_WINDOW_POINTS = 2


@dataclass(frozen=True)
class Padding:
    """Each series' padding rows before its first point, and the mask of the padded layout."""

    pad: np.ndarray  # (S,) rows of padding before each series
    offsets: np.ndarray  # (S + 1,) where each padded series starts in the padded layout
    mask: np.ndarray  # (T_total + pad.sum(),) bool: True on the series' own points


def window_padding(train_lengths, lookback: int, horizon: int, learn) -> np.ndarray:
    """(S,) padding rows for each series that `learn` marks and whose training part holds no whole
    window: enough that its oldest window still holds MIN_WINDOW_POINTS of its own points."""
    train_lengths = np.asarray(train_lengths, dtype=np.int64)
    short = np.asarray(learn, dtype=bool) & (train_lengths < lookback + horizon)
    return np.where(short, max(lookback - MIN_WINDOW_POINTS, 0), 0).astype(np.int64)


def pad_series(flat: np.ndarray, offsets: np.ndarray, pad: np.ndarray) -> tuple[np.ndarray, Padding]:
    """(values (T_total + pad.sum(), C) with `pad[s]` copies of series s's first value before it, the Padding).

    The copies hold the first value so that padding adds no change at all (the window scale's steps
    there are zero) and stays in the range of the series; the mask tells the network which rows they are."""
    offsets, pad = np.asarray(offsets, dtype=np.int64), np.asarray(pad, dtype=np.int64)
    lengths = np.diff(offsets)
    padded_offsets = np.concatenate([[0], np.cumsum(lengths + pad)]).astype(np.int64)
    source = padded_source_rows(offsets, pad)
    mask = np.ones(len(source), dtype=bool)
    mask[ragged_arange(padded_offsets[:-1], pad)] = False
    return flat[source], Padding(pad, padded_offsets, mask)


def padded_source_rows(offsets: np.ndarray, pad: np.ndarray) -> np.ndarray:
    """For each row of the padded layout, the row of `flat` it copies (padding copies its series' first)."""
    lengths = np.diff(offsets)
    own = ragged_arange(offsets[:-1] - pad, lengths + pad)  # rows before a series' start are its padding
    return np.maximum(own, np.repeat(offsets[:-1], lengths + pad))


def last_points_padded(flat: np.ndarray, offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(the last `n` values of every series (S, n, C), a series shorter than `n` led by copies of its first
    value; each series' own points among them (S,))."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    rows = np.maximum(offsets[1:, None] - n + np.arange(n), offsets[:-1, None])  # (S, n)
    return flat[rows], np.minimum(lengths, n)
