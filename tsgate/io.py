"""Bytes in and out: read a CSV from a path or "-" (stdin), write files atomically.

Nothing here knows about time series; `data.py` validates what this reads.
"""

from __future__ import annotations

import codecs
import io
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from tsgate.errors import DataError, OutputError

# Candidate separators, in the order that wins a tie.
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEAD_BYTES = 1 << 16  # read first: the codec (byte-order mark) and the header line that picks the separator
HEAD_ROWS = 1000  # rows that decide which columns hold text, read compactly as categories
CHUNK_ROWS = 1_000_000  # rows pandas parses at a time: its tokenizer holds one chunk, not the whole file


def read_source_bytes(source: str) -> bytes:
    """The raw bytes of a path, or of stdin when source is "-"."""
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return checked_path(source).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {source}: {exc.strerror or exc}") from exc


def read_head(source: str) -> bytes:
    """The first HEAD_BYTES of a file, enough to choose the codec and the separator."""
    try:
        with checked_path(source).open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        raise DataError(f"cannot read {source}: {exc.strerror or exc}") from exc


def checked_path(source: str) -> Path:
    path = Path(source)
    if not path.exists():
        raise DataError(f"file not found: {source}")
    if path.is_dir():
        raise DataError(f"{source} is a folder, not a CSV file")
    return path


def pick_codec(raw: bytes, encoding: str) -> str:
    """The codec that decodes `raw`: for UTF-8, the byte-order mark decides."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        # Spreadsheets save "Unicode text" as UTF-16 with a BOM; the BOM says so unambiguously.
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        return "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"  # -sig drops a UTF-8 BOM
    return encoding


def decode_text(raw: bytes, encoding: str, source: str) -> str:
    """Decode bytes, dropping a UTF-8 byte-order mark; say how to fix a wrong encoding."""
    try:
        return raw.decode(pick_codec(raw, encoding))
    except LookupError as exc:
        raise DataError(f"unknown encoding {encoding!r}: use a Python codec name such as utf-8 or latin-1") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{display_name(source)} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "pass --encoding with the file's encoding, e.g. --encoding latin-1"
        ) from exc


def header_line(head: bytes, codec: str, complete: bool) -> str | None:
    """The header line decoded from the file's first bytes; None when those cannot tell.

    None for blank text (the whole file decides whether it is empty), a header longer than the
    head, bytes the codec refuses or an unknown codec: the caller then decodes the whole file,
    which raises the decoding errors of decode_text (naming the offending byte's offset).
    """
    try:
        text = codecs.getincrementaldecoder(codec)().decode(head, final=complete)
    except Exception:  # an unknown codec, a bad byte, a codec that is no text encoding (hex): the caller's decode says which
        return None
    if not isinstance(text, str) or not text.strip() or ("\n" not in text and not complete):
        return None
    return text.split("\n", 1)[0]


def sniff_separator(text: str) -> str:
    """The separator that splits the header line into the most fields."""
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def read_csv(source: str, sep: str | None = None, encoding: str = "utf-8", labels: tuple[str, ...] = ()):
    """Read a CSV (path or "-") into a DataFrame of numbers and text, unvalidated.

    A path goes to pandas as a path (no copy of the file in memory); stdin is read as bytes. Text
    columns come back as categories: an id or a date repeated over ten million rows is then a
    small code per row, not a Python string per row. The columns named in `labels` (names as
    data.py strips them) are text whatever they look like: see label_options.
    """
    raw = sys.stdin.buffer.read() if source == "-" else None
    head = raw[:HEAD_BYTES] if raw is not None else read_head(source)
    codec = pick_codec(head, encoding)
    header = header_line(head, codec, complete=len(head) < HEAD_BYTES or (raw is not None and len(raw) == len(head)))
    if header is None:  # rare (see header_line): the checks on the whole decoded text
        text = decode_text(raw if raw is not None else read_source_bytes(source), encoding, source)
        if not text.strip():
            raise DataError(f"{display_name(source)} is empty: expected a header row and data rows")
        header = text.split("\n", 1)[0]
        del text
    sep = sep if sep else sniff_separator(header)
    if sep == "\\t":
        sep = "\t"
    try:
        frame = parse_csv(io.BytesIO(raw) if raw is not None else source, sep, codec, source, labels)
    except UnicodeDecodeError:  # a bad byte past the head: decoding it all names the byte and its offset
        decode_text(raw if raw is not None else read_source_bytes(source), encoding, source)
        raise
    if frame.empty:
        raise DataError(f"{display_name(source)} has a header but no data rows")
    # A separator at the end of every line makes a nameless, empty last column: drop it.
    blank = [c for c in frame.columns if str(c).startswith("Unnamed: ") and frame[c].isna().all()]
    return frame.drop(columns=blank)


def parse_csv(target, sep: str, codec: str, source: str, labels: tuple[str, ...] = ()):
    """pandas' parse of `target` (a path or a byte buffer), with its errors turned into DataErrors."""
    import pandas as pd

    options = dict(
        sep=sep,
        thousands="," if sep != "," else None,
        skipinitialspace=True,
        index_col=False,  # rows longer than the header are an error, not silently an index
        low_memory=False,  # each chunk parsed whole: one dtype per column, no DtypeWarning on stderr
        encoding=codec,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return parse_in_chunks(target, options, labels)
    except pd.errors.ParserWarning as exc:
        raise DataError(
            f"{display_name(source)} has data rows with more fields than its header "
            f"({SEPARATOR_NAMES.get(sep, repr(sep))}-separated): check the file or pass --sep"
        ) from exc
    except pd.errors.ParserError as exc:
        raise DataError(
            f"{display_name(source)} is not a well-formed {SEPARATOR_NAMES.get(sep, repr(sep))}-separated CSV "
            f"({first_line(exc)}): check the file or pass --sep"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{display_name(source)} has no columns: expected a header row") from exc
    except UnicodeDecodeError:
        raise  # a ValueError too, but the caller names the bad byte
    except ValueError as exc:  # pandas refuses the separator itself, e.g. a line break
        raise DataError(f"cannot read {display_name(source)} with --sep {sep!r} ({first_line(exc)}): pass one character such as , ; | or \\t") from exc


def parse_in_chunks(target, options: dict, labels: tuple[str, ...] = ()):
    """The whole table, parsed CHUNK_ROWS rows at a time so that pandas' tokenizer stays small, its
    columns named as the header writes them.

    pandas renames a repeated name "x" to "x.1"; the header's own names keep a real "x.1" beside
    "x" apart from a repeat, which columns.check_unique_columns refuses. A blank name keeps
    pandas' "Unnamed: 2".
    """
    header = header_cells(target, options)
    frame = parse_table(target, *label_options(options, header, labels))
    if len(header) != frame.shape[1]:
        return frame
    return frame.set_axis([cell or name for cell, name in zip(header, frame.columns)], axis=1)


def header_cells(target, options: dict) -> list[str]:
    """The header row's cells, as text exactly as written."""
    import pandas as pd

    row = pd.read_csv(target, header=None, nrows=1, dtype=str, keep_default_na=False, **options)
    rewind(target)
    return [str(cell) for cell in row.iloc[0]] if len(row) else []


def parse_table(target, options: dict, labels: list[int]):
    """The table with the columns at positions `labels` as categories of their cells' text.

    The labels are first read as the parser's own categories, which it builds fast; but pandas
    (3.1 on) turns categories that all look like numbers or booleans into those, "007" and "7"
    into one 7. A table where it did so in any part is read again with the labels as plain text.
    """
    frame = parse_parts(target, options, labels, "category")
    if frame is None:
        rewind(target)
        frame = parse_parts(target, options, labels, str)
    return frame


def parse_parts(target, options: dict, labels: list[int], label_dtype):
    """The table with the `labels` columns read as `label_dtype`, then as categories; None where the
    parser made their categories something other than text.

    The first HEAD_ROWS rows choose the other text columns, read as categories. The chunks are then
    joined column by column; should the chunks disagree on a column's type (numbers early, text
    later), the file is parsed again in one piece, which gives exactly what one parse gives.
    """
    import pandas as pd

    as_text = {number: label_dtype for number in labels}
    head = pd.read_csv(target, nrows=HEAD_ROWS, dtype=as_text, **options)
    categories = {head.columns[number]: "category" for number in labels}
    text = {name: "category" for name in head.columns
            if name not in categories and pd.api.types.infer_dtype(head[name], skipna=True) == "string"}
    if len(head) < HEAD_ROWS:  # the head is the whole table
        return text_labels(head.astype({**text, **categories}), categories)
    rewind(target)
    chunks = []
    with pd.read_csv(target, chunksize=CHUNK_ROWS, dtype={**as_text, **text}, **options) as reader:
        for chunk in reader:
            chunks.append(text_labels(chunk.astype(categories), categories))
            if chunks[-1] is None:
                return None
    frame = join_chunks(chunks)
    if frame is None:
        del chunks
        rewind(target)
        frame = text_labels(pd.read_csv(target, dtype={**as_text, **text}, **options).astype(categories), categories)
    return frame


def text_labels(frame, labels: dict):
    """`frame`, or None when the categories of a column in `labels` are not text."""
    import pandas as pd

    for name in labels:
        kinds = frame[name].cat.categories
        if len(kinds) and pd.api.types.infer_dtype(kinds, skipna=True) != "string":
            return None
    return frame


def label_options(options: dict, header: list[str], labels: tuple[str, ...]) -> tuple[dict, list[int]]:
    """(pandas' options, the positions of the `labels` columns) that read those columns as text
    exactly as written.

    A label is a name, not a quantity: "007", "07" and "7" are three stores, "NA" and "1e3" are
    codes, "1,234" keeps its comma. pandas would read such a column as numbers or missing values,
    so parse_table reads these columns as text, and only an empty cell is missing. A column is
    found by position, its header's name stripped as data.py strips names. Spaces right after a
    separator stay the separator's padding (skipinitialspace), as in every other column; a quoted
    cell keeps all of its text.
    """
    from pandas._libs.parsers import STR_NA_VALUES

    positions = [number for number, cell in enumerate(header) if cell.strip() in labels]
    if not positions:  # no such column (data.py names the columns present), or no labels asked for
        return options, []
    # Missing-value texts per column: pandas' usual ones everywhere else, only an empty cell in a label.
    missing = {number: ({""} if number in positions else STR_NA_VALUES) for number in range(len(header))}
    return {**options, "keep_default_na": False, "na_values": missing}, positions


def join_chunks(chunks: list):
    """The chunks as one frame; None when a column's type differs between them."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    columns = {}
    for number, name in enumerate(chunks[0].columns):
        parts = [chunk.iloc[:, number] for chunk in chunks]
        kinds = {str(part.dtype) for part in parts}  # "category" for every categorical
        if kinds == {"int64", "float64"}:
            kinds = {"float64"}  # integers in one chunk, blanks or decimals in another: floats, as in one parse
        if len(kinds) > 1:
            return None
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            if len({str(part.cat.categories.dtype) for part in parts}) > 1:  # a chunk of blanks has no text categories
                parts = [part.cat.set_categories(part.cat.categories.astype(str)) for part in parts]
            columns[name] = pd.Series(union_categoricals(parts, sort_categories=True), name=name)
        else:
            columns[name] = pd.concat(parts, ignore_index=True).astype(kinds.pop())
    return pd.DataFrame(columns, columns=chunks[0].columns, copy=False)


def rewind(target) -> None:
    if hasattr(target, "seek"):
        target.seek(0)


def display_name(source: str) -> str:
    return "standard input" if source == "-" else source


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any long work if `path` cannot be created; return it as a Path."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.exists() and target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    if not folder.exists():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {target}: folder {folder} is not writable")
    return target


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb"):
    """Write to a temporary file beside `path`, then rename it into place.

    A crash or Ctrl-C mid-write leaves the previous file intact and no partial file.
    """
    target = check_writable(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.chmod(tmp_name, file_mode(target))  # mkstemp makes 0600; give what open() would
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def file_mode(target: Path) -> int:
    """The permissions a replaced file keeps, or those a new file gets under the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with atomic_writer(path, mode) as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
