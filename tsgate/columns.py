"""Which columns of a raw table hold what, and their cells as numbers and timestamps.

`data.load_series` reads a table's columns through these functions; every refusal names the
column and, for a bad cell, its data row.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from tsgate.errors import DataError, OptionError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "ds", "month", "period", "week", "day", "hour", "year")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# "1,234.5" in a comma-separated file arrives quoted, as text: drop the thousands commas.
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")


def check_unique_columns(frame: pd.DataFrame) -> None:
    """Refuse a name that the header (as io.read_csv gives it, names stripped) holds twice."""
    seen = set()
    for name in frame.columns:
        if name in seen:
            raise DataError(f"column {name!r} appears more than once in the header: rename one of them")
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


def parse_timestamps(column: pd.Series, name: str) -> tuple[pd.Series, bool]:
    """(datetimes, whether mixed UTC offsets were converted to UTC).

    Each distinct text is parsed once: read_csv gives a text column as categories, so ten million
    rows over two thousand dates are two thousand parses. ISO 8601 text is parsed in one format
    first; anything else gets pandas' element-by-element ("mixed") parse.
    """
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"time column {name!r} is empty at data row {row + 1}: every row needs a timestamp")
    if pd.api.types.is_datetime64_dtype(column.dtype):  # already datetimes (no zone): as their text would parse
        return column.dt.as_unit("ns" if (column.dt.as_unit("ns").to_numpy().view(np.int64) % 1000).any() else "us"), False
    codes, texts = distinct_texts(column)
    texts = texts.astype(str)
    parsed, to_utc = parse_iso(texts), False
    if parsed is None:
        texts = texts.str.strip()
        parsed, to_utc = parse_mixed(texts)
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
    return parsed.set_axis(column.index), to_utc


def parse_iso(texts: pd.Series) -> pd.Series | None:
    """`texts` parsed as ISO 8601 in one go; None when any is not ISO 8601 or the offsets are mixed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(texts, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None


def parse_mixed(text: pd.Series) -> tuple[pd.Series, bool]:
    """Each text parsed on its own (NaT where it cannot be); (datetimes, whether mixed offsets were
    converted to UTC)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        except (ValueError, TypeError):
            return pd.to_datetime(text, errors="coerce", format="mixed", utc=True), True
        if parsed.dtype == object:  # mixed offsets came back as plain objects
            return pd.to_datetime(text, errors="coerce", format="mixed", utc=True), True
    return parsed, False
