"""What a forecast returns: the Prediction record, the DataFrame it becomes, and the history shown beside it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tsgate.errors import DataError


class Prediction(NamedTuple):
    numbers: np.ndarray  # (S,) the stored series each row forecasts
    values: np.ndarray  # (S, H, C) raw-scale forecasts
    last_timestamps: object  # DatetimeIndex (S,): the last timestamp before each forecast
    bounds: dict  # {level: (lower, upper)}, each (S, H, C); empty without levels
    skipped: tuple  # (id, why) of each series of new data left out
    ids: list[str]  # (S,) the id of each row's series
    targets: list[str]  # the value columns, in the order of the last axis
    freq: str
    time_col: str
    id_col: str | None  # None: the model was trained on one series without an id column
    fallback: np.ndarray | None = None  # (S,) bool: series too short to learn from (None: the model has none)

    def frame(self):
        """The forecast as the DataFrame Forecaster.predict returns, built for all series at once:
        [id column,] time column, then each target followed by its interval bounds, then, where some
        series forecast is a fallback (too short to learn from), a `fallback` column of booleans."""
        import pandas as pd

        from tsgate.intervals import bound_columns
        from tsgate.freq import future_stamps

        horizon = self.values.shape[1]
        columns = {}
        if self.id_col:
            columns[self.id_col] = np.repeat(np.asarray(self.ids, dtype=object), horizon)
        columns[self.time_col] = future_stamps(self.last_timestamps, self.freq, horizon)
        for c, target in enumerate(self.targets):  # (S, H) per column -> S * H rows, series by series
            columns[target] = self.values[:, :, c].ravel()
            for level, (lower, upper) in self.bounds.items():
                low_name, high_name = bound_columns(target, level)
                columns[low_name], columns[high_name] = lower[:, :, c].ravel(), upper[:, :, c].ravel()
        if self.fallback is not None and self.fallback.any():  # only then, so other forecasts keep their layout
            columns["fallback"] = np.repeat(self.fallback, horizon)
        return pd.DataFrame(columns)


def recent_history(forecaster, prediction: Prediction, series=None) -> np.ndarray:
    """Raw values (S, n, C) just before each forecast of `prediction`, for people to see them
    together: the forecaster's stored context, or up to four horizons of the end of `series`."""
    import pandas as pd

    if series is None:
        return forecaster.context_[prediction.numbers]
    shown = series.subset(pd.Index(series.ids).get_indexer(prediction.ids))
    return shown.last_points(int(min(shown.length_array.min(), max(forecaster.context_length, 4 * forecaster.horizon))))


def check_forecast_finite(values: np.ndarray, bounds: dict, ids: list) -> None:
    """A forecast never succeeds with an empty or infinite cell."""
    from tsgate.data import series_label

    for array in [values, *(side for pair in bounds.values() for side in pair)]:
        broken = ~np.isfinite(array).all(axis=(1, 2))
        if broken.any():
            label = series_label(ids[int(np.flatnonzero(broken)[0])])
            raise DataError(f"the forecast for {label} is not finite (NaN or infinity): its values are far outside "
                            "what the model was trained on; check the data or retrain on it")


def join_predictions(parts: list[Prediction]) -> Prediction:
    """One Prediction of the rows of `parts` in order (the chunks of one forecast): per-row fields
    joined, shared ones (targets, frequency, columns) taken from the first."""
    first = parts[0]
    if len(parts) == 1:
        return first

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    bounds = {level: tuple(np.concatenate([part.bounds[level][side] for part in parts]) for side in (0, 1))
              for level in first.bounds}
    return first._replace(numbers=joined("numbers"), values=joined("values"), bounds=bounds,
                          last_timestamps=first.last_timestamps.append([part.last_timestamps for part in parts[1:]]),
                          skipped=tuple(item for part in parts for item in part.skipped),
                          ids=[key for part in parts for key in part.ids],
                          fallback=None if first.fallback is None else joined("fallback"))
