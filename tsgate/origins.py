"""Rolling forecasts: one trained model forecasting from many origins of the same data, without retraining.

An origin is the last point a forecast may read. Each series is cut at each origin it has into a
view (SeriesSet.cut: one series per (series, origin) pair, ending at its origin and holding only
the points the model's context and its intervals' recent scale read), and the views go through the
same batched Forecaster.predict_array as any forecast, a chunk of pairs at a time. Nothing after an
origin is in its view, so nothing after it can reach its forecast; and a view is the data cut at
its origin as far as the forecast can tell, so each origin's rows are what `forecast` gives on the
data cut there.

    start, end = parse_origins("2024-01-01..2024-03-31")
    rolling = forecast_origins(forecaster, series, start, end, every=24)
    rolling.frame()   # origin, [id,] timestamp, targets (and bounds), origin by origin
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tsgate.errors import DataError, OptionError

ORIGIN_COLUMN = "origin"

# Rows of views per predict call: about 2 million rows, a few hundred MB of network inputs at most,
# so any number of origins and series fits in memory.
CHUNK_ROWS = 1 << 21


@dataclass(frozen=True)
class LeftOut:
    """A series whose first origins come before it holds enough history for the model."""

    id: str
    origins: int  # how many of its origins were left out
    first: object  # Timestamp: the first of them
    last: object  # Timestamp: the last of them
    earliest: object  # Timestamp: the first point from which the model can forecast it


@dataclass(frozen=True)
class RollingForecast:
    """Forecasts from every origin: one Prediction row per (origin, series) pair, origin by origin
    (each row's origin is its `last_timestamps`), and the series some of whose origins were left out."""

    prediction: object  # prediction.Prediction
    left_out: list[LeftOut]

    @property
    def origins(self):
        """(P,) each row's origin."""
        return self.prediction.last_timestamps

    def frame(self):
        """Forecaster.predict's DataFrame for every pair, with the `origin` column first."""
        frame = self.prediction.frame()
        if ORIGIN_COLUMN in frame.columns:
            raise DataError(f"the forecast already has a column {ORIGIN_COLUMN!r} (a target, time or id column of the "
                            "model): rename that column in the data and retrain to forecast with --origins")
        frame.insert(0, ORIGIN_COLUMN, np.repeat(self.origins, self.prediction.values.shape[1]))
        return frame


def parse_origins(text: str):
    """(START, END) Timestamps of `--origins START..END`; OptionError for anything else."""
    import pandas as pd

    example = "e.g. --origins 2024-01-01..2024-03-31 or --origins '2024-01-01 23:00..2024-01-31 23:00'"
    parts = str(text).split("..")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise OptionError(f"--origins takes START..END, two timestamps joined by '..', got {text!r}: {example}")
    stamps = []
    for part in parts:
        try:
            stamps.append(pd.Timestamp(part.strip()))
        except (ValueError, TypeError, OverflowError):
            raise OptionError(f"--origins has {part.strip()!r}, which is not a timestamp: {example}") from None
        if stamps[-1] is pd.NaT:
            raise OptionError(f"--origins has {part.strip()!r}, which is not a timestamp: {example}")
    start, end = stamps
    if (start.tz is None) != (end.tz is None):
        raise OptionError(f"--origins {text!r} gives a time zone on one side only: give both or neither")
    if end < start:
        raise OptionError(f"--origins {text!r} ends before it starts: give START..END with START first")
    return start, end


def check_every(every: int | None) -> None:
    if every is not None and every < 1:
        raise OptionError(f"--every must be a whole number of steps, at least 1, got {every}")


def forecast_origins(forecaster, series, start, end, every: int | None = None, levels=()) -> RollingForecast:
    """Forecasts of `series` from every origin START, START + every steps, ... up to END (every:
    default the model's horizon), as one RollingForecast. A series is forecast at each origin among its
    own points. In a panel read without strict, a series the model does not know is left out (the
    Prediction's `skipped`), and so are the origins before a series holds enough history (`left_out`);
    otherwise either is a DataError naming the series (and the origin)."""
    from tsgate.prediction import join_predictions

    check_every(every)
    forecaster.check_fitted()
    series, unknown = series_the_model_knows(forecaster, series)
    stamps = origin_stamps(series, start, end, forecaster.horizon if every is None else every)
    numbers, ends = origin_pairs(series, stamps)
    numbers, ends, left_out = enough_history(forecaster, series, numbers, ends)
    parts = [forecaster.predict_array(view, levels) for view in cut_views(forecaster, series, numbers, ends)]
    return RollingForecast(join_predictions(parts)._replace(skipped=tuple(unknown)), left_out)


def series_the_model_knows(forecaster, series):
    """(the series the model has a scaler for, [(id, why)] of the others), as `forecast` treats them:
    left out of a lenient panel, else an error."""
    from tsgate.data import series_label

    numbers = forecaster.stored_numbers(series)
    unknown = [(key, forecaster.forecast_problem(key, "unknown", 0)) for key, n in zip(series.ids, numbers) if n < 0]
    if unknown and (not series.lenient or len(unknown) == len(series.ids)):
        key, why = unknown[0]
        raise DataError(f"{series_label(key)} {why}")
    return (series.subset(np.flatnonzero(numbers >= 0)) if unknown else series), unknown


def origin_stamps(series, start, end, every: int):
    """The origins START, START + `every` steps, ... up to END, as a DatetimeIndex in the data's zone;
    OptionError when they reach outside the data or START is not on its time grid."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    start, end = in_zone(start, series.first.tz), in_zone(end, series.first.tz)
    begins, finishes = series.first.min(), series.last.max()
    if start < begins or end > finishes:
        raise OptionError(f"--origins {start}..{end} reaches outside the data, which runs from {begins} to "
                          f"{finishes}: choose origins within it")
    stamps = pd.date_range(start, end, freq=to_offset(series.freq) * every)
    if not len(stamps) or stamps[0] != start:
        raise OptionError(f"--origins starts at {start}, which is not on the data's {series.freq} grid "
                          f"(it holds {begins}): start at a timestamp of the data")
    return stamps.as_unit("ns")


def in_zone(stamp, tz):
    """`stamp` in the data's time zone: a naive stamp is read as the data's local time."""
    if tz is None and stamp.tz is not None:
        raise OptionError(f"--origins gives the time zone of {stamp}, but the data's timestamps have none: "
                          "give the origins without a zone")
    if tz is None:
        return stamp
    return stamp.tz_localize(tz) if stamp.tz is None else stamp.tz_convert(tz)


def origin_pairs(series, stamps) -> tuple[np.ndarray, np.ndarray]:
    """(series numbers (P,), each origin's position in its series (P,)): every series at every origin
    among its points, origin by origin (series in their order within an origin)."""
    positions = stamp_positions(series, stamps)  # (S, O)
    inside = (positions >= 0) & (positions < series.length_array[:, None])
    origin, number = np.nonzero(inside.T)  # origin-major
    if not len(origin):
        raise OptionError(f"no series has a point at any of the {len(stamps)} origins from {stamps[0]} to {stamps[-1]}: "
                          "choose origins among the data's timestamps")
    return number, positions[number, origin]


def stamp_positions(series, stamps) -> np.ndarray:
    """(S, O) the step of each origin counted from each series' first point; -1 where it is off that
    series' grid (a fixed step from a different phase)."""
    from pandas.tseries.frequencies import to_offset

    from tsgate.freq import fixed_step, grid_through

    first = series.first.as_unit("ns")
    step = fixed_step(to_offset(series.freq), first.tz)
    if step is not None:
        delta = stamps.asi8[None, :] - first.asi8[:, None]
        return np.where(delta % step == 0, delta // step, -1)
    on_grid = grid_through(first.append(stamps), series.freq)
    if on_grid is None:
        raise OptionError(f"the origins from {stamps[0]} are not on the data's {series.freq} grid: start at a timestamp of the data")
    grid_positions = on_grid[1]
    count = len(first)
    return grid_positions[None, count:] - grid_positions[:count, None]


def enough_history(forecaster, series, numbers: np.ndarray, ends: np.ndarray):
    """The pairs whose series holds enough points up to the origin for the model (one point for networks
    that pad a short window, the context otherwise), and a LeftOut per series that lost some; outside
    a lenient panel, a pair short of history is a DataError naming its series and origin."""
    from tsgate.data import series_label
    from tsgate.freq import shift_stamps

    needed = 1 if forecaster.members_[0].config.masked else forecaster.context_length
    short = ends + 1 < needed
    if not short.any():
        return numbers, ends, []
    earliest = shift_stamps(series.first, np.full(len(series.ids), needed - 1), series.freq)
    origins = pair_origins(series, numbers, ends)
    if not series.lenient or short.all():
        k = int(np.flatnonzero(short)[0])
        s = numbers[k]
        raise DataError(f"{series_label(series.ids[s])} has {ends[k] + 1} points up to the origin {origins[k]}, fewer "
                        f"than the model's lookback {needed}: start --origins at {earliest[s]} or later")
    left_out = []
    for s in np.unique(numbers[short]):
        mine = origins[short & (numbers == s)]
        left_out.append(LeftOut(series.ids[s], len(mine), mine[0], mine[-1], earliest[s]))
    return numbers[~short], ends[~short], left_out


def pair_origins(series, numbers: np.ndarray, ends: np.ndarray):
    """(P,) the timestamp of each pair's origin."""
    from tsgate.freq import shift_stamps

    return shift_stamps(series.first[numbers], ends, series.freq)


def view_length(forecaster) -> int:
    """Points a view keeps: what the model's context reads, and its intervals' recent scale."""
    calibration = forecaster.calibration_
    return max(forecaster.context_length, 0 if calibration is None else calibration.span)


def cut_views(forecaster, series, numbers: np.ndarray, ends: np.ndarray):
    """The views, a chunk of about CHUNK_ROWS rows at a time; strict, since every pair left is usable."""
    keep = view_length(forecaster)
    per_chunk = max(1, CHUNK_ROWS // keep)
    for first in range(0, len(numbers), per_chunk):
        chunk = slice(first, first + per_chunk)
        yield replace(series.cut(numbers[chunk], ends[chunk], keep, ahead=forecaster.horizon), strict=True)
