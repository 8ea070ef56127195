"""Where a whole `tsgate` command spends its time: imports, reading, training steps, validation, saving.

    python benchmarks/profile_command.py -- train sample_data/air_passengers.csv --epochs 1 -k 1 -o /tmp/m.tsgate
    python benchmarks/profile_command.py --python /tmp/old-venv/bin/python -- train ...   # another install
    python benchmarks/profile_command.py --out FILE.json -- forecast m.tsgate sample_data/air_passengers.csv

Runs the command twice in fresh processes: once under `python -X importtime` (what each
import costs) and once under cProfile (what each phase costs, by the cumulative time of
the functions named in PHASES). Prints a breakdown and writes it to a JSON. A phase
includes what it calls, imports done on the way included (reading the CSV imports
pandas), and nested phases are indented (a training step includes the optimizer).
Profiling adds overhead to Python-heavy phases; compare breakdowns of two installs,
not their absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# Import groups: a top-level package and what it brought in (cumulative import time).
IMPORTS = ("torch", "pandas", "numpy", "sklearn", "scipy", "torch._dynamo", "torch.utils.cpp_extension", "rich",
           "typer", "tsgate")
# Phases: (name, (file name suffix, function name), ...) as pstats records functions.
PHASES = (
    ("read and check the CSV", ("cli.py", "read_series")),
    ("cut windows", ("windows.py", "build_windows")),
    ("load the C++ kernel", ("kernels.py", "_cpp_loops")),
    ("training steps", ("train.py", "train_step")),
    ("  optimizer and clipping", ("optim.py", "step"), ("optimizer.py", "wrapper"), ("clip_grad.py", "clip_grad_norm_"),
     ("lr_scheduler.py", "step")),
    ("validation checks", ("train.py", "evaluate_loss")),
    ("calibration forecasts", ("train.py", "validation_forecasts")),
    ("forecast", ("forecaster.py", "predict_array")),
    ("write the model file", ("forecaster.py", "save")),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter whose tsgate to profile, e.g. another venv's (default: this one)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="tsgate arguments, after --")
    args = parser.parse_args()
    command = [a for a in args.command if a != "--"] if args.command[:1] == ["--"] else args.command
    command = [str(Path(a).resolve()) if Path(a).exists() else a for a in command]  # the runs start elsewhere
    result = profile(args.python, command)
    print_breakdown(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


ENVIRONMENT = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
# Outside any checkout: `python -m tsgate` started in one would import that checkout's tsgate.
NEUTRAL = tempfile.gettempdir()


def profile(python: str, command: list[str]) -> dict:
    started = time.perf_counter()
    subprocess.run([python, "-m", "tsgate", *command], env=ENVIRONMENT, cwd=NEUTRAL, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    imports = import_times(python, command)
    phases = phase_times(python, command)
    return {"python": python, "command": command, "wall_seconds": round(wall, 3),
            "imports_seconds": {k: round(v, 3) for k, v in imports.items()},
            "phases_seconds": {k: round(v, 3) for k, v in phases.items()}}


def import_times(python: str, command: list[str]) -> dict:
    """Cumulative seconds of the IMPORTS groups, and of all top-level imports ("all")."""
    done = subprocess.run([python, "-X", "importtime", "-m", "tsgate", *command], env=ENVIRONMENT, cwd=NEUTRAL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    cumulative, everything = {}, 0.0
    for line in done.stderr.splitlines():  # "import time:  self | cumulative | <indent>name"
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        seconds, name = int(parts[1]) / 1e6, parts[2]
        cumulative[name.strip()] = cumulative.get(name.strip(), 0.0) + seconds
        if len(name) - len(name.lstrip()) == 1:  # imported at the top level, not by another module
            everything += seconds
    groups = {name: cumulative[name] for name in IMPORTS if name in cumulative}
    groups["all"] = everything
    return groups


def phase_times(python: str, command: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        stats_file = Path(folder) / "run.prof"
        subprocess.run([python, "-m", "cProfile", "-o", str(stats_file), "-m", "tsgate", *command],
                       env=ENVIRONMENT, cwd=NEUTRAL, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stats = pstats.Stats(str(stats_file)).stats  # {(file, line, function): (cc, nc, tt, ct, callers)}
    times = {}
    for name, *patterns in PHASES:
        times[name] = sum(entry[3] for (file, _, function), entry in stats.items()
                          if any(file.endswith(suffix) and function == wanted for suffix, wanted in patterns))
    return times


def print_breakdown(result: dict) -> None:
    print(f"tsgate {' '.join(result['command'])}  ({result['python']})")
    print(f"  whole process                 {result['wall_seconds']:7.3f} s")
    print(f"  imports, all                  {result['imports_seconds'].get('all', 0):7.3f} s")
    for name, seconds in result["imports_seconds"].items():
        if name != "all":
            print(f"    import {name:<22} {seconds:7.3f} s")
    for name, seconds in result["phases_seconds"].items():
        print(f"  {name:<29} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
