"""Turn a raw table's rows into regular series: sort, split by id, regularise, fill, leave out.

Every command that reads data comes through `load_series`, so a bad file gets the
same one-line error whichever command reads it. Which columns hold what, and their cells
as numbers and timestamps, is `columns.py`'s job.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from tsgate.columns import check_column, check_unique_columns, detect_time_col, parse_timestamps, pick_targets, to_numbers
from tsgate.covariates import check_roles, declared_roles, read_covariates, static_values
from tsgate.config import FILL_METHODS
from tsgate.errors import DataError, OptionError
from tsgate.freq import fixed_step, infer_season, inferred_freq, normalise_freq, shift_stamps, stamp_ranges


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
    # Covariates (covariates.py): columns observed up to the origin, known over the horizon ahead,
    # constant within each series; and those read as categories whatever their cells look like.
    past_cov: tuple[str, ...] = ()
    future_cov: tuple[str, ...] = ()
    static_cov: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    levels: tuple = ()  # ((name, levels), ...): a trained model's categories, which new data must keep to

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The columns whose cells are names, read as text exactly as written (io.read_csv's `labels`)."""
        return ((self.id_col,) if self.id_col else ()) + tuple(dict.fromkeys(self.categorical + tuple(n for n, _ in self.levels)))


@dataclass
class SeriesSet:
    """One or more series with shared columns and frequency, stored end to end in one array.

    Series `s` is `flat[offsets[s]:offsets[s + 1]]`, regular at `freq` from `first[s]`: a panel
    of ten thousand series is three arrays, not ten thousand objects, and everything that
    scales, windows or forecasts it works on `flat` at once.

    Covariates (`covariates`, a covariates.CovariateData, or None) ride along on the same grid:
    series s's covariate rows start at `first[s]` too, row t beside target row t, and go on past
    its last target with the future-known values ahead of it. The contract every view keeps: a
    view that shortens a series (drop_last, truncate: a forecast origin earlier) shortens its
    target rows only, so the covariate rows after the new end are that origin's future rows; a
    view that picks series (subset) picks their covariate rows and static values with them. A
    forecast reads the future covariates of step h from covariate row `length + h - 1` of each
    series, and past covariates only from rows before `length`.
    """

    ids: list[str]
    flat: np.ndarray  # (T_total, C) float64, the series one after another
    offsets: np.ndarray  # (S + 1,) int64: where each series starts in `flat`, then the total
    first: pd.DatetimeIndex  # (S,) each series' first timestamp
    targets: list[str]
    freq: str
    time_col: str
    id_col: str | None = None
    to_utc: bool = False  # the time column mixed UTC offsets and was converted to UTC (wording.data_notes says so)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, why) of series left out of a panel
    season: int | None = None  # the usual seasonal period of `freq` (freq.infer_season), set where a set is built
    strict: bool = False  # True: fitting or forecasting refuses a series it cannot use instead of leaving it out
    covariates: object = None  # covariates.CovariateData, or None: no covariates

    @classmethod
    def from_arrays(cls, ids: list[str], values: list[np.ndarray], index: list[pd.DatetimeIndex], **fields) -> "SeriesSet":
        """A set from one (T_i, C) array and one regular DatetimeIndex per series."""
        fields = {"season": infer_season(fields["freq"]), **fields}
        lengths = np.array([len(v) for v in values], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        flat = np.concatenate(values).astype(np.float64, copy=False) if values else np.zeros((0, len(fields["targets"])))
        return cls(ids=list(ids), flat=flat, offsets=offsets, first=pd.DatetimeIndex([i[0] for i in index]), **fields)

    @property
    def lenient(self) -> bool:
        """Whether a series that cannot be used is left out (a panel read without --strict) rather than refused."""
        return len(self.ids) > 1 and not self.strict

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
        return stamp_ranges(self.first, self.lengths, self.freq)

    def last_points(self, n: int) -> np.ndarray:
        """The last `n` values of every series, (S, n, C); each series must have at least `n`."""
        from tsgate.windows import gather_windows

        return gather_windows(self.flat, self.offsets, np.arange(len(self.ids)), self.length_array - n, n)

    def drop_last(self, n: int) -> "SeriesSet":
        """The same series without their last `n` points (a forecast origin `n` steps back)."""
        keep = np.ones(len(self.flat), dtype=bool)
        keep[(self.offsets[1:, None] - n + np.arange(n)).ravel()] = False
        return replace(self, flat=self.flat[keep], offsets=self.offsets - n * np.arange(len(self.offsets)))

    def truncate(self, lengths) -> "SeriesSet":
        """Each series s cut after its first `lengths[s]` points (an origin per series); its covariate
        rows stay whole, so those after the cut are the future rows seen from that origin."""
        from tsgate.windows import ragged_arange

        lengths = np.asarray(lengths, dtype=np.int64)
        if ((lengths < 1) | (lengths > self.length_array)).any():
            raise ValueError("truncate: each length must lie between 1 and the series' own")
        return replace(self, flat=self.flat[ragged_arange(self.offsets[:-1], lengths)],
                       offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    def subset(self, numbers) -> "SeriesSet":
        """Only the series at positions `numbers` (in that order)."""
        numbers = np.asarray(numbers, dtype=np.int64)
        lengths = self.length_array[numbers]
        rows = np.repeat(self.offsets[numbers] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        covariates = None if self.covariates is None else self.covariates.subset(numbers)
        return replace(self, ids=[self.ids[k] for k in numbers], flat=self.flat[rows],
                       offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), first=self.first[numbers],
                       covariates=covariates)


def as_series_set(data, columns: dict) -> SeriesSet:
    """A SeriesSet as given, or a DataFrame read into one with DataOptions `columns` (a name or a
    list of names for the fields that hold several)."""
    if isinstance(data, SeriesSet):
        if columns:
            raise OptionError(f"{', '.join(sorted(columns))} name the columns of a DataFrame: a SeriesSet has its own")
        return data
    if not isinstance(data, pd.DataFrame):
        raise OptionError(f"fit takes a SeriesSet or a pandas DataFrame, got {type(data).__name__}")
    lists = ("target", "past_cov", "future_cov", "static_cov", "categorical")
    try:
        options = DataOptions(**{name: tuple([value] if isinstance(value, str) else value or ())
                                 if name in lists else value for name, value in columns.items()})
    except TypeError:
        known = ", ".join(f.name for f in fields(DataOptions) if f.name != "levels")
        raise OptionError(f"fit takes the column options {known}; got {', '.join(sorted(columns))}") from None
    return load_series(data, options)


def series_label(key: str) -> str:
    return f"series {key!r}" if key else "the series"


def load_series(frame: pd.DataFrame, options: DataOptions) -> SeriesSet:
    """Validate `frame` against `options` and split it into regular series.

    Whole-file problems (columns, numbers, timestamps, ids) raise. A problem with one series raises
    too when the file holds one series or `options.strict`; in a panel that series is left out and
    listed in `skipped`. Rows are sorted by (series, time) once; the series that are already
    regular and complete (nearly all of a real panel) are taken as they are, the rest go one by one
    through `prepare_one`.
    """
    rows, ids, fields = sorted_rows(frame, options)
    return split_series(rows, ids, options, fields)


def sorted_rows(frame: pd.DataFrame, options: DataOptions) -> tuple[Rows, list[str], dict]:
    """The table's rows checked and sorted by (series, time), the series' ids, and the SeriesSet
    fields every series shares (targets, time and id columns, the UTC conversion). With covariates,
    the rows' values hold the past and future covariates after the targets, and the fields a
    `covariates` entry (CovariateRows) that split_series turns into the set's CovariateData."""
    if options.fill is not None and options.fill not in FILL_METHODS:
        raise OptionError(f"unknown --fill {options.fill!r}: use one of {', '.join(FILL_METHODS)}")
    frame = frame.set_axis([str(c).strip() for c in frame.columns], axis=1)  # a new frame, the data not copied
    check_unique_columns(frame)
    id_col = check_column(frame, options.id_col, "--id-col") if options.id_col else None
    time_col = options.time_col and check_column(frame, options.time_col, "--time-col") or detect_time_col(frame, id_col)
    roles = declared_roles(options.past_cov, options.future_cov, options.static_cov)
    targets = pick_targets(frame, options.target, exclude={time_col, id_col} | (set() if options.target else set(roles)))
    check_roles(roles, options.categorical, frame.columns, targets, time_col, id_col)
    stamps, to_utc = parse_timestamps(frame[time_col], time_col)
    values = np.column_stack([to_numbers(frame[name], name).to_numpy() for name in targets])  # (N, C)
    covariates = read_covariates(frame, roles, options.categorical, dict(options.levels)) if roles else None
    if covariates is not None:
        dynamic = [k for k, c in enumerate(covariates[1]) if c.role != "static"]
        values = np.column_stack([values, covariates[0][:, dynamic]])  # (N, C + Kd)
    codes, ids = series_codes(frame[id_col], id_col) if id_col else (np.zeros(len(frame), dtype=np.int32), [""])
    rows = Rows.sort(codes, pd.DatetimeIndex(stamps).rename(None), values, len(ids))
    fields = dict(targets=targets, time_col=time_col, id_col=id_col, to_utc=to_utc)
    if covariates is not None:
        fields["covariates"] = covariate_rows(rows, ids, len(targets), *covariates)
    return rows, ids, fields


@dataclass
class CovariateRows:
    """The covariates of sorted rows before they become series: the columns, each series' static
    values, and which rows lie after their series' last target (future rows)."""

    columns: tuple  # covariates.Covariate, past, future, static
    n_targets: int  # the rows' first columns are targets, the rest past and future covariates
    static: np.ndarray  # (S, Ks) per series of the table

    def data(self, flat: np.ndarray, offsets: np.ndarray, numbers: np.ndarray):
        """(targets (T_total, C), their offsets, CovariateData) of series rows end to end `flat`
        (R_total, C + Kd) split at `offsets`, the table's series `numbers`: each series' targets end
        at its last row with a target value, the rows after it are its future rows."""
        from tsgate.covariates import CovariateData
        from tsgate.windows import ragged_arange

        lengths = target_lengths(flat[:, :self.n_targets], offsets)
        targets = flat[ragged_arange(offsets[:-1], lengths), :self.n_targets]
        data = CovariateData(self.columns, np.ascontiguousarray(flat[:, self.n_targets:]), offsets, self.static[numbers])
        return targets, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), data


def target_lengths(targets: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(S,) rows of each series (none empty) up to its last row with a target value (0: none)."""
    present = ~np.isnan(targets).all(axis=1)
    last = np.maximum.reduceat(np.where(present, np.arange(len(present)), -1), offsets[:-1])  # one segment a series
    return np.where(last >= 0, last - offsets[:-1] + 1, 0)


def covariate_rows(rows: Rows, ids: list[str], n_targets: int, values: np.ndarray, columns) -> CovariateRows:
    """The CovariateRows of sorted `rows`, whose static columns are checked constant within each series;
    with future covariates, the rows after each series' last target are marked as its future rows."""
    from tsgate.windows import ragged_arange

    statics = [k for k, c in enumerate(columns) if c.role == "static"]
    static = values[:, statics] if rows.order is None else values[rows.order][:, statics]
    numbers = (rows.order + 1) if rows.order is not None else np.arange(1, len(static) + 1)
    static = static_values(static, rows.starts, numbers, [columns[k] for k in statics], ids)
    if any(c.role == "future" for c in columns):
        lengths = target_lengths(rows.values[:, :n_targets], rows.starts)
        rows.ahead = ragged_arange(rows.starts[:-1] + lengths, rows.lengths - lengths)
    return CovariateRows(tuple(columns), n_targets, static)


@dataclass
class Rows:
    """Every row, sorted by (series, time) with ties in file order: series s is rows starts[s]:starts[s + 1]."""

    stamps: pd.DatetimeIndex  # (N,)
    values: np.ndarray  # (N, C)
    order: np.ndarray | None  # (N,) each row's position in the file; None when the file was already sorted
    starts: np.ndarray  # (S + 1,)
    gaps: np.ndarray  # (N - 1,) from each stamp to the next row's, in the stamps' unit (UTC for zoned stamps)
    ahead: np.ndarray | None = None  # positions of the rows after their series' last target (future rows), or None

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

    def part(self, s: int, time_col: str, columns: list[str]) -> pd.DataFrame:
        """Series s as the table `prepare_one` takes, with data row numbers for its messages."""
        a, b = self.starts[s], self.starts[s + 1]
        part = pd.DataFrame(self.values[a:b], columns=columns)
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


def split_series(rows: Rows, ids: list[str], options: DataOptions, fields: dict) -> SeriesSet:
    """The SeriesSet of `rows`: regular, complete series as they are, the others through `prepare_one`."""
    panel = len(ids) > 1 and not options.strict
    clean = clean_series(rows)
    usable = clean & complete_series(rows)
    freq = panel_frequency(rows, options.freq, clean, usable)
    fast = np.zeros(len(ids), dtype=bool)
    if freq is not None:
        fast = usable & regular_series(rows, freq, usable, given=bool(options.freq))
    prepared, skipped = prepare_slow(rows, ids, np.flatnonzero(~fast), options, fields, panel)
    skipped.update(other_frequencies(prepared, freq, panel))
    if not fast.any() and not prepared:
        if not skipped:
            raise DataError("the table has no data rows: expected a header row and data rows")
        first = min(skipped)
        raise DataError(f"all {len(ids)} series were left out, the first because {series_label(ids[first])} {skipped[first]}")
    fields = dict(fields, skipped=[(ids[s], skipped[s]) for s in sorted(skipped)], strict=options.strict)
    return assemble(rows, ids, fast, prepared, freq, fields)


def prepare_slow(rows: Rows, ids: list[str], numbers: np.ndarray, options: DataOptions, fields: dict, panel: bool):
    """`prepare_one` on series `numbers`: {s: (values, index)} and, in a panel, {s: why} for those left out."""
    prepared, skipped = {}, {}
    columns = fields["targets"] + ([c.name for c in fields["covariates"].columns if c.role != "static"]
                                   if "covariates" in fields else [])
    for s in numbers:  # the exceptions of a panel: gaps, duplicates, missing values, too short
        part = rows.part(s, fields["time_col"], columns)
        try:
            _, values, index = prepare_one(ids[s], part, fields["time_col"], columns, options, len(fields["targets"]))
        except SeriesError as exc:
            if not panel:
                raise
            skipped[int(s)] = exc.reason
            continue
        prepared[int(s)] = (values, index)
    return prepared, skipped


def other_frequencies(prepared: dict, freq: str, panel: bool) -> dict:
    """Take out of `prepared` the series whose own frequency is not `freq`: {s: why}.

    Outside a panel that stops the file with an error listing every frequency found.
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
    if "covariates" in fields:
        flat, offsets, covariates = fields["covariates"].data(flat, offsets, np.flatnonzero(keep))
        fields = dict(fields, covariates=covariates)
    return SeriesSet(ids=[ids[s] for s in np.flatnonzero(keep)], flat=flat, offsets=offsets, first=first, freq=freq,
                     season=infer_season(freq), **fields)


def clean_series(rows: Rows) -> np.ndarray:
    """(S,) whether each series has enough points to infer a frequency and no timestamp twice."""
    return (rows.lengths >= 3) & ~rows.series_with(rows.inner_pairs() & (rows.gaps == 0))


def complete_series(rows: Rows) -> np.ndarray:
    """(S,) whether each series has a value in every column (targets, past and future covariates) of
    every row up to its last target (future rows are checked where a forecast reads them)."""
    missing = np.isnan(rows.values).any(axis=1)
    if rows.ahead is not None:
        missing[rows.ahead] = False
    return ~rows.series_with(missing)


def panel_frequency(rows: Rows, given: str | None, clean: np.ndarray, complete: np.ndarray) -> str | None:
    """The `given` frequency (--freq), or the one pandas infers for the longest `clean` series that
    infers one (`complete` series first).

    One series' inference, not ten thousand: every other series is then checked against it at once.
    None when no series has a frequency of its own (each then fails, with its reason, in prepare_one).
    """
    if given:
        return normalise_freq(given)
    for s in np.lexsort((-rows.lengths, ~complete)):
        if clean[s]:
            freq = inferred_freq(rows.stamps[rows.starts[s]:rows.starts[s + 1]])
            if freq is not None:
                return freq
    return None


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
    hole...): the series then take the per-series route, which says what is wrong.
    """
    stamps = rows.stamps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # offsets pandas cannot vectorise warn, then loop
            step = fixed_step(offset, stamps.tz)
            if step is not None:
                unit = pd.Timedelta(1, unit=stamps.unit).value  # both in ns
                steps_ok = rows.gaps == step // unit if step % unit == 0 else np.zeros(len(rows.gaps), dtype=bool)
                return steps_ok, np.ones(len(rows.starts) - 1, dtype=bool)  # a fixed step has no anchor
            firsts = stamps[rows.starts[:-1]]
            steps_ok = np.asarray(stamps[:-1] + offset == stamps[1:])
            firsts_ok = np.asarray(firsts - offset + offset == firsts)  # rolling back and forth keeps a stamp on the grid
            return steps_ok, firsts_ok
    except Exception:
        return np.zeros(len(rows.gaps), dtype=bool), np.zeros(len(rows.starts) - 1, dtype=bool)


def prepare_one(key: str, part: pd.DataFrame, time_col: str, targets: list[str], options: DataOptions,
                n_targets: int | None = None):
    """Sort one series, refuse duplicates, regularise to its frequency, handle missing values. With
    `n_targets`, the first that many of `targets` are the targets and the rest covariates; with future
    covariates, the rows after the last target are future rows, kept as they are (no fill)."""
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
    known = own_points(values, n_targets) if options.future_cov else len(values)  # future rows follow
    if known < 3:
        raise series_error(label, f"has only {known} point(s) before its future rows: too short to forecast")
    freq = options.freq or infer_frequency(stamps[:known], label)  # a gap among the future rows is reported later
    values, rows = regularise(values, rows, freq, label)
    ahead = len(values) - own_points(values, n_targets) if options.future_cov else 0
    main = fill_missing(values.iloc[:len(values) - ahead], rows, options.fill, label)
    values = pd.concat([main, values.iloc[len(values) - ahead:]]) if ahead else main
    return key, values.to_numpy(dtype="float64"), values.index


def own_points(values: pd.DataFrame, n_targets: int) -> int:
    """Rows of one series up to its last row with a target value (its first `n_targets` columns)."""
    return int(target_lengths(values.to_numpy()[:, :n_targets], np.array([0, len(values)]))[0])


def infer_frequency(stamps: pd.DatetimeIndex, label: str) -> str:
    """The series' own frequency; SeriesError, with the first odd step, when it has none."""
    freq = inferred_freq(stamps)
    if freq is None:
        gaps = stamps.to_series().diff().dropna()
        common = gaps.mode().iloc[0]
        odd = gaps[gaps != common]
        where = f"; e.g. a step of {odd.iloc[0]} after {stamps[stamps.get_loc(odd.index[0]) - 1]}" if len(odd) else ""
        fix = "pass --freq (e.g. D, h, 30min, MS) and --fill for the gaps"
        raise SeriesError(f"cannot infer a regular frequency for {label}{where}: {fix}", f"has no regular frequency{where}: {fix}")
    return freq


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

