"""Validate a raw table and turn it into series: columns, numbers, timestamps, frequency, gaps.

Every command that reads data comes through `load_series`, so a bad file gets the
same one-line error whichever command reads it.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from tsgate.errors import DataError, OptionError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "ds", "month", "period", "week", "day", "hour", "year")
FILL_METHODS = ("ffill", "interpolate", "zero")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# "1,234.5" in a comma-separated file arrives quoted, as text: drop the thousands commas.
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")


@dataclass(frozen=True)
class DataOptions:
    """How to read series out of a table; every field maps to a CLI option."""

    target: tuple[str, ...] = ()  # value columns; empty: the only numeric column
    time_col: str | None = None  # None: detected by name, then by parsing
    id_col: str | None = None  # long format: one series per distinct id
    freq: str | None = None  # None: inferred from the timestamps
    fill: str | None = None  # None: missing values are an error


@dataclass
class SeriesSet:
    """One or more series with shared columns and frequency, stored end to end in one array.

    Series `s` is `flat[offsets[s]:offsets[s + 1]]`, regular at `freq` from `first[s]`: a panel
    of ten thousand series is three arrays, not ten thousand objects, and everything that
    scales, windows or forecasts it works on `flat` at once.
    """

    ids: list[str]
    flat: np.ndarray  # (T_total, C) float64, the series one after another
    offsets: np.ndarray  # (S + 1,) int64: where each series starts in `flat`, then the total
    first: pd.DatetimeIndex  # (S,) each series' first timestamp
    targets: list[str]
    freq: str
    time_col: str
    id_col: str | None = None
    notes: list[str] = field(default_factory=list)  # things people should know (e.g. converted to UTC)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why) of series left out of a panel

    @classmethod
    def from_arrays(cls, ids: list[str], values: list[np.ndarray], index: list[pd.DatetimeIndex], **fields) -> "SeriesSet":
        """A set from one (T_i, C) array and one regular DatetimeIndex per series."""
        lengths = np.array([len(v) for v in values], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(values).astype(np.float64, copy=False) if values else np.zeros((0, len(fields["targets"])))
        return cls(ids=list(ids), flat=flat, offsets=offsets, first=pd.DatetimeIndex([i[0] for i in index]), **fields)

    @property
    def labels(self) -> list[str]:
        """How messages name each series."""
        return [series_label(key) for key in self.ids]

    @property
    def lengths(self) -> list[int]:
        return np.diff(self.offsets).tolist()

    @property
    def length_array(self) -> np.ndarray:
        """(S,) the series' lengths, for vectorised work."""
        return np.diff(self.offsets)

    @property
    def values(self) -> list[np.ndarray]:
        """One (T_i, C) view per series."""
        return np.split(self.flat, self.offsets[1:-1])

    @property
    def last(self) -> pd.DatetimeIndex:
        """(S,) each series' last timestamp."""
        return shift_stamps(self.first, self.length_array - 1, self.freq)

    @property
    def index(self) -> list[pd.DatetimeIndex]:
        """One DatetimeIndex per series (built on demand: a loop over series, for small sets)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [pd.date_range(start, periods=int(n), freq=self.freq) for start, n in zip(self.first, self.lengths)]

    def series_of_rows(self) -> np.ndarray:
        """(T_total,) the series number of each row of `flat`."""
        return np.repeat(np.arange(len(self.ids)), self.length_array)

    def last_points(self, n: int) -> np.ndarray:
        """The last `n` values of every series, (S, n, C); each series must have at least `n`."""
        return self.flat[self.offsets[1:, None] - n + np.arange(n)]

    def drop_last(self, n: int) -> "SeriesSet":
        """The same series without their last `n` points (a forecast origin `n` steps back)."""
        keep = np.ones(len(self.flat), dtype=bool)
        keep[(self.offsets[1:, None] - n + np.arange(n)).ravel()] = False
        return replace(self, flat=self.flat[keep], offsets=self.offsets - n * np.arange(len(self.offsets)))

    def subset(self, numbers) -> "SeriesSet":
        """Only the series at positions `numbers` (in that order)."""
        numbers = np.asarray(numbers, dtype=np.int64)
        lengths = self.length_array[numbers]
        rows = np.repeat(self.offsets[numbers] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        return replace(self, ids=[self.ids[k] for k in numbers], flat=self.flat[rows],
                       offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), first=self.first[numbers])


def shift_stamps(stamps: pd.DatetimeIndex, steps: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """Each stamp moved `steps[i]` steps of `freq` forward, without a loop for fixed-length steps."""
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    steps = np.asarray(steps, dtype=np.int64)
    if isinstance(offset, pd.offsets.Tick) or (isinstance(offset, pd.offsets.Day) and stamps.tz is None):
        return stamps + pd.to_timedelta(steps * pd.Timedelta(offset).value, unit="ns")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(set(steps.tolist())) == 1:
            return stamps + int(steps[0]) * offset if len(steps) else stamps
        return pd.DatetimeIndex([stamp + int(k) * offset for stamp, k in zip(stamps, steps)])


def series_label(key: str) -> str:
    return f"series {key!r}" if key else "the series"


def load_series(frame: pd.DataFrame, options: DataOptions) -> SeriesSet:
    """Validate `frame` against `options` and split it into regular series."""
    if options.fill is not None and options.fill not in FILL_METHODS:
        raise OptionError(f"unknown --fill {options.fill!r}: use one of {', '.join(FILL_METHODS)}")
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    check_unique_columns(frame)
    id_col = check_column(frame, options.id_col, "--id-col") if options.id_col else None
    time_col = options.time_col and check_column(frame, options.time_col, "--time-col") or detect_time_col(frame, id_col)
    targets = pick_targets(frame, options.target, exclude={time_col, id_col})
    notes: list[str] = []
    stamps, tz_note = parse_timestamps(frame[time_col], time_col)
    if tz_note:
        notes.append(tz_note)
    for name in targets:
        frame[name] = to_numbers(frame[name], name)
    frame[time_col] = stamps
    if id_col:
        missing_id = frame[id_col].isna().to_numpy()
        if missing_id.any():  # groupby would silently drop these rows
            row = int(np.flatnonzero(missing_id)[0]) + 1
            raise DataError(f"id column {id_col!r} is empty at data row {row}: every row needs an id; fill it or drop the row")
        frame[id_col] = frame[id_col].astype(str)
    frame["__row__"] = np.arange(len(frame)) + 1  # data row numbers for messages
    groups = [(str(key), part) for key, part in frame.groupby(id_col, sort=True)] if id_col else [("", frame)]
    series = [prepare_one(key, part, time_col, targets, options) for key, part in groups]
    freq = common_freq([s[2] for s in series], options.freq)
    return SeriesSet.from_arrays(
        [s[0] for s in series],
        [s[1] for s in series],
        [s[2] for s in series],
        targets=targets,
        freq=freq,
        time_col=time_col,
        id_col=id_col,
        notes=notes,
    )


def check_unique_columns(frame: pd.DataFrame) -> None:
    seen = set()
    for name in frame.columns:
        base = re.sub(r"\.\d+$", "", name)  # pandas renames a repeated "x" to "x.1"
        if name != base and base in seen:
            raise DataError(f"column {base!r} appears more than once in the header: rename one of them")
        seen.add(name)


def check_column(frame: pd.DataFrame, name: str, option: str) -> str:
    if name not in frame.columns:
        raise DataError(f"unknown column {name!r} for {option}; columns present: {', '.join(map(str, frame.columns))}")
    return name


def detect_time_col(frame: pd.DataFrame, id_col: str | None) -> str:
    """The time column: a conventional name first, else the first text column that parses as dates."""
    candidates = [c for c in frame.columns if c != id_col]
    for name in candidates:
        if name.lower() in TIME_NAMES:
            return name
    for name in candidates:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            continue
        sample = column.dropna().astype(str).head(20)
        if len(sample) and parses_as_dates(sample):
            return name
    raise DataError(
        f"no time column found among {', '.join(candidates)}: pass --time-col NAME (a column of dates or datetimes)"
    )


def parses_as_dates(sample: pd.Series) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", utc=True, format="mixed")
    return bool(parsed.notna().all())


def pick_targets(frame: pd.DataFrame, wanted: tuple[str, ...], exclude: set) -> list[str]:
    names = [c for c in frame.columns if c not in exclude and c != "__row__"]
    if wanted:
        for name in wanted:
            check_column(frame, name, "--target")
            if name in exclude:
                raise OptionError(f"column {name!r} is the time or id column and cannot also be a --target")
        return list(dict.fromkeys(wanted))
    numeric = [c for c in names if looks_numeric(frame[c])]
    if len(numeric) == 1:
        return numeric
    if not numeric:
        some = [c for c in names if has_numbers(frame[c])]
        if len(some) == 1:  # the one value column, with some bad cells: to_numbers names the first bad row
            return some
        raise DataError(f"no numeric column to forecast among {', '.join(names) or '(none)'}: check the file's separator (--sep) or name one with --target")
    raise DataError(f"several numeric columns ({', '.join(numeric)}): choose with --target, e.g. --target {numeric[0]}")


def looks_numeric(column: pd.Series) -> bool:
    """Mostly numbers (an all-empty column is no candidate)."""
    return numeric_share(column) > 0.9


def has_numbers(column: pd.Series) -> bool:
    return numeric_share(column) > 0


def numeric_share(column: pd.Series) -> float:
    """The share of a column's present cells that are numbers (0 for booleans and empty columns)."""
    if pd.api.types.is_bool_dtype(column):
        return 0.0
    present = column.dropna()
    if present.empty:
        return 0.0
    if pd.api.types.is_numeric_dtype(column):
        return 1.0
    converted = pd.to_numeric(present.astype(str).str.replace(THOUSANDS, "", regex=True), errors="coerce")
    return float(converted.notna().mean())


def to_numbers(column: pd.Series, name: str) -> pd.Series:
    """Float64 values; a non-number names its row, infinities and float32 overflow are refused."""
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"column {name!r} holds true/false values, not numbers: choose a numeric --target")
    if not pd.api.types.is_numeric_dtype(column):
        text = column.astype("string").str.strip().str.replace(THOUSANDS, "", regex=True)
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna() & text.notna() & (text != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"column {name!r} has a non-numeric value {column.iloc[row]!r} at data row {row + 1}: "
                "fix or remove that row (or pick another --target)"
            )
        column = numbers
    values = column.astype("float64")
    finite = values.to_numpy(dtype="float64", na_value=np.nan)
    huge = np.isinf(finite) | (np.abs(np.nan_to_num(finite, nan=0.0, posinf=np.inf)) > FLOAT32_MAX)
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        raise DataError(
            f"column {name!r} has the value {finite[row]} at data row {row + 1}, beyond float32 range (±3.4e38): "
            "remove it or rescale the column"
        )
    return pd.Series(finite, index=column.index, name=name)


def parse_timestamps(column: pd.Series, name: str) -> tuple[pd.Series, str | None]:
    """Datetimes; mixed UTC offsets are converted to UTC, which the returned note says."""
    if column.isna().any():
        row = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise DataError(f"time column {name!r} is empty at data row {row + 1}: every row needs a timestamp")
    text = column.astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
            note = None
        except (ValueError, TypeError):
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
            note = f"time column {name!r} mixes UTC offsets: converted to UTC"
        if parsed.dtype == object:  # mixed offsets came back as plain objects
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
            note = f"time column {name!r} mixes UTC offsets: converted to UTC"
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(
            f"time column {name!r} has an unparseable timestamp {text.iloc[row]!r} at data row {row + 1}: "
            "use ISO dates like 2024-01-31 or 2024-01-31 13:00, or pick the right --time-col"
        )
    return parsed, note


def prepare_one(key: str, part: pd.DataFrame, time_col: str, targets: list[str], options: DataOptions):
    """Sort one series, refuse duplicates, regularise to its frequency, handle missing values."""
    label = series_label(key)
    part = part.sort_values(time_col, kind="stable")
    stamps = pd.DatetimeIndex(part[time_col])
    duplicated = stamps.duplicated()
    if duplicated.any():
        where = int(np.flatnonzero(duplicated)[0])
        rows = part["__row__"].to_numpy()
        raise DataError(
            f"{label} has the timestamp {stamps[where]} twice (data rows {rows[where - 1]} and {rows[where]}): "
            "each timestamp must appear once per series; aggregate or drop duplicates first"
        )
    if len(stamps) < 3:
        raise DataError(f"{label} has only {len(stamps)} point(s): too short to infer a frequency or to forecast")
    values = part[targets].set_axis(stamps)
    rows = part["__row__"].set_axis(stamps)
    freq = options.freq or infer_frequency(stamps, label)
    values, rows = regularise(values, rows, freq, label)
    values = fill_missing(values, rows, options.fill, label)
    return key, values.to_numpy(dtype="float64"), values.index


def infer_frequency(stamps: pd.DatetimeIndex, label: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(stamps)
    if freq is None:
        gaps = stamps.to_series().diff().dropna()
        common = gaps.mode().iloc[0]
        odd = gaps[gaps != common]
        where = f"; e.g. a step of {odd.iloc[0]} after {stamps[stamps.get_loc(odd.index[0]) - 1]}" if len(odd) else ""
        raise DataError(
            f"cannot infer a regular frequency for {label}{where}: pass --freq (e.g. D, h, 30min, MS) and --fill for the gaps"
        )
    return normalise_freq(freq)


def normalise_freq(freq) -> str:
    """A canonical pandas alias for `freq` (string or offset); OptionError if pandas does not know it."""
    from pandas.tseries.frequencies import to_offset

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return to_offset(freq).freqstr
    except (ValueError, TypeError) as exc:
        raise OptionError(f"unknown frequency {freq!r}: use a pandas alias such as D, h, 30min, W, MS or QS") from exc


def regularise(values: pd.DataFrame, rows: pd.Series, freq: str, label: str):
    """Reindex onto the full grid at `freq`, so gaps become missing values; refuse off-grid stamps."""
    freq = normalise_freq(freq)
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):  # fixed step: count the grid before building it
        steps = (values.index[-1] - values.index[0]) // pd.Timedelta(offset) + 1
        if steps > 20 * len(values) + 1000:
            raise DataError(f"{label} would need {steps} {freq} steps for {len(values)} points: --freq {freq} is too fine for this data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = pd.date_range(values.index[0], values.index[-1], freq=freq)
    off_grid = values.index.difference(grid)
    if len(off_grid):
        raise DataError(
            f"{label} has the timestamp {off_grid[0]} that is not on a {freq} grid starting at {values.index[0]}: "
            "pass the right --freq or resample the data first"
        )
    if len(grid) > 20 * len(values) + 1000:
        raise DataError(f"{label} would need {len(grid)} {freq} steps for {len(values)} points: --freq {freq} is too fine for this data")
    values = values.reindex(grid)
    values.index.freq = freq
    return values, rows.reindex(grid)


def fill_missing(values: pd.DataFrame, rows: pd.Series, fill: str | None, label: str) -> pd.DataFrame:
    for name in values.columns:
        if values[name].isna().all():
            raise DataError(f"column {name!r} has no values in {label}: choose another --target")
    missing = values.isna().any(axis=1)
    if not missing.any():
        return values
    if fill is None:
        count = int(values.isna().sum().sum())
        first = values.index[int(np.flatnonzero(missing.to_numpy())[0])]
        row = rows.get(first)
        where = f"data row {int(row)}, " if row == row and row is not None else "a gap in the timestamps, "
        raise DataError(
            f"{label} has {count} missing value(s) (first at {where}{first}): pass --fill ffill, interpolate or zero"
        )
    if fill not in FILL_METHODS:
        raise OptionError(f"unknown --fill {fill!r}: use one of {', '.join(FILL_METHODS)}")
    if fill == "zero":
        return values.fillna(0.0)
    if fill == "interpolate":
        values = values.interpolate(method="time", limit_direction="both")
    return values.ffill().bfill()  # leading gaps have nothing before them: take the first value


def common_freq(indexes: list[pd.DatetimeIndex], given: str | None) -> str:
    freqs = {normalise_freq(idx.freq) for idx in indexes}
    if len(freqs) > 1:
        raise DataError(f"the series have different frequencies ({', '.join(sorted(freqs))}): pass --freq to use one")
    return normalise_freq(given) if given else freqs.pop()
