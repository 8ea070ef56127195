"""benchmarks/accuracy.py: its M4 scorer and its long-format writer (no training)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
M4_DIR = REPO_ROOT.parent / "shared" / "data" / "m4-weekly"


def load_accuracy_module():
    path = REPO_ROOT / "benchmarks" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("tsgate_accuracy_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


accuracy = load_accuracy_module()


@pytest.mark.skipif(not (M4_DIR / "Weekly-train.csv").is_file(),
                    reason=f"M4 Weekly data not found at {M4_DIR} (it sits beside the repository in CI)")
def test_naive_forecast_on_m4_weekly_reproduces_the_official_figures():
    train, test = accuracy.read_m4(M4_DIR, None)
    assert len(train) == 359
    scores = accuracy.score_m4(train, test, accuracy.naive_forecasts(train))
    assert round(scores["smape"], 3) == 9.161
    assert round(scores["mase"], 3) == 2.777
    assert round(scores["owa"], 3) == 1.000
    assert len(scores["per_series"]["smape"]) == 359


def test_scorer_matches_a_hand_computation():
    history, truth, forecast = np.array([1.0, 2.0, 4.0]), np.array([5.0, 5.0]), np.array([4.0, 6.0])
    # sMAPE: mean of 200 |y - f| / (|y| + |f|) = (200 * 1 / 9 + 200 * 1 / 11) / 2
    expected_smape = (200.0 / 9.0 + 200.0 / 11.0) / 2.0
    # MASE: mean |y - f| = 1, in-sample naive error = mean(|2 - 1|, |4 - 2|) = 1.5
    expected_mase = 1.0 / 1.5
    smape, mase = accuracy.m4_series_scores(history, truth, forecast)
    assert smape == pytest.approx(expected_smape, rel=1e-12)
    assert mase == pytest.approx(expected_mase, rel=1e-12)

    scores = accuracy.score_m4({"a": history}, {"a": truth}, {"a": forecast})
    assert scores["owa"] == pytest.approx((expected_smape / 9.161 + expected_mase / 2.777) / 2.0, rel=1e-12)


def test_long_csv_writer_aligns_ends_and_round_trips_values(tmp_path):
    series = {"W1": np.array([0.1, 1 / 3, 35397.16, 1e-7, -2.5]),
              "W2": np.array([3608.061, 2 / 7, 123456789.123456789])}
    path = tmp_path / "long.csv"
    accuracy.write_long_csv(series, path)

    frame = pd.read_csv(path, dtype={"id": str})
    assert list(frame.columns) == ["id", "date", "value"]
    assert list(frame["id"].unique()) == ["W1", "W2"]
    for key, values in series.items():
        part = frame[frame["id"] == key]
        assert len(part) == len(values)
        assert part["value"].tolist() == values.tolist()  # exact, not approximate
        dates = pd.to_datetime(part["date"])
        assert (dates.diff().dropna() == pd.Timedelta(weeks=1)).all()
        assert (dates.dt.day_of_week == 0).all()  # Mondays
    last_dates = pd.to_datetime(frame.groupby("id")["date"].max())
    assert last_dates.nunique() == 1
