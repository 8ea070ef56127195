"""Whole-process timings for issue 11: tsgate as a user runs it, against lean stock PyTorch.

    python benchmarks/endtoend.py                          # every section (compare takes several minutes)
    python benchmarks/endtoend.py --only train --repeats 5
    python benchmarks/endtoend.py --only compare --out /tmp/compare.json
    python benchmarks/endtoend.py --quick --repeats 1      # smoke test: 3,000 points, 2 epochs (figures meaningless)

Every figure is a whole process, `python ...` in a subprocess (OMP_WAIT_POLICY=PASSIVE added
to the environment), timed with time.perf_counter() around subprocess.run, so it includes
Python start-up, imports, file I/O and writing the model. Each measurement is repeated
--repeats times and the minimum kept; within a repeat the two sides being compared
alternate which runs first. One untimed warm-up `tsgate train` comes first (the first run
may compile tsgate's C++ kernel, 10-30 s).

Sections (--only, repeatable; default all):

- train: `tsgate train DATA --model B --epochs 10 --lookback 48 --horizon 12 --ensemble 1
  --no-refit --patience 1000 --quiet` against benchmarks/lean_train.py with the same
  options, for B = rnn, gru, lstm, on a 30,000-point hourly synthetic series (daily and
  weekly cycles, a slow random walk, noise; numpy seed 0): speed-up = lean / tsgate
  (targets GRU >= 1.8, RNN >= 1.5, LSTM >= 1.1). Then both on sample_data/air_passengers.csv
  (144 points, --epochs 1 --lookback 24 --horizon 12): time ratio = tsgate / lean (target <= 1.2).
- compare: `tsgate compare sample_data/seattle_hourly_temperature.csv --lookback 48
  --horizon 24 --format json --quiet` with --jobs 1 and --jobs 2, once each (--repeats does not
  apply): speed-up = jobs 1 / jobs 2 (target >= 1.6), and whether the rows are identical once
  timing keys are dropped. Recorded as skipped when this tsgate has no --jobs.
- forecast: `tsgate forecast MODEL sample_data/air_passengers.csv` (MODEL: one GRU, one epoch)
  against `python -c "import torch"`: target forecast <= import torch + 0.5 s.

The figures are ratios and differences measured in one run on a shared machine: absolute
times move 10-40% with the load, so compare sides only within one run. Results go to stdout
as a table and to a JSON file (--out, default benchmarks/endtoend.json), written atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from accuracy import fmt, print_table, write_json_atomically  # shared helpers (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "endtoend.json"
LEAN = ROOT / "benchmarks" / "lean_train.py"
AIR = ROOT / "sample_data" / "air_passengers.csv"
SEATTLE = ROOT / "sample_data" / "seattle_hourly_temperature.csv"

BACKBONES = ("rnn", "gru", "lstm")
SPEEDUP_TARGETS = {"rnn": 1.5, "gru": 1.8, "lstm": 1.1}  # lean / tsgate on the 30,000-point series
SMALL_RATIO_TARGET = 1.2  # tsgate / lean on air_passengers
COMPARE_SPEEDUP_TARGET = 1.6  # compare --jobs 1 / --jobs 2
FORECAST_MARGIN_TARGET = 0.5  # seconds forecast may take beyond `import torch`
SECTIONS = ("train", "compare", "forecast")
TIMING_KEY_PARTS = ("seconds", "_ms", "time")
STDERR_TAIL_CHARS = 3000


class BenchmarkError(Exception):
    """A timed command failed."""


# ---- running and timing --------------------------------------------------------------------------------

def subprocess_env() -> dict:
    """The inherited environment, plus passive OpenMP waiting (the machine is shared)."""
    return {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}


def run(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command in the repository root; return its wall seconds and the finished process."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=subprocess_env())
    return time.perf_counter() - started, done


def check(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        raise BenchmarkError(f"exit code {done.returncode}:\n  {shlex.join(done.args)}\n"
                             f"--- stderr (tail) ---\n{done.stderr[-STDERR_TAIL_CHARS:].rstrip()}")
    return done


def best_times(commands: dict[str, list[str]], repeats: int) -> tuple[dict[str, float], dict[str, str]]:
    """The minimum wall seconds of each command over `repeats` rounds, the order reversed every other
    round; also each command's last stdout."""
    best = {name: math.inf for name in commands}
    stdout = {}
    for round_ in range(repeats):
        names = list(commands) if round_ % 2 == 0 else list(reversed(commands))
        for name in names:
            seconds, done = run(commands[name])
            best[name] = min(best[name], seconds)
            stdout[name] = check(done).stdout
    return best, stdout


def tsgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "tsgate", *args]


# ---- train: tsgate against lean_train.py --------------------------------------------------------------

def write_synthetic_series(path: Path, points: int, seed: int = 0) -> None:
    """Hourly `time,value`: daily and weekly sine cycles, a slow random walk and Gaussian noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(points)
    value = (10 + 3 * np.sin(2 * np.pi * hours / 24) + 1.5 * np.sin(2 * np.pi * hours / 168)
             + np.cumsum(0.05 * rng.standard_normal(points)) + 0.5 * rng.standard_normal(points))
    time_index = pd.date_range("2020-01-01", periods=points, freq="h")
    pd.DataFrame({"time": time_index, "value": value.round(4)}).to_csv(path, index=False)


def train_commands(data: Path, backbone: str, shape: list[str], tmp: Path) -> dict[str, list[str]]:
    """tsgate train and lean_train.py with the same backbone, epochs, lookback and horizon."""
    return {"tsgate": tsgate("train", str(data), "--model", backbone, *shape, "--ensemble", "1", "--no-refit",
                             "--patience", "1000", "--quiet", "-o", str(tmp / "m.tsgate")),
            "lean": [sys.executable, str(LEAN), str(data), "--model", backbone, *shape, "-o", str(tmp / "m.pt")]}


def time_train_pair(data: Path, backbone: str, shape: list[str], tmp: Path, repeats: int) -> dict:
    seconds, stdout = best_times(train_commands(data, backbone, shape, tmp), repeats)
    return {"backbone": backbone, "tsgate_s": seconds["tsgate"], "lean_s": seconds["lean"],
            "lean_output": stdout["lean"].strip()}


def large_train_rows(tmp: Path, options) -> dict:
    points, epochs = (3_000, 2) if options.quick else (30_000, 10)
    data = tmp / f"synthetic-{points}.csv"
    write_synthetic_series(data, points)
    shape = ["--epochs", str(epochs), "--lookback", "48", "--horizon", "12"]
    rows = []
    for backbone in BACKBONES:
        row = time_train_pair(data, backbone, shape, tmp, options.repeats)
        row["speedup"] = row["lean_s"] / row["tsgate_s"]
        row["target_speedup"] = SPEEDUP_TARGETS[backbone]
        row["met"] = row["speedup"] >= row["target_speedup"]
        rows.append(row)
    return {"data": f"synthetic hourly, {points:,} points", "points": points, "options": shlex.join(shape), "rows": rows}


def small_train_rows(tmp: Path, options) -> dict:
    shape = ["--epochs", "1", "--lookback", "24", "--horizon", "12"]
    rows = []
    for backbone in BACKBONES:
        row = time_train_pair(AIR, backbone, shape, tmp, options.repeats)
        row["time_ratio"] = row["tsgate_s"] / row["lean_s"]
        row["target_time_ratio"] = SMALL_RATIO_TARGET
        row["met"] = row["time_ratio"] <= SMALL_RATIO_TARGET
        rows.append(row)
    return {"data": "sample_data/air_passengers.csv", "points": 144, "options": shlex.join(shape), "rows": rows}


def train_section(tmp: Path, options) -> dict:
    print(f"  train: {'3,000' if options.quick else '30,000'}-point series ...", flush=True)
    large = large_train_rows(tmp, options)
    print("  train: air_passengers ...", flush=True)
    return {"large": large, "small": small_train_rows(tmp, options)}


# ---- compare --jobs ------------------------------------------------------------------------------------

def compare_command(jobs: int) -> list[str]:
    return tsgate("compare", str(SEATTLE), "--lookback", "48", "--horizon", "24", "--format", "json", "--quiet",
                  "--jobs", str(jobs))


def without_timings(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if not any(part in key for part in TIMING_KEY_PARTS)}
            for row in rows]


def compare_section() -> dict:
    print("  compare: --jobs 1, then --jobs 2 (minutes) ...", flush=True)
    seconds, documents = {}, {}
    for jobs in (1, 2):
        seconds[jobs], done = run(compare_command(jobs))
        if done.returncode == 2 and "No such option" in done.stderr:
            return {"skipped": True, "message": done.stderr.strip()[-STDERR_TAIL_CHARS:]}
        documents[jobs] = json.loads(check(done).stdout)
    same = without_timings(documents[1]["rows"]) == without_timings(documents[2]["rows"])
    speedup = seconds[1] / seconds[2]
    return {"skipped": False, "jobs1_s": seconds[1], "jobs2_s": seconds[2], "speedup": speedup,
            "target_speedup": COMPARE_SPEEDUP_TARGET, "met": speedup >= COMPARE_SPEEDUP_TARGET, "same_rows": same}


# ---- forecast against import torch ---------------------------------------------------------------------

def forecast_section(model: Path, repeats: int) -> dict:
    print("  forecast ...", flush=True)
    commands = {"forecast": tsgate("forecast", str(model), str(AIR)),
                "import_torch": [sys.executable, "-c", "import torch"]}
    seconds, _ = best_times(commands, repeats)
    margin = seconds["forecast"] - seconds["import_torch"]
    return {"forecast_s": seconds["forecast"], "import_torch_s": seconds["import_torch"], "difference_s": margin,
            "target_difference_s": FORECAST_MARGIN_TARGET, "met": margin <= FORECAST_MARGIN_TARGET}


def warm_up(model: Path) -> float:
    """One untimed small training run (it may compile the C++ kernel); its model serves the forecast section."""
    seconds, done = run(tsgate("train", str(AIR), "--epochs", "1", "--ensemble", "1", "--quiet", "-o", str(model)))
    check(done)
    return seconds


# ---- output --------------------------------------------------------------------------------------------

def machine() -> dict:
    _, done = run([sys.executable, "-c", "import torch; print(torch.__version__)"])
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": check(done).stdout.strip()}


def train_lines(train: dict) -> list[list]:
    large, small = train["large"], train["small"]
    lines = [[f"{large['points']:,} pts", r["backbone"], r["tsgate_s"], r["lean_s"], "speed-up", r["speedup"],
              f">= {r['target_speedup']}", r["met"]] for r in large["rows"]]
    lines += [[f"{small['points']} pts (air)", r["backbone"], r["tsgate_s"], r["lean_s"], "time ratio", r["time_ratio"],
               f"<= {r['target_time_ratio']}", r["met"]] for r in small["rows"]]
    return lines


def compare_lines(compare: dict) -> list[list]:
    if compare["skipped"]:
        return [["compare seattle", "jobs 1 / 2", None, None, "skipped", None, "no --jobs option", None]]
    return [["compare seattle", "jobs 1 / 2", compare["jobs1_s"], compare["jobs2_s"], "speed-up", compare["speedup"],
             f">= {compare['target_speedup']} (same rows: {fmt(compare['same_rows'])})", compare["met"]]]


def forecast_lines(forecast: dict) -> list[list]:
    return [["forecast air", "vs import torch", forecast["forecast_s"], forecast["import_torch_s"], "difference s",
             forecast["difference_s"], f"<= {forecast['target_difference_s']}", forecast["met"]]]


def print_report(document: dict) -> None:
    lines = []
    if "train" in document:
        lines += train_lines(document["train"])
    if "compare" in document:
        lines += compare_lines(document["compare"])
    if "forecast" in document:
        lines += forecast_lines(document["forecast"])
    print(f"\nWhole-process seconds (minimum of {document['repeats']}; compare once each)"
          + (" -- QUICK: smoke test, not the measured sizes" if document["quick"] else ""))
    print_table(["case", "model", "tsgate s", "other s", "figure", "value", "target", "met"], lines)
    print("other = lean_train.py (train), compare --jobs 2 (compare), python -c 'import torch' (forecast); "
          "speed-up > 1: tsgate faster")


def rounded(value, digits: int = 4):
    """The same structure with floats rounded, so the JSON stays readable."""
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return round(value, digits) if isinstance(value, float) else value


# ---- main ----------------------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeatable); default: all")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement, the minimum kept (not compare)")
    parser.add_argument("--quick", action="store_true", help="train section on 3,000 points and 2 epochs (smoke test)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file to write (atomically)")
    options = parser.parse_args(argv)
    options.only = [section for section in SECTIONS if section in (options.only or SECTIONS)]
    return options


def run_all(options, tmp: Path) -> dict:
    document = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "only": options.only,
                "repeats": options.repeats, "quick": options.quick, "machine": machine()}
    model = tmp / "air.tsgate"
    print("Warm-up: one untimed tsgate train on air_passengers.csv (may compile the C++ kernel) ...", flush=True)
    document["warmup_s"] = warm_up(model)
    if "train" in options.only:
        document["train"] = train_section(tmp, options)
    if "compare" in options.only:
        document["compare"] = compare_section()
    if "forecast" in options.only:
        document["forecast"] = forecast_section(model, options.repeats)
    return document


def main(argv=None) -> int:
    options = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="tsgate-endtoend-") as tmp:
            document = run_all(options, Path(tmp))
    except BenchmarkError as error:
        print(f"\nend-to-end benchmark failed: {error}", file=sys.stderr)
        return 1
    print_report(document)
    write_json_atomically(rounded(document), Path(options.out))
    print(f"\nWrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
