"""Faults and hostile files: interrupted runs, unwritable outputs, diverging training, model
files crafted to attack the loader, determinism, and a light `--help`.

Signals are sent to real processes (`python -m tsgate` with a probe that says when training is
under way, tests/helpers/probed_tsgate.py, so the signal lands mid-training without guessing at
timings); everything that needs no real process runs in-process through CliRunner to stay fast.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from conftest import FAST, TINY, synthetic_sine
from helpers.cli import assert_one_line_error, describe, invoke, temp_files
from helpers.processes import start_probed, stop, subprocess_env, wait_until_under_way


def test_the_runner_keeps_stdout_and_stderr_apart(tmp_path):
    """Every check of a one-line error reads result.stderr alone: the streams must not be mixed."""
    refused = invoke("forecast", tmp_path / "missing.tsgate")
    assert refused.exit_code == 2 and refused.stderr.startswith("Error: ") and refused.stdout == ""
    version = invoke("--version")
    assert version.stdout.startswith("tsgate ") and version.stderr == ""


# ---- interrupted training: SIGINT and SIGTERM mid-epoch in a real process ----------------------


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    """Synthetic hourly data large enough that training at --hidden 32 runs for many seconds."""
    path = tmp_path_factory.mktemp("faults") / "big.csv"
    synthetic_sine(n=12_000).to_csv(path, index=False)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum,code,word", [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated"),
], ids=["SIGINT", "SIGTERM"])
def test_killed_mid_epoch_keeps_the_previous_model(tmp_path, big_csv, tiny_sine_csv, signum, code, word):
    out = tmp_path / "out.tsgate"
    first = invoke("train", tiny_sine_csv, "-o", out, *TINY)  # a short successful run leaves a model
    assert first.exit_code == 0, describe(first)
    before = out.read_bytes()
    child, under_way = start_probed("step", ["train", big_csv, "-o", out, "--steps", "100000", "--patience", "1000",
                                             "--hidden", "32", "--quiet", "--jobs", "1"],  # workers: test_parallel.py
                                    cwd=tmp_path)
    try:
        wait_until_under_way(child, under_way)
        assert child.poll() is None, "training finished before the signal"
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        stop(child)
    assert child.returncode == code, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and word in lines[0], stderr
    assert "Traceback" not in stderr and stdout == ""
    assert out.read_bytes() == before, "the previous model file changed"
    assert not temp_files(tmp_path), temp_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsgate"]


# A SIGTERM that comes after the command's work: the interpreter shutting down (atexit runs the
# signal's sender, then more bytecode, where a Python handler would run), or the error line being
# written (report sends it). torchrun's SIGTERM meets a rank that is already exiting this way.
LATE_SIGTERM = """
import atexit, os, signal, sys
import tsgate.cli as cli

def terminate():
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(3))

if sys.argv[1] == "shutdown":
    atexit.register(terminate)
else:
    report = cli.report
    cli.report = lambda message, code: terminate() or report(message, code)
sys.argv = ["tsgate", *sys.argv[2:]]
cli.main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("when,args,code", [
    ("shutdown", ["--version"], -signal.SIGTERM),  # the handler is gone: the default disposition ends the process
    ("shutdown", ["forecast", "missing.tsgate"], -signal.SIGTERM),
    ("report", ["forecast", "missing.tsgate"], 143),  # the handler, outside the work: exit 143 at once
], ids=["after-success", "after-an-error", "while-the-error-is-written"])
def test_a_sigterm_after_the_work_ends_the_process_without_a_traceback(tmp_path, when, args, code):
    done = subprocess.run([sys.executable, "-c", LATE_SIGTERM, when, *args], capture_output=True, text=True,
                          env=subprocess_env(), cwd=tmp_path, timeout=120)
    assert "Traceback" not in done.stderr and "Interrupted" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    if args == ["--version"]:
        assert done.stdout.startswith("tsgate ")
    if when == "shutdown" and args[0] == "forecast":
        assert done.stderr.startswith("Error: model file not found"), done.stderr


def test_the_sigterm_handler_raises_only_while_a_command_works(monkeypatch):
    import tsgate.cli as cli

    exits = []
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    cli.Termination.handle(signal.SIGTERM, None)
    assert exits == [143]
    with pytest.raises(cli.Interrupted), cli.Termination.at_work():
        cli.Termination.handle(signal.SIGTERM, None)
    assert not cli.Termination.working and exits == [143]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_main_gives_sigterm_back_once_the_command_is_over(monkeypatch, capsys):
    import tsgate.cli as cli

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(sys, "argv", ["tsgate", "--version"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("tsgate ")
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("exception,code", [(KeyboardInterrupt, 130), ("Interrupted", 143), (OSError, 2)],
                         ids=["ctrl-c", "sigterm", "disk-error"])
def test_failure_while_writing_the_model_keeps_the_previous_one(tmp_path, tiny_sine_csv, monkeypatch, exception, code):
    """The rename is the commit point: a failure while the new file is being written changes nothing."""
    import tsgate.cli
    import tsgate.io

    out = tmp_path / "out.tsgate"
    assert invoke("train", tiny_sine_csv, "-o", out, *TINY).exit_code == 0
    before = out.read_bytes()
    raised = tsgate.cli.Interrupted if exception == "Interrupted" else exception

    def failing_fsync(fd):
        raise raised()

    monkeypatch.setattr(tsgate.io.os, "fsync", failing_fsync)
    result = invoke("train", tiny_sine_csv, "-o", out, *TINY, "--seed", "3")
    monkeypatch.undo()
    assert_one_line_error(result, code)
    assert out.read_bytes() == before
    assert not temp_files(tmp_path), temp_files(tmp_path)


def test_forecast_output_interrupted_while_writing_keeps_the_previous_file(tmp_path, tiny_model, monkeypatch):
    import tsgate.io

    out = tmp_path / "forecast.csv"
    out.write_text("previous\n")

    def failing_fsync(fd):
        raise KeyboardInterrupt()

    monkeypatch.setattr(tsgate.io.os, "fsync", failing_fsync)
    result = invoke("forecast", tiny_model, "-o", out)
    monkeypatch.undo()
    assert_one_line_error(result, 130)
    assert out.read_text() == "previous\n" and not temp_files(tmp_path)


# ---- unwritable outputs are refused before training -------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Training must not start: make it fail loudly (as an internal error, exit 1) if it does."""
    from tsgate.forecaster import Forecaster

    def fit(self, *args, **kwargs):
        raise AssertionError("training started although the output cannot be written")

    monkeypatch.setattr(Forecaster, "fit", fit)


def output_args(command: str, target: Path, data: Path, model: Path) -> list:
    if command == "train":
        return ["train", data, "-o", target, *TINY]
    if command == "compare":
        return ["compare", data, "--models", "rnn", *TINY, "-o", target]
    if command == "compare --save-dir":
        return ["compare", data, "--models", "rnn", *TINY, "--save-dir", target]
    return ["forecast", model, data, "-o", target]


COMMANDS = ["train", "compare", "compare --save-dir", "forecast"]


@pytest.mark.parametrize("command", COMMANDS)
def test_output_in_a_missing_folder(tmp_path, tiny_sine_csv, tiny_model, no_training, command):
    target = tmp_path / "missing" / ("models" if "save-dir" in command else "out.file")
    result = invoke(*output_args(command, target, tiny_sine_csv, tiny_model))
    assert_one_line_error(result, 2, r"does not exist")
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_output_under_a_file_instead_of_a_folder(tmp_path, tiny_sine_csv, tiny_model, no_training, command):
    """'somefile.txt/out.tsgate': fails for root too, unlike a read-only folder."""
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("not a folder\n")
    target = blocker / ("models" if "save-dir" in command else "out.file")
    result = invoke(*output_args(command, target, tiny_sine_csv, tiny_model))
    assert_one_line_error(result, 2, r"somefile\.txt")
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_output_in_a_read_only_folder(tmp_path, tiny_sine_csv, tiny_model, no_training, command):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the path-under-a-file test covers root")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        target = locked / ("models" if "save-dir" in command else "out.file")
        result = invoke(*output_args(command, target, tiny_sine_csv, tiny_model))
        assert_one_line_error(result, 2, r"not writable|permission|cannot write")
        assert not any(locked.iterdir())
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("command", ["train", "compare", "forecast"])
def test_output_path_is_an_existing_folder(tmp_path, tiny_sine_csv, tiny_model, no_training, command):
    target = tmp_path / "a-folder"
    target.mkdir()
    result = invoke(*output_args(command, target, tiny_sine_csv, tiny_model))
    assert_one_line_error(result, 2, r"is a folder")


def test_save_dir_is_a_file(tmp_path, tiny_sine_csv, no_training):
    target = tmp_path / "models"
    target.write_text("x")
    result = invoke("compare", tiny_sine_csv, "--models", "rnn", *TINY, "--save-dir", target)
    assert_one_line_error(result, 2, r"is a file")


# ---- an output that is an input, or another output, is refused before any work ----------------


def same_file(how: str, original: Path, other: Path) -> Path:
    """A path naming `original`: the same name, a symbolic link or a hard link at `other`."""
    if how == "same name":
        return original
    if how == "symbolic link":
        other.symlink_to(original)
    else:
        os.link(original, other)
    return other


def reading_args(command: str, data: Path, model: Path, *more) -> list:
    """`command` reading DATA (and MODEL), quick, with `more` options."""
    return {"train": ["train", data, *TINY], "compare": ["compare", data, "--models", "rnn", *TINY],
            "forecast": ["forecast", model, data], "inspect": ["inspect", model, data]}[command] + list(more)


@pytest.mark.parametrize("how", ["same name", "symbolic link", "hard link"])
@pytest.mark.parametrize("command", ["train", "forecast", "inspect", "compare"])
def test_an_output_that_is_the_data_is_refused_and_the_data_kept(tmp_path, tiny_sine_csv, tiny_model, no_training,
                                                                  command, how):
    data = tmp_path / "data.csv"
    data.write_bytes(tiny_sine_csv.read_bytes())
    target = same_file(how, data, tmp_path / "out.csv")
    result = invoke(*reading_args(command, data, tiny_model, "-o", target))
    assert_one_line_error(result, 2, rf"^Error: -o {re.escape(str(target))} is the same file as DATA "
                                     rf"{re.escape(str(data))}: writing it would destroy the input; give -o another path$")
    assert data.read_bytes() == tiny_sine_csv.read_bytes()


@pytest.mark.parametrize("command", ["forecast", "inspect"])
def test_an_output_that_is_the_model_is_refused_and_the_model_kept(tmp_path, tiny_model, command):
    model = tmp_path / "m.tsgate"
    model.write_bytes(tiny_model.read_bytes())
    link = same_file("symbolic link", model, tmp_path / "out.csv")
    assert_one_line_error(invoke(command, model, "-o", link), 2, r"-o .*out\.csv is the same file as MODEL .*m\.tsgate")
    assert model.read_bytes() == tiny_model.read_bytes()


@pytest.mark.parametrize("where", ["in the folder", "linked from the folder"])
def test_a_save_dir_that_would_write_over_the_data_is_refused(tmp_path, tiny_sine_csv, no_training, where):
    saved = tmp_path / "models"
    saved.mkdir()
    if where == "in the folder":
        data = saved / "rnn-seed0-fold0.tsgate"  # a CSV under the name compare gives its first model
        data.write_bytes(tiny_sine_csv.read_bytes())
    else:
        data = tmp_path / "data.csv"
        data.write_bytes(tiny_sine_csv.read_bytes())
        (saved / "rnn-seed0-fold0.tsgate").symlink_to(data)
    result = invoke(*reading_args("compare", data, None, "--save-dir", saved))
    assert_one_line_error(result, 2, r"--save-dir .*rnn-seed0-fold0\.tsgate is the same file as DATA")
    assert data.read_bytes() == tiny_sine_csv.read_bytes()


def test_a_save_dir_file_of_another_model_or_seed_is_no_clash(tmp_path, tiny_sine_csv):
    saved = tmp_path / "models"
    saved.mkdir()
    data = saved / "gru-seed0-fold0.tsgate"  # compare --models rnn writes rnn-seed0-fold0.tsgate only
    data.write_bytes(tiny_sine_csv.read_bytes())
    result = invoke(*reading_args("compare", data, None, "--save-dir", saved, "-f", "csv"))
    assert result.exit_code == 0, describe(result)
    assert sorted(p.name for p in saved.iterdir()) == ["gru-seed0-fold0.tsgate", "rnn-seed0-fold0.tsgate"]


@pytest.mark.parametrize("command", ["train", "forecast", "inspect", "compare"])
def test_plot_and_output_naming_one_file_are_refused(tmp_path, tiny_sine_csv, tiny_model, no_training, command):
    target = tmp_path / "both.png"
    result = invoke(*reading_args(command, tiny_sine_csv, tiny_model, "-o", target, "--plot", target))
    assert_one_line_error(result, 2, r"--plot .*both\.png is the same file as -o .*both\.png: one would overwrite the other")
    assert not target.exists()


def test_stdout_as_output_while_the_data_comes_on_stdin(tmp_path, tiny_model, tiny_sine_csv):
    """-o /dev/stdout with DATA '-': stdin is no file, and the forecast arrives on stdout, the pipe kept."""
    link = tmp_path / "to-stdout"
    link.symlink_to("/dev/stdout")  # through a link here: a failing run can replace only the link, never /dev/stdout
    done = subprocess.run([sys.executable, "-m", "tsgate", "forecast", str(tiny_model), "-", "-o", str(link)],
                          input=tiny_sine_csv.read_bytes(), capture_output=True, env=subprocess_env(), cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines()[0] == "timestamp,load" and len(done.stdout.decode().splitlines()) == 5
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["to-stdout"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="a /dev/full device")
def test_a_full_device_as_output_is_a_one_line_error(tmp_path, tiny_model):
    full = tmp_path / "full"
    full.symlink_to("/dev/full")  # through a link here: a failing run can replace only the link, never /dev/full
    assert_one_line_error(invoke("forecast", tiny_model, "-o", full), 2, r"cannot write .*full: No space left on device")
    assert full.is_symlink()


# ---- output paths tried for real, and a failed command writes none of its files -------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="a Linux /proc")
def test_a_picture_in_proc_is_refused_before_training(tmp_path, tiny_sine_csv, no_training):
    """os.access tells root that /proc is writable: the check creates a file there instead."""
    out = tmp_path / "out.tsgate"
    result = invoke("train", tiny_sine_csv, "-o", out, *TINY, "--plot", "/proc/x.png")
    assert_one_line_error(result, 2, r"cannot write /proc/x\.png: folder /proc is not writable")
    assert not out.exists()


def failing_picture(monkeypatch):
    import matplotlib.figure

    def savefig(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)


def test_a_picture_that_cannot_be_drawn_leaves_no_model(tmp_path, tiny_sine_csv, monkeypatch):
    """train draws the picture before it writes anything: the model file is not left behind."""
    matplotlib = pytest.importorskip("matplotlib.figure")

    def savefig(self, *args, **kwargs):
        raise RuntimeError("the renderer failed")

    monkeypatch.setattr(matplotlib.Figure, "savefig", savefig)
    result = invoke("train", tiny_sine_csv, "-o", tmp_path / "out.tsgate", *TINY, "--plot", tmp_path / "loss.png")
    monkeypatch.undo()
    assert result.exit_code == 1 and "the renderer failed" in result.stderr, describe(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a failed train left files behind"


@pytest.mark.parametrize("command", ["train", "forecast", "inspect", "compare"])
def test_a_disk_full_at_the_last_file_keeps_every_file_as_it_was(tmp_path, tiny_sine_csv, tiny_model, monkeypatch,
                                                                  command):
    """-o, --plot (and compare's --save-dir) are written together: the last of them failing (train:
    the picture after the model; the others: -o after the picture) leaves none written, the old -o kept."""
    pytest.importorskip("matplotlib")
    import tsgate.io

    out, plot, saved = tmp_path / "out.file", tmp_path / "picture.png", tmp_path / "models"
    out.write_bytes(b"previous output")
    more = ["--save-dir", saved] if command == "compare" else []
    last = 3 if command == "compare" else 2  # compare: the picture, its one model, then -o
    fsyncs = []

    def fsync(fd):
        fsyncs.append(fd)
        if len(fsyncs) == last:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(tsgate.io.os, "fsync", fsync)
    result = invoke(*reading_args(command, tiny_sine_csv, tiny_model, "-o", out, "--plot", plot, *more))
    monkeypatch.undo()
    failed = "picture\\.png" if command == "train" else "out\\.file"
    assert_one_line_error(result, 2, rf"cannot write .*{failed}: No space left on device")
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"], "a failed command left files behind"


# ---- training that diverges --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "compare"])
def test_a_loss_that_becomes_nan_stops_with_advice_and_writes_nothing(tmp_path, tiny_sine_csv, command):
    out = tmp_path / ("out.tsgate" if command == "train" else "comparison.csv")
    saved = tmp_path / "models"
    args = ["--lr", "1e30", "--scaler", "none", *TINY]
    if command == "train":
        result = invoke("train", tiny_sine_csv, "-o", out, *args)
    else:
        result = invoke("compare", tiny_sine_csv, "--models", "rnn", "-o", out, "--save-dir", saved, *args)
    assert_one_line_error(result, 2, r"diverged.*lower --lr")
    assert not out.exists()
    assert not saved.exists() or not any(saved.iterdir())
    assert not temp_files(tmp_path)


# ---- hostile model files -------------------------------------------------------------------------


class CreatesMarker:
    """Unpickling this calls open(marker, 'w'): proof that the loader ran foreign code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(CreatesMarker(marker), protocol=2))


def evil_torch_save(path: Path, marker: Path) -> None:
    import torch

    torch.save({"model": CreatesMarker(marker), "format_version": 1}, path)


def zip_bomb(path: Path, marker: Path) -> None:
    """A small zip whose one member inflates to 64 MiB (ratio about 1000:1), named like torch's archives."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(64):
                member.write(chunk)
    assert path.stat().st_size < 1 << 20


def header_file(path: Path, header: bytes, declared: int | None = None, body: bytes = b"") -> None:
    length = len(header) if declared is None else declared
    path.write_bytes(struct.pack("<Q", length) + header + body)


def json_bomb_nesting(path: Path, marker: Path) -> None:
    depth = 200_000
    header_file(path, b"[" * depth + b"]" * depth)


def json_bomb_in_metadata(path: Path, marker: Path) -> None:
    depth = 200_000
    inner = "[" * depth + "]" * depth
    header_file(path, json.dumps({"__metadata__": {"tsgate": inner}}).encode())


def json_bomb_declared_length(path: Path, marker: Path) -> None:
    header_file(path, b'{"__metadata__": {}}', declared=2**63 + 12345)


def json_bomb_just_over_limit(path: Path, marker: Path) -> None:
    header_file(path, b"{}", declared=16 * 1024 * 1024 + 1)


def tensors_beyond_the_file(path: Path, marker: Path) -> None:
    document = {"format": "tsgate-model", "format_version": 1}
    header = {"__metadata__": {"tsgate": json.dumps(document)},
              "context": {"dtype": "F64", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 1 << 43]}}
    header_file(path, json.dumps(header).encode(), body=b"\0" * 64)


HOSTILE = {
    "pickle": (evil_pickle, r"not a tsgate model"),
    "torch_save_pickle": (evil_torch_save, r"not a tsgate model"),
    "zip_bomb": (zip_bomb, r"not a tsgate model"),
    "json_bomb_nesting": (json_bomb_nesting, r"not a tsgate model"),
    "json_bomb_in_metadata": (json_bomb_in_metadata, r"not a tsgate model"),
    "json_bomb_declared_length": (json_bomb_declared_length, r"not a tsgate model"),
    "json_header_over_limit": (json_bomb_just_over_limit, r"not a tsgate model"),
    "tensors_beyond_the_file": (tensors_beyond_the_file, r"not a tsgate model|corrupt"),
}


# Python allocations while a hostile file is refused: the file is read once and its header parsed
# with limits, a few MiB at most, far below the 64 MiB the zip bomb would inflate to.
REFUSAL_PEAK_BYTES = 16 << 20


def traced_peak(run):
    """(what run() returned, peak bytes Python allocated during it)."""
    tracemalloc.start()
    try:
        return run(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_model_file_is_refused_and_runs_nothing(tmp_path, tiny_sine_csv, name):
    build, pattern = HOSTILE[name]
    path, marker = tmp_path / "hostile.tsgate", tmp_path / "PWNED"
    build(path, marker)
    assert not marker.exists()
    for args in (["forecast", path], ["forecast", path, tiny_sine_csv]):
        assert_one_line_error(invoke(*args), 2, pattern)  # also imports what a refusal needs, before tracing
        result, peak = traced_peak(lambda: invoke(*args))
        assert_one_line_error(result, 2, pattern)
        assert peak < REFUSAL_PEAK_BYTES, f"refusing the file took {peak / 2**20:.1f} MiB: was it expanded?"
    assert not marker.exists(), "the model file ran code while being loaded"


@pytest.mark.parametrize("build", [evil_pickle, evil_torch_save], ids=["pickle", "torch_save"])
def test_the_hostile_pickles_really_run_code_when_unpickled(tmp_path, build):
    """The control: without it a loader that never reaches the payload would prove nothing."""
    import torch

    path, marker = tmp_path / "hostile.tsgate", tmp_path / "PWNED"
    build(path, marker)
    if build is evil_pickle:
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_the_zip_bomb_really_inflates(tmp_path):
    path = tmp_path / "bomb.tsgate"
    zip_bomb(path, tmp_path / "unused")
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("archive/data.pkl").file_size == 64 << 20
        _, peak = traced_peak(lambda: archive.read("archive/data.pkl"))
    assert path.stat().st_size * 500 < 64 << 20
    assert peak > REFUSAL_PEAK_BYTES, "the memory bound on refusals would not notice an inflated bomb"


def test_hostile_pickle_through_a_real_process(tmp_path):
    path, marker = tmp_path / "hostile.tsgate", tmp_path / "PWNED"
    evil_torch_save(path, marker)
    done = subprocess.run([sys.executable, "-m", "tsgate", "forecast", str(path)], capture_output=True, text=True,
                          env=subprocess_env(), cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("Error: "), done.stderr
    assert not marker.exists()


def rewrite_model(source: Path, target: Path, change) -> None:
    """Re-save a real model with its metadata document changed by `change(document)`."""
    from safetensors.torch import save_file

    from tsgate import modelfile

    tensors, meta = modelfile.load(source)
    change(meta)
    save_file(tensors, str(target), metadata={"tsgate": json.dumps(meta)})


def bump_version(meta):
    meta["format_version"] = meta["format_version"] + 1


@pytest.mark.parametrize("change,pattern", [
    (bump_version, r"newer than this tsgate reads.*upgrade tsgate"),
    (lambda meta: meta.update(format_version=0), r"format version"),
    (lambda meta: meta.update(format_version="1"), r"format version"),
    (lambda meta: meta.update(format_version=True), r"format version"),
    (lambda meta: meta.pop("format_version"), r"format version"),
    (lambda meta: meta.update(format="other-model"), r"wrong format"),
    (lambda meta: meta["model"].update(hidden=5), r"inconsistent"),
    (lambda meta: meta["model"].update(hidden=2**62), r"inconsistent"),
    (lambda meta: meta["model"].update(backbone="transformer"), r"inconsistent|unknown model|not a tsgate"),
    (lambda meta: meta["model"].update(lookback=-1), r"inconsistent|lookback|not a tsgate"),
    (lambda meta: meta.pop("data"), r"inconsistent"),
    (lambda meta: meta["data"].update(last_timestamps=["yesterday"]), r"inconsistent"),
    (lambda meta: meta["data"].update(freq="bogus"), r"inconsistent|frequency"),
], ids=["newer_version", "version_0", "version_string", "version_bool", "no_version", "wrong_format",
        "hidden_mismatch", "hidden_huge", "unknown_backbone", "negative_lookback", "no_data_section",
        "bad_timestamp", "bad_freq"])
def test_model_file_with_edited_metadata_is_refused(tmp_path, tiny_model, tiny_sine_csv, change, pattern):
    path = tmp_path / "edited.tsgate"
    rewrite_model(tiny_model, path, change)
    result = invoke("forecast", path, tiny_sine_csv)
    assert_one_line_error(result, 2, pattern)


def test_a_rewritten_but_unchanged_model_still_loads(tmp_path, tiny_model):
    """The control for the cases above: the rewrite itself is harmless."""
    path = tmp_path / "same.tsgate"
    rewrite_model(tiny_model, path, lambda meta: None)
    result = invoke("forecast", path)
    assert result.exit_code == 0, describe(result)
    assert result.stdout == invoke("forecast", tiny_model).stdout


# ---- determinism -----------------------------------------------------------------------------------


def seeded_options(backbone: str, seed: int) -> list:
    return [*FAST, "--model", backbone, "--seed", seed, "--dropout", "0.3", "--layers", "2", "--batch-size", "16"]


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_same_seed_gives_byte_identical_models_and_forecasts(tmp_path, tiny_sine_csv, backbone):
    paths = [tmp_path / "a.tsgate", tmp_path / "b.tsgate"]
    for path in paths:
        result = invoke("train", tiny_sine_csv, "-o", path, *seeded_options(backbone, 11))
        assert result.exit_code == 0, describe(result)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    forecasts = [invoke("forecast", path, tiny_sine_csv, "-f", "csv") for path in paths]
    assert all(f.exit_code == 0 for f in forecasts)
    assert forecasts[0].stdout == forecasts[1].stdout and forecasts[0].stdout.count("\n") == 5
    other = tmp_path / "c.tsgate"
    assert invoke("train", tiny_sine_csv, "-o", other, *seeded_options(backbone, 12)).exit_code == 0
    assert other.read_bytes() != paths[0].read_bytes(), "--seed has no effect"


def test_a_fresh_process_gives_the_same_model_as_this_one(tmp_path, tiny_sine_csv):
    options = ["--model", "gru", "--seed", "5", *FAST]
    here, there = tmp_path / "here.tsgate", tmp_path / "there.tsgate"
    assert invoke("train", tiny_sine_csv, "-o", here, *options).exit_code == 0
    done = subprocess.run([sys.executable, "-m", "tsgate", "train", str(tiny_sine_csv), "-o", str(there), *options],
                          capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert here.read_bytes() == there.read_bytes()


def test_compare_is_deterministic(tmp_path, tiny_sine_csv):
    options = ["--models", "rnn,gru", "--seed", "2", *TINY, "-f", "json"]
    runs = [invoke("compare", tiny_sine_csv, *options) for _ in range(2)]
    assert all(r.exit_code == 0 for r in runs), describe(runs[0])
    strip = {"train_seconds", "seconds_per_step", "forecast_ms"}  # wall-clock figures differ by nature
    rows = [[{k: v for k, v in row.items() if k not in strip} for row in json.loads(r.stdout)["rows"]] for r in runs]
    assert rows[0] == rows[1]


# ---- a light command line ------------------------------------------------------------------------


def heavy_imports(importtime_stderr: str) -> set:
    """Top-level packages imported, from `python -X importtime` output."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names & {"torch", "pandas", "sklearn"}


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["forecast", "--help"], ["compare", "--help"], ["--version"]],
                         ids=lambda args: " ".join(args))
def test_help_imports_no_heavy_library(args):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tsgate", *args], capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tsgate" in done.stdout
    assert heavy_imports(done.stderr) == set()


def test_import_tsgate_is_light():
    code = ("import sys, tsgate\n"
            "print(sorted(m for m in ('torch', 'pandas', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_bad_option_is_refused_without_heavy_imports():
    """Usage errors are answered by the argument parser alone."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tsgate", "train", "x.csv", "--model", "transformer"],
                          capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert len(errors) == 1 and errors[0].startswith("Error: ")
    assert heavy_imports(done.stderr) == set()
