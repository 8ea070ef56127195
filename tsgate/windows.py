"""Scale series, split them by time and cut (lookback, horizon) windows as views.

The split is per series: its last `val` points are validation targets. The scaler
sees only the training part, and no training window's target reaches into
validation, so nothing from the validation period leaks into training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tsgate.config import SCALERS
from tsgate.errors import DataError, OptionError


@dataclass(frozen=True)
class Scaling:
    """Per-series, per-column affine map: scaled = (x - center) / scale."""

    center: np.ndarray  # (S, C)
    scale: np.ndarray  # (S, C)

    def transform(self, series: int, values: np.ndarray) -> np.ndarray:
        return (values - self.center[series]) / self.scale[series]

    def inverse(self, series: int, values: np.ndarray) -> np.ndarray:
        return values * self.scale[series] + self.center[series]


def fit_affine(kind: str, train_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) per column of one series' training part (T, C), as scikit-learn's
    StandardScaler, RobustScaler and MinMaxScaler fit them.

    Written in numpy rather than by calling those scalers: importing scikit-learn costs about
    0.8 s (it imports scipy), a quarter of a short `train`, and for one column each scaler is a
    single statistic. tests/test_windows.py checks equality with scikit-learn's fits.
    """
    columns = train_part.shape[1]
    if kind == "none":
        return np.zeros(columns), np.ones(columns)
    if kind == "standard":
        return train_part.mean(axis=0), unit_if_zero(train_part.std(axis=0))
    if kind == "robust":
        lower, median, upper = np.percentile(train_part, [25, 50, 75], axis=0)
        return median, unit_if_zero(upper - lower)
    if kind == "minmax":
        low = train_part.min(axis=0)
        return low, unit_if_zero(train_part.max(axis=0) - low)
    raise OptionError(f"unknown --scaler {kind!r}: use one of {', '.join(SCALERS)}")


def unit_if_zero(scale: np.ndarray) -> np.ndarray:
    """A spread of (nearly) zero scales by 1, as scikit-learn's scalers do."""
    return np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)


def fit_scaling(kind: str, values: list[np.ndarray], train_lengths: list[int], labels: list[str]) -> Scaling:
    centers, scales = [], []
    for series, length, label in zip(values, train_lengths, labels):
        train_part = series[:length]
        spread = np.ptp(train_part, axis=0)
        if np.any(spread == 0):
            column = int(np.flatnonzero(spread == 0)[0])
            raise DataError(
                f"{label} is constant ({train_part[0, column]:g}) over its training part: "
                "there is nothing to learn; drop it or forecast it as a constant"
            )
        center, scale = fit_affine(kind, train_part)
        centers.append(center)
        scales.append(scale)
    return Scaling(np.asarray(centers, dtype="float64"), np.asarray(scales, dtype="float64"))


def validation_length(length: int, horizon: int, fraction: float) -> int:
    """Points held out at the end of a series for early stopping: at least one horizon."""
    return max(horizon, math.ceil(fraction * length))


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


@dataclass
class WindowSet:
    """Training and validation windows over one concatenated, scaled tensor.

    `windows` is a view (N, L + H, I) over `flat` (T_total, I): no window is copied
    until a batch is gathered from it by index. The first `n_targets` of the I
    channels are the series' values; the rest are calendar inputs.
    """

    flat: "object"  # torch.Tensor (T_total, I), float64
    windows: "object"  # torch.Tensor view (N_all, L + H, I)
    train_starts: "object"  # torch.LongTensor of window starts whose targets are training data
    val_starts: "object"  # torch.LongTensor of window starts whose targets are validation data
    all_starts: "object"  # torch.LongTensor of every window start: what a refit learns from
    series_of_val: np.ndarray  # series number of each validation window, for inverse scaling
    origin_of_val: np.ndarray  # position in its series of each validation window's first target
    lookback: int
    n_targets: int


def build_windows(scaled: list[np.ndarray], train_lengths: list[int], lookback: int, horizon: int,
                  calendar: list[np.ndarray] | None = None) -> WindowSet:
    """Windows over the scaled series (T_i, C), with per-step calendar inputs (T_i, F) beside them if given."""
    import torch

    span = lookback + horizon
    parts = scaled if calendar is None else [np.hstack([v, f]) for v, f in zip(scaled, calendar)]
    flat = torch.from_numpy(np.concatenate(parts).astype(np.float64))  # (T_total, I)
    windows = flat.unfold(0, span, 1).transpose(1, 2)  # (T_total - span + 1, span, I), a view
    total_val = sum(len(v) - t - horizon + 1 for v, t in zip(scaled, train_lengths))
    stride = max(1, -(-total_val // MAX_VAL_WINDOWS))
    train, val, every, owners, origins = [], [], [], [], []
    offset = 0
    for number, (series, train_length) in enumerate(zip(scaled, train_lengths)):
        length = len(series)
        # Training targets end at or before train_length; validation targets lie in [train_length, length).
        train.append(offset + np.arange(0, train_length - span + 1))
        val_range = np.arange(length - span, train_length - lookback - 1, -stride)[::-1]
        val.append(offset + val_range)
        origins.append(val_range + lookback)
        every.append(offset + np.arange(0, length - span + 1))
        owners.append(np.full(len(val_range), number))
        offset += length
    return WindowSet(
        flat=flat,
        windows=windows,
        train_starts=torch.from_numpy(np.concatenate(train)),
        val_starts=torch.from_numpy(np.concatenate(val)),
        all_starts=torch.from_numpy(np.concatenate(every)),
        series_of_val=np.concatenate(owners),
        origin_of_val=np.concatenate(origins),
        lookback=lookback,
        n_targets=scaled[0].shape[1],
    )


def split_batch(windows, starts, lookback: int, n_targets: int):
    """Gather windows by start index: inputs (B, L, I) and targets (B, H, C)."""
    batch = windows.index_select(0, starts)  # (B, L + H, I), the only copy
    return batch[:, :lookback], batch[:, lookback:, :n_targets]
