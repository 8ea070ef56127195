"""Small-set conveniences and reference fits for tests of tsgate.windows (synthetic data only)."""

import numpy as np

from tsgate.windows import build_windows, unit_if_zero


def fit_affine(kind: str, train_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) per column of one series' training part (T, C), fitted the plain way, one
    series at a time: the reference fit_scaling's segment reductions are checked against."""
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
    raise ValueError(f"no reference fit for the scaler {kind!r}")


def windows_of(values: list[np.ndarray], train_lengths, lookback: int, horizon: int,
               calendar: list[np.ndarray] | None = None, dtype=None):
    """build_windows from one scaled (T_i, C) array per series and, if given, one (T_i, F) array
    of calendar inputs per series (copied end to end)."""
    lengths = [len(v) for v in values]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    grid = None if calendar is None else (np.concatenate(calendar), offsets[:-1])
    return build_windows(np.concatenate(values), offsets, train_lengths, lookback, horizon, grid, dtype=dtype)
