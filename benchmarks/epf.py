"""EPF day-ahead electricity prices (NP, PJM): tsgate trained once, then 728 daily rolling forecasts.

    python benchmarks/epf.py                                  # both markets, without covariates
    python benchmarks/epf.py --markets NP --train-args "--steps 500 --ensemble 1"   # a quick look
    python benchmarks/epf.py --covariates                     # also with --future-cov exog_1,exog_2, and ridge with them

The task is the one ../shared/data/epf-dev/README.md describes (Lago et al. 2021's open benchmark):
every test day d (728 per market, 2016-12-27 .. 2018-12-24) is forecast once, 24 hourly prices,
from the prices up to 23:00 of day d-1 (and, with --covariates, the day-ahead exogenous
forecasts up to the end of day d).

What it does, per market:
1. Builds one CSV (timestamp, value, exog_1, exog_2) of the whole span from train.csv, test.csv
   and exog.csv, and one of the training period alone, after checking the timestamps: the source
   gives 24 hours per day on a naive hourly grid (no daylight-saving duplicate or gap), which is
   what tsgate's loader needs; any duplicate or gap found is counted in the JSON and stops the run.
2. Trains once on the training period as a user does: `python -m tsgate train TRAIN.csv --target
   value --horizon 24 --format json --quiet` (+ `--future-cov exog_1,exog_2` with --covariates,
   + --train-args). The published methods recalibrate every day; tsgate trains once.
3. Forecasts every test day with `python -m tsgate forecast MODEL ALL.csv --origins
   "2016-12-26 23:00..2018-12-23 23:00" --every 24 --format csv`, timed as a whole process, and
   again inside this process (Forecaster.load, the CSV read, origins.forecast_origins timed alone).
4. Scores MAE, rMAE, sMAPE and RMSE over the 728 x 24 test hours (rMAE against the README's naive:
   t - 168 h on Mondays, Saturdays and Sundays, t - 24 h on Tuesday to Friday), and the same for a
   ridge regression on the last week of prices (tsgate's baselines.RidgeBaseline, trained on every
   hourly origin of the training period; with --covariates, also on both exogenous series over the
   week that ends with the target day).

Prints a table beside the published figures and writes --out (default benchmarks/epf.json) atomically.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tsgate.io import write_atomic  # noqa: E402
from tsgate.metrics import mae, rmse, smape  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data" / "epf-dev"
HORIZON = 24
WEEK = 168
FIRST_TEST_DAY = pd.Timestamp("2016-12-27")
COVARIATES = "exog_1,exog_2"
TEST_DAYS = 728

# The README's table (NBEATSx paper, Olivares et al. 2023): MAE, rMAE, sMAPE, RMSE per market.
PUBLISHED = {
    "AR": {"NP": (2.26, 0.71, 6.47, 4.08), "PJM": (3.83, 0.79, 14.50, 6.24)},
    "ESRNN (no covariates)": {"NP": (2.09, 0.66, 6.04, 3.89), "PJM": (3.59, 0.74, 14.12, 5.83)},
    "NBEATS (no covariates)": {"NP": (2.08, 0.66, 5.96, 3.94), "PJM": (3.49, 0.72, 13.57, 5.64)},
    "ARX": {"NP": (2.01, 0.63, 5.84, 3.71), "PJM": (3.53, 0.73, 13.64, 5.74)},
    "LEAR": {"NP": (1.74, 0.55, 5.01, 3.36), "PJM": (3.01, 0.62, 11.98, 5.13)},
    "DNN": {"NP": (1.68, 0.53, 4.88, 3.32), "PJM": (2.86, 0.59, 11.33, 5.04)},
    "NBEATSx-G": {"NP": (1.58, 0.50, 4.63, 3.16), "PJM": (2.91, 0.60, 11.54, 5.02)},
    "NBEATSx-I": {"NP": (1.62, 0.51, 4.70, 3.27), "PJM": (2.90, 0.60, 11.61, 4.84)},
}
METRICS = ("MAE", "rMAE", "sMAPE", "RMSE")


# ---- the data --------------------------------------------------------------------------------------------


def market_frame(data_dir: Path, market: str) -> pd.DataFrame:
    """timestamp, value, exog_1, exog_2 of one market over the whole span (value empty nowhere)."""
    def read(name):
        frame = pd.read_csv(data_dir / name, parse_dates=["timestamp"])
        return frame[frame["id"] == market].drop(columns="id")

    prices = pd.concat([read("train.csv"), read("test.csv")], ignore_index=True)
    frame = prices.merge(read("exog.csv"), on="timestamp", how="outer", validate="one_to_one")
    return frame.sort_values("timestamp", ignore_index=True)


def timestamp_check(frame: pd.DataFrame) -> dict:
    """Daylight-saving duplicates and gaps in the hourly stamps, and missing cells."""
    steps = frame["timestamp"].diff().dropna()
    found = {"duplicates": int(frame["timestamp"].duplicated().sum()),
             "gaps": int((steps > pd.Timedelta("1h")).sum()),
             "missing_cells": int(frame.isna().sum().sum()),
             "hours_per_day": sorted(set(frame.groupby(frame["timestamp"].dt.date).size().tolist()))}
    if found["duplicates"] or found["gaps"] or found["missing_cells"]:
        raise SystemExit(f"the data is not one regular hourly grid: {found}; resolve it before scoring")
    return found


def write_csvs(frame: pd.DataFrame, work: Path, market: str) -> tuple[Path, Path]:
    """(the training period's CSV, the whole span's CSV), stamps as 'YYYY-MM-DD HH:MM'."""
    work.mkdir(parents=True, exist_ok=True)
    text = frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M"))
    train, whole = work / f"{market}-train.csv", work / f"{market}-all.csv"
    text[frame["timestamp"] < FIRST_TEST_DAY].to_csv(train, index=False)
    text.to_csv(whole, index=False)
    return train, whole


# ---- scoring ---------------------------------------------------------------------------------------------


def test_period(frame: pd.DataFrame) -> pd.DataFrame:
    """The 728 x 24 test hours: timestamp, value and the README's naive forecast."""
    values = frame.set_index("timestamp")["value"]
    lag = np.where(values.index.day_of_week.isin([0, 5, 6]), WEEK, HORIZON)  # Mon, Sat, Sun: a week back
    positions = np.arange(len(values))
    naive = values.to_numpy()[positions - lag]
    test = pd.DataFrame({"timestamp": values.index, "value": values.to_numpy(), "naive": naive})
    test = test[test["timestamp"] >= FIRST_TEST_DAY].reset_index(drop=True)
    assert len(test) == TEST_DAYS * HORIZON, len(test)
    return test


def scores(actual: np.ndarray, forecast: np.ndarray, naive: np.ndarray) -> dict:
    error = mae(actual, forecast)
    return {"MAE": error, "rMAE": error / mae(actual, naive), "sMAPE": smape(actual, forecast),
            "RMSE": rmse(actual, forecast)}


# ---- tsgate ----------------------------------------------------------------------------------------------


def run_tsgate(args: list[str], log: list[dict]) -> tuple[str, float]:
    command = [sys.executable, "-m", "tsgate", *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    log.append({"command": shlex.join(command), "seconds": round(seconds, 2), "returncode": done.returncode})
    if done.returncode:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout, seconds


def origins_text() -> str:
    first = FIRST_TEST_DAY - pd.Timedelta(hours=1)
    return f"{first:%Y-%m-%d %H:%M}..{first + pd.Timedelta(days=TEST_DAYS - 1):%Y-%m-%d %H:%M}"


def tsgate_market(train_csv: Path, whole_csv: Path, model: Path, covariates: bool, train_args: list[str],
                  log: list[dict]) -> dict:
    """Train once, forecast the 728 origins (as a process, and in this process): forecasts and timings."""
    extra = ["--future-cov", COVARIATES] if covariates else []
    summary, train_seconds = run_tsgate(["train", str(train_csv), "--target", "value", "--horizon", str(HORIZON),
                                         "-o", str(model), "--format", "json", "--quiet", *extra, *train_args], log)
    text, forecast_seconds = run_tsgate(["forecast", str(model), str(whole_csv), "--origins", origins_text(),
                                         "--every", str(HORIZON), "--format", "csv", "--quiet"], log)
    forecast = pd.read_csv(io.StringIO(text), parse_dates=["origin", "timestamp"])
    return {"forecast": forecast, "train_seconds": train_seconds, "forecast_seconds": forecast_seconds,
            "in_process": in_process_seconds(model, whole_csv), "summary": json.loads(summary)}


def in_process_seconds(model: Path, whole_csv: Path) -> dict:
    """The same rolling forecast inside this process: model load, data read, and the forecast alone."""
    from tsgate.forecaster import Forecaster
    from tsgate.data import load_series
    from tsgate.io import read_csv
    from tsgate.origins import forecast_origins, parse_origins

    started = time.perf_counter()
    forecaster = Forecaster.load(model)
    loaded = time.perf_counter()
    series = load_series(read_csv(str(whole_csv)), forecaster.data_options())
    read = time.perf_counter()
    start, end = parse_origins(origins_text())
    result = forecast_origins(forecaster, series, start, end, every=HORIZON)
    done = time.perf_counter()
    return {"load_model": round(loaded - started, 3), "read_data": round(read - loaded, 3),
            "forecast_origins": round(done - read, 3), "origins": int(len(result.origins))}


# ---- ridge -----------------------------------------------------------------------------------------------


def ridge_windows(prices: np.ndarray, exog: np.ndarray | None, origins: np.ndarray):
    """Inputs (N, WEEK, C) ending at each origin (prices) or a day after it (exogenous forecasts of the
    target day), and targets (N, 24, 1): the day after each origin."""
    steps = np.arange(-WEEK + 1, 1)
    x = prices[origins[:, None] + steps][..., None]
    if exog is not None:
        x = np.concatenate([x, exog[origins[:, None] + steps + HORIZON]], axis=2)
    return x, prices[origins[:, None] + np.arange(1, HORIZON + 1)][..., None]


def ridge_market(frame: pd.DataFrame, covariates: bool) -> dict:
    """Ridge forecasts (728, 24) of the test days, trained on every hourly origin of the training period."""
    from tsgate.baselines import RidgeBaseline

    prices = frame["value"].to_numpy(dtype=float)
    exog = frame[COVARIATES.split(",")].to_numpy(dtype=float) if covariates else None
    train_end = int(np.searchsorted(frame["timestamp"], FIRST_TEST_DAY))  # first test hour
    started = time.perf_counter()
    x, y = ridge_windows(prices, exog, np.arange(WEEK - 1, train_end - HORIZON))
    model = RidgeBaseline().fit(x, y)
    x_test, _ = ridge_windows(prices, exog, train_end - 1 + HORIZON * np.arange(TEST_DAYS))
    forecast = model.predict(x_test)[..., 0].ravel()
    return {"forecast": forecast, "seconds": time.perf_counter() - started}


# ---- the report ------------------------------------------------------------------------------------------


def score_market(frame: pd.DataFrame, market: str, args, log: list[dict]) -> dict:
    train_csv, whole_csv = write_csvs(frame, args.work, market)
    test = test_period(frame)
    rows = {}
    variants = [False, True] if args.covariates else [False]
    runs = {}
    for covariates in variants:
        name = "tsgate + exog" if covariates else "tsgate"
        run = tsgate_market(train_csv, whole_csv, args.work / f"{market}-{int(covariates)}.tsgate", covariates,
                            shlex.split(args.train_args), log)
        assert run["forecast"]["origin"].nunique() == TEST_DAYS and run["forecast"]["timestamp"].is_unique
        forecast = run["forecast"].set_index("timestamp")["value"].reindex(test["timestamp"]).to_numpy()
        assert np.isfinite(forecast).all(), "a test hour without a day-ahead forecast"
        rows[name] = scores(test["value"].to_numpy(), forecast, test["naive"].to_numpy())
        runs[name] = {key: value for key, value in run.items() if key != "forecast"}
    for covariates in variants:
        ridge = ridge_market(frame, covariates)
        rows["ridge + exog" if covariates else "ridge"] = {
            **scores(test["value"].to_numpy(), ridge["forecast"], test["naive"].to_numpy()),
            "seconds": round(ridge["seconds"], 2)}
    rows["naive"] = scores(test["value"].to_numpy(), test["naive"].to_numpy(), test["naive"].to_numpy())
    return {"rows": rows, "runs": runs, "timestamps": timestamp_check(frame)}


def table(results: dict) -> str:
    markets = list(results)
    header = ["model", *[f"{m} {k}" for m in markets for k in METRICS]]
    lines = []
    for name in results[markets[0]]["rows"]:
        lines.append([name, *[f"{results[m]['rows'][name][k]:.3f}" for m in markets for k in METRICS]])
    for name, figures in PUBLISHED.items():
        lines.append([f"{name} (published)", *[f"{v:.2f}" for m in markets for v in figures[m]]])
    widths = [max(len(str(row[i])) for row in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [header, *lines])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the epf-dev folder (train, test, exog CSVs)")
    parser.add_argument("--markets", default="NP,PJM", help="comma-separated: NP, PJM")
    parser.add_argument("--covariates", action="store_true",
                        help=f"also train with --future-cov {COVARIATES} and score ridge with them")
    parser.add_argument("--train-args", default="", help="appended to every tsgate train command")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tsgate-epf"), help="where the CSVs and models go")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "epf.json")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    load_before, started, log = os.getloadavg(), time.perf_counter(), []
    results = {market: score_market(market_frame(args.data_dir, market), market, args, log)
               for market in args.markets.split(",")}
    print(table(results))
    print("\nThe published methods recalibrate (retrain) every day; tsgate is trained once on the training "
          "period and forecasts all 728 test days with that fixed model (forecast --origins).")
    for market, result in results.items():
        for name, run in result["runs"].items():
            inner = run["in_process"]
            print(f"{market} {name}: train {run['train_seconds']:.0f} s; the {inner['origins']}-origin forecast: "
                  f"{run['forecast_seconds']:.1f} s as a whole process, {inner['forecast_origins']:.2f} s for "
                  f"forecast_origins alone (model load {inner['load_model']:.2f} s, data read {inner['read_data']:.2f} s)")
    document = {"task": "EPF day-ahead, 728 daily origins per market, horizon 24, trained once",
                "covariates": args.covariates, "train_args": args.train_args, "results": results,
                "published": PUBLISHED, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                                    "load_average_before": load_before,
                                                    "load_average_after": os.getloadavg()},
                "seconds": round(time.perf_counter() - started, 1), "commands": log}
    write_atomic(args.out, json.dumps(document, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
