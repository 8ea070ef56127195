"""Covariates: roles and their errors, the layout of future rows, scaling on the training part only,
learning from a covariate with every backbone, the model file, the Python API and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from helpers.cli import describe, invoke

from tsgate import Forecaster
from tsgate.covariates import fit_covariate_scaling
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError, OptionError

HORIZON = 4


def driven_frame(n=240, horizon=HORIZON, seed=0, ahead=True):
    """A synthetic series driven by a future-known covariate: y = 10 + 3 x + small noise, x white noise,
    so y cannot be forecast from its own past but can from x; `horizon` rows of x after the last y."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n + horizon)
    y = 10 + 3 * x + 0.05 * rng.standard_normal(n + horizon)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n + horizon, freq="h"), "y": y, "x": x})
    frame.loc[n:, "y"] = np.nan
    return frame if ahead else frame.iloc[:n]


def panel_frame(n=60, horizon=HORIZON, seed=0):
    """Two synthetic series with a past, a future and a categorical static covariate, and future rows."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, (key, kind) in enumerate((("a", "big"), ("b", "small"))):
        x = rng.standard_normal(n + horizon)
        y = np.r_[10 * (k + 1) + 2 * x[:n] + 0.1 * rng.standard_normal(n), [np.nan] * horizon]
        parts.append(pd.DataFrame({"id": key, "time": pd.date_range("2024-01-01", periods=n + horizon, freq="h"),
                                   "y": y, "obs": np.r_[rng.standard_normal(n), [np.nan] * horizon], "temp": x,
                                   "kind": kind}))
    return pd.concat(parts, ignore_index=True)


PANEL = dict(target=("y",), id_col="id", past_cov=("obs",), future_cov=("temp",), static_cov=("kind",))


def tiny(**changes):
    params = dict(backbone="gru", lookback=8, horizon=HORIZON, hidden=8, steps=30, ensemble=1, calendar=False, seed=0)
    return Forecaster(**{**params, **changes})


# ---- roles and their errors ------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (dict(past_cov=("x",), future_cov=("x",)), "column 'x' is given to --future-cov and --past-cov"),
    (dict(target=("y",), future_cov=("y",)), "column 'y' is a --target and cannot also be a covariate"),
    (dict(future_cov=("time",)), "column 'time' is the time or id column"),
    (dict(future_cov=("rain",)), "unknown column 'rain' for --future-cov"),
    (dict(categorical=("x",)), "--categorical 'x' is not a covariate"),
])
def test_a_column_has_exactly_one_role(options, message):
    with pytest.raises((OptionError, DataError), match=message.replace("(", r"\(").replace("-", r"\-")):
        load_series(driven_frame(), DataOptions(**{"target": ("y",), **options}))


def test_the_target_is_found_among_the_columns_that_are_no_covariate():
    series = load_series(driven_frame(), DataOptions(future_cov=("x",)))
    assert series.targets == ["y"] and series.covariates.columns[0].name == "x"


def test_a_static_covariate_that_varies_within_a_series_names_the_column_and_row():
    frame = panel_frame()
    frame.loc[5, "kind"] = "small"
    with pytest.raises(DataError, match=r"static covariate 'kind' varies within series 'a': data row 6 differs from data row 1"):
        load_series(frame, DataOptions(**PANEL))


def test_a_numeric_covariate_with_text_names_the_column_and_row():
    frame = driven_frame()
    frame["x"] = frame["x"].astype(object)
    frame.loc[7, "x"] = "n/a"
    with pytest.raises(DataError, match=r"column 'x' has a non-numeric value 'n/a' at data row 8"):
        load_series(frame, DataOptions(future_cov=("x",)))


def test_text_is_categorical_and_declared_numbers_too():
    frame = panel_frame()
    frame["grade"] = np.where(frame["id"] == "a", 1, 2)
    series = load_series(frame, DataOptions(**{**PANEL, "static_cov": ("kind", "grade"), "categorical": ("grade",)}))
    kind, grade = series.covariates.statics
    assert kind.categories == ("big", "small") and grade.categories == ("1", "2")
    assert series.covariates.static.tolist() == [[0, 0], [1, 1]]


def test_an_unseen_level_at_forecast_names_the_column_and_row():
    frame = panel_frame()
    model = tiny().fit(frame, **PANEL)
    frame.loc[frame["id"] == "b", "kind"] = "medium"
    with pytest.raises(DataError, match=r"categorical covariate 'kind' has the level 'medium' at data row 65, unseen in training"):
        model.predict(frame)


# ---- the layout of future rows -----------------------------------------------------------------------


def test_rows_after_the_last_target_hold_the_future_values():
    frame = panel_frame()
    series = load_series(frame, DataOptions(**PANEL))
    assert series.lengths == [60, 60] and series.covariates.lengths.tolist() == [64, 64]
    ahead = series.covariates.ahead(series.length_array, HORIZON)[:, :, 0]
    assert np.array_equal(ahead, frame["temp"].to_numpy().reshape(2, 64)[:, 60:])


def test_an_earlier_origin_sees_the_rows_after_it_as_its_future():
    frame = panel_frame()
    series = load_series(frame, DataOptions(**PANEL))
    temp = frame["temp"].to_numpy().reshape(2, 64)
    for view, end in ((series.drop_last(10), 50), (series.truncate([50, 50]), 50)):
        assert view.lengths == [end, end]
        assert np.array_equal(view.covariates.ahead(view.length_array, HORIZON)[:, :, 0], temp[:, end:end + HORIZON])
    picked = series.subset([1])
    assert picked.covariates.static.tolist() == [[1]]
    assert np.array_equal(picked.covariates.ahead(picked.length_array, HORIZON)[0, :, 0], temp[1, 60:])


def test_training_ignores_the_rows_after_the_last_target():
    with_rows = tiny().fit(driven_frame(), target="y", future_cov="x")
    without = tiny().fit(driven_frame(ahead=False), target="y", future_cov="x")
    assert with_rows.to_bytes() == without.to_bytes()


def test_a_forecast_names_the_series_and_timestamps_whose_future_values_are_missing():
    frame = panel_frame()
    model = tiny().fit(frame, **PANEL)
    frame = frame.drop(index=[63])  # series a's last horizon step
    frame.loc[126, "temp"] = np.nan  # series b's third
    with pytest.raises(DataError, match=r"series 'a' lacks future covariate values \(temp\) for 1 of the 4 horizon "
                                        r"steps: 2024-01-03 15:00:00 \(and 1 more series\)"):
        model.predict(frame)


def test_a_forecast_without_data_needs_the_future_rows():
    model = tiny().fit(driven_frame(), target="y", future_cov="x")
    with pytest.raises(DataError, match="this model reads future covariates"):
        model.predict()


def test_past_covariates_are_never_read_beyond_the_origin():
    frame = panel_frame()
    model = tiny().fit(frame, **PANEL)
    before = model.predict(frame)
    frame.loc[frame["y"].isna(), "obs"] = 1e6  # past covariate values after the origin
    assert model.predict(frame).equals(before)
    frame.loc[frame["y"].isna(), "temp"] += 1.0  # future ones do count
    assert not model.predict(frame).equals(before)


# ---- scaling ----------------------------------------------------------------------------------------


def test_covariates_are_scaled_per_series_and_column_on_the_training_part_only():
    series = load_series(panel_frame(), DataOptions(**PANEL))
    data = series.covariates
    train = np.array([40, 40])
    scaling = fit_covariate_scaling("standard", data, train)
    rows = data.dynamic.reshape(2, 64, 2)
    assert np.allclose(scaling.center, rows[:, :40].mean(axis=1)) and np.allclose(scaling.scale, rows[:, :40].std(axis=1))
    data.dynamic[40:64] = 1e3  # series a after its training part
    assert np.array_equal(fit_covariate_scaling("standard", data, train).center, scaling.center)
    assert scaling.static_center.tolist() == [0.0]  # a categorical static: one-hot, not scaled


# ---- learning ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_every_backbone_learns_a_series_that_only_its_covariate_predicts(backbone):
    settings = dict(backbone=backbone, lookback=8, horizon=HORIZON, hidden=8, steps=100, lr=0.03, ensemble=1,
                    calendar=False, refit=False, seed=0)
    blind = Forecaster(**settings).fit(driven_frame(ahead=False), target="y")
    seeing = Forecaster(**settings).fit(driven_frame(), target="y", future_cov="x")
    assert seeing.metrics_["val_mae"] < 0.25 * blind.metrics_["val_mae"]


# ---- the model file ----------------------------------------------------------------------------------


def test_the_model_file_records_every_covariate_and_forecasts_the_same(tmp_path):
    from tsgate import modelfile

    frame = panel_frame()
    model = tiny(backbone="lstm").fit(frame, **PANEL)
    path = tmp_path / "m.tsgate"
    model.save(path)
    tensors, meta = modelfile.load(path)
    assert meta["covariates"]["columns"] == [{"name": "obs", "role": "past", "categories": None},
                                             {"name": "temp", "role": "future", "categories": None},
                                             {"name": "kind", "role": "static", "categories": ["big", "small"]}]
    assert (meta["model"]["n_past"], meta["model"]["n_future"], meta["model"]["n_static"]) == (1, 1, 2)
    assert tensors["covariates.center"].shape == (2, 2) and tensors["covariates.context"].shape == (2, 8, 2)
    assert Forecaster.load(path).predict(frame).equals(model.predict(frame))


def test_a_model_without_covariates_writes_no_covariate_fields(tmp_path):
    from tsgate import modelfile

    path = tmp_path / "m.tsgate"
    tiny().fit(driven_frame(ahead=False), target="y").save(path)
    tensors, meta = modelfile.load(path)
    assert "covariates" not in meta and not any(name.startswith("covariates.") for name in tensors)
    assert not {"n_past", "n_future", "n_static"} & set(meta["model"])


def test_forecast_data_without_the_models_covariate_is_refused():
    model = tiny().fit(driven_frame(), target="y", future_cov="x")
    with pytest.raises(DataError, match="unknown column 'x' for --future-cov"):
        model.predict(driven_frame().drop(columns="x"))


# ---- the Python API ---------------------------------------------------------------------------------


def test_fit_and_predict_straight_from_a_dataframe():
    frame = panel_frame()
    model = tiny().fit(frame, time_col="time", id_col="id", target="y", past_cov=["obs"], future_cov="temp",
                       static_cov="kind")
    forecast = model.predict(frame)
    assert list(forecast.columns) == ["id", "time", "y"] and len(forecast) == 2 * HORIZON
    assert forecast["time"].iloc[0] == pd.Timestamp("2024-01-03 12:00")


def test_fit_refuses_column_names_it_does_not_know():
    with pytest.raises(OptionError, match="fit takes the column options"):
        tiny().fit(driven_frame(), target="y", covariates="x")


# ---- the command line ---------------------------------------------------------------------------------


def test_train_and_forecast_with_covariates_end_to_end(tmp_path):
    data, model = tmp_path / "panel.csv", tmp_path / "m.tsgate"
    frame = panel_frame()
    frame.to_csv(data, index=False)
    trained = invoke("train", data, "--id-col", "id", "--target", "y", "--past-cov", "obs", "--future-cov", "temp",
                     "--static-cov", "kind", "--format", "json", "-o", model, *FAST, "--lookback", "8", "--ensemble", "1")
    assert trained.exit_code == 0, describe(trained)
    forecast = invoke("forecast", model, data, "--format", "json")
    assert forecast.exit_code == 0, describe(forecast)
    rows = json.loads(forecast.stdout)
    assert [row["id"] for row in rows] == ["a"] * HORIZON + ["b"] * HORIZON
    assert rows[0]["time"].startswith("2024-01-03T12:00")
    frame.drop(index=[62]).to_csv(data, index=False)
    missing = invoke("forecast", model, data)
    assert missing.exit_code == 2 and "series 'a' lacks future covariate values (temp)" in missing.stderr
    assert invoke("forecast", model).exit_code == 2


def test_covariate_options_take_commas_and_refuse_a_second_role(tmp_path):
    data = tmp_path / "driven.csv"
    frame = driven_frame()
    frame["z"] = frame["x"] * 2
    frame.to_csv(data, index=False)
    twice = invoke("train", data, "--target", "y", "--past-cov", "x,z", "--future-cov", "z", *FAST)
    assert twice.exit_code == 2 and "column 'z' is given to --future-cov and --past-cov" in twice.stderr
    model = tmp_path / "m.tsgate"
    both = invoke("train", data, "--target", "y", "--future-cov", "x,z", "-o", model, *FAST, "--ensemble", "1")
    assert both.exit_code == 0, describe(both)


# ---- compare, inspect, workers -----------------------------------------------------------------------


def test_ridge_takes_features_beside_the_lags_and_refuses_others_at_predict():
    from tsgate.baselines import RidgeBaseline

    rng = np.random.default_rng(0)
    x, z = rng.standard_normal((200, 3, 1)), rng.standard_normal((200, 1))
    y = (2 * z)[:, :, None]  # the lags say nothing, the feature everything
    model = RidgeBaseline(alpha=1e-6).fit(x, y, z)
    assert np.allclose(model.predict(x, z), y, atol=1e-3)
    with pytest.raises(DataError, match="predict got 0 features per window but the model was fitted on 1"):
        model.predict(x)


def test_compare_with_covariates_scores_every_row_and_what_they_are_worth(tmp_path):
    data = tmp_path / "driven.csv"
    driven_frame().to_csv(data, index=False)
    result = invoke("compare", data, "--target", "y", "--future-cov", "x", "--covariates-value", "--models", "gru",
                    "--format", "json", *FAST, "--lookback", "8", "--ensemble", "1", "--no-calendar")
    assert result.exit_code == 0, describe(result)
    rows = {row["model"]: row for row in json.loads(result.stdout)["rows"]}
    assert set(rows) == {"gru", "gru-no-cov", "naive", "seasonal_naive", "ridge", "ridge-no-cov"}
    assert rows["ridge"]["mae"] < 0.1 * rows["ridge-no-cov"]["mae"]  # ridge on lags plus the covariate
    assert rows["ridge-no-cov"]["kind"] == "baseline" and rows["gru-no-cov"]["kind"] == "recurrent"
    assert rows["gru"]["parameters"] > rows["gru-no-cov"]["parameters"]
    plain = data.with_name("plain.csv")
    driven_frame(ahead=False).to_csv(plain, index=False)
    refused = invoke("compare", plain, "--target", "y", "--covariates-value", *FAST)
    assert refused.exit_code == 2 and "--covariates-value compares each backbone with and without" in refused.stderr


def test_inspect_reports_each_inputs_share_of_the_dependence():
    from tsgate.gates import inspect_forecaster

    frame = panel_frame()
    model = tiny().fit(frame, **PANEL)
    report = inspect_forecaster(model, load_series(frame, model.data_options()))
    assert list(report["channels"]) == ["y", "obs", "temp", "kind"]
    assert abs(sum(report["channels"].values()) - 1) < 1e-9 and min(report["channels"].values()) >= 0
    assert "channels" not in inspect_forecaster(tiny().fit(driven_frame(ahead=False), target="y"))


def test_covariates_travel_to_worker_processes_with_the_same_result():
    frame = panel_frame()
    here = tiny(ensemble=2).fit(frame, **PANEL, jobs=1)
    workers = tiny(ensemble=2).fit(frame, **PANEL, jobs=2)
    assert here.to_bytes() == workers.to_bytes()


def test_a_tuned_model_keeps_its_covariates_through_every_trial_and_the_winner(tmp_path):
    data, model, space = tmp_path / "panel.csv", tmp_path / "m.tsgate", tmp_path / "space.json"
    panel_frame().to_csv(data, index=False)
    space.write_text(json.dumps({"hidden": [4, 8], "batch_size": [32, 64]}))
    trained = invoke("train", data, "--id-col", "id", "--target", "y", "--future-cov", "temp", "--static-cov", "kind",
                     "--tune", "2", "--space", space, "--format", "json", "-o", model, *FAST, "--lookback", "8",
                     "--ensemble", "1", "--jobs", "1")
    assert trained.exit_code == 0, describe(trained)
    assert json.loads(trained.stdout)["tuning"]["trials"] == 2
    loaded = Forecaster.load(model)
    assert [column.name for column in loaded.covariates_.columns] == ["temp", "kind"]
    assert loaded.members_[0].config.n_future == 1 and loaded.members_[0].config.n_static == 2  # kind: two levels
    assert invoke("forecast", model, data).exit_code == 0


def test_a_short_series_in_a_panel_with_covariates_is_padded_and_forecast_with_its_future_values():
    frame = panel_frame(n=60)
    short = (frame["id"] == "b") & (frame["time"] < frame["time"].min() + pd.Timedelta(hours=50))
    frame = frame[~short].reset_index(drop=True)  # "b": 10 points and its 4 future rows
    series = load_series(frame, DataOptions(**PANEL))
    model = tiny(lookback=24).fit(series)
    assert model.members_[0].config.masked  # "b" learns from padded windows
    forecast = model.predict(frame)
    assert list(forecast["id"]) == ["a"] * HORIZON + ["b"] * HORIZON and np.isfinite(forecast["y"]).all()
    changed = frame.copy()
    changed.loc[changed.index[-HORIZON:], "temp"] += 5.0  # "b"'s future values reach its forecast
    moved = model.predict(changed)
    assert not np.allclose(moved["y"].to_numpy()[HORIZON:], forecast["y"].to_numpy()[HORIZON:])
    assert np.array_equal(moved["y"].to_numpy()[:HORIZON], forecast["y"].to_numpy()[:HORIZON])
