"""How closely --match params brings RNN, GRU and LSTM to one parameter count, on real data shapes.

For each sample file (its horizon as benchmarks/accuracy.py uses it) and for M4 Weekly's shape
(horizon 13, the automatic lookback of 39, one input), and for each target count, the hidden size
compare's --match params gives each backbone and how far its whole network's count lies from the
target. Nothing trains; every count is of the network torch builds on the meta device.

    python benchmarks/sizes.py                  # prints a table, writes benchmarks/sizes.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tsgate import Forecaster  # noqa: E402
from tsgate.config import ModelConfig  # noqa: E402
from tsgate.data import DataOptions, load_series  # noqa: E402
from tsgate.errors import OptionError  # noqa: E402
from tsgate.io import read_csv, write_atomic  # noqa: E402
from tsgate.sizes import count_parameters, first_member_config, hidden_for_parameters  # noqa: E402

SAMPLES = [("air_passengers.csv", 12, None), ("mauna_loa_co2.csv", 12, None),
           ("us_unemployment_by_industry.csv", 6, "industry"), ("seattle_hourly_temperature.csv", 24, None)]
TARGETS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000)
BACKBONES = ("rnn", "gru", "lstm")


def shapes() -> dict:
    """{data set: the GRU's first-network config at the default settings}."""
    found = {}
    for file, horizon, id_col in SAMPLES:
        series = load_series(read_csv(str(ROOT / "sample_data" / file), labels=(id_col,) if id_col else ()),
                             DataOptions(id_col=id_col))
        found[file] = first_member_config(Forecaster(horizon=horizon), series, "gru")
    found["m4-weekly (shape)"] = ModelConfig("gru", lookback=39, horizon=13)
    return found


def measure(config) -> list[dict]:
    rows = []
    for target in TARGETS:
        for backbone in BACKBONES:
            shaped = replace(config, backbone=backbone)
            try:
                hidden = hidden_for_parameters(shaped, target)
            except OptionError:  # below the smallest network of this shape (the highway alone may be larger)
                rows.append({"target": target, "model": backbone, "hidden": None, "parameters": None, "deviation": None})
                continue
            count = count_parameters(replace(shaped, hidden=hidden))
            rows.append({"target": target, "model": backbone, "hidden": hidden, "parameters": count,
                         "deviation": (count - target) / target})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "sizes.json")
    args = parser.parse_args()
    document = {}
    for name, config in shapes().items():
        rows = measure(config)
        document[name] = {"lookback": config.lookback, "horizon": config.horizon, "inputs": config.n_inputs, "rows": rows}
        print(f"{name}: lookback {config.lookback}, horizon {config.horizon}, inputs {config.n_inputs}")
        for target in TARGETS:
            matched = [r for r in rows if r["target"] == target]
            if any(r["hidden"] is None for r in matched):
                print(f"  {target:>7,}: below the smallest network of this shape")
                continue
            cells = "  ".join(f"{r['model']} h={r['hidden']:<4d}{100 * r['deviation']:+5.1f}%" for r in matched)
            print(f"  {target:>7,}: {cells}   worst {100 * max(abs(r['deviation']) for r in matched):.1f}%")
    write_atomic(args.out, json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
