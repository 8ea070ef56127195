"""Write a synthetic long-format panel CSV: many daily series of uneven length, as retail data comes.

    python benchmarks/panel_data.py --series 10000 --out /tmp/panel_10000.csv

Each series is a level times (trend + weekly and yearly seasons + noise), starting on its own
date and 500 to 1,500 points long (about 1,000 on average, so 10,000 series are about ten
million rows). With --awkward, a few series are all zeros (constant) and a few are too short
for a lookback and horizon, as real panels have. Deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def panel_frame(series: int, seed: int = 0, min_length: int = 500, max_length: int = 1500,
                awkward: bool = False) -> pd.DataFrame:
    """The panel as a long DataFrame with columns id, date, value (id-major, time-ordered)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=series)
    if awkward and series >= 10:
        lengths[1::max(series // 5, 2)][:5] = 20  # too short for the default lookback and horizon
    starts = np.datetime64("2018-01-01") + rng.integers(0, 365, size=series).astype("timedelta64[D]")
    owner = np.repeat(np.arange(series), lengths)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    dates = np.repeat(starts, lengths) + step.astype("timedelta64[D]")
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    level = rng.lognormal(3.0, 1.0, size=series)[owner]
    weekly = rng.normal(0.0, 0.15, size=(series, 7))[owner, step % 7]
    yearly = 0.2 * rng.uniform(0, 1, size=series)[owner] * np.sin(2 * np.pi * day_of_year / 365.25)
    trend = rng.normal(0.0, 2e-4, size=series)[owner] * step
    noise = rng.normal(0.0, 0.1, size=len(owner))
    values = np.maximum(level * (1 + trend + weekly + yearly + noise), 0.0).round(2)
    if awkward and series >= 10:
        values[np.isin(owner, np.arange(0, series, max(series // 5, 2))[:5])] = 0.0  # constant: all zeros
    width = len(str(series - 1))
    ids = np.char.add("s", np.char.zfill(np.arange(series).astype(str), width))[owner]
    return pd.DataFrame({"id": ids, "date": pd.to_datetime(dates).strftime("%Y-%m-%d"), "value": values})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--awkward", action="store_true", help="add constant and too-short series")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    frame = panel_frame(args.series, args.seed, awkward=args.awkward)
    frame.to_csv(args.out, index=False)
    print(f"{args.out}: {args.series} series, {len(frame)} rows, {args.out.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
