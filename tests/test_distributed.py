"""Training under torchrun: the environment it sets, each process's share of a batch, and real
2-process runs on CPU over loopback (gloo) against one process."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import synthetic_long
from helpers.cli import invoke
from helpers.processes import REPO

from tsgate import distributed
from tsgate.errors import OptionError
from tsgate.forecaster import Forecaster

SMALL = ["--id-col", "store", "--hidden", "8", "--steps", "60", "--ensemble", "1", "--model", "gru", "--lookback", "14",
         "--horizon", "7", "--quiet"]


def test_no_torchrun_or_a_world_of_one_is_a_single_process():
    assert distributed.requested({}) is None
    assert distributed.requested({"WORLD_SIZE": "1", "RANK": "0"}) is None


def test_a_torchrun_world_is_read_from_its_environment():
    world = distributed.requested({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    assert (world.size, world.rank, world.local_rank, world.main) == (4, 3, 1, False)


@pytest.mark.parametrize("environ, words", [
    ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR, MASTER_PORT is not set"),
    ({"WORLD_SIZE": "two"}, "is not a number"),
    ({"WORLD_SIZE": "2", "RANK": "x", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "RANK or LOCAL_RANK is not a number"),
])
def test_an_incomplete_torchrun_environment_is_refused(environ, words):
    with pytest.raises(OptionError, match=words):
        distributed.requested(environ)


def test_train_in_a_broken_torchrun_environment_fails_before_reading_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    model = tmp_path / "m.tsgate"
    result = invoke("train", tmp_path / "missing.csv", "-o", model)
    assert result.exit_code == 2 and not model.exists()
    assert result.stderr.count("\n") == 1 and "MASTER_ADDR" in result.stderr


def test_a_world_of_one_trains_as_a_single_process(panel, tmp_path, monkeypatch):
    for name, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}.items():  # torchrun --nproc-per-node 1
        monkeypatch.setenv(name, value)
    model = tmp_path / "m.tsgate"
    result = invoke("train", panel, "-o", model, *SMALL)
    assert result.exit_code == 0, result.stderr
    assert Forecaster.load(model).metrics_["world_size"] == 1 and distributed.current() is None


@pytest.mark.parametrize("command", ["forecast", "compare"])
def test_only_train_runs_under_torchrun(command, tmp_path, monkeypatch):
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    result = invoke(command, tmp_path / ("m.tsgate" if command == "forecast" else "d.csv"))
    assert result.exit_code == 2 and "does not run under torchrun" in result.stderr


@pytest.mark.parametrize("batch, size", [(10, 2), (7, 2), (1, 2), (9, 4)])
def test_the_shares_of_a_batch_make_it_up_exactly(batch, size, monkeypatch):
    starts = torch.arange(100, 100 + batch)
    shares, weights = [], []
    for rank in range(size):
        monkeypatch.setattr(distributed, "_world", distributed.World(size, rank, rank))
        mine, weight = distributed.share(starts)
        assert mine.is_contiguous() and len(mine) >= 1
        if weight:
            shares.append(mine)
            weights.append(weight * len(starts) / size)  # the share's windows, as the global mean counts them
    assert sorted(torch.cat(shares).tolist()) == starts.tolist()  # every window once, none twice
    assert sum(weights) == pytest.approx(len(starts))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(*args, cwd, script=None):
    """A real 2-process torchrun on this machine (CPU, gloo over loopback)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                "--master-port", str(free_port())]
    target = [script] if script else ["-m", "tsgate"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(launcher + target + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=environment)


@pytest.fixture
def panel(tmp_path):
    path = tmp_path / "panel.csv"
    synthetic_long(ids=("a", "b", "c", "d"), n=150).to_csv(path, index=False)
    return path


def test_two_processes_train_the_model_one_process_trains(panel, tmp_path):
    two, one = tmp_path / "two.tsgate", tmp_path / "one.tsgate"
    run = torchrun("train", panel, "-o", two, *SMALL, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert invoke("train", panel, "-o", one, *SMALL).exit_code == 0
    together, alone = Forecaster.load(two), Forecaster.load(one)
    assert together.metrics_["world_size"] == 2 and alone.metrics_["world_size"] == 1
    checks = list(zip(together.history_[0], alone.history_[0]))
    assert len(together.history_[0]) == len(alone.history_[0]) >= 3
    for mine, theirs in checks:
        assert mine["step"] == theirs["step"]
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-4)
        if theirs["train_loss"] is not None:
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_failing_rank_fails_the_run_and_writes_nothing(panel, tmp_path):
    model = tmp_path / "m.tsgate"
    script = Path(__file__).parent / "helpers" / "failing_rank.py"
    run = torchrun("train", panel, "-o", model, *SMALL, cwd=tmp_path, script=str(script))
    assert run.returncode != 0 and not model.exists()
    ours = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert ours and all("Traceback" not in line for line in ours)
    assert any("rank 1 failed on purpose" in line for line in ours), run.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
