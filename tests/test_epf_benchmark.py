"""benchmarks/epf.py: its naive forecast, its ridge windows and its origins (no training)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from tsgate.origins import parse_origins

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_epf_module():
    spec = importlib.util.spec_from_file_location("tsgate_epf_benchmark", REPO_ROOT / "benchmarks" / "epf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


epf = load_epf_module()


def hourly_frame(days=30, start="2016-12-01"):
    """A synthetic market: the price is the hour's number since the start; exogenous series beside it."""
    stamps = pd.date_range(start, periods=24 * days, freq="h")
    hours = np.arange(len(stamps), dtype=float)
    return pd.DataFrame({"timestamp": stamps, "value": hours, "exog_1": -hours, "exog_2": 2 * hours})


def test_the_naive_takes_a_week_back_on_mondays_and_weekends_and_a_day_back_otherwise(monkeypatch):
    monkeypatch.setattr(epf, "TEST_DAYS", 7)
    monkeypatch.setattr(epf, "FIRST_TEST_DAY", pd.Timestamp("2016-12-12"))  # a Monday
    test = epf.test_period(hourly_frame(days=18))
    lag = test["value"] - test["naive"]
    days = test["timestamp"].dt.day_name()
    assert set(lag[days.isin(["Monday", "Saturday", "Sunday"])]) == {168}
    assert set(lag[days.isin(["Tuesday", "Wednesday", "Thursday", "Friday"])]) == {24}


def test_ridge_windows_read_prices_to_the_origin_and_the_exogenous_forecasts_to_the_end_of_the_target_day():
    frame = hourly_frame(days=10)
    prices, exog = frame["value"].to_numpy(), frame[["exog_1", "exog_2"]].to_numpy()
    x, y = epf.ridge_windows(prices, exog, np.array([191]))
    assert x.shape == (1, 168, 3) and y.shape == (1, 24, 1)
    assert x[0, -1, 0] == 191 and x[0, 0, 0] == 24  # the week of prices up to the origin
    assert x[0, -1, 1] == -(191 + 24) and x[0, -1, 2] == 2 * (191 + 24)  # the exogenous forecast of the last target hour
    assert y[0, :, 0].tolist() == list(range(192, 216))


def test_the_origins_are_the_last_hour_before_each_of_the_728_test_days():
    start, end = parse_origins(epf.origins_text())
    assert start == pd.Timestamp("2016-12-26 23:00") and end == pd.Timestamp("2018-12-23 23:00")
    assert len(pd.date_range(start, end, freq="24h")) == 728


def test_scores_follow_the_readme():
    actual, forecast, naive = np.array([10.0, 20.0]), np.array([11.0, 18.0]), np.array([12.0, 24.0])
    got = epf.scores(actual, forecast, naive)
    assert got["MAE"] == 1.5 and got["rMAE"] == 1.5 / 3 and np.isclose(got["RMSE"], np.sqrt(2.5))
    assert np.isclose(got["sMAPE"], 100 * np.mean([2 / 21, 4 / 38]))
