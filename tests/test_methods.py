"""The accuracy methods: anchor, window normalisation, refit, ensemble, auto lookback, calendar, auto backbone."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import synthetic_long, synthetic_sine
from helpers.windowing import windows_of

from tsgate import Forecaster
from tsgate import train as training
from tsgate.config import ModelConfig
from tsgate.data import DataOptions, load_series
from tsgate.models import RecurrentForecaster, anchor_forecast, window_stats

DATA = Path(__file__).parent / "data"


def sine_series(n=240, **kwargs):
    return load_series(synthetic_sine(n=n, **kwargs), DataOptions())


def tiny(**changes):
    params = dict(horizon=6, hidden=8, steps=30, batch_size=32, ensemble=1, seed=0)
    return Forecaster(**{**params, **changes})


# ---- anchor: a zero network forecasts the anchor exactly ----------------------------------------


def zero_all_weights(forecaster):
    with torch.no_grad():
        for network in forecaster.members_:
            for parameter in network.parameters():
                parameter.zero_()


@pytest.mark.parametrize("anchor, season", [("last", 1), ("seasonal", 24)])
def test_a_zero_network_forecasts_the_anchor_exactly(anchor, season):
    series = sine_series()
    model = tiny(anchor=anchor, scaler="none", lookback=48).fit(series)
    zero_all_weights(model)
    values = series.values[0]
    expected = values[-1:] if season == 1 else values[len(values) - season:]
    expected = np.resize(expected[:, 0], 6)[:, None]  # the last value, or the last season, repeated
    np.testing.assert_array_equal(model.predict_array()[1][0], expected)


def test_an_untrained_network_already_forecasts_its_anchor():
    """The head (and highway) start at zero, so step 0 of training is the anchor forecast."""
    config = ModelConfig(lookback=12, horizon=4, anchor_season=1)
    network = RecurrentForecaster(config)
    x = torch.randn(5, 12, 1, dtype=torch.float64)
    np.testing.assert_allclose(network(x).detach().numpy(), x[:, -1:].expand(5, 4, 1).numpy(), rtol=0, atol=1e-12)


def test_anchor_forecast_repeats_the_last_season():
    x = torch.arange(10.0).view(1, 10, 1)
    assert anchor_forecast(x, 4, 6).flatten().tolist() == [6.0, 7.0, 8.0, 9.0, 6.0, 7.0]
    assert anchor_forecast(x, 1, 3).flatten().tolist() == [9.0, 9.0, 9.0]
    assert anchor_forecast(x, 0, 2).flatten().tolist() == [0.0, 0.0]


# ---- window normalisation ------------------------------------------------------------------------


def test_window_scale_is_the_mean_absolute_step():
    config = ModelConfig(lookback=4, horizon=2, anchor_season=1, norm="window")
    x = torch.tensor([[[1.0], [3.0], [2.0], [6.0]]], dtype=torch.float64)
    _, level, scale = window_stats(x, config)
    assert level.item() == 6.0 and scale.item() == pytest.approx((2 + 1 + 4) / 3)


def test_forecasts_move_with_an_affine_change_of_the_data():
    """Per-window normalisation: a series times 1000 plus 5 gets the forecast times 1000 plus 5."""
    frame = synthetic_sine(n=240)
    changed = frame.assign(load=frame["load"] * 1000 + 5)
    small = tiny(scaler="none", steps=20).fit(load_series(frame, DataOptions())).predict_array()[1]
    large = tiny(scaler="none", steps=20).fit(load_series(changed, DataOptions())).predict_array()[1]
    np.testing.assert_allclose(large, small * 1000 + 5, rtol=1e-4)


# ---- use all the data ------------------------------------------------------------------------------


def test_every_window_reaches_the_last_point_and_validation_targets_line_up():
    values = [np.arange(50.0)[:, None], np.arange(30.0)[:, None]]
    data = windows_of(values, [40, 24], lookback=8, horizon=3)
    assert int(data.all.tensor().max()) + 8 + 3 == 80  # the last window ends at the last point of the last series
    short = windows_of(values, [40, 24], lookback=5, horizon=3)
    targets = lambda d: [int(s) + d.lookback for s in d.val_starts]  # noqa: E731
    assert targets(data) == targets(short)  # members with other lookbacks validate on the same points


def test_the_final_model_has_learned_from_the_last_training_point(monkeypatch):
    """With refit, the batches after early stopping include the window that ends at the last point."""
    series = sine_series()
    seen = []
    original = training.train_step

    def spy(model, windows, batch, data, *rest):
        seen.append((batch.clone(), data))
        return original(model, windows, batch, data, *rest)

    monkeypatch.setattr(training, "train_step", spy)
    model = tiny(lookback=24, steps=40, patience=50, anchor="last").fit(series)  # training beats this anchor
    refit_steps = model.metrics_["best_steps"][0]
    assert refit_steps > 0 and len(seen) == model.metrics_["steps_run"] == model.history_[0][-1]["step"] + refit_steps
    last_start = len(series.values[0]) - 24 - 6  # the window whose target ends at the last point
    watched, refit = seen[:-refit_steps], seen[-refit_steps:]
    assert not any(last_start in batch.tolist() for batch, _ in watched)  # validation while early stopping watched
    assert any(last_start in batch.tolist() for batch, _ in refit)


def test_without_refit_the_best_validated_weights_are_kept():
    model = tiny(lookback=24, steps=60, refit=False).fit(sine_series())
    history = model.history_[0]
    best = min(history, key=lambda check: check["val_loss"])
    assert model.metrics_["best_steps"] == [best["step"]]
    assert model.metrics_["steps_run"] == history[-1]["step"]  # no refit steps added


# ---- ensembles -------------------------------------------------------------------------------------


def test_the_ensemble_forecast_is_the_median_of_its_members():
    model = tiny(ensemble=3, steps=20, anchor="last").fit(sine_series())  # training beats this anchor
    assert len(model.members_) == 3 and len(set(model.member_seeds_)) == 3
    alone = []
    for member in model.members_:
        single = Forecaster(**model.get_params())
        single.__dict__.update({**model.__dict__, "members_": [member]})  # the same fitted model, one member
        alone.append(single.predict_array()[1])
    np.testing.assert_array_equal(model.predict_array()[1], np.median(np.stack(alone), axis=0))
    assert not np.array_equal(alone[0], alone[1])  # members differ, so the median is not one of them trivially


def test_ensemble_members_share_one_model_file_and_reload_identically(tmp_path):
    model = tiny(ensemble=3, steps=20).fit(sine_series())
    model.save(tmp_path / "m.tsgate")
    loaded = Forecaster.load(tmp_path / "m.tsgate")
    assert [m.config.lookback for m in loaded.members_] == [m.config.lookback for m in model.members_]
    np.testing.assert_array_equal(loaded.predict_array()[1], model.predict_array()[1])


# ---- lookback auto ---------------------------------------------------------------------------------


def test_auto_lookback_fits_a_short_panel_and_trains(tmp_path):
    frame = synthetic_long(ids=("a", "b"), n=40)
    series = load_series(frame, DataOptions(id_col="store"))
    model = tiny(ensemble=3, horizon=7).fit(series)
    assert max(model.metrics_["lookbacks"]) <= 40 - 8 - 7  # length - validation - horizon
    assert model.predict().shape == (14, 3)


# ---- calendar inputs -------------------------------------------------------------------------------


def test_calendar_inputs_reach_the_network_and_survive_saving(tmp_path):
    model = tiny(calendar=True).fit(sine_series())  # hourly: hour of day and day of week
    assert model.members_[0].config.n_calendar == 4 and model.members_[0].rnn.input_size == 5
    model.save(tmp_path / "m.tsgate")
    np.testing.assert_array_equal(Forecaster.load(tmp_path / "m.tsgate").predict_array()[1], model.predict_array()[1])
    assert tiny(calendar=False).fit(sine_series()).members_[0].rnn.input_size == 1


# ---- model auto ------------------------------------------------------------------------------------


def test_model_auto_keeps_the_backbone_with_the_best_validation_loss():
    model = tiny(backbone="auto", steps=20).fit(sine_series())
    losses = model.metrics_["backbone_val_loss"]
    assert set(losses) == {"rnn", "gru", "lstm"}
    assert model.metrics_["backbone"] == min(losses, key=losses.get)
    assert model.members_[0].config.backbone == model.metrics_["backbone"]


# ---- determinism and old files ---------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_a_fixed_seed_gives_byte_identical_ensembles(tmp_path, backbone):
    series = sine_series()
    for name in ("a", "b"):
        tiny(backbone=backbone, ensemble=2, steps=20, seed=3).fit(series).save(tmp_path / f"{name}.tsgate")
    assert (tmp_path / "a.tsgate").read_bytes() == (tmp_path / "b.tsgate").read_bytes()


def test_a_tsgate_0_1_model_file_still_forecasts_as_it_did():
    model = Forecaster.load(DATA / "v1-air-gru.tsgate")
    expected = pd.read_csv(DATA / "v1-air-gru-forecast.csv")
    forecast = model.predict()
    assert list(forecast.columns) == list(expected.columns)
    assert forecast["month"].dt.strftime("%Y-%m-%d").tolist() == expected["month"].tolist()
    # The 0.1 file's expected forecast came from windows in float32; these windows are float64.
    np.testing.assert_allclose(forecast["passengers"], expected["passengers"], rtol=1e-5)
    assert model.members_[0].config.norm == "level" and model.members_[0].config.anchor_season == 1


def test_the_model_file_records_the_methods(tmp_path):
    from tsgate import modelfile

    tiny(ensemble=2).fit(sine_series()).save(tmp_path / "m.tsgate")
    _, meta = modelfile.load(tmp_path / "m.tsgate")
    assert meta["format_version"] == 2 and len(meta["members"]) == 2
    assert meta["model"]["anchor_season"] in (1, 24) and meta["calendar"] == ["day", "week"]
    assert json.dumps(meta["params"])  # plain JSON: the constructor arguments


def test_no_anchor_is_refused_where_the_window_level_would_be_lost():
    from tsgate.errors import OptionError

    with pytest.raises(OptionError, match="--anchor none needs --norm none"):
        ModelConfig(anchor_season=0, norm="window")
    assert ModelConfig(anchor_season=0, norm="none").anchor_season == 0
