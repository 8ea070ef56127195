"""Reading CSVs from a path or stdin, and writing files atomically (synthetic data only)."""

import io
import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest

from tsgate.errors import DataError, OutputError
from tsgate.io import check_distinct, check_writable, read_csv, staged_file, write_all, write_atomic

DAILY = "date,value\n2024-01-01,1.5\n2024-01-02,2.5\n2024-01-03,3.5\n"


def write(tmp_path, content, name="in.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def fake_stdin(monkeypatch, raw: bytes):
    class Stdin:
        buffer = io.BytesIO(raw)

    monkeypatch.setattr(sys, "stdin", Stdin())


# ---- sources --------------------------------------------------------------------------


def test_path_and_stdin_give_the_same_frame(tmp_path, monkeypatch):
    from_path = read_csv(write(tmp_path, DAILY))
    fake_stdin(monkeypatch, DAILY.encode())
    from_stdin = read_csv("-")
    assert list(from_stdin.columns) == ["date", "value"]
    assert from_stdin["value"].tolist() == [1.5, 2.5, 3.5]
    assert from_path.equals(from_stdin)


def test_empty_stdin_names_standard_input(monkeypatch):
    fake_stdin(monkeypatch, b"")
    with pytest.raises(DataError, match="standard input is empty"):
        read_csv("-")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found: .*nope.csv"):
        read_csv(str(tmp_path / "nope.csv"))


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        read_csv(str(tmp_path))


@pytest.mark.parametrize("content", ["", "\n", "  \n \n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(DataError, match="is empty"):
        read_csv(write(tmp_path, content))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="header but no data rows"):
        read_csv(write(tmp_path, "date,value\n"))


# ---- encodings ----------------------------------------------------------------------------


def test_utf8_bom_is_dropped(tmp_path):
    frame = read_csv(write(tmp_path, "\ufeff" + DAILY))
    assert list(frame.columns) == ["date", "value"]


def test_utf16_with_bom_is_decoded(tmp_path):
    frame = read_csv(write(tmp_path, DAILY.replace(",", "\t").encode("utf-16")))
    assert list(frame.columns) == ["date", "value"]
    assert frame["value"].tolist() == [1.5, 2.5, 3.5]


def test_latin1_file_suggests_encoding_then_reads_with_it(tmp_path):
    path = write(tmp_path, "date,température\n2024-01-01,1\n2024-01-02,2\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_csv(path)
    message = str(caught.value)
    assert "--encoding" in message and "utf-8" in message and "0xe9" in message
    assert "\n" not in message
    frame = read_csv(path, encoding="latin-1")
    assert list(frame.columns) == ["date", "température"]


def test_unknown_encoding(tmp_path):
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        read_csv(write(tmp_path, DAILY), encoding="klingon")


# Codecs Python has that an ordinary CSV does not decode under: each refusal is one line that names
# the encoding and says how to fix it. A file in utf-8 without a byte-order mark, so that utf-16
# must fail too.
UNUSUAL_CODECS = {
    "punycode": r"cannot be decoded as punycode",  # raises a bare UnicodeError, no byte offset
    "undefined": r"cannot be decoded as undefined",
    "utf-16": r"cannot be decoded as utf-16 \(UTF-16 stream does not start with BOM\)",  # pandas refuses, Python decodes
    "rot13": r"'rot13' is a Python codec but not a text encoding",  # text to text
    "base64": r"'base64' is a Python codec but not a text encoding",  # bytes to bytes
    "hex": r"'hex' is a Python codec but not a text encoding",
    "zlib": r"'zlib' is a Python codec but not a text encoding",
    "utf-8\0": r"unknown encoding 'utf-8\\x00'",  # a NUL in the name: a ValueError from the lookup
}


@pytest.mark.parametrize("encoding", sorted(UNUSUAL_CODECS))
@pytest.mark.parametrize("stdin", [False, True], ids=["path", "stdin"])
def test_an_unusual_codec_is_a_one_line_data_error(tmp_path, monkeypatch, encoding, stdin):
    raw = ("date,value\n" + "".join(f"2024-01-{day:02d},{day}.5\n" for day in range(1, 29))).encode()
    if stdin:
        fake_stdin(monkeypatch, raw)
    with pytest.raises(DataError, match=UNUSUAL_CODECS[encoding]) as caught:
        read_csv("-" if stdin else write(tmp_path, raw), encoding=encoding)
    message = str(caught.value)
    assert "\n" not in message
    assert "--encoding utf-8 or latin-1" in message or "use a Python codec name such as utf-8 or latin-1" in message
    assert "--sep" not in message  # a codec's failure is not the separator's


@pytest.mark.parametrize("encoding", ["utf-8-sig", "idna", "UTF8", "utf_7", "cp1252"])
def test_unusual_but_fitting_codecs_read_an_ascii_file(tmp_path, encoding):
    frame = read_csv(write(tmp_path, DAILY), encoding=encoding)
    assert list(frame.columns) == ["date", "value"] and frame["value"].tolist() == [1.5, 2.5, 3.5]


# ---- separators and numbers --------------------------------------------------------------


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_separator_detected(tmp_path, sep):
    frame = read_csv(write(tmp_path, DAILY.replace(",", sep)))
    assert list(frame.columns) == ["date", "value"]
    assert frame["value"].tolist() == [1.5, 2.5, 3.5]


@pytest.mark.parametrize("given", [";", "\\t"])
def test_explicit_separator(tmp_path, given):
    real = "\t" if given == "\\t" else given
    frame = read_csv(write(tmp_path, DAILY.replace(",", real)), sep=given)
    assert list(frame.columns) == ["date", "value"]


def test_wrong_explicit_separator_gives_one_column(tmp_path):
    frame = read_csv(write(tmp_path, DAILY.replace(",", ";")), sep=",")
    assert list(frame.columns) == ["date;value"]


def test_quoted_thousands_in_a_semicolon_file_are_numbers(tmp_path):
    frame = read_csv(write(tmp_path, 'date;value\n2024-01-01;"1,234.5"\n2024-01-02;"12,000"\n'))
    assert frame["value"].tolist() == [1234.5, 12000.0]


def test_quoted_thousands_in_a_comma_file_survive_reading(tmp_path):
    # The comma is also the separator, so the text stays text here; columns.to_numbers converts it.
    from tsgate.columns import to_numbers

    frame = read_csv(write(tmp_path, 'date,value\n2024-01-01,"1,234.5"\n2024-01-02,"-2,000,000"\n'))
    assert to_numbers(frame["value"], "value").tolist() == [1234.5, -2000000.0]


def test_rows_longer_than_the_header_are_refused(tmp_path):
    # Without index_col=False pandas would silently turn the extra fields into an index.
    with pytest.raises(DataError, match="more fields than its header"):
        read_csv(write(tmp_path, "date,value\n2024-01-01,1,7\n2024-01-02,2,8\n"))


def test_ragged_rows_are_a_parser_error(tmp_path):
    with pytest.raises(DataError, match="not a well-formed comma-separated CSV.*--sep"):
        read_csv(write(tmp_path, "date,value\n2024-01-01,1\n2024-01-02,2,3\n"))


def test_trailing_separator_column_is_dropped(tmp_path):
    frame = read_csv(write(tmp_path, "date,value,\n2024-01-01,1,\n2024-01-02,2,\n"))
    assert list(frame.columns) == ["date", "value"]


def test_crlf_line_endings(tmp_path):
    frame = read_csv(write(tmp_path, DAILY.replace("\n", "\r\n")))
    assert list(frame.columns) == ["date", "value"]
    assert frame["value"].tolist() == [1.5, 2.5, 3.5]


# ---- large files: read straight from the path, by chunks, text as categories ----------------------


def long_rows(n, start=0):
    return "".join(f"s{i % 7},2024-01-{i % 28 + 1:02d},{i}.5\n" for i in range(start, start + n))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 500 rows after a head of 100, so that a few thousand rows take several chunks."""
    import tsgate.io

    monkeypatch.setattr(tsgate.io, "CHUNK_ROWS", 500)
    monkeypatch.setattr(tsgate.io, "HEAD_ROWS", 100)


def test_text_columns_come_back_as_categories(tmp_path, small_chunks):
    frame = read_csv(write(tmp_path, "id,date,value\n" + long_rows(3000)))
    assert [str(t) for t in frame.dtypes] == ["category", "category", "float64"]
    assert len(frame) == 3000 and frame["id"].cat.categories.tolist() == [f"s{k}" for k in range(7)]
    assert frame["id"].astype(str).tolist()[:8] == ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s0"]
    assert frame["value"].iloc[-1] == 2999.5


def test_large_stdin_and_path_give_the_same_frame(tmp_path, monkeypatch, small_chunks):
    text = "id,date,value\n" + long_rows(3000)
    from_path = read_csv(write(tmp_path, text))
    fake_stdin(monkeypatch, text.encode())
    assert read_csv("-").equals(from_path)


def test_chunks_mixing_integers_and_decimals_give_decimals(tmp_path, small_chunks):
    text = "id,count\n" + "".join(f"a,{i}\n" for i in range(1200)) + "a,1.5\na,\n"
    frame = read_csv(write(tmp_path, text))
    assert frame["count"].dtype == "float64" and frame["count"].iloc[1199] == 1199.0
    assert frame["count"].iloc[-2] == 1.5 and frame["count"].isna().tolist()[-1]


def test_a_column_that_turns_to_text_late_is_read_as_one_piece(tmp_path, small_chunks):
    # Numbers in the first chunks, text at the end: the whole column stays text, "007" included.
    text = "id,code,value\n" + "".join(f"{i % 5},{i:03d},{i}\n" for i in range(1200)) + "x,x7,1\n"
    frame = read_csv(write(tmp_path, text))
    assert frame["code"].tolist()[:2] == ["000", "001"] and frame["code"].iloc[-1] == "x7"
    assert frame["id"].tolist()[:2] == ["0", "1"] and frame["id"].iloc[-1] == "x"
    assert frame["value"].dtype == "int64" and len(frame) == 1201


def test_a_text_column_blank_for_a_whole_chunk(tmp_path, small_chunks):
    text = "id,note,value\n" + "".join(f"a,n{i % 3},{i}\n" for i in range(600)) + "".join(f"a,,{i}\n" for i in range(600))
    frame = read_csv(write(tmp_path, text))
    assert isinstance(frame["note"].dtype, pd.CategoricalDtype) and frame["note"].cat.categories.tolist() == ["n0", "n1", "n2"]
    assert frame["note"].isna().sum() == 600 and frame["note"].iloc[599] == "n2"


def test_a_bad_byte_past_the_head_names_its_offset(tmp_path):
    head = "id,date,value\n" + long_rows(5000)  # well past the first 64 KiB
    path = write(tmp_path, (head + "caf\xe9,2024-01-01,1\n").encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read_csv(path)
    message = str(caught.value)
    assert f"byte 0xe9 at offset {len(head) + 3}" in message and "--encoding" in message
    assert read_csv(path, encoding="latin-1")["id"].iloc[-1] == "café"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_large_files_with_a_byte_order_mark(tmp_path, encoding):
    text = "id\tdate\tvalue\n" + long_rows(5000).replace(",", "\t")
    frame = read_csv(write(tmp_path, text.encode(encoding)))
    assert list(frame.columns) == ["id", "date", "value"] and len(frame) == 5000


def test_a_large_file_of_blank_lines_is_empty(tmp_path):
    with pytest.raises(DataError, match="is empty"):
        read_csv(write(tmp_path, " \n" * 50000))


# ---- writing ---------------------------------------------------------------------------------


def test_write_atomic_round_trip_bytes_and_text(tmp_path):
    target = tmp_path / "out.bin"
    write_atomic(target, b"\x00\x01binary")
    assert target.read_bytes() == b"\x00\x01binary"
    write_atomic(target, "tëxt\n")
    assert target.read_text(encoding="utf-8") == "tëxt\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_new_file_gets_umask_permissions(tmp_path):
    target = tmp_path / "out.csv"
    old = os.umask(0o022)
    try:
        write_atomic(target, "a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.tsgate"
    target.write_bytes(b"previous model")
    with pytest.raises(RuntimeError, match="boom"):
        with staged_file(target) as (handle, _):
            handle.write(b"half a new mod")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.tsgate"]


def test_interrupt_mid_write_leaves_no_file(tmp_path):
    target = tmp_path / "new.csv"
    with pytest.raises(KeyboardInterrupt):
        with staged_file(target, "w") as (handle, _):
            handle.write("partial")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_beside_the_target_until_the_rename(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    real_replace = os.replace

    def replace(source, destination):
        assert not target.exists()
        assert [p.parent for p in tmp_path.iterdir()] == [tmp_path]  # the temporary file, same folder
        assert Path(source).read_text() == "x"
        real_replace(source, destination)

    monkeypatch.setattr("tsgate.io.os.replace", replace)
    write_atomic(target, "x")
    assert target.read_text() == "x"


def test_check_writable_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "no" / "such" / "out.csv")


def test_check_writable_target_is_a_folder(tmp_path):
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path)


def test_check_writable_bare_name_uses_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_writable("out.csv").name == "out.csv"


def test_write_atomic_into_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError):
        write_atomic(tmp_path / "missing" / "out.csv", "x")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write into read-only folders")
def test_check_writable_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            check_writable(folder / "out.csv")
    finally:
        folder.chmod(0o700)


def test_check_writable_refuses_when_access_says_no(tmp_path, monkeypatch):
    # The read-only case again, in a way that also runs as root (where the folder test is skipped).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="not writable"):
        check_writable(tmp_path / "out.csv")


def test_check_writable_creates_a_file_rather_than_asking(tmp_path, monkeypatch):
    """os.access says yes to root everywhere (/proc too): the check makes and removes a real file."""
    import errno
    import tempfile

    made = []
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: made.append(k) or real_mkstemp(*a, **k))
    check_writable(tmp_path / "out.csv")
    assert made and made[0]["dir"] == Path(os.path.realpath(tmp_path)) and list(tmp_path.iterdir()) == []  # made where the write goes, removed

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"cannot write .*out\.csv: folder .* is not writable \(Read-only file system\)"):
        check_writable(tmp_path / "out.csv")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="a Linux /proc")
def test_check_writable_refuses_proc_even_for_root():
    with pytest.raises(OutputError, match=r"cannot write /proc/x\.png: folder /proc is not writable"):
        check_writable("/proc/x.png")


def failing_on_call(number: int, exception=OSError):
    """An os.fsync that fails on its `number`th call (1-based): a disk that fills up part way."""
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == number:
            raise exception(28, "No space left on device")
        return real_fsync(fd)

    return fsync


def test_write_all_writes_every_file_or_none(tmp_path, monkeypatch):
    import tsgate.io

    model, picture = tmp_path / "model.tsgate", tmp_path / "picture.png"
    model.write_bytes(b"previous model")
    monkeypatch.setattr(tsgate.io.os, "fsync", failing_on_call(2))  # the picture's write fails
    with pytest.raises(OutputError, match=r"picture\.png: No space left on device"):
        write_all([(model, b"new model"), (picture, b"new picture")])
    assert model.read_bytes() == b"previous model" and sorted(p.name for p in tmp_path.iterdir()) == ["model.tsgate"]
    monkeypatch.undo()
    write_all([(model, b"new model"), (picture, "new picture")])
    assert model.read_bytes() == b"new model" and picture.read_text() == "new picture"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="a /dev/full device")
def test_a_full_device_is_an_output_error_and_the_other_files_are_not_written(tmp_path):
    full = tmp_path / "full"
    full.symlink_to("/dev/full")  # through a link here, so that no test can ever replace /dev/full itself
    with pytest.raises(OutputError, match=r"cannot write .*full: No space left on device"):
        write_all([(tmp_path / "rows.csv", "a\n"), (full, "b\n")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"] and full.is_symlink()


def test_write_atomic_writes_into_a_named_pipe(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting, as `cat pipe` would be
    try:
        write_atomic(pipe, "rows\n")
        assert os.read(reader, 100) == b"rows\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode), "the pipe was replaced by a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_write_atomic_into_a_device_keeps_the_device(tmp_path):
    null = tmp_path / "null"
    null.symlink_to(os.devnull)
    write_atomic(null, b"discarded")
    write_atomic(null, "discarded")
    assert null.is_symlink() and stat.S_ISCHR(os.stat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_write_atomic_through_a_symbolic_link_keeps_the_link(tmp_path):
    real, link = tmp_path / "real.csv", tmp_path / "link.csv"
    real.write_text("old\n")
    link.symlink_to(real.name)
    write_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def test_check_writable_refuses_a_folder_reached_through_a_link(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to("folder")
    with pytest.raises(OutputError, match="is a folder"):
        check_writable(tmp_path / "link")


# ---- an output that is an input ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["same name", "symbolic link", "hard link", "relative name"])
def test_check_distinct_refuses_an_output_that_is_an_input(tmp_path, monkeypatch, how):
    data = tmp_path / "data.csv"
    data.write_text(DAILY)
    output = tmp_path / "out.csv"
    if how == "same name":
        output = data
    elif how == "symbolic link":
        output.symlink_to(data)
    elif how == "hard link":
        os.link(data, output)
    else:
        monkeypatch.chdir(tmp_path)
        output = "./data.csv"
    with pytest.raises(OutputError) as caught:
        check_distinct([("-o", output)], [("MODEL", tmp_path / "m.tsgate"), ("DATA", data)])
    assert str(caught.value) == (f"-o {output} is the same file as DATA {data}: writing it would destroy the input; "
                                 "give -o another path")


def test_check_distinct_lets_stdin_devices_and_other_files_pass(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text(DAILY)
    null = tmp_path / "null"
    null.symlink_to(os.devnull)
    check_distinct([("-o", "/dev/stdout"), ("--plot", None)], [("DATA", "-")])  # stdin is no file
    check_distinct([("-o", null)], [("DATA", null)])  # writing into a device destroys nothing
    check_distinct([("-o", tmp_path / "new.csv"), ("--plot", tmp_path / "new.png")], [("DATA", data), ("DATA", None)])


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_check_distinct_refuses_two_outputs_that_are_one_file(tmp_path, existing):
    model = tmp_path / "x.png"
    if existing:
        model.write_bytes(b"old")
        (tmp_path / "link.png").symlink_to(model)
    other = tmp_path / ("link.png" if existing else "x.png")
    with pytest.raises(OutputError) as caught:
        check_distinct([("-o", model), ("--plot", other)], [])
    assert str(caught.value) == f"--plot {other} is the same file as -o {model}: one would overwrite the other; give --plot another path"
