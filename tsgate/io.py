"""Bytes in and out: read a CSV from a path or "-" (stdin), write files atomically.

Nothing here knows about time series; `data.py` validates what this reads.
"""

from __future__ import annotations

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


def read_source_bytes(source: str) -> bytes:
    """The raw bytes of a path, or of stdin when source is "-"."""
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    if not path.exists():
        raise DataError(f"file not found: {source}")
    if path.is_dir():
        raise DataError(f"{source} is a folder, not a CSV file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {source}: {exc.strerror or exc}") from exc


def decode_text(raw: bytes, encoding: str, source: str) -> str:
    """Decode bytes, dropping a UTF-8 byte-order mark; say how to fix a wrong encoding."""
    codec = encoding
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        # Spreadsheets save "Unicode text" as UTF-16 with a BOM; the BOM says so unambiguously.
        codec = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"  # -sig drops a UTF-8 BOM
    try:
        return raw.decode(codec)
    except LookupError as exc:
        raise DataError(f"unknown encoding {encoding!r}: use a Python codec name such as utf-8 or latin-1") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{display_name(source)} is not valid {encoding} (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "pass --encoding with the file's encoding, e.g. --encoding latin-1"
        ) from exc


def sniff_separator(text: str) -> str:
    """The separator that splits the header line into the most fields."""
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def read_csv(source: str, sep: str | None = None, encoding: str = "utf-8"):
    """Read a CSV (path or "-") into a DataFrame of strings and numbers, unvalidated."""
    import io

    import pandas as pd

    raw = read_source_bytes(source)
    text = decode_text(raw, encoding, source)
    if not text.strip():
        raise DataError(f"{display_name(source)} is empty: expected a header row and data rows")
    sep = sep if sep else sniff_separator(text)
    if sep == "\\t":
        sep = "\t"
    try:
        with warnings.catch_warnings():
            # index_col=False: rows longer than the header are an error, not silently an index.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                thousands="," if sep != "," else None,
                skipinitialspace=True,
                index_col=False,
                low_memory=False,  # one dtype per column, and no DtypeWarning on stderr
            )
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
    except ValueError as exc:  # pandas refuses the separator itself, e.g. a line break
        raise DataError(f"cannot read {display_name(source)} with --sep {sep!r} ({first_line(exc)}): pass one character such as , ; | or \\t") from exc
    if frame.empty:
        raise DataError(f"{display_name(source)} has a header but no data rows")
    # A separator at the end of every line makes a nameless, empty last column: drop it.
    blank = [c for c in frame.columns if str(c).startswith("Unnamed: ") and frame[c].isna().all()]
    return frame.drop(columns=blank)


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
