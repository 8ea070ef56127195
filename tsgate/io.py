"""Bytes in and out: read a CSV from a path or "-" (stdin), write files atomically.

Nothing here knows about time series; `data.py` validates what this reads.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
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


def text_codec(encoding: str) -> str:
    """`encoding` as given, once Python knows it as a codec from bytes to text; a one-line DataError otherwise."""
    try:
        codecs.lookup(encoding)
    except (LookupError, ValueError) as exc:  # ValueError: a NUL or a lone surrogate in the name
        raise DataError(f"unknown encoding {encoding!r}: use a Python codec name such as utf-8 or latin-1") from exc
    try:
        b"\n".decode(encoding)  # one byte: an empty input is returned before the codec is asked
    except LookupError as exc:  # rot13 (text to text), base64 and zlib (bytes to bytes)
        raise DataError(f"encoding {encoding!r} is a Python codec but not a text encoding: "
                        "pass the file's text encoding, e.g. --encoding utf-8 or latin-1") from exc
    except ValueError:  # a text codec that refuses this one byte: the file's bytes decide
        pass
    return encoding


def decode_text(raw: bytes, encoding: str, source: str) -> str:
    """Decode bytes, dropping a UTF-8 byte-order mark; say how to fix a wrong encoding."""
    try:
        return raw.decode(pick_codec(raw, encoding))  # read_csv checked the codec itself (text_codec)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{display_name(source)} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "pass --encoding with the file's encoding, e.g. --encoding latin-1"
        ) from exc
    except UnicodeError as exc:  # punycode, idna, undefined: a codec that fails without naming a byte
        raise undecodable(source, encoding, exc) from exc


def undecodable(source: str, encoding: str, exc: BaseException) -> DataError:
    reason = exc.__cause__ or exc  # Python wraps a codec's own error in "decoding with ... failed (...)"
    return DataError(f"{display_name(source)} cannot be decoded as {encoding} ({first_line(reason)}): "
                     "pass --encoding with the file's encoding, e.g. --encoding utf-8 or latin-1")


def header_line(head: bytes, codec: str, complete: bool) -> str | None:
    """The header line decoded from the file's first bytes; None when those cannot tell.

    None for blank text (the whole file decides whether it is empty), a header longer than the
    head, or bytes the codec refuses: the caller then decodes the whole file,
    which raises the decoding errors of decode_text (naming the offending byte's offset).
    """
    try:
        text = codecs.getincrementaldecoder(codec)().decode(head, final=complete)
    except Exception:  # a bad byte, or a codec that fails without naming one (punycode): the caller's decode says which
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
    text_codec(encoding)  # before a possibly long stdin is read
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
    except UnicodeError as exc:  # a bad byte past the head: decoding it all names the byte and its offset
        decode_text(raw if raw is not None else read_source_bytes(source), encoding, source)
        raise undecodable(source, encoding, exc) from exc  # pandas refused what Python decodes (UTF-16 without a BOM)
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
    except UnicodeError:
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
    """Fail before any long work if `path` cannot be written; return it as a Path.

    A regular file (or a new one) is checked by creating and removing a temporary file where the
    atomic write will make its own: asking os.access is not enough, root is told yes for /proc.
    A device or a pipe is written into, so only its own permission is asked.
    """
    target = check_destination(path)
    if is_stream(target):
        return target
    real = resolved(target)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: folder {real.parent} is not writable ({exc.strerror or exc})") from exc
    os.close(fd)
    os.unlink(probe)
    return target


def check_destination(path: str | os.PathLike) -> Path:
    """The one-line OutputError for a destination that cannot be a file (a folder, a missing or
    unwritable folder, a device without permission); `path` as a Path otherwise."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    if is_stream(target):
        if not os.access(target, os.W_OK):
            raise OutputError(f"cannot write {target}: permission denied")
        return target
    if not folder.exists():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {target}: folder {folder} is not writable")
    return target


def is_stream(path: str | os.PathLike) -> bool:
    """An existing file that is neither a regular file nor a folder: a device, a pipe, /dev/stdout.
    Such a file is written into; renaming a new file over it would replace it."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, a dangling link, a name the system refuses
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def resolved(target: Path) -> Path:
    """Where an atomic write of `target` lands: through a symbolic link to the file it names, so the
    link stays a link (and the temporary file lies beside the file it replaces)."""
    return Path(os.path.realpath(target))


def check_distinct(outputs, inputs) -> None:
    """Refuse, before any work, an output that is one of the inputs or another output.

    `outputs` and `inputs` are (label, path) pairs such as ("-o", "out.csv") and ("DATA", "data.csv");
    None is no file, nor is the input "-" (stdin). An output is an input when both are one regular
    file, whatever the names (symbolic and hard links: same device and inode); a device or a pipe
    is written into, destroying nothing, so /dev/stdout may be written while DATA is read from
    stdin. Two outputs clash when they name one file, even before either exists.
    """
    named = [(label, path) for label, path in outputs if path is not None]
    sources = [(label, path, identity(path)) for label, path in inputs if path is not None and str(path) != "-"]
    for number, (label, path) in enumerate(named):
        if is_stream(path):
            continue
        key = identity(path)
        for source_label, source, source_key in sources:
            if key is not None and key == source_key:
                raise OutputError(f"{label} {path} is the same file as {source_label} {source}: writing it would "
                                  f"destroy the input; give {label} another path")
        for other_label, other in named[:number]:
            if resolved(Path(path)) == resolved(Path(other)) or (key is not None and key == identity(other)):
                raise OutputError(f"{label} {path} is the same file as {other_label} {other}: one would overwrite "
                                  f"the other; give {label} another path")


def identity(path) -> tuple[int, int] | None:
    """(device, inode) of an existing regular file; None for anything else."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


@contextmanager
def staged_file(real: Path, mode: str = "wb"):
    """(an open handle, its name): a new temporary file beside `real`, on disk with the permissions
    `real` will have once the block ends; removed when the block fails."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle, tmp_name
            handle.flush()
            os.chmod(tmp_name, file_mode(real))  # mkstemp makes 0600; give what open() would
            os.fsync(handle.fileno())
    except BaseException:
        remove(tmp_name)
        raise


def file_mode(target: Path) -> int:
    """The permissions a replaced file keeps, or those a new file gets under the umask."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def remove(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    write_all([(path, data)])


def write_all(files) -> None:
    """Write each (path, bytes or text) of `files`, all of them or none.

    Every regular file is first written in full to a temporary file beside it, devices and pipes
    are then written into, and the renames come last: a failure before them (a full disk, a full
    device, Ctrl-C) leaves every path as it was. Renames within a folder need no space, so the one
    window left is an error between two renames, which would keep the files renamed before it.
    """
    staged: list[tuple[str, Path]] = []  # (temporary file, the file it replaces)
    try:
        streams = []
        for path, data in files:  # checked for real before the work (check_writable); the temporary file checks again
            target = check_destination(path)
            if is_stream(target):
                streams.append((target, data))
                continue
            real = resolved(target)
            with failure_named(path), staged_file(real) as (handle, tmp_name):
                handle.write(as_bytes(data))
            staged.append((tmp_name, real))
        for target, data in streams:
            with failure_named(target), open(target, "wb") as handle:
                handle.write(as_bytes(data))
        for tmp_name, real in staged:
            with failure_named(real):
                os.replace(tmp_name, real)
    except BaseException:
        for tmp_name, _ in staged:
            remove(tmp_name)
        raise


def as_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


@contextmanager
def failure_named(path):
    """An OSError inside, as the one-line OutputError naming `path`."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
