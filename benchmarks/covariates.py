"""What covariates cost: loading a panel with them, and a training step that reads them.

    python benchmarks/covariates.py                   # 1,000 and 10,000 series
    python benchmarks/covariates.py --series 1000     # a quicker look

For each panel size (benchmarks/panel_data.py's daily panels, 500-1,500 points per series) the
script adds a past covariate (noise), a future covariate (the value's weekly part plus noise, with
`--horizon` future rows after each series' last value) and a categorical static covariate (one of
four store types), writes it and the same panel without them (id, date, value, no future rows),
and measures in fresh processes:
- load: read_csv, then load_series (validate), of the plain file and of the one with all three
  (seconds, best of 3 each);
- step: milliseconds per training window gather + forward + backward + Adam step of one GRU
  (hidden 64, batch 128, lookback 56, horizon 14), without and with the covariates (median of 50).
The figures go to stdout and to benchmarks/covariates.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import print_table, subprocess_env, write_json_atomically  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(tempfile.gettempdir()) / "tsgate-covariates"

LOAD = """
import json, sys, time
from tsgate.data import DataOptions, load_series
from tsgate.io import read_csv
path, covariates = sys.argv[1], sys.argv[2] == "1"
names = dict(past_cov=("noise",), future_cov=("promo",), static_cov=("store_type",)) if covariates else {}
options = DataOptions(target=("value",), id_col="id", **names)
read, validate = float("inf"), float("inf")
for _ in range(3):
    started = time.perf_counter()
    frame = read_csv(path, labels=options.label_columns)
    between = time.perf_counter()
    series = load_series(frame, options)
    read, validate = min(read, between - started), min(validate, time.perf_counter() - between)
print(json.dumps({"read": read, "validate": validate, "series": len(series.ids), "rows": int(series.offsets[-1])}))
"""

STEP = """
import json, sys, time
import numpy as np, torch
from tsgate.data import DataOptions, load_series
from tsgate.forecaster import Forecaster
from tsgate.io import read_csv
from tsgate.prepare import plan_training
from tsgate.covariates import config_fields
from tsgate.models import RecurrentForecaster
from tsgate.config import ModelConfig, TrainConfig
from tsgate.optim import ClippedAdam
from tsgate.train import batches, batch_generator, configure_torch, window_loss
path, covariates = sys.argv[1], sys.argv[2] == "1"
names = dict(past_cov=("noise",), future_cov=("promo",), static_cov=("store_type",)) if covariates else {}
options = DataOptions(target=("value",), id_col="id", **names)
series = load_series(read_csv(path, labels=options.label_columns), options)
configure_torch(1)
plan = plan_training(series, lookback=56, horizon=14, val_fraction=0.2, members=1, anchor="last", calendar=True,
                     scaler="standard")
data = plan.windows[56]
config = ModelConfig("gru", 1, 56, 14, 64, n_calendar=2 * len(plan.cycles), **config_fields(series.covariates))
torch.manual_seed(0)
model = RecurrentForecaster(config)
optimizer = ClippedAdam(model.parameters(), 1.0)
times = []
for step, batch in zip(range(60), batches(data.train, 128, batch_generator(0))):
    started = time.perf_counter()
    x, y = data.gather(batch)
    loss = window_loss(model, x, y, "mae")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step(1e-3)
    if step >= 10:
        times.append(time.perf_counter() - started)
print(json.dumps({"ms_per_step": 1000 * float(np.median(times)), "inputs": config.n_inputs}))
"""


def covariate_panel(series: int, horizon: int):
    """panel_data's panel with a past, a future and a static covariate, and `horizon` future rows per series."""
    import numpy as np
    import pandas as pd

    from panel_data import panel_frame

    frame = panel_frame(series)
    rng = np.random.default_rng(1)
    last = frame.groupby("id", sort=False).tail(1)
    ahead = last.loc[last.index.repeat(horizon)].copy()
    ahead["date"] = (pd.to_datetime(ahead["date"]) + pd.to_timedelta(np.tile(np.arange(1, horizon + 1), len(last)), "D")
                     ).dt.strftime("%Y-%m-%d")
    ahead["value"] = np.nan
    frame = pd.concat([frame, ahead]).sort_values(["id", "date"], kind="stable", ignore_index=True)
    weekday = pd.to_datetime(frame["date"]).dt.day_of_week.to_numpy()
    frame["promo"] = (weekday >= 5).astype(float) + 0.1 * rng.standard_normal(len(frame))
    frame["noise"] = rng.standard_normal(len(frame)).round(3)
    codes = pd.factorize(frame["id"])[0] % 4
    frame["store_type"] = np.array(["corner", "mall", "outlet", "street"])[codes]
    return frame


def measure(script: str, path: Path, covariates: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", script, str(path), "1" if covariates else "0"], capture_output=True,
                          text=True, cwd=ROOT, env={**subprocess_env(), "PYTHONPATH": str(ROOT)}, check=False)
    if done.returncode:
        raise SystemExit(f"measurement failed: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("covariates.json"))
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    results = []
    for count in args.series:
        plain, path = DATA / f"panel-{count}.csv", DATA / f"panel-{count}-covariates.csv"
        frame = covariate_panel(count, args.horizon)
        frame[frame["value"].notna()][["id", "date", "value"]].to_csv(plain, index=False)
        frame.to_csv(path, index=False)
        row = {"series": count}
        for covariates, source in ((False, plain), (True, path)):
            key = "with" if covariates else "without"
            loaded = measure(LOAD, source, covariates)
            row[f"read_{key}"], row[f"validate_{key}"] = loaded["read"], loaded["validate"]
            row[f"step_ms_{key}"] = measure(STEP, source, covariates)["ms_per_step"]
        results.append(row)
    print_table(["series", "read s (none)", "read s (covariates)", "validate s (none)", "validate s (covariates)",
                 "step ms (none)", "step ms (covariates)"],
                [[r["series"], r["read_without"], r["read_with"], r["validate_without"], r["validate_with"],
                  r["step_ms_without"], r["step_ms_with"]] for r in results])
    write_json_atomically({"horizon": args.horizon, "results": results}, args.out)


if __name__ == "__main__":
    main()
