"""Many series on one machine, and data-parallel training with torchrun: how tsgate grows with a panel.

    python benchmarks/panel.py                      # 100, 1,000 and 10,000 series (about 10M rows)
    python benchmarks/panel.py --series 100 1000    # a quicker look

For each panel size (benchmarks/panel_data.py's daily panels, 500-1,500 points per series):
- load: read_csv + load_series, in seconds;
- train: the time per optimizer step (validation checks included) of one GRU over `--steps`
  steps, and from it the time an epoch (one pass over every training window) takes;
- memory: what the training adds to the process (resident memory from just before the windows
  are built to the peak during training) against the raw float32 values (rows x 4 bytes), and
  the peak resident memory of a whole `tsgate train` process;
- forecast: Forecaster.predict for every series (one batched pass and the output table).
Then, for the largest panel, an epoch on 1 process against 2 torchrun processes (gloo, one
thread each) at the same global batch. Every measurement runs in a fresh process. The figures
go to stdout and to benchmarks/panel.json. Takes about 10 minutes for the full set on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import print_table, subprocess_env, write_json_atomically  # noqa: E402
from panel_data import panel_frame  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(tempfile.gettempdir()) / "tsgate-panel"
TRAIN = ["--id-col", "id", "--model", "gru", "--ensemble", "1", "--no-refit", "--quiet"]


def panel_file(series: int) -> Path:
    path = DATA / f"panel_{series}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        panel_frame(series).to_csv(path, index=False)
    return path


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakSampler:
    """The highest resident memory seen every few milliseconds while it runs."""

    def __init__(self):
        self.peak, self.running = resident_mb(), True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while self.running:
            self.peak = max(self.peak, resident_mb())
            time.sleep(0.005)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return max(self.peak, resident_mb())


def measure_in_process(path: Path, steps: int) -> dict:
    """Load, train `steps` steps and forecast in this process (run as a child: a fresh process)."""
    from tsgate import windows
    from tsgate.data import DataOptions, load_series
    from tsgate.forecaster import Forecaster
    from tsgate.io import read_csv
    from tsgate.prepare import train_lengths

    started = time.perf_counter()
    options = DataOptions(id_col="id")
    series = load_series(read_csv(str(path), labels=options.label_columns), options)
    load_seconds = time.perf_counter() - started
    rows = len(series.flat)
    before = {}
    build = windows.build_windows

    def build_and_watch(*args, **kwargs):  # the training's own memory starts where its windows are built
        if "rss" not in before:
            before["rss"], before["sampler"] = resident_mb(), PeakSampler()
        return build(*args, **kwargs)

    windows.build_windows = build_and_watch
    model = Forecaster(backbone="gru", ensemble=1, steps=steps, refit=False, patience=10**6, device="cpu")
    checks = []
    model.fit(series, on_progress=lambda step, *_: checks.append((step, time.perf_counter())))
    peak = before["sampler"].stop()
    lookback = model.members_[0].config.lookback
    train = train_lengths(series, model.horizon, model.val_fraction)
    windows_per_epoch = int((train - lookback - model.horizon + 1).clip(min=0).sum())
    (first_step, first_time), (last_step, last_time) = checks[0], checks[-1]
    per_step = (last_time - first_time) / (last_step - first_step)  # steady state: validation checks in, set-up out
    started = time.perf_counter()
    frame = model.predict()
    forecast_seconds = time.perf_counter() - started
    return {
        "series": len(series.ids), "rows": rows, "load_seconds": load_seconds,
        "seconds_per_step": per_step, "windows_per_epoch": windows_per_epoch,
        "epoch_seconds": per_step * math.ceil(windows_per_epoch / model.batch_size),
        "raw_float32_mb": rows * len(series.targets) * 4 / 2**20,
        "training_added_mb": peak - before["rss"], "forecast_seconds": forecast_seconds, "forecast_rows": len(frame),
        "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=subprocess_env(), cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"measurement failed: {' '.join(args)}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_train_peak_mb(path: Path, steps: int, out: Path) -> tuple[float, float]:
    """(peak resident MB, wall seconds) of one whole `tsgate train` process, from os.wait4."""
    command = [sys.executable, "-m", "tsgate", "train", str(path), *TRAIN, "--steps", str(steps), "-o", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=out.parent, env=subprocess_env(), stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"tsgate train failed: {process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seconds_per_step(path: Path, steps: int, batch: int, processes: int) -> float:
    """Seconds per training step (validation checks included, set-up excluded) of 1 process, or of
    torchrun with `processes`, each one thread, at global batch `batch`."""
    mode = ["--time-steps", str(path), "--steps", str(steps), "--batch", str(batch)]
    command = [sys.executable, __file__, *mode]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-addr",
                   "127.0.0.1", "--master-port", str(free_port()), __file__, *mode]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**subprocess_env(), "OMP_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(f"training failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_step"]


def time_steps(path: Path, steps: int, batch: int) -> None:
    """Train one GRU for `steps` steps (as a single process or as one torchrun rank) and print, on
    rank 0, the seconds per step between the first and the last validation check."""
    from tsgate import distributed
    from tsgate.data import DataOptions, load_series
    from tsgate.forecaster import Forecaster
    from tsgate.io import read_csv

    distributed.start("cpu")
    options = DataOptions(id_col="id")
    series = load_series(read_csv(str(path), labels=options.label_columns), options)
    checks = []
    model = Forecaster(backbone="gru", ensemble=1, steps=steps, batch_size=batch, refit=False, patience=10**6, device="cpu")
    model.fit(series, on_progress=lambda step, *_: checks.append((step, time.perf_counter())))
    distributed.stop()
    if distributed.is_main():
        (first_step, first_time), (last_step, last_time) = checks[0], checks[-1]
        print(json.dumps({"seconds_per_step": (last_time - first_time) / (last_step - first_step)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps timed per panel")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512, 1024, 2048], help="global batches for 1 vs 2 processes")
    parser.add_argument("--measure-one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--time-steps", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("panel.json"))
    args = parser.parse_args()
    if args.measure_one:
        print(json.dumps(measure_in_process(args.measure_one, args.steps)))
        return
    if args.time_steps:
        time_steps(args.time_steps, args.steps, args.batch)
        return
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "m.tsgate"
        for series in args.series:
            path = panel_file(series)
            row = run_child(["--measure-one", str(path), "--steps", str(args.steps)])
            row["train_process_peak_mb"], row["train_process_seconds"] = whole_train_peak_mb(path, args.steps, out)
            rows.append(row)
            print(f"measured {series} series", file=sys.stderr, flush=True)
        largest = panel_file(max(args.series))
        parallel = []
        for batch in args.batch_sizes:
            one = seconds_per_step(largest, args.steps, batch, 1)
            two = seconds_per_step(largest, args.steps, batch, 2)
            parallel.append({"global_batch": batch, "seconds_per_step_1": one, "seconds_per_step_2": two, "speedup": one / two})
    print_table(["series", "rows", "load s", "s/step", "epoch s", "train adds MB", "raw f32 MB", "adds / raw",
                 "forecast s", "process MB", "train process MB"],
                [[r["series"], r["rows"], r["load_seconds"], r["seconds_per_step"], r["epoch_seconds"],
                  r["training_added_mb"], r["raw_float32_mb"], r["training_added_mb"] / r["raw_float32_mb"],
                  r["forecast_seconds"], r["process_peak_mb"], r["train_process_peak_mb"]] for r in rows])
    first, last = rows[0], rows[-1]
    growth = last["rows"] / first["rows"]
    print(f"\n{first['series']} -> {last['series']} series: rows x{growth:.1f}, load x{last['load_seconds'] / first['load_seconds']:.1f}, "
          f"epoch x{last['epoch_seconds'] / first['epoch_seconds']:.1f}, forecast x{last['forecast_seconds'] / first['forecast_seconds']:.1f}")
    print(f"\nepoch of {max(args.series)} series, 1 process vs 2 torchrun processes (gloo, one thread each):")
    print_table(["global batch", "s/step 1 proc", "s/step 2 procs", "speedup"],
                [[p["global_batch"], p["seconds_per_step_1"], p["seconds_per_step_2"], p["speedup"]] for p in parallel])
    write_json_atomically({"panels": rows, "torchrun": parallel, "steps": args.steps, "cores": os.cpu_count()}, args.json)


if __name__ == "__main__":
    main()
