"""Short series in a panel: the auto lookback follows the bulk, padded windows carry a mask that the
window's normalisation respects, every series gets a forecast and the fallbacks are flagged."""

import json
from dataclasses import replace
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FAST, synthetic_long
from helpers.cli import invoke
from test_prepare import PLAN, hourly

from tsgate.config import ModelConfig
from tsgate.data import DataOptions, load_series
from tsgate.forecaster import Forecaster
from tsgate.modelfile import model_fields
from tsgate.models import window_stats
from tsgate.prepare import plan_training, resolve_lookbacks, usable_series
from tsgate.windows import last_points_padded, pad_series, window_padding

LOUD = [option for option in FAST if option != "--quiet"]


# ---- the lookback ------------------------------------------------------------------------------------


def test_one_short_series_does_not_set_the_lookback_of_a_panel():
    bulk = {"a": 300, "b": 320, "c": 340}
    with_short = resolve_lookbacks(hourly({**bulk, "short": 30}), lookback="auto", horizon=4, val_fraction=0.2,
                                   members=3)[1]
    without = resolve_lookbacks(hourly(bulk), lookback="auto", horizon=4, val_fraction=0.2, members=3)[1]
    assert with_short == without == [48, 24, 72]  # the recent span (two days) and its spread, kept
    alone = usable_series(hourly({"a": 300}), "auto", 4, 0.2)[1]
    assert with_short[0] == alone


def test_a_single_series_fit_neither_pads_nor_masks():
    plan = plan_training(hourly({"a": 100}), **PLAN)
    assert not plan.masked and plan.windows[12].mask is None and not plan.fallback.any()
    assert "masked" not in model_fields(ModelConfig())  # files of such fits are written as before
    assert model_fields(ModelConfig(masked=True))["masked"] is True and ModelConfig(masked=True).n_inputs == 2


# ---- padded windows and their mask -------------------------------------------------------------------


def test_padding_copies_the_first_value_and_the_mask_marks_exactly_the_padding():
    flat = np.arange(1.0, 8.0)[:, None]  # series x = 1..4, series y = 5..7
    values, padding = pad_series(flat, np.array([0, 4, 7]), np.array([0, 3]))
    assert values[:, 0].tolist() == [1, 2, 3, 4, 5, 5, 5, 5, 6, 7]
    assert padding.mask.tolist() == [True] * 4 + [False] * 3 + [True] * 3
    assert padding.offsets.tolist() == [0, 4, 10]
    context, points = last_points_padded(flat, np.array([0, 4, 7]), 5)
    assert context[:, :, 0].tolist() == [[1, 1, 2, 3, 4], [5, 5, 5, 6, 7]] and points.tolist() == [4, 3]


def test_window_padding_only_pads_learnable_series_without_a_whole_window():
    pad = window_padding(np.array([100, 15, 15, 3]), lookback=12, horizon=4, learn=np.array([True, True, False, True]))
    assert pad.tolist() == [0, 10, 0, 10]  # 10 = 12 - 2: the oldest window holds 2 points of its own


def test_padded_training_windows_mask_exactly_the_missing_steps():
    plan = plan_training(hourly({"a": 100, "b": 19, "c": 100}), **PLAN)
    windows = plan.windows[12]
    inputs, targets = windows.gather(windows.train.tensor())
    short = (torch.searchsorted(windows.offsets, windows.train.tensor(), right=True) - 1) == 1
    own = inputs[short, :, -1]  # the mask channel of b's windows: 2, 3, ..., 11 points of its own
    assert sorted(own.sum(dim=1).tolist()) == list(range(2, 12))
    expected = torch.arange(12) >= 12 - own.sum(dim=1, keepdim=True)  # padding first, then its own points
    assert torch.equal(own.bool(), expected)
    assert (inputs[~short, :, -1] == 1).all()  # whole windows are all the series' own
    b = torch.from_numpy(plan.scaled[plan.series.offsets[1]:plan.series.offsets[2], 0])
    padded_values = inputs[short, :, 0][~expected]
    assert torch.equal(padded_values, torch.full_like(padded_values, float(b[0])))  # padding holds b's first value
    oldest = own.sum(dim=1).argmin()
    assert torch.equal(targets[short][oldest, :, 0], b[2:6])  # targets are always the series' own points
    assert windows.origin_of_val[windows.series_of_val == 1].min() == 15  # positions in b, not in its padding


def test_the_window_scale_and_anchor_ignore_padding():
    rng = np.random.default_rng(1)
    own = torch.from_numpy(rng.normal(size=(1, 9, 1)).cumsum(axis=1))
    padded = torch.cat([own[:, :1].expand(1, 15, 1), own], dim=1)  # 15 copies of the first value, then the series
    mask = torch.cat([torch.zeros(1, 15, 1), torch.ones(1, 9, 1)], dim=1).to(own.dtype)
    for season in (1, 4):
        config = ModelConfig(lookback=24, horizon=6, anchor_season=season)
        anchor, level, scale = window_stats(padded, config, mask)
        expected = window_stats(own, replace(config, lookback=9))
        torch.testing.assert_close(scale, expected[2], rtol=1e-12, atol=0)
        torch.testing.assert_close(level, expected[1], rtol=0, atol=0)
        torch.testing.assert_close(anchor, expected[0], rtol=0, atol=0)
    unmasked = window_stats(padded, ModelConfig(lookback=24, horizon=6))[2]
    assert float(unmasked) < float(scale)  # without the mask, the padding's zero steps would shrink the scale
    # Fewer points of its own than the season: the anchor repeats the last value instead.
    anchor = window_stats(padded, ModelConfig(lookback=24, horizon=6, anchor_season=12), mask)[0]
    assert torch.equal(anchor, own[:, -1:].expand(1, 6, 1))


def test_inspect_reads_a_padded_window_as_the_network_does():
    from tsgate.gates import recurrent_inputs
    from tsgate.models import RecurrentForecaster, normalise

    rng = np.random.default_rng(2)
    own = torch.from_numpy(rng.normal(size=(1, 9, 1)).cumsum(axis=1)).float()
    padded = torch.cat([own[:, :1].expand(1, 15, 1), own], dim=1)
    mask = torch.cat([torch.zeros(1, 15, 1), torch.ones(1, 9, 1)], dim=1)
    network = RecurrentForecaster(ModelConfig(lookback=24, horizon=6, hidden=4, masked=True))
    inputs = torch.cat([padded, mask], dim=-1)
    _, level, scale = window_stats(padded, network.config, mask)
    torch.testing.assert_close(recurrent_inputs(network, inputs), normalise(inputs, level, scale, mask))
    assert recurrent_inputs(network, inputs)[0, :15, 0].abs().max() == 0  # the padding reaches the network as zeros


# ---- every series in, every series out ------------------------------------------------------------------


def short_panel(path):
    """Three daily series of 120 points, one of 14 (padded windows) and one of 7 (a fallback at horizon 4)."""
    frame = synthetic_long(ids=("a", "b", "c", "short", "wee"), n=120)
    for key, length in (("short", 14), ("wee", 7)):
        frame = frame[(frame["store"] != key) | (frame["date"] > frame["date"].max() - pd.Timedelta(days=length))]
    frame.to_csv(path, index=False)
    return path


def test_every_series_gets_a_forecast_and_the_fallbacks_are_the_series_too_short(tmp_path):
    model = tmp_path / "m.tsgate"
    result = invoke("train", short_panel(tmp_path / "p.csv"), "--id-col", "store", "-o", model, "--format", "json",
                    *LOUD)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["series"] == 5 and summary["skipped_ids"] == [] and summary["series_fallback"] == ["wee"]
    assert "1 of 5 series are too short to learn from ('wee')" in result.stderr

    forecast = invoke("forecast", model, "--format", "csv", "--level", "80")
    assert forecast.exit_code == 0, forecast.stderr
    frame = pd.read_csv(StringIO(forecast.stdout))
    assert list(frame.columns) == ["store", "date", "sales", "sales_lo_80", "sales_hi_80", "fallback"]
    assert sorted(frame["store"].unique()) == ["a", "b", "c", "short", "wee"]
    assert sorted(frame.loc[frame["fallback"], "store"].unique()) == ["wee"]
    assert np.isfinite(frame[["sales", "sales_lo_80", "sales_hi_80"]].to_numpy()).all()
    assert frame.loc[frame["store"] == "wee", "sales"].std() > 0  # the networks' forecast, not a constant

    loaded = Forecaster.load(model)
    assert loaded.fallback_.tolist() == [False, False, False, False, True]
    assert loaded.members_[0].config.masked and loaded.context_points_.tolist() == [12, 12, 12, 12, 7]


def test_a_saved_panel_with_short_series_forecasts_as_before_saving(tmp_path):
    frame = pd.read_csv(short_panel(tmp_path / "p.csv"))
    series = load_series(frame, DataOptions(id_col="store"))
    model = Forecaster(horizon=4, lookback=12, hidden=8, steps=20, ensemble=2, device="cpu").fit(series)
    model.save(tmp_path / "m.tsgate")
    again = Forecaster.load(tmp_path / "m.tsgate")
    pd.testing.assert_frame_equal(model.predict(levels=(80,)), again.predict(levels=(80,)))
    # New data: the short series, however short, is forecast from its own points.
    pd.testing.assert_frame_equal(model.predict(series), again.predict(series))
    assert again.predict(series)["fallback"].sum() == 4  # wee's horizon


def test_strict_still_refuses_a_series_too_short(tmp_path):
    result = invoke("train", short_panel(tmp_path / "p.csv"), "--id-col", "store", "-o", tmp_path / "m.tsgate",
                    "--strict", *FAST)
    assert result.exit_code == 2 and not (tmp_path / "m.tsgate").exists()
    assert "series 'short' has 14 points but lookback 12 + horizon 4 + validation 4 need at least 20" in result.stderr


# ---- compare on a panel with short series ---------------------------------------------------------------


def test_compare_fits_a_panel_as_train_does_and_scores_every_series():
    from tsgate.compare import CompareOptions, run_comparison, split_fold

    series = hourly({"a": 300, "b": 320, "c": 340, "short": 30})
    template = Forecaster(horizon=4, hidden=8, steps=20, ensemble=3, device="cpu")
    comparison = run_comparison(series, template, CompareOptions(models=("gru",), levels=()), keep_models=True)
    fitted = next(iter(comparison.models.values()))
    trained = Forecaster(horizon=4, hidden=8, steps=20, ensemble=3, device="cpu").fit(split_fold(series, 4, 0)[0])
    assert fitted.metrics_["lookbacks"] == trained.metrics_["lookbacks"] == [48, 24, 72]  # not the short series'
    assert comparison.test_points == 4 * 4 and comparison.settings["lenient"] is True
    strict = resolve_lookbacks(replace(series, strict=True).drop_last(4), lookback="auto", horizon=4, val_fraction=0.2,
                               members=3)[1]
    assert max(strict) < 24  # what compare read before: the lookback the 26 points left could hold


def test_seasonal_naive_falls_back_to_naive_on_the_series_shorter_than_a_season_only():
    from tsgate.compare import Scoring, baseline_runs, mase_scale, split_fold

    series = hourly({"a": 300, "b": 320, "short": 20})  # season 24: "short" holds 16 points before the origin
    train_set, truth = split_fold(series, 4, 0)
    scoring = Scoring(mase_scale(train_set, 24), ())
    template = Forecaster(horizon=4, lookback=12, device="cpu")
    runs = {run.model: run for run in baseline_runs(train_set, truth, scoring, template, 24, 0, 24)}
    naive, seasonal = (runs[name].errors.reshape(3, 4) for name in ("naive", "seasonal_naive"))  # (series, horizon)
    assert np.array_equal(naive[2], seasonal[2])
    assert not np.array_equal(naive[:2], seasonal[:2])
    assert np.isfinite(runs["ridge"].errors).all()  # ridge forecasts the short series from a padded window
    assert scoring.scale[2, 0, 0] == pytest.approx(np.abs(np.diff(train_set.values[2][:, 0])).mean())  # its naive scale


def test_compare_with_strict_refuses_the_short_series_the_panel_keeps(tmp_path):
    data = short_panel(tmp_path / "p.csv")
    kept = invoke("compare", data, "--id-col", "store", "--models", "gru", "--format", "json", *FAST)
    assert kept.exit_code == 0, kept.stderr
    assert json.loads(kept.stdout)["settings"]["series"] == 5
    refused = invoke("compare", data, "--id-col", "store", "--models", "gru", "--strict", *FAST)
    assert refused.exit_code == 2 and "'short' 10 points" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_member_too_short_for_the_season_anchors_on_the_last_value_and_the_others_keep_the_season(tmp_path):
    # Hourly, season 24: the members of these 60-point series read 45, 22 and 45 steps; 22 holds no whole day.
    series = hourly({"a": 60, "b": 62, "c": 64})
    model = Forecaster(horizon=4, hidden=4, steps=5, ensemble=3, anchor="seasonal", device="cpu").fit(series)
    lookbacks = [network.config.lookback for network in model.members_]
    anchors = [network.config.anchor_season for network in model.members_]
    assert anchors == [24 if lookback >= 24 else 1 for lookback in lookbacks] and 1 in anchors and 24 in anchors
    assert model.metrics_["anchor_seasons"] == anchors
    model.save(tmp_path / "m.tsgate")
    again = Forecaster.load(tmp_path / "m.tsgate")
    assert [network.config.anchor_season for network in again.members_] == anchors
    pd.testing.assert_frame_equal(model.predict(), again.predict())
