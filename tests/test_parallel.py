"""--jobs: worker processes give the same results as one process, and stop cleanly (synthetic data only)."""

import json
import os
import signal

import pytest
import torch
from conftest import FAST, synthetic_sine
from helpers.cli import invoke
from helpers.processes import start_probed, stop, wait_until, wait_until_under_way

from tsgate import parallel
from tsgate.config import ModelConfig, TrainConfig
from tsgate.ensemble import MemberTask, train_member
from tsgate.errors import OptionError, TrainingError
from tsgate.train import configure_torch
from tsgate.windows import build_windows

TIMING_KEYS = ("seconds", "_ms")


def member_tasks(lr=3e-3, n=3):
    values = synthetic_sine(n=200)["load"].to_numpy()[:, None]
    data = build_windows((values - values.mean()) / values.std(), [0, 200], [160], 12, 4)
    model = ModelConfig("gru", 1, 12, 4, 8)
    return [MemberTask(model, TrainConfig(steps=30, lr=lr, seed=seed), data, "cpu") for seed in range(n)]


def test_members_trained_on_workers_equal_those_trained_here():
    configure_torch(1)  # what Forecaster.fit sets here, and each worker sets there
    progress = []
    here = parallel.run_tasks(train_member, member_tasks(), 1)
    there = parallel.run_tasks(train_member, member_tasks(), 2, lambda index, step, *rest: progress.append((index, step)))
    assert {index for index, _ in progress} == {0, 1, 2}  # every worker's progress reached this process
    assert [m.seed for m in there] == [0, 1, 2]  # results come back in task order
    for a, b in zip(here, there):
        assert a.history == b.history and a.best_step == b.best_step
        assert all(torch.equal(a.state[name], b.state[name]) for name in a.state)
    assert not torch.equal(here[0].state["rnn.weight_hh_l0"], here[1].state["rnn.weight_hh_l0"])  # seeds differ


def test_a_failing_task_fails_the_run_with_its_own_error():
    with pytest.raises(TrainingError, match="training diverged"):
        parallel.run_tasks(train_member, member_tasks(lr=1e30), 2)


def test_jobs_default_to_the_usable_cores(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 5)
    assert parallel.check_jobs(None) == 5
    assert parallel.check_jobs(3) == 3
    for bad in (0, -1, True, 1.5):
        with pytest.raises(OptionError, match="--jobs must be at least 1"):
            parallel.check_jobs(bad)


def test_bad_jobs_exit_2_before_reading_data(tmp_path):
    result = invoke("train", tmp_path / "missing.csv", "--jobs", "0")
    assert result.exit_code == 2
    assert "--jobs must be at least 1" in result.output and "missing.csv" not in result.output


def without_timings(rows):
    return [{k: v for k, v in row.items() if not any(key in k for key in TIMING_KEYS)} for row in rows]


def test_compare_rows_do_not_depend_on_jobs(sine_csv):
    outputs = []
    for jobs in ("1", "2"):
        result = invoke("compare", sine_csv, *FAST, "--seeds", "2", "--level", "80", "--format", "json", "--jobs", jobs)
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout)["rows"])
    assert without_timings(outputs[0]) == without_timings(outputs[1])
    trained = [row for row in outputs[1] if row["model"] in ("rnn", "gru", "lstm")]
    assert all(row["train_seconds"] > 0 for row in trained)  # each row keeps the time of its own fits


@pytest.mark.parametrize("model", ["gru", "auto"])
def test_train_writes_the_same_model_file_with_any_jobs(sine_csv, tmp_path, model):
    files = []
    for jobs in ("1", "2"):
        out = tmp_path / f"{model}-{jobs}.tsgate"
        result = invoke("train", sine_csv, *FAST, "--model", model, "--jobs", jobs, "-o", out)
        assert result.exit_code == 0, result.output
        files.append(out.read_bytes())
    assert files[0] == files[1]


# ---- interrupting a run on workers --------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, frontier = set(), [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.add(child)
            frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds worker processes through /proc")
# SIGTERM is raised as an exception on the way out just as SIGINT is (cli.Termination), and test_faults.py
# sends both to train; under SIGKILL no handler runs at all, and the workers must stop all the same.
@pytest.mark.parametrize("sent, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)])
def test_an_interrupted_compare_leaves_no_workers_and_no_files(tmp_path, sent, code):
    data = tmp_path / "long.csv"
    synthetic_sine(n=3000).to_csv(data, index=False)
    saved, output = tmp_path / "models", tmp_path / "rows.csv"
    args = ["compare", data, "--lookback", "48", "--horizon", "12", "--steps", "100000", "--patience", "100000",
            "--jobs", "2", "--save-dir", saved, "-o", output]
    process, under_way = start_probed("progress", args, cwd=tmp_path)
    try:
        wait_until_under_way(process, under_way)  # a worker's first validation check reached the command
        workers = descendants(process.pid)
        assert len(workers) >= 3, "the fork server and two workers"
        process.send_signal(sent)
        assert process.wait(timeout=60) == code
        wait_until(lambda: not any(alive(pid) for pid in workers), 60, "worker processes outlived the command")
        stdout, stderr = process.communicate(timeout=60)  # the workers held the same pipes
    finally:
        stop(process)
    if sent != signal.SIGKILL:  # killed outright, the command says nothing; its workers still stop
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr and stdout == "", stderr
    assert not output.exists() and not (saved.exists() and any(saved.iterdir()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.csv"] + (["models"] if saved.exists() else [])


def die(task, report):
    """A task whose worker process dies outright, as under the kernel's OOM killer."""
    os._exit(1)


def test_a_worker_that_dies_is_a_one_line_error_not_a_hang():
    with pytest.raises(TrainingError, match="a worker process died"):
        parallel.run_tasks(die, [1, 2], 2)
