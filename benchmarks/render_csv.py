"""CSV of a 100,000-row panel forecast: render.to_csv (pandas' writer) against a writer that goes cell by cell.

    python benchmarks/render_csv.py                 # writes benchmarks/render_csv.json
    python benchmarks/render_csv.py --rows 10000 --repeats 1 --out /tmp/render_csv.json

The frames have the shape Forecaster.predict gives a panel: a series id column, the timestamps,
the point forecast and the bounds of two interval levels (random numbers, numpy seed 0), with
hourly stamps, daily stamps (written as dates alone) and hourly stamps in a time zone. Each
writer runs --repeats times per frame, the minimum is kept, and the two texts must be the same
to the byte. ratio = cell by cell / to_csv. Results go to stdout and to --out, written atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from accuracy import print_table, write_json_atomically  # shared helpers (benchmarks/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tsgate import render  # noqa: E402

HORIZON = 24
KINDS = {"hourly": ("h", None), "daily": ("D", None), "hourly, Europe/Berlin": ("h", "Europe/Berlin")}


def cell_by_cell_csv(frame) -> str:
    """The reference: timestamps as text one by one (strftime or isoformat()), every cell through
    plain(), then csv.writer row by row."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype.kind == "M":
            stamps = frame[column]
            dates_only = stamps.dt.tz is None and bool((stamps == stamps.dt.normalize()).all())
            frame[column] = stamps.dt.strftime("%Y-%m-%d") if dates_only else stamps.map(lambda stamp: stamp.isoformat())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    for row in frame.to_dict(orient="records"):
        writer.writerow(["" if value is None else value for value in map(render.plain, row.values())])
    return buffer.getvalue()


def forecast_frame(rows: int, freq: str, zone: str | None) -> pd.DataFrame:
    """A panel forecast as Forecaster.frame lays it out: HORIZON rows per series, series after series."""
    rng = np.random.default_rng(0)
    series = rows // HORIZON + 1
    starts = pd.date_range("2024-01-01", periods=series, freq=freq, tz=zone)
    steps = pd.to_timedelta(np.arange(HORIZON), unit=freq)
    stamps = (np.repeat(starts, HORIZON) + np.tile(steps, series))[:rows]
    load = rng.normal(100, 20, rows)
    columns = {"store": np.repeat(np.array([f"store-{k}" for k in range(series)], dtype=object), HORIZON)[:rows],
               "timestamp": stamps, "load": load}
    for level, width in ((80, 12.8), (95, 19.6)):
        spread = np.abs(rng.normal(width, 2, rows))
        columns[f"load_lo_{level}"], columns[f"load_hi_{level}"] = load - spread, load + spread
    return pd.DataFrame(columns)


def best_time(write, frame, repeats: int) -> tuple[float, str]:
    times, text = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        text = write(frame)
        times.append(time.perf_counter() - started)
    return min(times), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of each forecast frame")
    parser.add_argument("--repeats", type=int, default=3, help="runs per writer and frame; the minimum is kept")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "render_csv.json"), help="JSON file to write")
    options = parser.parse_args()
    results = []
    for kind, (freq, zone) in KINDS.items():
        frame = forecast_frame(options.rows, freq, zone)
        old, old_text = best_time(cell_by_cell_csv, frame, options.repeats)
        new, new_text = best_time(render.to_csv, frame, options.repeats)
        results.append({"stamps": kind, "rows": len(frame), "columns": frame.shape[1], "cell_by_cell_s": old,
                        "to_csv_s": new, "ratio": old / new, "identical": old_text == new_text})
    print_table(["stamps", "rows", "cell by cell s", "to_csv s", "ratio", "identical"],
                [[r["stamps"], r["rows"], r["cell_by_cell_s"], r["to_csv_s"], r["ratio"], r["identical"]] for r in results])
    document = {"benchmark": "render_csv", "repeats": options.repeats, "python": platform.python_version(),
                "pandas": pd.__version__, "numpy": np.__version__, "machine": platform.machine(), "results": results}
    write_json_atomically(document, Path(options.out))
    if not all(r["identical"] for r in results):
        sys.exit("the two writers disagree: render.to_csv changed the text")


if __name__ == "__main__":
    main()
