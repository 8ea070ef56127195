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

from tsgate.config import FILL_METHODS
from tsgate.errors import DataError, OptionError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "ds", "month", "period", "week", "day", "hour", "year")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# "1,234.5" in a comma-separated file arrives quoted, as text: drop the thousands commas.
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")


class SeriesError(DataError):
    """A problem with one series: it stops a single-series file, but in a panel only leaves that series out."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # the message without the series' name, for SeriesSet.skipped


def series_error(label: str, rest: str) -> SeriesError:
    """The error for a message that reads "<label> <rest>"."""
    return SeriesError(f"{label} {rest}", rest)


@dataclass(frozen=True)
class DataOptions:
    """How to read series out of a table; every field maps to a CLI option."""

    target: tuple[str, ...] = ()  # value columns; empty: the only numeric column
    time_col: str | None = None  # None: detected by name, then by parsing
    id_col: str | None = None  # long format: one series per distinct id
    freq: str | None = None  # None: inferred from the timestamps
    fill: str | None = None  # None: missing values are an error
    strict: bool = False  # True: one bad series stops a panel; False: it is left out (SeriesSet.skipped)


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
    """Each stamp moved `steps[i]` steps of `freq` forward: by arithmetic for fixed-length steps, by
    positions on one shared grid for calendar steps (months, weeks), one by one only off such a grid."""
    from pandas.tseries.frequencies import to_offset

    from tsgate.timegrid import grid_through

    offset = to_offset(freq)
    steps = np.asarray(steps, dtype=np.int64)
    if isinstance(offset, pd.offsets.Tick) or (isinstance(offset, pd.offsets.Day) and stamps.tz is None):
        return stamps + pd.to_timedelta(steps * pd.Timedelta(offset).value, unit="ns")
    if len(steps) == 0:
        return stamps
    on_grid = grid_through(stamps, freq, after=int(steps.max()))
    if on_grid is not None:
        grid, positions = on_grid
        return grid[positions + steps]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.DatetimeIndex([stamp + int(k) * offset for stamp, k in zip(stamps, steps)])


def series_label(key: str) -> str:
    return f"series {key!r}" if key else "the series"


def load_series(frame: pd.DataFrame, options: DataOptions, *, per_series: bool = False) -> SeriesSet:
    """Validate `frame` against `options` and split it into regular series.

    Whole-file problems (columns, numbers, timestamps, ids) raise. A problem with one series raises
    too when the file holds one series or `options.strict`; in a panel that series is left out and
    listed in `skipped`. Rows are sorted by (series, time) once; the series that are already
    regular and complete (nearly all of a real panel) are taken as they are, the rest go one by one
    through `prepare_one`. per_series=True sends every series through `prepare_one`: the reference
    the fast route is tested against.
    """
    if options.fill is not None and options.fill not in FILL_METHODS:
        raise OptionError(f"unknown --fill {options.fill!r}: use one of {', '.join(FILL_METHODS)}")
    frame = frame.set_axis([str(c).strip() for c in frame.columns], axis=1)  # a new frame, the data not copied
    check_unique_columns(frame)
    id_col = check_column(frame, options.id_col, "--id-col") if options.id_col else None
    time_col = options.time_col and check_column(frame, options.time_col, "--time-col") or detect_time_col(frame, id_col)
    targets = pick_targets(frame, options.target, exclude={time_col, id_col})
    stamps, tz_note = parse_timestamps(frame[time_col], time_col)
    values = np.column_stack([to_numbers(frame[name], name).to_numpy() for name in targets])  # (N, C)
    codes, ids = series_codes(frame[id_col], id_col) if id_col else (np.zeros(len(frame), dtype=np.int32), [""])
    rows = Rows.sort(codes, pd.DatetimeIndex(stamps).rename(None), values, len(ids))
    fields = dict(targets=targets, time_col=time_col, id_col=id_col, notes=[tz_note] if tz_note else [])
    return split_series(rows, ids, options, fields, per_series)


@dataclass
class Rows:
    """Every row, sorted by (series, time) with ties in file order: series s is rows starts[s]:starts[s + 1]."""

    stamps: pd.DatetimeIndex  # (N,)
    values: np.ndarray  # (N, C)
    order: np.ndarray | None  # (N,) each row's position in the file; None when the file was already sorted
    starts: np.ndarray  # (S + 1,)
    gaps: np.ndarray  # (N - 1,) from each stamp to the next row's, in the stamps' unit (UTC for zoned stamps)

    @classmethod
    def sort(cls, codes: np.ndarray, stamps: pd.DatetimeIndex, values: np.ndarray, n_series: int) -> "Rows":
        # Every array of N numbers costs time and memory here: the checks reuse `gaps` and compare in place.
        starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_series))]).astype(np.int64)
        gaps = np.diff(stamps.asi8)
        if in_order(codes, gaps):  # panels are usually written series by series: no sort
            return cls(stamps, values, None, starts, gaps)
        # Group by series first: a stable sort of 16-bit codes is a radix sort, fast. A file written date
        # by date is then in time order within each series; anything else takes the two-key sort.
        order = np.argsort(codes.astype(np.uint16) if n_series <= 1 << 16 else codes, kind="stable")
        gaps = np.diff(stamps.asi8[order])
        if not in_order(codes[order], gaps):
            order = np.lexsort((stamps.asi8, codes))  # stable: duplicates keep their file order
        stamps = stamps[order]
        return cls(stamps, values[order], order, starts, np.diff(stamps.asi8))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    def series_of(self, positions: np.ndarray) -> np.ndarray:
        """The series number of each row position."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    def series_with(self, flags: np.ndarray) -> np.ndarray:
        """(S,) whether any of a series' rows (or inner pairs of rows: pair i is rows i, i + 1) is flagged."""
        found = np.zeros(len(self.starts) - 1, dtype=bool)
        found[self.series_of(np.flatnonzero(flags))] = True
        return found

    def inner_pairs(self) -> np.ndarray:
        """(N - 1,) whether rows i and i + 1 belong to the same series."""
        inner = np.ones(max(len(self.stamps) - 1, 0), dtype=bool)
        inner[self.starts[1:-1] - 1] = False
        return inner

    def part(self, s: int, time_col: str, targets: list[str]) -> pd.DataFrame:
        """Series s as the table `prepare_one` takes, with data row numbers for its messages."""
        a, b = self.starts[s], self.starts[s + 1]
        part = pd.DataFrame(self.values[a:b], columns=targets)
        part.insert(0, time_col, self.stamps[a:b])
        part["__row__"] = (self.order[a:b] if self.order is not None else np.arange(a, b)) + 1
        return part


def in_order(codes: np.ndarray, gaps: np.ndarray) -> bool:
    """Whether rows with these series codes and steps between stamps run series by series, in time order."""
    return bool(((codes[1:] > codes[:-1]) | ((codes[1:] == codes[:-1]) & (gaps >= 0))).all())


def series_codes(column: pd.Series, id_col: str) -> tuple[np.ndarray, list[str]]:
    """(N,) each row's series number (int32), and the ids as text in sorted order (as groupby sorts them)."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # read_csv reads text columns as categories
        codes, uniques = column.cat.codes.to_numpy(), column.cat.categories
        used = np.bincount(codes[codes >= 0], minlength=len(uniques)) > 0
        if not used.all():  # a filtered frame keeps the categories of ids that have no rows left
            codes = np.where(codes >= 0, (np.cumsum(used) - 1)[codes], -1)
            uniques = uniques[used]
    else:
        codes, uniques = pd.factorize(column)
    if (codes < 0).any():  # a missing id: refused, where groupby would silently drop the row
        row = int(np.flatnonzero(codes < 0)[0]) + 1
        raise DataError(f"id column {id_col!r} is empty at data row {row}: every row needs an id; fill it or drop the row")
    # Distinct values can share a text (1 and "1"): the text is the id, as astype(str) made it.
    ids, renumber = np.unique(np.asarray(pd.Index(uniques).astype(str), dtype=object), return_inverse=True)
    if (renumber == np.arange(len(renumber))).all():  # read_csv's categories come sorted: keep the codes
        return codes.astype(np.int32), [str(key) for key in ids]
    return renumber.astype(np.int32)[codes], [str(key) for key in ids]


def split_series(rows: Rows, ids: list[str], options: DataOptions, fields: dict, per_series: bool) -> SeriesSet:
    """The SeriesSet of `rows`: regular, complete series as they are, the others through `prepare_one`."""
    panel = len(ids) > 1 and not options.strict
    clean = (rows.lengths >= 3) & ~rows.series_with(rows.inner_pairs() & (rows.gaps == 0))  # enough points, no duplicate
    complete = ~rows.series_with(np.isnan(rows.values).any(axis=1))
    freq = normalise_freq(options.freq) if options.freq else panel_frequency(rows, clean & complete, clean)
    fast = np.zeros(len(ids), dtype=bool)
    if freq is not None and not per_series:
        fast = clean & complete & regular_series(rows, freq, clean & complete, given=bool(options.freq))
    prepared, skipped = prepare_slow(rows, ids, np.flatnonzero(~fast), options, fields, panel)
    skipped.update(other_frequencies(prepared, freq, panel))
    if not fast.any() and not prepared:
        if not skipped:
            raise DataError("the table has no data rows: expected a header row and data rows")
        first = min(skipped)
        raise DataError(f"all {len(ids)} series were left out, the first because {series_label(ids[first])} {skipped[first]}")
    fields = dict(fields, skipped=[(ids[s], skipped[s]) for s in sorted(skipped)])
    if per_series:  # the reference: the set built as it always was, from one array per series
        kept = sorted(prepared)
        return SeriesSet.from_arrays([ids[s] for s in kept], [prepared[s][0] for s in kept],
                                     [prepared[s][1] for s in kept], freq=freq, **fields)
    return assemble(rows, ids, fast, prepared, freq, fields)


def prepare_slow(rows: Rows, ids: list[str], numbers: np.ndarray, options: DataOptions, fields: dict, panel: bool):
    """`prepare_one` on series `numbers`: {s: (values, index)} and, in a panel, {s: why} for those left out."""
    prepared, skipped = {}, {}
    for s in numbers:  # the exceptions of a panel: gaps, duplicates, missing values, too short
        part = rows.part(s, fields["time_col"], fields["targets"])
        try:
            _, values, index = prepare_one(ids[s], part, fields["time_col"], fields["targets"], options)
        except SeriesError as exc:
            if not panel:
                raise
            skipped[int(s)] = exc.reason
            continue
        prepared[int(s)] = (values, index)
    return prepared, skipped


def other_frequencies(prepared: dict, freq: str, panel: bool) -> dict:
    """Take out of `prepared` the series whose own frequency is not `freq`: {s: why}.

    Outside a panel that stops the file with today's message, which lists every frequency found.
    """
    found = {s: normalise_freq(index.freq) for s, (_, index) in prepared.items()}
    odd = {s: own for s, own in found.items() if own != freq}
    if odd and not panel:
        raise DataError(f"the series have different frequencies ({', '.join(sorted(set(found.values()) | {freq}))}): pass --freq to use one")
    for s in odd:
        del prepared[s]
    return {s: f"has the frequency {own}, not the others' {freq}: pass --freq to use one" for s, own in odd.items()}


def assemble(rows: Rows, ids: list[str], fast: np.ndarray, prepared: dict, freq: str, fields: dict) -> SeriesSet:
    """The set of the fast series (their sorted rows as they are) and the prepared ones, in id order."""
    keep = fast.copy()
    keep[list(prepared)] = True
    lengths = np.where(fast, rows.lengths, 0)
    for s, (values, _) in prepared.items():
        lengths[s] = len(values)
    offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
    if fast.all():
        flat = rows.values
    else:  # copy the fast rows in one go (both masks list them in the same order), then each prepared series
        flat = np.empty((offsets[-1], rows.values.shape[1]))
        flat[np.repeat(fast[keep], lengths[keep])] = rows.values[np.repeat(fast, rows.lengths)]
        where = dict(zip(np.flatnonzero(keep).tolist(), offsets[:-1].tolist()))
        for s, (values, _) in prepared.items():
            flat[where[s]:where[s] + len(values)] = values
    first = rows.stamps[rows.starts[:-1][keep]]  # a regularised series starts where its rows do
    return SeriesSet(ids=[ids[s] for s in np.flatnonzero(keep)], flat=flat, offsets=offsets, first=first, freq=freq, **fields)


def panel_frequency(rows: Rows, complete: np.ndarray, clean: np.ndarray) -> str | None:
    """The frequency pandas infers for the longest series that infers one (complete series first).

    One series' inference, not ten thousand: every other series is then checked against it at once.
    None when no series has a frequency of its own (each then fails, with its reason, in prepare_one).
    """
    for s in np.lexsort((-rows.lengths, ~complete)):
        if clean[s]:
            freq = inferred_freq(rows.stamps[rows.starts[s]:rows.starts[s + 1]])
            if freq is not None:
                return freq
    return None


def inferred_freq(stamps: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = pd.infer_freq(stamps)
    return normalise_freq(freq) if freq is not None else None


# Frequencies whose regular grids pandas always names the same way; on a business-day grid, a few
# weekdays in a row are named "D" as well: there each series is checked by name too.
UNAMBIGUOUS = (pd.offsets.Tick, pd.offsets.Day, pd.offsets.Week, pd.offsets.MonthBegin, pd.offsets.MonthEnd,
               pd.offsets.QuarterBegin, pd.offsets.QuarterEnd, pd.offsets.YearBegin, pd.offsets.YearEnd)


def regular_series(rows: Rows, freq: str, candidates: np.ndarray, given: bool) -> np.ndarray:
    """(S,) whether each series steps exactly one `freq` at a time from a stamp on `freq`'s grid.

    Such a series is what `prepare_one` would return unchanged: no gap to fill, no stamp off the
    grid and, when the frequency was inferred, the same frequency inferred for it alone.
    """
    from pandas.tseries.frequencies import to_offset

    offset = to_offset(freq)
    steps_ok, firsts_ok = grid_steps(rows, offset)
    regular = firsts_ok & ~rows.series_with(rows.inner_pairs() & ~steps_ok)
    if not given and not isinstance(offset, UNAMBIGUOUS):
        for s in np.flatnonzero(regular & candidates):  # rare frequencies (B, bh, BMS...): confirm by name
            regular[s] = inferred_freq(rows.stamps[rows.starts[s]:rows.starts[s + 1]]) == freq
    return regular


def grid_steps(rows: Rows, offset) -> tuple[np.ndarray, np.ndarray]:
    """(N - 1,) whether each row's next stamp is one `offset` later; (S,) whether each first stamp is on `offset`.

    All False when pandas cannot shift these stamps (beyond its date range, into a daylight-saving
    hole...): the series then take the per-series route, which says what is wrong as it always did.
    """
    stamps = rows.stamps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # offsets pandas cannot vectorise warn, then loop
            if isinstance(offset, pd.offsets.Tick) or (isinstance(offset, pd.offsets.Day) and stamps.tz is None):
                step, unit = pd.Timedelta(offset).value, pd.Timedelta(1, unit=stamps.unit).value  # both in ns
                steps_ok = rows.gaps == step // unit if step % unit == 0 else np.zeros(len(rows.gaps), dtype=bool)
                return steps_ok, np.ones(len(rows.starts) - 1, dtype=bool)  # a fixed step has no anchor
            firsts = stamps[rows.starts[:-1]]
            steps_ok = np.asarray(stamps[:-1] + offset == stamps[1:])
            firsts_ok = np.asarray(firsts - offset + offset == firsts)  # rolling back and forth keeps a stamp on the grid
            return steps_ok, firsts_ok
    except Exception:
        return np.zeros(len(rows.gaps), dtype=bool), np.zeros(len(rows.starts) - 1, dtype=bool)


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
        sample = column.dropna().head(20).astype(str)  # only the sample becomes text
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
    if pd.api.types.is_numeric_dtype(column):
        return 1.0 if column.notna().any() else 0.0
    present = column.dropna()
    if present.empty:
        return 0.0
    codes, texts = distinct_texts(present)
    converted = pd.to_numeric(texts.astype(str).str.replace(THOUSANDS, "", regex=True), errors="coerce").notna().to_numpy()
    return float((converted if codes is None else converted[codes]).mean())


def distinct_texts(column: pd.Series) -> tuple[np.ndarray | None, pd.Series]:
    """A categorical column as (each row's code, -1 where missing; the categories), so that each
    distinct text is converted once, not once per row; any other column as (None, itself)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), pd.Series(column.cat.categories)
    return None, column


def to_numbers(column: pd.Series, name: str) -> pd.Series:
    """Float64 values; a non-number names its row, infinities and float32 overflow are refused."""
    if pd.api.types.is_bool_dtype(column):
        raise DataError(f"column {name!r} holds true/false values, not numbers: choose a numeric --target")
    if not pd.api.types.is_numeric_dtype(column):
        codes, texts = distinct_texts(column)
        text = texts.astype("string").str.strip().str.replace(THOUSANDS, "", regex=True)
        numbers = pd.to_numeric(text, errors="coerce")
        bad = (numbers.isna() & text.notna() & (text != "")).to_numpy()
        if codes is not None:  # back to one value per row; code -1 (missing) takes the appended last entry
            bad = np.append(bad, False)[codes]
            numbers = pd.Series(np.append(numbers.to_numpy(dtype="float64", na_value=np.nan), np.nan)[codes], index=column.index)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"column {name!r} has a non-numeric value {column.iloc[row]!r} at data row {row + 1}: "
                "fix or remove that row (or pick another --target)"
            )
        column = numbers
    values = column.astype("float64")
    finite = values.to_numpy()  # a view, no copy: float64 holds missing values as NaN
    huge = (finite > FLOAT32_MAX) | (finite < -FLOAT32_MAX)  # infinities too; NaN compares false
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        raise DataError(
            f"column {name!r} has the value {finite[row]} at data row {row + 1}, beyond float32 range (±3.4e38): "
            "remove it or rescale the column"
        )
    return pd.Series(finite, index=column.index, name=name)


def parse_timestamps(column: pd.Series, name: str) -> tuple[pd.Series, str | None]:
    """Datetimes; mixed UTC offsets are converted to UTC, which the returned note says.

    Each distinct text is parsed once: read_csv gives a text column as categories, so ten million
    rows over two thousand dates are two thousand parses. ISO 8601 text is parsed in one format
    first; anything else gets pandas' element-by-element ("mixed") parse, as always.
    """
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"time column {name!r} is empty at data row {row + 1}: every row needs a timestamp")
    if pd.api.types.is_datetime64_dtype(column.dtype):  # already datetimes (no zone): as their text would parse
        return column.dt.as_unit("ns" if (column.dt.as_unit("ns").to_numpy().view(np.int64) % 1000).any() else "us"), None
    codes, texts = distinct_texts(column)
    texts = texts.astype(str)
    parsed, note = parse_iso(texts), None
    if parsed is None:
        texts = texts.str.strip()
        parsed, note = parse_mixed(texts, name)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad if codes is None else bad[codes])[0])
        text = texts.iloc[row if codes is None else codes[row]]
        raise DataError(
            f"time column {name!r} has an unparseable timestamp {text!r} at data row {row + 1}: "
            "use ISO dates like 2024-01-31 or 2024-01-31 13:00, or pick the right --time-col"
        )
    if codes is not None:
        parsed = pd.Series(pd.DatetimeIndex(parsed).array.take(codes))
    return parsed.set_axis(column.index), note


def parse_iso(texts: pd.Series) -> pd.Series | None:
    """`texts` parsed as ISO 8601 in one go; None when any is not ISO 8601 or the offsets are mixed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(texts, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None


def parse_mixed(text: pd.Series, name: str) -> tuple[pd.Series, str | None]:
    """Each text parsed on its own (NaT where it cannot be); mixed offsets converted to UTC, with a note."""
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
        raise series_error(
            label, f"has the timestamp {stamps[where]} twice (data rows {rows[where - 1]} and {rows[where]}): "
            "each timestamp must appear once per series; aggregate or drop duplicates first"
        )
    if len(stamps) < 3:
        raise series_error(label, f"has only {len(stamps)} point(s): too short to infer a frequency or to forecast")
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
        fix = "pass --freq (e.g. D, h, 30min, MS) and --fill for the gaps"
        raise SeriesError(f"cannot infer a regular frequency for {label}{where}: {fix}", f"has no regular frequency{where}: {fix}")
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
            raise series_error(label, f"would need {steps} {freq} steps for {len(values)} points: --freq {freq} is too fine for this data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = pd.date_range(values.index[0], values.index[-1], freq=freq)
    off_grid = values.index.difference(grid)
    if len(off_grid):
        raise series_error(
            label, f"has the timestamp {off_grid[0]} that is not on a {freq} grid starting at {values.index[0]}: "
            "pass the right --freq or resample the data first"
        )
    if len(grid) > 20 * len(values) + 1000:
        raise series_error(label, f"would need {len(grid)} {freq} steps for {len(values)} points: --freq {freq} is too fine for this data")
    values = values.reindex(grid)
    values.index.freq = freq
    return values, rows.reindex(grid)


def fill_missing(values: pd.DataFrame, rows: pd.Series, fill: str | None, label: str) -> pd.DataFrame:
    for name in values.columns:
        if values[name].isna().all():
            raise SeriesError(f"column {name!r} has no values in {label}: choose another --target",
                              f"has no values in column {name!r}: choose another --target")
    missing = values.isna().any(axis=1)
    if not missing.any():
        return values
    if fill is None:
        count = int(values.isna().sum().sum())
        first = values.index[int(np.flatnonzero(missing.to_numpy())[0])]
        row = rows.get(first)
        where = f"data row {int(row)}, " if row == row and row is not None else "a gap in the timestamps, "
        raise series_error(label, f"has {count} missing value(s) (first at {where}{first}): pass --fill ffill, interpolate or zero")
    if fill not in FILL_METHODS:
        raise OptionError(f"unknown --fill {fill!r}: use one of {', '.join(FILL_METHODS)}")
    if fill == "zero":
        return values.fillna(0.0)
    if fill == "interpolate":
        values = values.interpolate(method="time", limit_direction="both")
    return values.ffill().bfill()  # leading gaps have nothing before them: take the first value

