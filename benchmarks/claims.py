"""What `tsgate compare --claims` costs, and the verdicts it reaches, on each sample file and M4 Weekly.

    python benchmarks/claims.py                                        # the four sample files, tsgate's defaults
    python benchmarks/claims.py --files air_passengers,mauna_loa_co2   # some of them
    python benchmarks/claims.py --compare-args "--steps 500" --m4-series 60   # cheaper fits; M4 Weekly's first 60 series too

Every figure comes from running tsgate as a user does: `python -m tsgate compare FILE --horizon H
--claims --format json --quiet` in a subprocess (horizons and --id-col as benchmarks/accuracy.py
uses: 12, 12, 6 and 24; M4 Weekly 13, its training parts written as one long CSV as accuracy.py
writes them). Per data set it records the command's wall seconds, the comparison's networks, the
sweep fits and the estimate the plan printed, and each claim's verdict and summary line. Prints a
table and writes the JSON (--out, atomically).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (  # noqa: E402  (a sibling script, not a package)
    M4_HORIZON,
    ROOT,
    BenchmarkError,
    print_table,
    read_m4,
    run_tsgate,
    sample_runs,
    versions,
    write_json_atomically,
    write_long_csv,
)

CLAIM_IDS = ("fewer-parameters-faster", "converges-more-easily", "lstm-better-on-large-data",
             "rnn-enough-for-short-sequences")


def claims_command(path: Path, horizon: int | None, extra: list[str], options) -> list[str]:
    horizon_args = [] if horizon is None else ["--horizon", str(horizon)]  # None: compare's default
    return ["compare", str(path), *horizon_args, *extra, "--claims", "--format", "json", "--quiet",
            "--seed", str(options.seed), *shlex.split(options.compare_args)]


def run_claims(name: str, command: list[str], log: list[dict]) -> dict:
    stdout, seconds = run_tsgate(command, f"claims on {name}", log)
    document = json.loads(stdout)
    settings, plan = document["settings"], document["claims_plan"]
    networks = len(settings["models"]) * settings["seeds"] * settings["folds"] * settings["forecaster"]["ensemble"]
    return {
        "data": name, "command": shlex.join(["tsgate", *command]), "wall_seconds": round(seconds, 1),
        "comparison_networks": networks, "sweep_fits": plan["sweep_fits"],
        "estimated_sweep_seconds": plan["estimated_seconds"], "data_size": plan["data"], "dropped": plan["dropped"],
        "verdicts": {claim["id"]: claim["verdict"] for claim in document["claims"]},
        "summaries": {claim["id"]: claim["summary"] for claim in document["claims"]},
        "rows": [{key: row[key] for key in ("model", "mase", "dm_p", "parameters", "train_seconds")} for row in document["rows"]],
    }


def m4_run(limit: int, tmp: Path, options, log: list[dict]) -> dict:
    """M4 Weekly's training parts (the first `limit` series, or all) as one long CSV, compared with --claims."""
    train, _ = read_m4(Path(options.m4_dir), limit or None)
    path = tmp / "m4-weekly.csv"
    write_long_csv(train, path)
    name = f"M4 Weekly ({len(train)} series)"
    return run_claims(name, claims_command(path, M4_HORIZON, ["--id-col", "id"], options), log)


def print_results(results: list[dict]) -> None:
    print("compare --claims: cost and verdicts")
    print_table(["data", "wall s", "networks", "sweep fits", "estimate s", *CLAIM_IDS],
                [[r["data"], r["wall_seconds"], r["comparison_networks"], r["sweep_fits"],
                  round(r["estimated_sweep_seconds"] or 0, 1), *(r["verdicts"][c] for c in CLAIM_IDS)] for r in results])
    for result in results:
        print(f"\n{result['data']}: {result['command']}")
        for claim in CLAIM_IDS:
            print(f"  {result['summaries'][claim]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="", help="comma-separated sample names or CSV paths (:HORIZON); default: the four samples")
    parser.add_argument("--compare-args", default="", help="appended to every compare command, e.g. \"--steps 500\"")
    parser.add_argument("--m4-series", type=int, default=None, help="also M4 Weekly: its first N series (0: all 359)")
    parser.add_argument("--m4-dir", default=str(ROOT.parent / "shared" / "data" / "m4-weekly"))
    parser.add_argument("--no-samples", action="store_true", help="M4 Weekly only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "claims.json"))
    options = parser.parse_args(argv)
    log: list[dict] = []
    started = time.perf_counter()
    try:
        results = [] if options.no_samples else [
            run_claims(run.file, claims_command(run.path, run.horizon, run.extra, options), log)
            for run in sample_runs(options.files)]
        if options.m4_series is not None:
            with tempfile.TemporaryDirectory() as tmp:
                results.append(m4_run(options.m4_series, Path(tmp), options, log))
        document = {"versions": versions(log), "compare_args": options.compare_args, "seed": options.seed,
                    "results": results, "total_seconds": round(time.perf_counter() - started, 1), "commands": log}
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print_results(results)
    write_json_atomically(document, Path(options.out))
    print(f"\nwrote {options.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
