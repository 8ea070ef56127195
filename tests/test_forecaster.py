"""Forecaster: training learns, saving round-trips, seeds reproduce, predictions continue the calendar."""

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_long, synthetic_sine

from tsgate import Forecaster
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError, OptionError, TrainingError


def sine_series(n=360, noise=0.1):
    return load_series(synthetic_sine(n=n, noise=noise), DataOptions())


def small(**changes):
    params = dict(backbone="gru", lookback=24, horizon=6, hidden=16, epochs=4, batch_size=32, seed=0)
    return Forecaster(**{**params, **changes})


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_learns_a_noisy_sine_well_below_naive(backbone):
    series = sine_series(n=600)
    model = Forecaster(backbone=backbone, lookback=24, horizon=6, hidden=32, epochs=40, patience=8, seed=1).fit(series)
    values = series.values[0][:, 0]
    validation = 120  # 20% of 600
    naive_mae = np.mean([np.abs(values[t:t + 6] - values[t - 1]).mean() for t in range(600 - validation, 600 - 6 + 1)])
    assert model.metrics_["val_mae"] < 0.5 * naive_mae


def test_forecast_continues_the_frequency_after_the_last_timestamp():
    series = sine_series()
    model = small().fit(series)
    forecast = model.predict()
    last = series.index[0][-1]
    assert list(forecast.columns) == ["timestamp", "load"]
    assert list(forecast["timestamp"]) == list(pd.date_range(last, periods=7, freq="h")[1:])


def test_monthly_forecast_starts_next_month():
    frame = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=80, freq="MS"), "y": np.arange(80.0) % 12})
    model = small(lookback=12, horizon=3).fit(load_series(frame, DataOptions()))
    assert [str(t.date()) for t in model.predict()["month"]] == ["2006-09-01", "2006-10-01", "2006-11-01"]


def test_forecast_is_on_the_original_scale():
    frame = synthetic_sine(n=300)
    frame["load"] = frame["load"] * 1000 + 50_000
    model = small().fit(load_series(frame, DataOptions()))
    forecast = model.predict()["load"]
    assert forecast.between(55_000, 65_000).all()  # the data spans 57,000-63,000


def test_save_load_round_trip_gives_identical_forecasts(tmp_path):
    series = sine_series()
    model = small().fit(series)
    path = tmp_path / "m.tsgate"
    model.save(path)
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(model.predict(), loaded.predict())
    pd.testing.assert_frame_equal(model.predict(series), loaded.predict(series))
    assert loaded.metrics_["val_mae"] == model.metrics_["val_mae"]
    assert loaded.history_ == model.history_


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_same_seed_gives_byte_identical_model_files(tmp_path, backbone):
    series = sine_series()
    small(backbone=backbone, seed=3).fit(series).save(tmp_path / "a.tsgate")
    small(backbone=backbone, seed=3).fit(series).save(tmp_path / "b.tsgate")
    small(backbone=backbone, seed=4).fit(series).save(tmp_path / "c.tsgate")
    assert (tmp_path / "a.tsgate").read_bytes() == (tmp_path / "b.tsgate").read_bytes()
    assert (tmp_path / "a.tsgate").read_bytes() != (tmp_path / "c.tsgate").read_bytes()


def test_global_model_over_many_series_forecasts_each():
    series = load_series(synthetic_long(), DataOptions(id_col="store"))
    model = small(lookback=14, horizon=7).fit(series)
    forecast = model.predict()
    assert list(forecast.columns) == ["store", "date", "sales"]
    assert forecast.groupby("store").size().to_dict() == {"a": 7, "b": 7, "c": 7}
    means = forecast.groupby("store")["sales"].mean()
    assert means["a"] < means["b"] < means["c"]  # each series keeps its own level through its own scaler


def test_predict_on_new_data_uses_its_last_lookback_points():
    series = sine_series()
    model = small().fit(series)
    shorter = series.drop_last(5)
    forecast = model.predict(shorter)
    assert forecast["timestamp"].iloc[0] == shorter.index[0][-1] + pd.Timedelta(hours=1)
    assert not forecast["load"].equals(model.predict()["load"])


def test_too_short_series_says_what_is_needed():
    with pytest.raises(DataError, match=r"need at least \d+.*lower --lookback"):
        small(lookback=200).fit(sine_series(n=100))


def test_unfitted_forecaster_refuses_to_predict():
    with pytest.raises(OptionError, match="not fitted"):
        Forecaster().predict()


def test_data_with_other_columns_than_the_model_is_refused():
    model = small().fit(sine_series())
    other = synthetic_sine().rename(columns={"load": "demand"})
    with pytest.raises(DataError, match="differ from the model"):
        model.predict(load_series(other, DataOptions()))


def test_divergent_training_stops_with_advice():
    series = sine_series()
    with pytest.raises(TrainingError, match="lower --lr"):
        small(lr=1e30, scaler="none").fit(series)


def test_unknown_device_or_missing_cuda_is_an_option_error():
    import torch

    with pytest.raises(OptionError):
        small(device="tpu").fit(sine_series())
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="no CUDA"):
            small(device="cuda").fit(sine_series())


def test_early_stopping_keeps_the_best_validation_check_and_refits_for_its_steps():
    import torch

    from helpers.windowing import windows_of

    from tsgate import train as training
    from tsgate.models import RecurrentForecaster
    from tsgate.windows import validation_length

    series = sine_series()
    # anchor "last": the untrained network (the last value repeated) is soon beaten, so a trained check wins.
    options = dict(epochs=30, patience=2, anchor="last", calendar=False, ensemble=1, device="cpu")
    watched = small(refit=False, **options).fit(series)
    assert len(watched.history_) == 1  # one list of checks per member
    checks = watched.history_[0]
    n = len(series.values[0])
    train_length = n - validation_length(n, 6, 0.2)
    data = windows_of([watched.scaling_.transform(0, series.values[0])], [train_length], 24, 6, dtype=np.float32)
    every, budget = training.check_every(len(data.train), 32), 30 * -(-len(data.train) // 32)
    assert checks[0]["step"] == 0 and checks[0]["train_loss"] is None  # the untrained network is a candidate
    assert [c["step"] for c in checks] == [every * k for k in range(len(checks))]
    assert all(c["train_loss"] > 0 for c in checks[1:])
    best = min(checks, key=lambda c: c["val_loss"])
    assert 0 < best["step"] < checks[-1]["step"] < budget  # trained past the best, then stopped early
    assert len(checks) - 1 - checks.index(best) == 2 + 1  # patience 2: the third check without improvement stops
    assert watched.metrics_["best_steps"] == [best["step"]]
    assert watched.metrics_["steps_run"] == checks[-1]["step"]  # no refit
    # The weights kept are the best check's, not the last step's.
    kept = training.evaluate_loss(watched.members_[0], data, data.val_starts, "mae")
    assert kept == pytest.approx(best["val_loss"], rel=1e-9)
    assert checks[-1]["val_loss"] > best["val_loss"] * 1.01

    # With refit the same watched run picks the step count, then the member trains again from its
    # initial weights on every window (validation part included) for exactly that many steps.
    refitted = small(**options).fit(series)
    assert refitted.history_ == watched.history_
    assert refitted.metrics_["best_steps"] == [best["step"]]
    assert refitted.metrics_["steps_run"] == checks[-1]["step"] + best["step"]
    config = refitted.train_config(refitted.member_seeds_[0])
    training.seed_everything(config.seed)
    network = RecurrentForecaster(refitted.members_[0].config)
    initial = {k: v.clone() for k, v in network.state_dict().items()}
    assert training.refit(network, initial, data, config, torch.device("cpu"), best["step"]) == best["step"]
    again, final = network.state_dict(), refitted.members_[0].state_dict()
    assert all(torch.equal(again[k], final[k]) for k in final)
    assert not all(torch.equal(final[k], watched.members_[0].state_dict()[k]) for k in final)


def test_auto_device_is_cpu_without_an_accelerator():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    model = small().fit(sine_series())
    assert model.metrics_["device"] == "cpu"
    assert model.metrics_["kernel"] in ("tsgate-cpp", "tsgate-python", "stock")


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")
def test_cuda_training_saves_a_model_that_forecasts_on_cpu(tmp_path):
    series = sine_series()
    model = small(device="cuda").fit(series)
    assert model.metrics_["device"] == "cuda" and model.metrics_["kernel"] == "stock"  # cuDNN on GPU
    model.save(tmp_path / "gpu.tsgate")
    loaded = Forecaster.load(tmp_path / "gpu.tsgate")
    pd.testing.assert_frame_equal(model.predict(), loaded.predict(), atol=1e-4)
    cpu = small(device="cpu").fit(series)
    assert abs(model.metrics_["val_mae"] - cpu.metrics_["val_mae"]) < 0.5 * cpu.metrics_["val_mae"] + 0.1


def test_a_model_file_claiming_a_huge_network_is_refused_before_building_it(tmp_path, monkeypatch):

    from tsgate import modelfile
    from tsgate.errors import ModelFileError
    from tsgate.models import RecurrentForecaster

    small().fit(sine_series()).save(tmp_path / "m.tsgate")
    tensors, meta = modelfile.load(tmp_path / "m.tsgate")
    meta["model"]["hidden"] = 2 ** 20
    modelfile.save(tmp_path / "huge.tsgate", tensors, {k: v for k, v in meta.items() if k not in ("format", "format_version")})
    built = []
    monkeypatch.setattr(RecurrentForecaster, "__init__", lambda *a, **k: built.append(1) or None)
    with pytest.raises(ModelFileError, match="inconsistent"):
        Forecaster.load(tmp_path / "huge.tsgate")
    assert built == []


def test_the_series_set_says_whether_fit_and_predict_refuse_or_leave_out():
    from dataclasses import replace

    frame = synthetic_long(ids=("a", "b", "short"), n=120)
    frame = frame[(frame["store"] != "short") | (frame["date"] >= frame["date"].max() - pd.Timedelta(days=20))]
    series = load_series(frame, DataOptions(id_col="store"))
    model = small(lookback=14, horizon=7).fit(series)  # short: 14 training points, padded windows
    assert model.ids_ == ["a", "b", "short"] and model.skipped_ == []
    with pytest.raises(DataError, match="series 'short' has 21 points"):
        small(lookback=14, horizon=7).fit(replace(series, strict=True))
    newcomer = load_series(pd.concat([frame, frame[frame["store"] == "a"].assign(store="new")]), DataOptions(id_col="store"))
    prediction = model.predict_array(newcomer)
    assert prediction.ids == ["a", "b", "short"] and [key for key, _ in prediction.skipped] == ["new"]
    with pytest.raises(DataError, match="series 'new' was not in the training data"):
        model.predict_array(replace(newcomer, strict=True))
    assert series.strict is False and load_series(frame, DataOptions(id_col="store", strict=True)).strict is True


def test_windows_for_looking_inside_are_spread_evenly_over_every_series():
    from tsgate.windows import window_starts

    owner, start = window_starts(np.array([4, 3]), 2, most=10)  # 3 and 2 windows of two steps
    assert owner.tolist() == [0, 0, 0, 1, 1] and start.tolist() == [0, 1, 2, 0, 1]
    owner, start = window_starts(np.array([4, 3]), 2, most=3)  # the first, the middle and the last start
    assert owner.tolist() == [0, 0, 1] and start.tolist() == [0, 2, 1]


@pytest.mark.parametrize("anchor, counted", [("seasonal", True), ("last", False)])
def test_a_seasonal_anchor_counts_the_correction_in_its_own_error_and_the_file_says_so(tmp_path, anchor, counted):
    from tsgate.modelfile import model_fields

    series = load_series(synthetic_sine(n=200), DataOptions())
    model = Forecaster(horizon=6, lookback=48, hidden=4, steps=5, ensemble=1, anchor=anchor, device="cpu").fit(series)
    config = model.members_[0].config
    assert config.scale_by_anchor is counted and config.anchor_season == (24 if counted else 1)
    assert ("scale_by_anchor" in model_fields(config)) is counted  # files without a seasonal anchor are as before
    model.save(tmp_path / "m.tsgate")
    assert Forecaster.load(tmp_path / "m.tsgate").members_[0].config.scale_by_anchor is counted
