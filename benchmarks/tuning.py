"""What tuning costs: `tsgate compare --tune N` on every sample file, and trials per minute with one
and two processes sharing one study.

    python benchmarks/tuning.py                                    # --tune 20 on the four files, then 1 vs 2 processes
    python benchmarks/tuning.py --trials 10 --train-args "--steps 300"   # a quicker look
    python benchmarks/tuning.py --only scaling --scaling-trials 16
    python benchmarks/tuning.py --only cost --files air_passengers --no-untuned

Every figure comes from running tsgate as a user does (`python -m tsgate ...` in subprocesses):

1. Cost: `tsgate compare FILE --horizon H --tune N --jobs J --format json --quiet` (H and the
   panel's --id-col as benchmarks/accuracy.py gives them). Per file: the whole command's wall
   time, the tuning's wall time (the JSON's settings.tuning.seconds), trials per minute over the
   tuning (N trials x 3 backbones / its wall time), and each backbone's completed and pruned
   trials, the median and IQR of its trials' validation MAE, its best configuration and its test
   MASE. With --untuned (the default) the same compare runs without --tune beside it, so the
   tuned rows can be read against the untuned ones and against ridge.
2. Scaling: `tsgate train FILE --model gru --tune M --jobs 1 --storage JOURNAL --study bench` as one
   process, then as two processes started at once on a fresh journal. Trials per minute is read
   from the study: finished trials over the time from the first trial's start to the last one's
   end (so neither process start nor the final training counts); the ratio of two processes to one
   is the figure the issue asks for (target: 1.7x or more).

Results go to stdout and to a JSON file (--out, written atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import SAMPLES, BenchmarkError, run_tsgate, subprocess_env  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "tuning.json"
BACKBONES = ("rnn", "gru", "lstm")


def compare_args(file: str, horizon: int, extra: list[str], options) -> list[str]:
    return ["compare", str(ROOT / "sample_data" / file), "--horizon", str(horizon), *extra, "--format", "json",
            "--quiet", "--seed", str(options.seed), "--jobs", str(options.jobs), *shlex.split(options.train_args)]


def cost_of(file: str, horizon: int, extra: list[str], options, log: list) -> dict:
    """One file's `compare --tune N`, and with options.untuned the same compare without tuning."""
    stdout, wall = run_tsgate([*compare_args(file, horizon, extra, options), "--tune", str(options.trials)],
                              f"compare --tune {options.trials} {file}", log)
    document = json.loads(stdout)
    tuning_wall = document["settings"]["tuning"]["seconds"]
    rows = {row["model"]: row for row in document["rows"]}
    result = {"file": file, "horizon": horizon, "wall_seconds": wall, "tuning_seconds": tuning_wall,
              "trials_per_minute": 60 * options.trials * len(BACKBONES) / tuning_wall,
              "ridge_mase": rows["ridge"]["mase"],
              "backbones": {name: {"mase": rows[name]["mase"], "dm_p": rows[name]["dm_p"], **rows[name]["tuning"]}
                            for name in BACKBONES}}
    best = min(BACKBONES, key=lambda name: rows[name]["mase"])
    result["best_tuned"] = best
    result["best_tuned_beats_ridge"] = rows[best]["mase"] < rows["ridge"]["mase"]
    if options.untuned:
        stdout, wall = run_tsgate(compare_args(file, horizon, extra, options), f"compare {file}", log)
        untuned = {row["model"]: row for row in json.loads(stdout)["rows"]}
        result["untuned"] = {"wall_seconds": wall, **{name: untuned[name]["mase"] for name in (*BACKBONES, "ridge")}}
        result["best_untuned"] = min(BACKBONES, key=lambda name: untuned[name]["mase"])
    return result


def study_rate(journal: Path, name: str) -> dict:
    """Finished trials per minute of a study, from its first trial's start to its last trial's end."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))
    done = [t for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return {"finished": len(done), "failed": sum(t.state.name == "FAIL" for t in study.get_trials()),
            "span_seconds": span, "trials_per_minute": 60 * len(done) / span}


def scaling(options, log: list) -> dict:
    """Trials per minute of one process, then of two sharing one study (each --jobs 1)."""
    file, horizon, extra = next(sample for sample in SAMPLES if sample[0].startswith(options.scaling_file))
    results = {}
    for processes in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            journal = Path(folder) / "journal.log"
            args = ["train", str(ROOT / "sample_data" / file), "--horizon", str(horizon), *extra, "--model", "gru",
                    "--tune", str(options.scaling_trials), "--jobs", "1", "--storage", str(journal), "--study", "bench",
                    "--quiet", "--seed", str(options.seed), *shlex.split(options.train_args)]
            started = time.perf_counter()
            children = [subprocess.Popen([sys.executable, "-m", "tsgate", *args, "-o", str(Path(folder) / f"m{k}.tsgate")],
                                         cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True) for k in range(processes)]
            errors = [child.communicate()[1] for child in children]
            wall = time.perf_counter() - started
            log.append({"purpose": f"train --tune, {processes} process(es)", "command": shlex.join(args),
                        "seconds": round(wall, 3), "returncode": [child.returncode for child in children]})
            if any(child.returncode for child in children):
                raise BenchmarkError(f"train --tune failed with {processes} processes:\n{errors}")
            results[processes] = {"wall_seconds": wall, **study_rate(journal, "bench-gru")}
    return {"file": file, "trials": options.scaling_trials, "one": results[1], "two": results[2],
            "ratio": results[2]["trials_per_minute"] / results[1]["trials_per_minute"]}


def report(document: dict) -> None:
    for item in document.get("cost", []):
        print(f"\n{item['file']} (H = {item['horizon']}): compare --tune {document['trials']} took "
              f"{item['wall_seconds']:.0f} s, the tuning {item['tuning_seconds']:.0f} s = "
              f"{item['trials_per_minute']:.1f} trials/min; ridge MASE {item['ridge_mase']:.3f}")
        for name, row in item["backbones"].items():
            untuned = f"  untuned {item['untuned'][name]:.3f}" if "untuned" in item else ""
            print(f"  {name:5s} MASE {row['mase']:.3f}{untuned}  trials {row['trials']} + {row['pruned']} pruned  "
                  f"val MAE median {row['val_loss_median']:.4g} IQR {row['val_loss_iqr']:.3g}  best {row['best']}")
    if "scaling" in document:
        s = document["scaling"]
        print(f"\n{s['file']}: {s['trials']} trials, one process {s['one']['trials_per_minute']:.1f}/min, two "
              f"{s['two']['trials_per_minute']:.1f}/min: {s['ratio']:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="--tune N of the cost runs")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the cost runs")
    parser.add_argument("--files", default="", help="comma-separated sample names (default: all four)")
    parser.add_argument("--untuned", action=argparse.BooleanOptionalAction, default=True,
                        help="also run each compare without --tune")
    parser.add_argument("--scaling-trials", type=int, default=20)
    parser.add_argument("--scaling-file", default="air_passengers")
    parser.add_argument("--only", choices=("cost", "scaling"))
    parser.add_argument("--train-args", default="", help="appended to every tsgate command, e.g. \"--steps 300\"")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    options = parser.parse_args(argv)
    log: list = []
    wanted = [name.strip().removesuffix(".csv") for name in options.files.split(",") if name.strip()]
    document = {"trials": options.trials, "jobs": options.jobs, "train_args": options.train_args,
                "load_average_before": os.getloadavg(), "commands": log}
    try:
        if options.only != "scaling":
            document["cost"] = [cost_of(file, horizon, extra, options, log) for file, horizon, extra in SAMPLES
                                if not wanted or file.removesuffix(".csv") in wanted]
        if options.only != "cost":
            document["scaling"] = scaling(options, log)
    except BenchmarkError as exc:
        print(exc, file=sys.stderr)
        return 1
    document["load_average_after"] = os.getloadavg()
    report(document)
    temporary = options.out.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(temporary, options.out)
    print(f"\nwrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
