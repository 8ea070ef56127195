"""Panels with awkward series: constant, too short and normal series side by side, through the CLI
and the Forecaster, and the panel's vectorised forecast against series forecast one at a time."""

import json
from dataclasses import replace
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, synthetic_long
from helpers.cli import invoke

from tsgate.data import DataOptions, load_series
from tsgate.forecaster import Forecaster
from tsgate.io import read_csv
from tsgate.prepare import usable_series

LOUD = [option for option in FAST if option != "--quiet"]  # notes are what these tests read


def awkward_panel(path):
    """Two normal daily series, one all zeros (constant) and one of 12 points (too short)."""
    frame = synthetic_long(ids=("a", "b", "flat", "tiny"), n=120)
    frame.loc[frame["store"] == "flat", "sales"] = 0.0
    frame = frame[(frame["store"] != "tiny") | (frame["date"] >= frame["date"].max() - pd.Timedelta(days=11))]
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def panel_csv(tmp_path):
    return awkward_panel(tmp_path / "panel.csv")


def test_a_panel_trains_on_every_series_the_short_one_from_padded_windows(panel_csv, tmp_path):
    model = tmp_path / "m.tsgate"
    result = invoke("train", panel_csv, "--id-col", "store", "-o", model, "--format", "json", *LOUD)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["series"] == 4 and summary["series_skipped"] == 0 and summary["skipped_ids"] == []
    assert summary["series_constant"] == 1 and "series_fallback" not in summary  # tiny's 8 training points train
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert not any("left out" in line for line in notes), result.stderr
    assert any("1 series are constant" in line for line in notes), result.stderr

    forecast = invoke("forecast", model, "--format", "csv")
    assert forecast.exit_code == 0, forecast.stderr
    frame = pd.read_csv(StringIO(forecast.stdout))
    assert sorted(frame["store"].unique()) == ["a", "b", "flat", "tiny"] and "fallback" not in frame
    assert (frame.loc[frame["store"] == "flat", "sales"] == 0.0).all()  # a constant forecasts its constant
    assert frame.loc[frame["store"] == "a", "sales"].std() > 0


def test_forecast_of_new_panel_data_leaves_out_what_the_model_cannot_forecast(panel_csv, tmp_path):
    model = tmp_path / "m.tsgate"
    assert invoke("train", panel_csv, "--id-col", "store", "-o", model, *FAST).exit_code == 0
    frame = pd.read_csv(panel_csv)
    newcomer = frame[frame["store"] == "a"].assign(store="new")
    pd.concat([frame, newcomer]).to_csv(tmp_path / "new.csv", index=False)
    result = invoke("forecast", model, tmp_path / "new.csv", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert sorted(pd.read_csv(StringIO(result.stdout))["store"].unique()) == ["a", "b", "flat", "tiny"]
    assert "series 'new' was not in the training data" in result.stderr
    strict = invoke("forecast", model, tmp_path / "new.csv", "--strict")
    assert strict.exit_code == 2 and "series 'new' was not in the training data" in strict.stderr
    assert strict.stdout == ""


def test_strict_restores_the_refusal(panel_csv, tmp_path):
    model = tmp_path / "m.tsgate"
    result = invoke("train", panel_csv, "--id-col", "store", "-o", model, "--strict", *FAST)
    assert result.exit_code == 2 and not model.exists()
    assert len(result.stderr.strip().splitlines()) == 1
    assert "series 'tiny' has 12 points" in result.stderr or "constant" in result.stderr


def test_a_single_constant_series_keeps_its_clear_error(tmp_path):
    path = tmp_path / "flat.csv"
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=60, freq="D"), "y": 3.0}).to_csv(path, index=False)
    result = invoke("train", path, "-o", tmp_path / "m.tsgate", *FAST)
    assert result.exit_code == 2 and "is constant (3)" in result.stderr


def load(path, **options):
    return load_series(read_csv(str(path)), DataOptions(id_col="store", **options))


def test_a_panel_keeps_what_its_lookback_cannot_hold(tmp_path):
    frame = synthetic_long(ids=tuple(f"s{k:02d}" for k in range(20)), n=200)
    short = {"s03": 30, "s07": 12}  # 30 points: padded windows; 12 (5 training points): not even those
    for key, length in short.items():
        frame = frame[(frame["store"] != key) | (frame["date"] > frame["date"].max() - pd.Timedelta(days=length))]
    frame.to_csv(tmp_path / "p.csv", index=False)
    series = load(tmp_path / "p.csv")
    horizon = 7
    # A lookback given: every series is kept; s07 is a fallback.
    usable, lookback, left_out, fallback = usable_series(series, 21, horizon, val_fraction=0.2)
    assert lookback == 21 and left_out == [] and usable.ids == series.ids
    assert [key for key, flag in zip(series.ids, fallback) if flag] == ["s07"]
    # auto: the lookback follows the median series (the recent span of a daily series, 3 horizons = 21),
    # not the 30-point one (which would allow 30 - 7 - horizon = 16).
    usable, lookback, left_out, fallback = usable_series(series, "auto", horizon, val_fraction=0.2)
    assert lookback == 21 and left_out == [] and fallback.sum() == 1
    # --strict refuses the series with no window instead.
    with pytest.raises(Exception, match="series 's07'|shortest series"):
        usable_series(replace(series, strict=True), "auto", horizon, val_fraction=0.2)


def test_the_panels_forecast_equals_each_series_forecast_alone(tmp_path):
    frame = synthetic_long(ids=("a", "b", "c", "d"), n=90)
    frame.to_csv(tmp_path / "p.csv", index=False)
    series = load(tmp_path / "p.csv")
    model = Forecaster(horizon=5, hidden=8, steps=30, ensemble=2, device="cpu").fit(series)
    together = model.predict(series, levels=(80,))
    for key in ("c", "a"):
        one = series.subset([series.ids.index(key)])
        alone = model.predict(one, levels=(80,))
        pd.testing.assert_frame_equal(together[together["store"] == key].reset_index(drop=True), alone)
    assert together["date"].iloc[0] == series.last[0] + pd.Timedelta(days=1)
    assert np.isfinite(together.drop(columns=["store", "date"]).to_numpy()).all()


def test_series_the_loader_cannot_read_are_left_out_of_train_and_compare(tmp_path):
    frame = synthetic_long(ids=("a", "b", "gappy", "one"), n=120)
    frame = frame[~((frame["store"] == "gappy") & frame.index.isin(frame.index[frame["store"] == "gappy"][50:53]))]
    frame = frame[(frame["store"] != "one") | (frame["date"] == frame["date"].min())]
    frame.to_csv(tmp_path / "p.csv", index=False)
    model = tmp_path / "m.tsgate"
    result = invoke("train", tmp_path / "p.csv", "--id-col", "store", "-o", model, "--format", "json", *LOUD)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["skipped_ids"] == ["gappy", "one"]
    assert "left out 2 of 4 series: series 'gappy' has no regular frequency" in result.stderr
    compared = invoke("compare", tmp_path / "p.csv", "--id-col", "store", "--models", "rnn", "--format", "csv", *LOUD)
    assert compared.exit_code == 0, compared.stderr
    assert "left out 2 of 4 series" in compared.stderr
