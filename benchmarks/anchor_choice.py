"""Would choosing the anchor's season series by series help? Measured on the anchors alone.

tsgate's anchor (the forecast its networks correct) is chosen once per panel: seasonal naive
where it beats the last value in-sample on the training parts pooled, else the last value
(auto.choose_anchor). Issue 24 asks whether choosing it per series is better. This scores, on
each development set's test part, three anchors with no network: the panel's choice applied to
every series, seasonal naive everywhere, the last value everywhere, and the per-series choice
(the one with the lower in-sample error at the horizon's lags over each series' last `window`
training points, the span a network reads). Nothing trains; it takes seconds.

    python benchmarks/anchor_choice.py        # both sets; writes benchmarks/anchor_choice.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (DEFAULT_M4_DIR, DEFAULT_TOURISM_DIR, ROOT, m4_series_scores, read_m4,  # noqa: E402
                      read_tourism, tourism_series_scores, write_json_atomically)

SETS = {  # name: (season, horizon, the span the first member reads)
    "m4-weekly": (52, 13, 104),
    "tourism-monthly": (12, 24, 72),
}


def in_sample_error(values: np.ndarray, season: int, horizon: int) -> float:
    """Mean absolute error of repeating the last `season` values over `horizon` steps, from every origin."""
    lags = [season * (step // season + 1) for step in range(horizon)]
    errors = [np.abs(values[lag:] - values[:-lag]).mean() for lag in lags if len(values) > lag]
    return float(np.mean(errors)) if errors else np.inf


def anchor(values: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """Seasonal naive with `season` (the last value with 1) over `horizon` steps."""
    if season == 1 or len(values) < season:
        return np.repeat(values[-1], horizon)
    return values[len(values) - season + np.arange(horizon) % season]


def per_series_season(values: np.ndarray, season: int, horizon: int, window: int) -> int:
    recent = values[-window:]
    seasonal = in_sample_error(recent, season, horizon) if len(recent) > season else np.inf
    return season if seasonal < in_sample_error(recent, 1, horizon) else 1


def score(name: str, train: dict, test: dict) -> dict:
    season, horizon, window = SETS[name]
    scorer = m4_series_scores if name == "m4-weekly" else tourism_series_scores
    pooled = {m: np.mean([in_sample_error(v, m, horizon) for v in train.values()]) for m in (1, season)}
    panel = season if pooled[season] < pooled[1] else 1
    choices = {key: per_series_season(values, season, horizon, window) for key, values in train.items()}
    ways = {"panel choice": lambda key: panel, "seasonal everywhere": lambda key: season,
            "last value everywhere": lambda key: 1, "per series": lambda key: choices[key]}
    metric_names = ("sMAPE", "MASE") if name == "m4-weekly" else ("MAPE", "MASE")
    rows = {}
    for way, season_of in ways.items():
        scores = np.array([scorer(train[key], test[key], anchor(train[key], season_of(key), horizon)) for key in train])
        rows[way] = dict(zip(metric_names, scores.mean(axis=0).round(4).tolist()))
    switched = sum(choice != panel for choice in choices.values())
    return {"season": season, "horizon": horizon, "window": window, "panel_season": panel,
            "series": len(train), "series_switched_from_panel": switched, "anchors": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "anchor_choice.json")
    args = parser.parse_args()
    m4_train, m4_test = read_m4(DEFAULT_M4_DIR, None)
    tourism_train, tourism_test, _ = read_tourism(DEFAULT_TOURISM_DIR)
    document = {"m4-weekly": score("m4-weekly", m4_train, m4_test),
                "tourism-monthly": score("tourism-monthly", tourism_train, tourism_test)}
    for name, result in document.items():
        print(f"{name}: season {result['season']}, horizon {result['horizon']}, panel's anchor season "
              f"{result['panel_season']}, {result['series_switched_from_panel']} of {result['series']} series "
              "would switch under the per-series choice")
        for way, figures in result["anchors"].items():
            print(f"  {way:<22} " + "  ".join(f"{metric} {value:.3f}" for metric, value in figures.items()))
    write_json_atomically(document, args.out)


if __name__ == "__main__":
    main()
