"""Bad input, systematically: every command that reads data either succeeds or exits 2 with one line.

Two halves:

- Property-based (Hypothesis): generated CSV bytes (headers with duplicates, blanks and
  unicode; numbers, words, blanks, inf, nan, huge values, dates in several formats, quoted
  cells with separators; , ; tab | separators; other encodings, a BOM, raw byte damage)
  and generated option values, through `train`, `forecast` and `compare`. The contract:
  exit 0, or exit 2 with exactly one line on stderr starting "Error: "; never a traceback,
  never exit 1, and a failed run writes no output file.
- Explicit cases: each known bad input (and tricky valid one), parametrized over every
  command that reads data, so that each bad input has a test on each command.

Runs are derandomized (same examples every run) so CI is reproducible; set
TSGATE_HYPOTHESIS_RANDOM=1 (and TSGATE_HYPOTHESIS_EXAMPLES=500, TSGATE_HYPOTHESIS_SHRINK=1)
locally to explore.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, synthetic_long, synthetic_sine
from helpers.cli import assert_one_line_error, describe, invoke, temp_files
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

EXAMPLES = int(os.environ.get("TSGATE_HYPOTHESIS_EXAMPLES", "50"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("TSGATE_HYPOTHESIS_RANDOM"),
    database=None,  # nothing written to .hypothesis/; derandomized runs need no replay store
    print_blob=True,
    # CI reports the first failing example as found; set TSGATE_HYPOTHESIS_SHRINK=1 to minimise it.
    phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("TSGATE_HYPOTHESIS_SHRINK")],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)
RAW_PROFILE = settings(PROFILE, max_examples=max(10, EXAMPLES * 3 // 5))


# ---- checking the contract ----------------------------------------------------------------------


def check_contract(outcome, outputs=(), folder: Path | None = None, must_write=()) -> None:
    """Exit 0, or exit 2 with one 'Error: ' line; never exit 1 or a traceback; failures write nothing."""
    where = describe(outcome)
    if currently_in_test_context():  # --hypothesis-show-statistics shows how often each command succeeds
        event(f"exit {outcome.exit_code}")
    assert outcome.exit_code in (0, 2), where
    assert "Traceback" not in outcome.stderr and "Traceback" not in outcome.stdout, where
    if outcome.exit_code == 2:
        assert_one_line_error(outcome, 2)
        for path in outputs:
            path = Path(path)
            assert not path.exists() or (path.is_dir() and not any(path.iterdir())), f"{path} was written\n{where}"
    else:
        for path in must_write:
            assert Path(path).is_file(), f"{path} missing after success\n{where}"
    if folder is not None:
        assert not temp_files(folder), f"temporary files left: {temp_files(folder)}\n{where}"


def check_error(outcome, pattern: str | None = None, outputs=(), folder=None) -> None:
    """Exactly the bad-input contract: exit 2, one line starting 'Error: ', the message matching `pattern`."""
    assert_one_line_error(outcome, 2, pattern)
    check_contract(outcome, outputs, folder)


# ---- a folder and a panel model, once per module ------------------------------------------------


def sine_frame(n=80, **kwargs) -> pd.DataFrame:
    return synthetic_sine(n=n, **kwargs)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties")


@pytest.fixture(scope="module")
def long_model(workdir) -> Path:
    """A small valid model on daily synthetic long data 'store,date,sales' (ids a, b, c)."""
    data = workdir / "train_long.csv"
    synthetic_long(n=60).to_csv(data, index=False)
    path = workdir / "long.tsgate"
    outcome = invoke("train", data, "-o", path, "--id-col", "store", *TINY)
    assert outcome.exit_code == 0, describe(outcome)
    return path


# ---- strategies: CSV bytes ---------------------------------------------------------------------

SEPARATORS = [",", ";", "\t", "|"]
HEADER_POOL = ["timestamp", "date", "time", "load", "value", "sales", "store", "id", "", " ", "Unnamed: 0",
               "temp °C", "温度", "ünïcödé", "a,b", 'say "hi"', "a;b", "1", "nan", "load.1", "timestamp", "load"]
header_names = st.one_of(st.sampled_from(HEADER_POOL), st.text(max_size=6))
VALUE_CELLS = ["", " ", "nan", "NaN", "NA", "null", "None", "N/A", "inf", "-inf", "Infinity", "1e300", "-1e39",
               "3.5e38", "1e-320", "abc", "true", "FALSE", "1,234.5", "1.234,5", "0x1F", "1_000", "１２３",
               "٣", "−5", "+7", "9" * 400, '"', "12:30", "2024-01-01", "1e", "--1", ".", "0", "-0"]
TIME_CELLS = ["", " ", "not a date", "2024-02-30", "0000-00-00", "2024-13-01", "24:00", "1e300", "inf", "nan",
              "NaT", "9999-12-31", "1677-09-21", "2262-04-12", "2024-01-01T00:00:00+25:00", "today", "0",
              "-1", "2024-W01", "2024-01-01 00:00:00 Europe/Berlin"]
STAMP_STYLES = ["iso", "date", "space", "dmy", "mdy_time", "compact", "epoch", "text", "z", "iso_t"]


def format_stamp(stamp: pd.Timestamp, style: str) -> str:
    if style == "iso":
        return stamp.isoformat()
    if style == "date":
        return stamp.strftime("%Y-%m-%d")
    if style == "space":
        return stamp.strftime("%Y-%m-%d %H:%M")
    if style == "dmy":
        return stamp.strftime("%d/%m/%Y")
    if style == "mdy_time":
        return stamp.strftime("%m/%d/%Y %H:%M")
    if style == "compact":
        return stamp.strftime("%Y%m%d")
    if style == "epoch":
        return str(int(stamp.timestamp()))
    if style == "text":
        return stamp.strftime("%b %d %Y %H:%M")
    if style == "z":
        return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).strftime("%Y-%m-%dT%H:%M:%SZ")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S%z")


def format_value(value: float, style: str) -> str:
    if style == "repr":
        return repr(float(value))
    if style == "fixed":
        return f"{value:.2f}"
    if style == "sci":
        return f"{value:.3e}"
    if style == "thousands":
        return f"{value * 1000:,.1f}"
    return str(int(round(value)))


CLEAN_STYLES = ["iso", "space", "z", "iso_t", "mdy_time"]  # keep the time of day: valid for every frequency


@st.composite
def csv_bytes(draw, wild: bool, time_names=("timestamp", "date", "time"), value_names=("load", "value"),
              freqs=("h", "D", "MS", "15min", "W-SUN")) -> bytes:
    """A table of series, rendered as CSV and encoded.

    Tame (wild=False): valid data written every way a real file is (separators, quoting, line
    ends, BOM or UTF-16, date styles, time zones, row order), so the success path gets exercised.
    Wild: any header names (duplicates, blanks, unicode), damaged cells, several ids, duplicated
    and ragged rows, other encodings, raw byte damage."""
    n = draw(st.integers(0, 40)) if wild else draw(st.integers(20, 40))
    freq = draw(st.sampled_from(freqs))
    tz = draw(st.sampled_from([None, None, None, "UTC", "Europe/Berlin", "America/St_Johns"]))
    stamps = pd.date_range("2024-03-28", periods=n, freq=freq, tz=tz)
    style = draw(st.sampled_from(STAMP_STYLES if wild else CLEAN_STYLES))
    n_ids = draw(st.sampled_from([0, 0, 0, 1, 2, 3])) if wild else 0
    n_values = draw(st.sampled_from([1, 1, 1, 2, 3])) if wild else 1

    def name(usual):  # wild: mostly a usual name, sometimes anything
        if not wild or draw(st.sampled_from([True, True, True, False])):
            return draw(st.sampled_from(usual))
        return draw(header_names)

    time_name = name(time_names)
    id_name = name(["store", "id"]) if n_ids else None
    value_names_drawn = [name(value_names) for _ in range(n_values)]
    value_style = draw(st.sampled_from(["repr", "fixed", "sci", "thousands", "int"]))

    rows = []
    for key in (["a", "b", "ü"][:n_ids] or [None]):
        phase = draw(st.integers(0, 40)) / 7  # no float strategy: training sets flush-to-zero process-wide
        for i, stamp in enumerate(stamps):
            cells = {"time": format_stamp(stamp, style)}
            if key is not None:
                cells["id"] = key
            for c in range(n_values):
                cells[f"v{c}"] = format_value(10 + 3 * np.sin(i / 3 + phase) + c, value_style)
            rows.append(cells)
    if draw(st.booleans()) and rows:
        rows = draw(st.permutations(rows))
    if wild:
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):  # damaged cells
            if not rows:
                break
            row = draw(st.integers(0, len(rows) - 1))
            column = draw(st.sampled_from(list(rows[row])))
            pool = TIME_CELLS if column == "time" else VALUE_CELLS
            rows[row][column] = draw(st.one_of(st.sampled_from(pool), st.text(max_size=5)))
        if rows and draw(st.sampled_from([False] * 9 + [True])):  # a duplicated row
            rows.insert(draw(st.integers(0, len(rows))), dict(rows[draw(st.integers(0, len(rows) - 1))]))

    keys = ["time"] + (["id"] if n_ids else []) + [f"v{c}" for c in range(n_values)]
    names = {"time": time_name, "id": id_name, **{f"v{c}": value_names_drawn[c] for c in range(n_values)}}
    order = draw(st.permutations(keys))
    sep = draw(st.sampled_from(SEPARATORS))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow([names[k] for k in order])
    trailing = draw(st.sampled_from([False] * 9 + [True]))  # a separator at the end of every line
    for cells in rows:
        line = [cells.get(k, "") for k in order]
        if wild and draw(st.sampled_from([False] * 19 + [True])):  # a ragged row
            line = line[:-1] if draw(st.booleans()) else line + ["extra"]
        writer.writerow(line + ([""] if trailing else []))
    text = buffer.getvalue()
    if draw(st.sampled_from([False] * 9 + [True])):
        text += draw(st.sampled_from(["\n\n", "\r\n"] + (["# comment\n", sep * len(keys) + "\n", "\x00"] if wild else [])))

    encodings = ["utf-8"] * 6 + ["utf-8-sig", "utf-16"] + (["latin-1", "cp1252"] if wild else [])
    raw = text.encode(draw(st.sampled_from(encodings)), errors="replace")
    damage = draw(st.sampled_from(["none"] * 6 + ["insert", "truncate", "replace"])) if wild else "none"
    if damage != "none" and raw:
        at = draw(st.integers(0, len(raw)))
        if damage == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
        elif damage == "truncate":
            raw = raw[:at]
        else:
            raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf", b"\r", b'"'])) + raw[at + 1:]
    return raw


@st.composite
def raw_csv_bytes(draw) -> bytes:
    """Anything: random bytes, or random cells joined by a random separator."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    sep = draw(st.sampled_from(SEPARATORS))
    cell = st.one_of(st.sampled_from(VALUE_CELLS + TIME_CELLS + HEADER_POOL), st.text(max_size=8),
                     st.floats(allow_subnormal=False).map(repr), st.integers(-10**20, 10**20).map(str))
    lines = draw(st.lists(st.lists(cell, min_size=1, max_size=4), max_size=25))
    text = "\n".join(sep.join(line) for line in lines)
    prefix = draw(st.sampled_from(["", "", "\ufeff", "timestamp,load\n", "date;value\n"]))
    return (prefix + text).encode(draw(st.sampled_from(["utf-8", "latin-1", "utf-16"])), errors="replace")


# ---- strategies: options ----------------------------------------------------------------------

def option(draw, wild: bool, name: str, valid, invalid=(), absent=3) -> list[str]:
    """`name VALUE`, or nothing. Tame: absent or valid. Wild: about one option in 20 gets an
    invalid value, so that most wild examples still get past option checking into the data."""
    if wild and invalid and draw(st.sampled_from([False] * 19 + [True])):  # (Hypothesis favours the first entry)
        value = draw(st.sampled_from(list(invalid)))
    else:
        value = draw(st.sampled_from([None] * absent + list(valid)))
    return [] if value is None else [name, str(value)]


@st.composite
def data_options(draw, wild: bool, with_columns=True) -> list[str]:
    args = option(draw, wild, "--fill", ["ffill", "interpolate", "zero"], ["bogus", ""], absent=4)
    if not wild:  # the tame data needs no help: --freq, --sep, --encoding and column names are left to detection
        return args
    args += option(draw, wild, "--freq", ["h", "D", "MS", "W", "15min", "min", "2QS"], ["garbage", "", "0h", "-1D", "h h", "ü", "ns"], absent=12)
    args += option(draw, wild, "--sep", [",", ";", "\\t", "|"], ["ab", "", "\n", "\r", '"'], absent=12)
    args += option(draw, wild, "--encoding", ["utf-8", "latin-1", "utf-16", "ascii", "cp1252"], ["bogus-codec", ""], absent=12)
    if with_columns:
        args += option(draw, wild, "--target", ["load", "value", "load,value"], ["nope", "timestamp", "", "store", ",", "load,load"], absent=6)
        args += option(draw, wild, "--id-col", ["store", "id"], ["nope", "timestamp", "load", ""], absent=8)
        args += option(draw, wild, "--time-col", ["timestamp", "date", "time"], ["nope", "load", "store", ""], absent=8)
    return args


@st.composite
def training_options(draw, wild: bool, with_model=True) -> list[str]:
    args = ["--hidden", "4", "--quiet"]
    args += option(draw, wild, "--lookback", [1, 2, 3, 4, 6], [-1, 0, 60, 10**9], absent=0)
    args += option(draw, wild, "--horizon", [1, 1, 2, 3], [-1, 0, 10**9], absent=0)
    args += option(draw, wild, "--epochs", [1, 1, 1, 2], [-1, 0], absent=0)
    if with_model:
        args += option(draw, wild, "--model", ["rnn", "gru", "lstm"], ["transformer", ""])
    args += option(draw, wild, "--layers", [1, 2], [0, -3], absent=6)
    args += option(draw, wild, "--dropout", [0.0, 0.5], [1.0, -0.1, "nan"], absent=6)
    args += option(draw, wild, "--batch-size", [1, 7, 64], [0, -1], absent=6)
    args += option(draw, wild, "--val-fraction", [0.1, 0.5, 0.9], [0.0, 1.0, -1, "nan"], absent=6)
    args += option(draw, wild, "--scaler", ["standard", "minmax", "robust", "none"], ["bogus"])
    args += option(draw, wild, "--patience", [0, 3], [-1], absent=6)
    args += option(draw, wild, "--lr", [1e-9, 0.01, 10.0], [0, -1, "nan", "inf", "x"], absent=8)
    args += option(draw, wild, "--seed", [0, 1, 2**31], [-1, 2**70], absent=8)
    args += option(draw, wild, "--threads", [1], [0, -1], absent=8)
    args += option(draw, wild, "--device", ["cpu", "auto"], ["tpu", "cuda"], absent=8)
    return args + draw(data_options(wild))


@st.composite
def compare_options(draw, wild: bool) -> list[str]:
    args = draw(training_options(wild, with_model=False))
    models = ["rnn"] * 6 + ["rnn,gru", "gru, rnn"] + (["", "bogus", "rnn,rnn", ",", "rnn,,"] if wild else [])
    args += ["--models", draw(st.sampled_from(models))]
    args += option(draw, wild, "--folds", [1, 2], [-1, 0, 30], absent=4)
    args += option(draw, wild, "--seeds", [1, 2], [0, -1], absent=4)
    args += option(draw, wild, "--season", [1, 2, 3], [-1, 0, 1000], absent=4)
    args += option(draw, wild, "--format", ["csv", "json", "markdown", "table", "auto"], ["xml"], absent=2)
    return args


def data_source(draw_stdin: bool, raw: bytes, folder: Path) -> tuple[str, bytes | None]:
    if draw_stdin:
        return "-", raw
    path = folder / "data.csv"
    path.write_bytes(raw)
    return str(path), None


def fresh_folder(base: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=base))


# ---- property-based tests ---------------------------------------------------------------------


@PROFILE
@given(wild=st.booleans(), data=st.data(), stdin=st.booleans())
def test_train_succeeds_or_fails_cleanly(workdir, wild, data, stdin):
    raw = data.draw(csv_bytes(wild), label="csv")
    options = data.draw(training_options(wild), label="options")
    folder = fresh_folder(workdir)
    source, input = data_source(stdin, raw, folder)
    out = folder / "out.tsgate"
    outcome = invoke("train", source, "-o", out, *options, input=input)
    check_contract(outcome, outputs=[out], folder=folder, must_write=[out])


@PROFILE
@given(wild=st.booleans(), data=st.data(), stdin=st.booleans(), to_file=st.booleans(),
       fmt=st.sampled_from([None, "csv", "json", "markdown", "table"]))
def test_forecast_succeeds_or_fails_cleanly(workdir, tiny_model, wild, data, stdin, to_file, fmt):
    # Mostly hourly 'timestamp,load' data, the layout tiny_model was trained on.
    raw = data.draw(csv_bytes(wild, time_names=("timestamp",), value_names=("load",), freqs=("h", "h", "h", "D", "MS")), label="csv")
    options = data.draw(data_options(wild, with_columns=False), label="options")
    folder = fresh_folder(workdir)
    source, input = data_source(stdin, raw, folder)
    out = folder / "forecast.csv"
    args = [*options, *(["--format", fmt] if fmt else []), *(["-o", out] if to_file else [])]
    outcome = invoke("forecast", tiny_model, source, *args, input=input)
    check_contract(outcome, outputs=[out], folder=folder, must_write=[out] if to_file else [])
    if outcome.exit_code == 0 and not to_file:
        assert outcome.stdout.strip(), describe(outcome)


@PROFILE
@given(wild=st.booleans(), data=st.data(), stdin=st.booleans(), save=st.booleans())
def test_compare_succeeds_or_fails_cleanly(workdir, wild, data, stdin, save):
    raw = data.draw(csv_bytes(wild), label="csv")
    options = data.draw(compare_options(wild), label="options")
    folder = fresh_folder(workdir)
    source, input = data_source(stdin, raw, folder)
    out, saved = folder / "comparison.csv", folder / "models"
    args = [*options, "-o", out, *(["--save-dir", saved] if save else [])]
    outcome = invoke("compare", source, *args, input=input)
    check_contract(outcome, outputs=[out, saved], folder=folder, must_write=[out])


@pytest.mark.parametrize("command", ["train", "forecast", "compare"])
@RAW_PROFILE
@given(raw=raw_csv_bytes(), stdin=st.booleans())
def test_arbitrary_bytes_never_crash(workdir, tiny_model, command, raw, stdin):
    folder = fresh_folder(workdir)
    data, input = data_source(stdin, raw, folder)
    out = folder / ("out.tsgate" if command == "train" else "out.csv")
    if command == "train":
        args = ["train", data, "-o", out, *TINY]
    elif command == "forecast":
        args = ["forecast", tiny_model, data, "-o", out]
    else:
        args = ["compare", data, "--models", "rnn", *TINY, "-o", out]
    check_contract(invoke(*args, input=input), outputs=[out], folder=folder)


# ---- explicit bad inputs, on each command that reads data --------------------------------------


def csv_text(frame: pd.DataFrame, sep=",") -> str:
    return frame.to_csv(index=False, sep=sep)


def with_cell(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    """`frame` with data row `row` (1-based, as messages count) of `column` set to `value`."""
    frame = frame.astype({column: object})
    frame.loc[row - 1, column] = value
    return frame


def sine_text(n=80, **kwargs) -> str:
    return csv_text(sine_frame(n, **kwargs))


def thousands_text() -> str:
    frame = sine_frame(80)
    cells = [f'"{1000 * v:,.1f}"' for v in frame["load"]]
    return "timestamp,load\n" + "".join(f"{t.isoformat()},{c}\n" for t, c in zip(frame["timestamp"], cells))


def tz_text(offset="+00:00") -> str:
    frame = sine_frame(80)
    return "timestamp,load\n" + "".join(f"{t.isoformat()}{offset},{v}\n" for t, v in zip(frame["timestamp"], frame["load"]))


def mixed_offsets_text() -> str:
    """Hourly across the spring DST change in Berlin: offsets +01:00, then +02:00."""
    stamps = pd.date_range("2024-03-29", periods=80, freq="h", tz="Europe/Berlin")
    values = sine_frame(80)["load"]
    return "timestamp,load\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in zip(stamps, values))


def latin1_bytes() -> bytes:
    frame = sine_frame(80)
    frame["ville"] = "Zürich"
    return csv_text(frame).encode("latin-1")


def long_text(single_point_id=False) -> str:
    frame = synthetic_long(n=60)
    if single_point_id:
        frame = pd.concat([frame, pd.DataFrame({"store": ["d"], "date": [frame["date"].iloc[0]], "sales": [3.0]})],
                          ignore_index=True)
    return csv_text(frame)


@dataclass
class Case:
    """One bad (or tricky but valid) input file, with what each command must say about it."""

    name: str
    content: bytes | str | None  # None: the file does not exist
    pattern: dict  # command -> regex the one-line error matches; "*" for every command; None: success
    extra: dict = field(default_factory=dict)  # command -> extra options; "*" for every command
    layout: str = "plain"  # which model forecast uses: "plain" (timestamp, load) or "long" (store, date, sales)
    commands: tuple = ("train", "compare", "forecast")

    def expect(self, command):
        return self.pattern.get(command, self.pattern.get("*"))

    def options(self, command):
        return list(self.extra.get(command, self.extra.get("*", [])))


OK = None  # the input is valid: the command succeeds
LONG = {"train": ["--id-col", "store"], "compare": ["--id-col", "store"]}

CASES = [
    Case("missing_file", None, {"*": r"file not found"}),
    Case("folder_as_data", "FOLDER", {"*": r"is a folder"}),
    Case("empty_file", "", {"*": r"is empty"}),
    Case("blank_lines_only", "\n\n  \n", {"*": r"is empty"}),
    Case("header_only", "timestamp,load\n", {"*": r"no data rows"}),
    Case("no_numeric_column", csv_text(sine_frame().assign(load=lambda f: np.where(f.index % 2, "high", "low"))),
         {"train": r"no numeric column", "compare": r"no numeric column", "forecast": r"non-numeric value 'low' at data row 1"}),
    Case("unknown_column", csv_text(sine_frame().rename(columns={"load": "temperature"})),
         {"*": r"unknown column 'load'.*columns present: timestamp, temperature"},
         extra={"train": ["--target", "load"], "compare": ["--target", "load"]}),
    Case("non_numeric_value", csv_text(with_cell(sine_frame(), 7, "load", "abc")), {"*": r"non-numeric value 'abc' at data row 7"}),
    Case("missing_values", csv_text(with_cell(with_cell(sine_frame(), 5, "load", None), 9, "load", None)),
         {"*": r"2 missing value\(s\) \(first at data row 5"}),
    Case("duplicated_timestamps", csv_text(with_cell(sine_frame(), 10, "timestamp", sine_frame()["timestamp"][8])),
         {"*": r"twice \(data rows 9 and 10\)"}),
    Case("unparseable_timestamp", csv_text(with_cell(sine_frame(), 6, "timestamp", "not-a-date")),
         {"*": r"unparseable timestamp 'not-a-date' at data row 6"}),
    Case("series_too_short", sine_text(8),
         {"train": r"has 8 points but lookback 12 \+ horizon 4 \+ validation 4 need at least 20",
          "compare": r"leave the series 4 points before its first origin",
          "forecast": r"has 8 points, fewer than the model's lookback 12"}),
    Case("shorter_than_lookback_plus_horizon_plus_validation", sine_text(19),
         {"train": r"has 19 points .* need at least 20", "compare": r"--folds 1 leave the series 15 points", "forecast": OK}),
    Case("constant_series", csv_text(sine_frame().assign(load=5.0)),
         {"train": r"constant", "compare": r"constant", "forecast": OK}),  # forecast uses the model's scaler
    Case("latin1_file", latin1_bytes(), {"*": r"not valid utf-8.*--encoding"}),
    Case("latin1_file_with_encoding", latin1_bytes(), {"*": OK}, extra={"*": ["--encoding", "latin-1"]}),
    Case("utf8_bom", sine_text().encode("utf-8-sig"), {"*": OK}),
    Case("utf16_bom", sine_text().encode("utf-16"), {"*": OK}),
    Case("semicolon_separated", csv_text(sine_frame(), sep=";"), {"*": OK}),
    Case("tab_separated", csv_text(sine_frame(), sep="\t"), {"*": OK}),
    Case("pipe_separated", csv_text(sine_frame(), sep="|"), {"*": OK}),
    Case("quoted_thousands", thousands_text(), {"*": OK}),
    Case("timezone_aware", tz_text("+00:00"), {"*": OK}),
    Case("timezone_aware_z", tz_text("Z"), {"*": OK}),
    Case("mixed_offsets", mixed_offsets_text(), {"*": OK}),
    Case("inf_value", csv_text(with_cell(sine_frame(), 11, "load", "inf")), {"*": r"'load' has the value inf at data row 11"}),
    Case("minus_inf_value", csv_text(with_cell(sine_frame(), 3, "load", "-inf")), {"*": r"-inf at data row 3"}),
    Case("beyond_float32", csv_text(with_cell(sine_frame(), 12, "load", "1e300")), {"*": r"at data row 12, beyond float32"}),
    Case("just_beyond_float32", csv_text(with_cell(sine_frame(), 12, "load", "-3.5e38")), {"*": r"at data row 12, beyond float32"}),
    Case("all_missing_column", csv_text(sine_frame().assign(load=np.nan)),
         {"train": r"no numeric column|no values", "compare": r"no numeric column|no values", "forecast": r"no values"}),
    Case("all_missing_target", csv_text(sine_frame().assign(load=np.nan)), {"*": r"no values"},
         extra={"train": ["--target", "load"], "compare": ["--target", "load"]}),
    Case("id_with_single_point", long_text(single_point_id=True), {"*": r"series 'd' has only 1 point"},
         extra={name: [*args, "--strict"] for name, args in {**LONG, "forecast": []}.items()}, layout="long"),
    Case("id_cell_missing", csv_text(with_cell(synthetic_long(n=60), 4, "store", None)), {"*": r"id column 'store' is empty at data row 4"},
         extra=LONG, layout="long"),
    Case("lookback_larger_than_series", sine_text(80),
         {"train": r"lookback 500", "compare": r"lookback"}, extra={"*": ["--lookback", "500"]},
         commands=("train", "compare")),
    Case("negative_horizon", sine_text(80), {"*": r"--horizon must be at least 1"}, extra={"*": ["--horizon", "-1"]},
         commands=("train", "compare")),
    Case("zero_epochs", sine_text(80), {"*": r"--epochs must be at least 1"}, extra={"*": ["--epochs", "0"]},
         commands=("train", "compare")),
    Case("folds_leave_no_training_data", sine_text(80), {"compare": r"--folds 30 leave the series 0 points"},
         extra={"compare": ["--folds", "30"]}, commands=("compare",)),
    Case("season_longer_than_series", sine_text(80), {"compare": r"--season 1000"},
         extra={"compare": ["--season", "1000"]}, commands=("compare",)),
    Case("unknown_freq", sine_text(80), {"*": r"unknown frequency 'bogus'"}, extra={"*": ["--freq", "bogus"]}),
    Case("freq_too_fine", sine_text(80), {"*": r"too fine"}, extra={"*": ["--freq", "ns"]}),
    Case("bad_fill_choice", sine_text(80), {"*": r"--fill"}, extra={"*": ["--fill", "bogus"]}),
    Case("unknown_encoding", sine_text(80), {"*": r"unknown encoding 'bogus-codec'"}, extra={"*": ["--encoding", "bogus-codec"]}),
    Case("line_break_as_separator", sine_text(80), {"*": r"--sep"}, extra={"*": ["--sep", "\n"]}),
    Case("numeric_timestamps", "timestamp,load\n" + "".join(f"{1711584000 + 3600 * i},{10 + np.sin(i)}\n" for i in range(80)),
         {"*": r"unparseable timestamp '1711584000' at data row 1"}),  # the cell as written, not np.int64(...)
    Case("ragged_rows", sine_text(80) + "2024-01-04T08:00:00,1.0,2.0,3.0\n", {"*": r"more fields than its header|well-formed"}),
]

PARAMS = [pytest.param(case, command, id=f"{case.name}-{command}") for case in CASES for command in case.commands]


def run_case(case: Case, command: str, folder: Path, tiny_model: Path, long_model: Path):
    """Write the case's file and run `command` on it; returns (outcome, outputs that must not appear)."""
    data = folder / "data.csv"
    if case.content == "FOLDER":
        data.mkdir()
    elif case.content is not None:
        data.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode("utf-8"))
    extra = case.options(command)
    if command == "train":
        out = folder / "out.tsgate"
        return invoke("train", data, "-o", out, *TINY, *extra), [out], [out]
    if command == "compare":
        out, saved = folder / "comparison.csv", folder / "models"
        return invoke("compare", data, "--models", "rnn", *TINY, "-o", out, "--save-dir", saved, *extra), [out, saved], [out]
    model = long_model if case.layout == "long" else tiny_model
    out = folder / "forecast.csv"
    return invoke("forecast", model, data, "-o", out, *extra), [out], [out]


@pytest.mark.parametrize("case,command", PARAMS)
def test_each_bad_input_on_each_command(case, command, tmp_path, tiny_model, long_model):
    outcome, outputs, written = run_case(case, command, tmp_path, tiny_model, long_model)
    pattern = case.expect(command)
    if pattern is OK:
        assert outcome.exit_code == 0, describe(outcome)
        check_contract(outcome, folder=tmp_path, must_write=written)
    else:
        check_error(outcome, pattern, outputs=outputs, folder=tmp_path)


def test_every_case_reaches_every_command_that_reads_data():
    """Each general bad input is tested on train, compare and forecast."""
    compare_only = {"folds_leave_no_training_data", "season_longer_than_series"}
    training_only = {"lookback_larger_than_series", "negative_horizon", "zero_epochs"}  # options forecast does not have
    for case in CASES:
        if case.name in compare_only:
            assert case.commands == ("compare",)
        elif case.name in training_only:
            assert set(case.commands) == {"train", "compare"}
        else:
            assert set(case.commands) == {"train", "compare", "forecast"}, case.name


@pytest.mark.parametrize("command", ["train", "compare", "forecast"])
def test_bad_input_on_stdin_gives_the_same_message(command, tmp_path, tiny_model):
    raw = csv_text(with_cell(sine_frame(), 7, "load", "abc"))
    if command == "forecast":
        outcome = invoke("forecast", tiny_model, "-", input=raw)
    elif command == "train":
        outcome = invoke("train", "-", "-o", tmp_path / "m.tsgate", *TINY, input=raw)
    else:
        outcome = invoke("compare", "-", "--models", "rnn", *TINY, input=raw)
    check_error(outcome, r"standard input|non-numeric value 'abc' at data row 7", outputs=[tmp_path / "m.tsgate"])
    assert "data row 7" in outcome.stderr


@pytest.mark.parametrize("command", ["train", "compare", "forecast"])
def test_unreadable_file(command, tmp_path, tiny_model):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    data = tmp_path / "data.csv"
    data.write_text(sine_text())
    data.chmod(0)
    args = {"train": ["train", data, "-o", tmp_path / "m.tsgate", *TINY],
            "compare": ["compare", data, "--models", "rnn", *TINY],
            "forecast": ["forecast", tiny_model, data]}[command]
    check_error(invoke(*args), r"cannot read", outputs=[tmp_path / "m.tsgate"])


def test_compare_with_a_single_test_point_fails_before_training_or_succeeds(tmp_path):
    """--horizon 1 and one fold score one point per model: too few for the significance test.
    That must be said before training (nothing saved), or the comparison must run without it."""
    data, out, saved = tmp_path / "data.csv", tmp_path / "comparison.csv", tmp_path / "models"
    data.write_text(sine_text(60))
    outcome = invoke("compare", data, "--models", "rnn", *TINY, "--horizon", "1", "-o", out, "--save-dir", saved)
    check_contract(outcome, outputs=[out, saved], folder=tmp_path, must_write=[out])


# ---- the million-row file ---------------------------------------------------------------------

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million_rows(workdir) -> Path:
    """1,000,000 hourly rows of synthetic data, one non-numeric value exactly in the middle."""
    path = workdir / "million.csv"
    start = np.datetime64("2000-01-01T00", "h")
    stamps = np.datetime_as_string(start + np.arange(MILLION), unit="s")
    values = np.round(10 + 3 * np.sin(np.arange(MILLION) * (2 * np.pi / 24)), 3).astype(str).astype(object)
    values[MILLION // 2] = "oops"
    with path.open("w") as handle:
        handle.write("timestamp,load\n")
        handle.write("\n".join(s + "," + v for s, v in zip(stamps.tolist(), values.tolist())))
        handle.write("\n")
    return path


def test_million_rows_with_one_bad_row_names_it(million_rows, tmp_path):
    out = tmp_path / "m.tsgate"
    outcome = invoke("train", million_rows, "-o", out, *TINY)
    check_error(outcome, rf"non-numeric value 'oops' at data row {MILLION // 2 + 1}\b", outputs=[out], folder=tmp_path)


# ---- forecast: model files and data that do not fit them ------------------------------------------


def test_forecast_model_file_missing(tmp_path):
    check_error(invoke("forecast", tmp_path / "nope.tsgate", tmp_path / "nope.csv"), r"model file not found")


def test_forecast_model_file_random_bytes(tmp_path):
    path = tmp_path / "random.tsgate"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    check_error(invoke("forecast", path), r"not a tsgate model|corrupt")


@pytest.mark.parametrize("keep", [0, 4, 8, 100, 0.5, 0.999, -1])
def test_forecast_model_file_truncated(tmp_path, tiny_model, keep):
    """A real model cut after `keep` bytes (a fraction: that share of the file; -1: all but the last byte)."""
    raw = tiny_model.read_bytes()
    path = tmp_path / "truncated.tsgate"
    path.write_bytes(raw[:int(len(raw) * keep)] if isinstance(keep, float) else raw[:keep] if keep >= 0 else raw[:-1])
    check_error(invoke("forecast", path), r"not a tsgate model|corrupt|truncated")


def test_forecast_model_file_is_a_csv(tmp_path):
    path = tmp_path / "data.tsgate"
    path.write_text(sine_text())
    check_error(invoke("forecast", path), r"not a tsgate model")


def test_forecast_model_file_is_a_folder(tmp_path):
    check_error(invoke("forecast", tmp_path), r"is a folder")


@pytest.mark.parametrize("frame,pattern", [
    (lambda: sine_frame().rename(columns={"load": "power"}), r"unknown column 'load'"),
    (lambda: sine_frame().rename(columns={"timestamp": "when"}), r"unknown column 'timestamp'"),
    (lambda: synthetic_long(n=60).rename(columns={"date": "timestamp", "sales": "load"}), r"twice|id-col"),
    (lambda: synthetic_sine(n=80, freq="D"), r"frequency D differs from the model's h"),
], ids=["value_column", "time_column", "long_layout", "frequency"])
def test_forecast_data_columns_do_not_match_the_model(tmp_path, tiny_model, frame, pattern):
    data = tmp_path / "data.csv"
    frame().to_csv(data, index=False)
    check_error(invoke("forecast", tiny_model, data, "-o", tmp_path / "f.csv"), pattern, outputs=[tmp_path / "f.csv"])


def test_forecast_plain_data_on_a_long_model(tmp_path, long_model):
    data = tmp_path / "data.csv"
    sine_frame().rename(columns={"timestamp": "date", "load": "sales"}).to_csv(data, index=False)
    check_error(invoke("forecast", long_model, data), r"unknown column 'store'")


def test_forecast_unknown_id(tmp_path, long_model):
    data = tmp_path / "data.csv"
    synthetic_long(ids=("a", "zz"), n=30).to_csv(data, index=False)
    check_error(invoke("forecast", long_model, data, "--strict"), r"series 'zz' was not in the training data")
