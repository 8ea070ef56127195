"""tsgate's speed and memory benchmark: prints tables and writes a JSON.

    python benchmarks/bench.py                 # the standard run (several minutes on 2 cores)
    python benchmarks/bench.py --quick         # typical size only, no compare/memory sections
    python benchmarks/bench.py --full          # the whole size grid (long)
    python benchmarks/bench.py --out FILE.json

Every throughput is stated beside the same-shape matrix-multiply throughput
measured in the same run, since absolute figures move 10-30% between runs on a
shared machine. FLOPs per training step and layer: 3 x 2*B*G*H*(I+H)*L (forward
plus about twice that for backward), G = 1 (RNN), 3 (GRU), 4 (LSTM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tsgate.kernels import fast_path_name  # noqa: E402
from tsgate.models import GATE_BLOCKS, ModelConfig, RecurrentForecaster  # noqa: E402

TYPICAL = dict(hidden=64, lookback=48, batch=128, layers=1)
SAMPLE_COMPARES = [
    ("air_passengers.csv", ["--lookback", "24", "--horizon", "12"]),
    ("mauna_loa_co2.csv", ["--lookback", "24", "--horizon", "12"]),
    ("us_unemployment_by_industry.csv", ["--id-col", "industry", "--lookback", "24", "--horizon", "6"]),
    ("seattle_hourly_temperature.csv", ["--lookback", "48", "--horizon", "24"]),
]


# ---- training throughput --------------------------------------------------------------------------

def size_grid(full: bool, quick: bool = False) -> list[dict]:
    """The typical size, then each dimension varied alone (or the whole grid with --full)."""
    if quick:
        return [dict(TYPICAL)]
    if full:
        return [dict(hidden=h, lookback=l, batch=b, layers=n)
                for h in (32, 64, 128) for l in (24, 48, 168) for b in (32, 128, 512) for n in (1, 2)]
    grid = [dict(TYPICAL)]
    for key, values in (("hidden", (32, 128)), ("lookback", (24, 168)), ("batch", (32, 512)), ("layers", (2,))):
        grid += [{**TYPICAL, key: value} for value in values]
    return grid


def train_step_rate(backbone: str, size: dict, kernel: str, seconds: float = 0.6, repeats: int = 3) -> float:
    """Training windows/s (forward + backward + Adam) of tsgate's model with the given kernel path."""
    os.environ["TSGATE_KERNEL"] = kernel
    torch.manual_seed(0)
    config = ModelConfig(backbone, n_targets=1, lookback=size["lookback"], horizon=12, hidden=size["hidden"], layers=size["layers"])
    model = RecurrentForecaster(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(size["batch"], size["lookback"], 1)  # (B, L, 1)
    y = torch.randn(size["batch"], 12, 1)

    def step():
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    best = 0.0
    for _ in range(repeats):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            step()
            count += 1
        best = max(best, count * size["batch"] / (time.perf_counter() - started))
    os.environ.pop("TSGATE_KERNEL", None)
    return best


def flops_per_window(backbone: str, size: dict) -> float:
    gates, hidden = GATE_BLOCKS[backbone], size["hidden"]
    total = 0.0
    for layer in range(size["layers"]):
        inputs = 1 if layer == 0 else hidden
        total += 3 * 2 * gates * hidden * (inputs + hidden) * size["lookback"]
    return total


def matmul_peak(backbone: str, size: dict, seconds: float = 0.3, repeats: int = 3) -> float:
    """GFLOP/s of torch.mm for the recurrent step's shape: (B x (I+H)) @ ((I+H) x G*H)."""
    gates, hidden = GATE_BLOCKS[backbone], size["hidden"]
    a, b = torch.randn(size["batch"], 1 + hidden), torch.randn(1 + hidden, gates * hidden)
    flops = 2 * size["batch"] * (1 + hidden) * gates * hidden
    best = 0.0
    for _ in range(repeats):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(50):
                torch.mm(a, b)
            count += 50
        best = max(best, count * flops / (time.perf_counter() - started) / 1e9)
    return best


def training_section(sizes: list[dict]) -> list[dict]:
    rows = []
    for size in sizes:
        for backbone in ("rnn", "gru", "lstm"):
            peak = matmul_peak(backbone, size)
            model = RecurrentForecaster(ModelConfig(backbone, hidden=size["hidden"], layers=size["layers"]))
            tsgate_rate = train_step_rate(backbone, size, "")
            stock_rate = train_step_rate(backbone, size, "stock")
            flops = flops_per_window(backbone, size)
            row = {**size, "backbone": backbone, "kernel": fast_path_name(model.rnn),
                   "tsgate_windows_per_s": tsgate_rate, "stock_windows_per_s": stock_rate,
                   "speedup": tsgate_rate / stock_rate, "matmul_gflops": peak,
                   "tsgate_pct_peak": 100 * tsgate_rate * flops / 1e9 / peak,
                   "stock_pct_peak": 100 * stock_rate * flops / 1e9 / peak}
            rows.append(row)
            print(f"  h{size['hidden']:<4} L{size['lookback']:<4} B{size['batch']:<4} x{size['layers']} {backbone:<5}"
                  f" tsgate {tsgate_rate:9.0f}/s ({row['tsgate_pct_peak']:4.1f}% of peak, {row['kernel']})"
                  f"  stock {stock_rate:9.0f}/s ({row['stock_pct_peak']:4.1f}%)  x{row['speedup']:.2f}", flush=True)
    return rows


def threads_section() -> list[dict]:
    """GRU training at the typical size with 1 and 2 threads, idle and with the other core busy."""
    rows = []
    for busy in (False, True):
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                rate = train_step_rate("gru", TYPICAL, "", seconds=0.5, repeats=2)
                rows.append({"threads": threads, "other_core_busy": busy, "gru_windows_per_s": rate})
                print(f"  threads {threads}, other core {'busy' if busy else 'idle'}: {rate:9.0f} GRU windows/s", flush=True)
        finally:
            if burner:
                burner.kill()
                burner.wait()
    torch.set_num_threads(1)
    return rows


# ---- whole-program figures ------------------------------------------------------------------------------

def timed_run(args: list[str], repeats: int = 1) -> tuple[float, subprocess.CompletedProcess]:
    best, done = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        best = min(best, time.perf_counter() - started)
    return best, done


def startup_section() -> dict:
    python = sys.executable
    probe = "import sys, tsgate; print(sorted(m for m in ('torch','pandas','sklearn') if m in sys.modules))"
    import_s, imported = timed_run([python, "-c", probe], repeats=5)
    help_s, _ = timed_run([python, "-m", "tsgate", "--help"], repeats=5)
    bare_s, _ = timed_run([python, "-c", "pass"], repeats=5)
    torch_s, _ = timed_run([python, "-c", "import torch"], repeats=3)
    result = {"python_bare_s": bare_s, "import_tsgate_s": import_s, "help_s": help_s, "import_torch_s": torch_s,
              "heavy_modules_after_import": imported.stdout.strip()}
    print(f"  python -c pass {bare_s:.3f}s   import tsgate {import_s:.3f}s   tsgate --help {help_s:.3f}s"
          f"   (import torch alone {torch_s:.3f}s; heavy modules loaded by import tsgate: {result['heavy_modules_after_import']})")
    return result


def forecast_section() -> dict:
    from tsgate.train import predict_inputs

    torch.set_num_threads(1)
    model = RecurrentForecaster(ModelConfig("gru", lookback=48, horizon=12, hidden=64)).eval()
    result = {}
    for windows in (1, 10_000):
        x = torch.randn(windows, 48, 1)
        predict_inputs(model, x)
        started = time.perf_counter()
        repeats = 20 if windows == 1 else 2
        for _ in range(repeats):
            predict_inputs(model, x)
        result[f"gru_{windows}_windows_ms"] = 1000 * (time.perf_counter() - started) / repeats
    print(f"  GRU h64 L48 forecast: 1 window {result['gru_1_windows_ms']:.2f} ms, 10,000 windows {result['gru_10000_windows_ms']:.0f} ms")
    return result


def compare_section() -> list[dict]:
    rows = []
    for name, extra in SAMPLE_COMPARES:
        args = [sys.executable, "-m", "tsgate", "compare", f"sample_data/{name}", *extra, "--quiet", "--format", "json"]
        seconds, done = timed_run(args)
        if done.returncode != 0:
            raise SystemExit(f"compare failed on {name}: {done.stderr.strip()}")
        document = json.loads(done.stdout)
        rows.append({"file": name, "options": " ".join(extra), "wall_s": seconds, "verdict": document["verdict"],
                     "train_s": {row["model"]: row["train_seconds"] for row in document["rows"] if row["kind"] == "recurrent"}})
        print(f"  {name:<36} {seconds:6.1f}s  {document['verdict']}", flush=True)
    return rows


MEMORY_SCRIPT = """
import os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np, pandas as pd, torch
sys.path.insert(0, sys.argv[1])
from tsgate import Forecaster
from tsgate.data import SeriesSet

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field))

n = 1_000_000
rng = np.random.default_rng(0)
values = (np.sin(np.arange(n) / 60) + 0.1 * rng.standard_normal(n))[:, None]  # (T, 1) float64
index = pd.date_range("2000-01-01", periods=n, freq="min")
series = SeriesSet.from_arrays([""], [values], [index], targets=["y"], freq="min", time_col="timestamp")
model = Forecaster(backbone="rnn", lookback=48, horizon=12, hidden=16, epochs=1, batch_size=1024, ensemble=1, calendar=False)
# Warm up on a small series first, so one-time costs (libraries, the kernel) don't count as data memory.
small = SeriesSet.from_arrays([""], [values[:2000]], [index[:2000]], targets=["y"], freq="min", time_col="timestamp")
model.fit(small)
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmRSS:")
started = time.perf_counter()
model.fit(series)
print(before, status("VmHWM:"), time.perf_counter() - started)
"""


def memory_section() -> dict:
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(ROOT)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"memory probe failed: {done.stderr.strip()}")
    before, after, seconds = (float(v) for v in done.stdout.split())
    raw = 1_000_000 * 8  # float64 values
    result = {"points": 1_000_000, "raw_series_bytes": raw, "rss_before_fit_bytes": before,
              "peak_rss_during_fit_bytes": after, "fit_growth_bytes": after - before,
              "growth_over_raw": (after - before) / raw, "one_epoch_fit_s": seconds}
    print(f"  1,000,000 points, 1 epoch RNN h16: peak RSS during fit {(after - before) / 2**20:.0f} MiB above the start "
          f"= {result['growth_over_raw']:.1f}x the raw series ({raw / 2**20:.1f} MiB); {seconds:.0f}s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="typical size and start-up only")
    parser.add_argument("--full", action="store_true", help="the whole size grid")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "latest.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    report = {"machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                          "torch": torch.__version__, "python": sys.version.split()[0], "threads": 1},
              "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    print("start-up")
    report["startup"] = startup_section()
    print("training throughput (windows/s; % of the same-shape matmul peak)")
    report["training"] = training_section(size_grid(args.full, args.quick))
    print("threads")
    report["threads"] = threads_section()
    print("forecast latency")
    report["forecast"] = forecast_section()
    if not args.quick:
        print("tsgate compare on sample_data (wall time, defaults + the options shown)")
        report["compare"] = compare_section()
        print("memory")
        report["memory"] = memory_section()
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
