"""benchmarks/accuracy.py: its M4 scorer and its long-format writer (no training)."""

import importlib.util
import json
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


# ---- 95% prediction intervals ----------------------------------------------------------------------------

def test_interval_scorer_matches_a_hand_computation():
    train = {"A": np.array([10.0, 12.0, 11.0, 15.0]), "B": np.array([0.0, 1.0, 3.0])}
    test = {"A": np.array([14.0, 9.0, 20.0]), "B": np.array([5.0, 5.0, 5.0])}
    lower = {"A": np.array([12.0, 10.0, 13.0]), "B": np.array([4.0, 5.0, 2.0])}
    upper = {"A": np.array([16.0, 13.0, 18.0]), "B": np.array([6.0, 7.0, 5.0])}
    # A: inside (width 4); below L by 1 (width 3 + 40 * 1); above U by 2 (width 5 + 40 * 2);
    #    scale = mean(|12 - 10|, |11 - 12|, |15 - 11|) = 7 / 3
    expected_a = ((16 - 12) + ((13 - 10) + (2 / 0.05) * (10 - 9)) + ((18 - 13) + (2 / 0.05) * (20 - 18))) / 3 / (7 / 3)
    # B: all inside, two of them on a bound (widths 2, 2, 3); scale = mean(|1 - 0|, |3 - 1|) = 1.5
    expected_b = ((6 - 4) + (7 - 5) + (5 - 2)) / 3 / 1.5
    scores = accuracy.score_m4_intervals(train, test, lower, upper)
    assert expected_a == pytest.approx(132 / 7, rel=1e-12) and expected_b == pytest.approx(14 / 9, rel=1e-12)
    assert scores["msis"] == pytest.approx((expected_a + expected_b) / 2, rel=1e-12)
    assert scores["per_series"]["msis"] == pytest.approx([expected_a, expected_b], rel=1e-12)
    assert scores["coverage"] == pytest.approx((1 + 3) / 6, rel=1e-12)  # pooled over the 2 x 3 test values
    assert scores["acd"] == pytest.approx(abs((1 + 3) / 6 - 0.95), rel=1e-12)
    assert scores["per_series"]["coverage"] == pytest.approx([1 / 3, 1.0], rel=1e-12)


def test_a_zero_width_interval_scores_40_times_mase():
    """With L = U = f, each miss costs 2/0.05 times |y - f|, so MSIS = 40 * MASE series by series."""
    rng = np.random.default_rng(3)
    train = {f"W{i}": rng.normal(100, 10, size=30 + i).cumsum() for i in range(5)}
    test = {key: values[-1] + rng.normal(0, 20, size=13) for key, values in train.items()}
    forecasts = {key: values[-1] + rng.normal(0, 5, size=13) for key, values in train.items()}
    intervals = accuracy.score_m4_intervals(train, test, forecasts, forecasts)
    points = accuracy.score_m4(train, test, forecasts)
    assert intervals["msis"] == pytest.approx(2 / 0.05 * points["mase"], rel=1e-12)
    assert intervals["per_series"]["msis"] == pytest.approx([40 * mase for mase in points["per_series"]["mase"]],
                                                            rel=1e-12)
    assert intervals["coverage"] == 0.0  # continuous noise never lands exactly on the forecast


FORECAST_WITH_BOUNDS = """id,date,value,value_lo_95,value_hi_95
W2,2018-01-08,21.5,20.0,23.0
W1,2018-01-01,1.5,1.0,2.0
W1,2018-01-08,2.5,1.25,3.75
W2,2018-01-01,20.5,19.0,22.0
"""


def test_forecast_csv_with_bounds_parses_into_arrays_in_date_order():
    forecast = accuracy.parse_forecast_csv(FORECAST_WITH_BOUNDS, ["W1", "W2"], horizon=2, level=95)
    assert forecast.point["W1"].tolist() == [1.5, 2.5] and forecast.point["W2"].tolist() == [20.5, 21.5]
    assert forecast.lower["W1"].tolist() == [1.0, 1.25] and forecast.lower["W2"].tolist() == [19.0, 20.0]
    assert forecast.upper["W1"].tolist() == [2.0, 3.75] and forecast.upper["W2"].tolist() == [22.0, 23.0]


def test_forecast_csv_without_level_and_wrong_layouts():
    points_only = "id,date,value\nW1,2018-01-01,1.5\nW1,2018-01-08,2.5\n"
    forecast = accuracy.parse_forecast_csv(points_only, ["W1"], horizon=2)
    assert forecast.point["W1"].tolist() == [1.5, 2.5] and forecast.lower is None
    with pytest.raises(accuracy.BenchmarkError, match="value_lo_95"):  # bounds asked for, none given
        accuracy.parse_forecast_csv(points_only, ["W1"], horizon=2, level=95)
    with pytest.raises(accuracy.BenchmarkError, match="unexpected forecast columns"):  # bounds of another level
        accuracy.parse_forecast_csv(FORECAST_WITH_BOUNDS.replace("_95", "_80"), ["W1", "W2"], horizon=2, level=95)
    crossed = FORECAST_WITH_BOUNDS.replace("W1,2018-01-01,1.5,1.0,2.0", "W1,2018-01-01,1.5,2.0,1.0")
    with pytest.raises(accuracy.BenchmarkError, match="lower > upper"):
        accuracy.parse_forecast_csv(crossed, ["W1", "W2"], horizon=2, level=95)


def test_files_option_takes_sample_names_and_any_csv_with_a_horizon(tmp_path):
    external = tmp_path / "wineind.csv"
    external.write_text("date,value\n2000-01-01,1\n")
    runs = accuracy.sample_runs(f"air_passengers, us_unemployment_by_industry.csv:3,{external}:12,{external}")
    assert [(run.file, run.horizon, run.extra) for run in runs] == [
        ("air_passengers.csv", 12, []), ("us_unemployment_by_industry.csv", 3, ["--id-col", "industry"]),
        (str(external), 12, []), (str(external), None, [])]
    assert len(accuracy.sample_runs("")) == len(accuracy.SAMPLES)
    with pytest.raises(accuracy.BenchmarkError, match="neither a sample"):
        accuracy.sample_runs(str(tmp_path / "missing.csv:12"))


def test_compare_command_asks_for_intervals_and_passes_compare_args(tmp_path):
    options = accuracy.parse_args(["--compare-args", "--folds 4", "--train-args", "--epochs 2"])
    external = tmp_path / "x.csv"
    external.write_text("date,value\n2000-01-01,1\n")
    command = accuracy.compare_command(accuracy.sample_runs(str(external))[0], options)
    assert command[:2] == ["compare", str(external)] and "--horizon" not in command
    assert command[command.index("--level") + 1] == "95"
    assert command[-4:] == ["--epochs", "2", "--folds", "4"]


def fake_tsgate(outputs: dict):
    """A stand-in for run_tsgate: the stdout for the first key found in the command, and no training."""
    def run(args, purpose, log):
        log.append({"purpose": purpose, "command": " ".join(args)})
        return next(text for key, text in outputs.items() if key in args), 1.0
    return run


def test_m4_run_scores_the_intervals_and_checks_the_targets(monkeypatch, tmp_path, capsys):
    train = {"W1": np.array([1.0, 2.0, 4.0]), "W2": np.array([10.0, 9.0, 9.0, 12.0])}
    test = {"W1": np.full(13, 4.0), "W2": np.full(13, 30.0)}  # W2 ends far above its interval
    dates = pd.date_range(accuracy.M4_END, periods=14, freq="W-MON")[1:].strftime("%Y-%m-%d")
    lines = ["id,date,value,value_lo_95,value_hi_95"]
    lines += [f"{key},{date},{values[-1]},{values[-1] - 1},{values[-1] + 1}" for key, values in train.items()
              for date in dates]
    log = []
    monkeypatch.setattr(accuracy, "run_tsgate", fake_tsgate({"train": "", "forecast": "\n".join(lines) + "\n"}))
    m4 = accuracy.run_m4(train, test, tmp_path, accuracy.parse_args([]), log)
    assert "--level 95" in log[1]["command"]
    intervals = m4["intervals"]
    assert intervals["tsgate"]["coverage"] == 0.5 and intervals["tsgate"]["acd"] == pytest.approx(0.45)
    expected_w2 = (2 + 40 * (30 - 13)) / ((1 + 0 + 3) / 3)
    assert intervals["tsgate"]["msis"] == pytest.approx((2 / 1.5 + expected_w2) / 2, rel=1e-12)
    assert intervals["targets"] == {"acd_target": 0.03, "acd_within_target": False, "naive_msis": 26.358,
                                    "msis_below_naive": False, "ets_msis": 20.386, "msis_below_ets": False}
    assert intervals["official"]["ETS"] == {"msis": 20.386, "acd": 0.014}
    assert intervals["tsgate"]["series_all_inside_95"] == 0.5 and intervals["tsgate"]["series_miscalibrated_95"] == 0.5
    assert intervals["calibration_targets"]["msis_at_most_best"] is False
    assert m4["tsgate"]["mase"] == pytest.approx(m4["naive"]["mase"])  # the point forecast is the last value
    accuracy.print_m4(m4, "test")
    printed = capsys.readouterr().out
    assert "Petropoulos & Svetunkov (official, 359 series)" in printed
    assert "Targets: ACD <= 0.03: no; MSIS < 26.358 (Naive): no; MSIS < 20.386 (ETS): no" in printed
    assert "Calibration targets: MSIS <= 16.200 (Petropoulos & Svetunkov): no; ACD <= 0.02: no" in printed


def test_sample_run_records_interval_fields_and_tolerates_their_absence(monkeypatch, capsys):
    rows = [{"model": "gru", "kind": "recurrent", "rank": 1, "mase": 0.5, "dm_p": None,
             "coverage_95": 0.9, "width_95": 3.0, "msis_95": 7.5},
            {"model": "naive", "kind": "baseline", "rank": 2, "mase": 1.0, "coverage_95": 1.0, "msis_95": 9.0},
            {"model": "ridge", "kind": "baseline", "rank": 3, "mase": 1.2}]  # a row without interval columns
    document = {"rows": rows, "settings": {"test_points_per_fold": 12, "folds": 4}, "verdict": "ok"}
    monkeypatch.setattr(accuracy, "run_tsgate", fake_tsgate({"compare": json.dumps(document)}))
    sample = accuracy.run_sample(accuracy.sample_runs("air_passengers")[0], accuracy.parse_args([]), [])
    assert sample["folds"] == 4 and sample["horizon"] == 12
    assert [row["msis_95"] for row in sample["rows"]] == [7.5, 9.0, None]
    assert accuracy.per_model(sample, "coverage_95") == [0.9, 1.0, None, None]
    accuracy.print_samples([sample])
    assert "7.500" in capsys.readouterr().out


# ---- Tourism Monthly -------------------------------------------------------------------------------------

TOURISM_DIR = REPO_ROOT.parent / "shared" / "data" / "tourism-monthly"


@pytest.mark.skipif(not (TOURISM_DIR / "train.csv").is_file(),
                    reason=f"Tourism Monthly data not found at {TOURISM_DIR} (it sits beside the repository in CI)")
def test_seasonal_naive_on_tourism_monthly_reproduces_the_published_figures():
    train, test, starts = accuracy.read_tourism(TOURISM_DIR)
    assert len(train) == 366 and all(len(values) == 24 for values in test.values())
    scores = accuracy.score_tourism(train, test, accuracy.seasonal_naive_forecasts(train))
    assert round(scores["mape"], 2) == 22.56
    assert round(scores["mase"], 2) == 1.54
    assert starts["M1"] == pd.Timestamp("1992-08-01")


def test_tourism_scorer_matches_a_hand_computation():
    history, truth = np.array([10.0, 20.0, 30.0, 40.0]), np.array([20.0, 50.0])
    # With season 2 the whole series 10 20 30 40 20 50 has seasonal changes 20, 20, -10, 10: scale 15.
    assert accuracy.seasonal_scale(history, truth, season=2) == 15.0
    # Season 12 over 1 .. 13, then 13, 13: changes 13 - 1, 13 - 2, 13 - 3, so scale 11; errors 0 and 1.
    scores = accuracy.score_tourism({"a": np.arange(1.0, 14.0)}, {"a": np.full(2, 13.0)}, {"a": np.array([13.0, 12.0])},
                                    flagged=["a"])
    assert scores["mase"] == pytest.approx(0.5 / 11, rel=1e-12)
    assert scores["mape"] == pytest.approx(100 * (1 / 13) / 2, rel=1e-12)
    assert scores["unflagged"] == {"series": 0, "mape": None, "mase": None}  # its one series is flagged


def test_seasonal_naive_repeats_the_last_season():
    forecasts = accuracy.seasonal_naive_forecasts({"a": np.arange(30.0)}, horizon=5, season=4)
    assert forecasts["a"].tolist() == [26.0, 27.0, 28.0, 29.0, 26.0]


def test_tourism_run_trains_on_the_long_file_and_reads_the_fallbacks(monkeypatch, tmp_path):
    train = {"M1": np.arange(1.0, 31.0), "M2": np.full(30, 5.0) + np.arange(30) % 12}
    test = {key: values[-12:].repeat(2) for key, values in train.items()}
    starts = {key: pd.Timestamp("2001-01-01") for key in train}
    dates = pd.date_range("2001-01-01", periods=24, freq="MS").strftime("%Y-%m-%d")
    lines = ["id,timestamp,value,value_lo_95,value_hi_95,fallback"]
    lines += [f"{key},{date},{values[-1]},{values[-1] - 1},{values[-1] + 1},{key == 'M2'}" for key, values in train.items()
              for date in dates]
    summary = {"lookbacks": [36, 18, 54], "anchor_season": 12, "series_fallback": ["M2"]}
    log = []
    monkeypatch.setattr(accuracy, "run_tsgate", fake_tsgate({"train": json.dumps(summary),
                                                             "forecast": "\n".join(lines) + "\n"}))
    tourism = accuracy.run_tourism(train, test, starts, tmp_path, tmp_path, accuracy.parse_args([]), log)
    assert log[0]["command"].split()[:6] == ["train", str(tmp_path / "train.csv"), "--id-col", "id", "--horizon", "24"]
    assert tourism["series_fallback"] == ["M2"] and tourism["lookbacks"] == [36, 18, 54]
    assert tourism["tsgate"]["unflagged"]["series"] == 1
    assert tourism["forecasts"]["M1"] == [30.0] * 24
    accuracy.print_tourism(tourism, "test")
    intervals = tourism["intervals"]["tsgate"]
    # forecasts of last value +- 1: M1 (last 30) holds 29 and 30 of its test months 19 .. 30, twice each;
    # M2 (last 10) holds 9, 10 and 11 of 5 .. 16, twice each: 4 + 6 of 48 inside, no series calibrated
    assert intervals["coverage"] == pytest.approx(10 / 48)
    assert intervals["series_miscalibrated_95"] == 1.0 and intervals["series_all_inside_95"] == 0.0
    assert intervals["series_all_inside_expected_95"] == pytest.approx(0.95 ** 24)
    assert tourism["intervals"]["calibration_targets"] == {
        "calibrated_acd_target": 0.02, "calibrated_acd_within_target": False,
        "all_inside_target": pytest.approx(1.5 * 0.95 ** 24), "all_inside_within_target": True}


def test_intervals_scored_series_by_series_against_their_binomial_range():
    test = {"a": np.zeros(13), "b": np.zeros(13), "c": np.zeros(13)}
    lower = {key: np.full(13, -1.0) for key in test}
    upper = {"a": np.ones(13), "b": np.r_[np.ones(11), -0.5, -0.5], "c": np.r_[np.ones(10), np.full(3, -0.5)]}
    scores = accuracy.score_intervals(test, lower, upper, {key: 1.0 for key in test})
    # a: all 13 inside; b: 11, the fewest a calibrated series of 13 gives; c: 10, fewer
    assert scores["series_all_inside_95"] == pytest.approx(1 / 3)
    assert scores["series_miscalibrated_95"] == pytest.approx(1 / 3)
    assert scores["coverage"] == pytest.approx(34 / 39)
    targets = accuracy.m4_calibration_targets(scores)
    assert targets["msis_at_most_best"] is True and targets["calibrated_acd_within_target"] is False
