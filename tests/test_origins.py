"""Rolling forecasts (forecast --origins): views cut at each origin, one batched predict, one output."""

import dataclasses
import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_long, synthetic_sine
from helpers.cli import assert_one_line_error, describe, invoke

from tsgate import origins as rolling
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError, OptionError
from tsgate.forecaster import Forecaster
from tsgate.origins import forecast_origins, parse_origins

stamp = pd.Timestamp


@pytest.fixture(scope="module")
def sine_model(tiny_model):
    return Forecaster.load(tiny_model)


@pytest.fixture(scope="module")
def sine_series():
    return load_series(synthetic_sine(n=120), DataOptions())


def panel_frame():
    """Three synthetic daily series of 120 points, of which 'c' starts 100 days late and 'b' ends 10 days early."""
    frame = synthetic_long(n=120)
    late = (frame["store"] == "c") & (frame["date"] < stamp("2023-04-11"))
    early = (frame["store"] == "b") & (frame["date"] > stamp("2023-04-20"))
    return frame[~late & ~early]


@pytest.fixture(scope="module")
def panel_model():
    series = load_series(synthetic_long(n=120), DataOptions(id_col="store"))
    return Forecaster(horizon=4, lookback=12, hidden=4, steps=20, ensemble=1, device="cpu").fit(series)


# A batch of origins and a forecast of one series round differently in the last bits (batched
# matrix products), which the network can amplify to about 1e-9 relative.
SAME = dict(rtol=1e-7)


def plain_forecast(model, series, origin, levels=()):
    """`forecast` of the data cut at `origin`: every point after it dropped."""
    cut = series.drop_last(len(pd.date_range(origin, series.last[0], freq=series.freq)) - 1)
    return model.predict_array(cut, levels)


# ---- the forecast of an origin reads nothing after it ----------------------------------------------------


def test_each_origin_forecasts_as_forecast_does_on_the_data_cut_there(sine_model, sine_series):
    result = forecast_origins(sine_model, sine_series, stamp("2024-01-02 00:00"), stamp("2024-01-05 23:00"), every=7,
                              levels=(80,))
    assert len(result.origins) == 14  # 00:00 on Jan 2, then every 7 hours up to 23:00 on Jan 5
    for row, origin in enumerate(result.origins):
        plain = plain_forecast(sine_model, sine_series, origin, levels=(80,))
        assert plain.last_timestamps[0] == origin
        np.testing.assert_allclose(result.prediction.values[row], plain.values[0], **SAME)
        for side in (0, 1):
            np.testing.assert_allclose(result.prediction.bounds[80][side][row], plain.bounds[80][side][0], **SAME)


def test_changing_the_values_after_an_origin_leaves_its_forecast_alone(sine_model):
    frame = synthetic_sine(n=120)
    origin = stamp("2024-01-03 12:00")
    before = forecast_origins(sine_model, load_series(frame, DataOptions()), stamp("2024-01-03 04:00"),
                              stamp("2024-01-04 04:00"), every=8, levels=(90,))
    changed = frame.copy()
    after = changed["timestamp"] > origin
    changed.loc[after, "load"] = 1000 + 50 * np.random.default_rng(1).standard_normal(after.sum())
    again = forecast_origins(sine_model, load_series(changed, DataOptions()), stamp("2024-01-03 04:00"),
                             stamp("2024-01-04 04:00"), every=8, levels=(90,))
    up_to = np.asarray(before.origins <= origin)
    assert up_to.tolist() == [True, True, False, False]
    np.testing.assert_array_equal(before.prediction.values[up_to], again.prediction.values[up_to])
    np.testing.assert_array_equal(before.prediction.bounds[90][1][up_to], again.prediction.bounds[90][1][up_to])
    assert not np.allclose(before.prediction.values[~up_to], again.prediction.values[~up_to])  # the later origins read the change


def test_chunks_give_the_same_forecast_as_one_pass(sine_model, sine_series, monkeypatch):
    whole = forecast_origins(sine_model, sine_series, stamp("2024-01-02"), stamp("2024-01-05 23:00"), every=5, levels=(80,))
    monkeypatch.setattr(rolling, "CHUNK_ROWS", 3 * rolling.view_length(sine_model))  # three origins per predict
    chunked = forecast_origins(sine_model, sine_series, stamp("2024-01-02"), stamp("2024-01-05 23:00"), every=5,
                               levels=(80,))
    pd.testing.assert_frame_equal(whole.frame(), chunked.frame())


def test_a_view_keeps_only_what_the_context_and_the_intervals_read(sine_model, sine_series):
    keep = rolling.view_length(sine_model)
    assert keep == max(sine_model.context_length, sine_model.calibration_.span)
    view = sine_series.cut([0, 0], [5, 100], keep)
    assert view.ids == ["", ""] and view.length_array.tolist() == [6, keep]
    assert view.last.tolist() == [stamp("2024-01-01 05:00"), stamp("2024-01-05 04:00")]
    np.testing.assert_array_equal(view.values[1][:, 0], sine_series.flat[101 - keep:101, 0])


# ---- the output ------------------------------------------------------------------------------------------


def test_the_origin_column_comes_first_and_each_forecast_continues_its_origin(sine_model, sine_series):
    frame = forecast_origins(sine_model, sine_series, stamp("2024-01-04 00:00"), stamp("2024-01-05 00:00"),
                             levels=(95,)).frame()
    assert list(frame.columns) == ["origin", "timestamp", "load", "load_lo_95", "load_hi_95"]
    origins = pd.date_range("2024-01-04", "2024-01-05", freq="4h")  # every: the horizon, 4
    assert frame["origin"].drop_duplicates().tolist() == origins.tolist()
    steps = (frame["timestamp"] - frame["origin"]) / pd.Timedelta("1h")
    assert steps.tolist() == [1, 2, 3, 4] * len(origins)


def test_the_last_origin_at_the_end_of_the_data_is_the_plain_forecast(sine_model, sine_series):
    end = sine_series.last[0]
    frame = forecast_origins(sine_model, sine_series, end, end).frame()
    pd.testing.assert_frame_equal(frame.drop(columns="origin"), sine_model.predict(sine_series))


# ---- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("2024-01-01", "takes START..END"),
    ("2024-01-01..", "takes START..END"),
    ("a..b..c", "takes START..END"),
    ("2024-01-01..soon", "'soon', which is not a timestamp"),
    ("2024-01-03..2024-01-02", "ends before it starts"),
    ("2024-01-01T00:00+01:00..2024-01-02", "time zone on one side only"),
])
def test_origins_that_do_not_parse_are_one_clear_error(text, message):
    with pytest.raises(OptionError, match=message):
        parse_origins(text)


def test_origins_parse_to_timestamps():
    assert parse_origins(" 2024-01-01 23:00 .. 2024-01-31 ") == (stamp("2024-01-01 23:00"), stamp("2024-01-31"))


@pytest.mark.parametrize("start, end, every, error, message", [
    ("2023-12-31 23:00", "2024-01-03", None, OptionError, "reaches outside the data, which runs from 2024-01-01 00:00:00"),
    ("2024-01-02", "2024-01-06 00:00", None, OptionError, "reaches outside the data"),
    ("2024-01-02 00:30", "2024-01-03", None, OptionError, "no series has a point at any of the 6 origins"),
    ("2024-01-02", "2024-01-03", 0, OptionError, "--every must be a whole number of steps, at least 1, got 0"),
    ("2024-01-01 03:00", "2024-01-03", None, DataError,
     r"the series has 4 points up to the origin 2024-01-01 03:00:00, fewer than the model's lookback 12: "
     r"start --origins at 2024-01-01 11:00:00 or later"),
])
def test_origins_the_data_cannot_give_are_one_clear_error(sine_model, sine_series, start, end, every, error, message):
    with pytest.raises(error, match=message):
        forecast_origins(sine_model, sine_series, stamp(start), stamp(end), every)


def test_the_earliest_origin_with_a_whole_context_is_forecast(sine_model, sine_series):
    first = stamp("2024-01-01 11:00")  # the 12th point: one lookback of history
    assert forecast_origins(sine_model, sine_series, first, first).origins.tolist() == [first]


# ---- panels ----------------------------------------------------------------------------------------------


def test_a_panel_forecasts_every_series_at_each_origin_it_has(panel_model):
    series = load_series(panel_frame(), DataOptions(id_col="store"))
    result = forecast_origins(panel_model, series, stamp("2023-04-01"), stamp("2023-04-30"), every=3)
    pairs = list(zip(result.prediction.ids, result.origins))
    origins = pd.date_range("2023-04-01", "2023-04-30", freq="3D")
    assert [key for key, origin in pairs if origin == origins[0]] == ["a", "b"]  # c has too little history yet
    assert [key for key, origin in pairs if origin == origins[-1]] == ["a", "c"]  # b has ended
    assert {origin for key, origin in pairs if key == "b"} == set(origins[origins <= stamp("2023-04-20")])
    assert [(c.id, c.origins, c.earliest) for c in result.left_out] == [("c", 3, stamp("2023-04-22"))]  # 04-13 .. 04-19
    assert result.origins.is_monotonic_increasing  # origin by origin
    for key, origin in pairs[::4]:  # each row is the series' forecast from its data cut at the origin
        cut = panel_frame()
        cut = cut[(cut["store"] == key) & (cut["date"] <= origin)]
        plain = panel_model.predict(load_series(cut, DataOptions(id_col="store")))
        mine = result.frame()
        mine = mine[(mine["store"] == key) & (mine["origin"] == origin)].drop(columns="origin").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, plain)


def test_a_strict_panel_refuses_an_origin_short_of_history_by_name(panel_model):
    series = load_series(panel_frame(), DataOptions(id_col="store", strict=True))
    with pytest.raises(DataError, match=r"series 'c' has 1 points up to the origin 2023-04-11 00:00:00, fewer than"):
        forecast_origins(panel_model, series, stamp("2023-04-02"), stamp("2023-04-30"), every=3)


def test_a_series_the_model_does_not_know_is_left_out_of_a_panel(panel_model):
    frame = synthetic_long(ids=("a", "b", "zz"), n=120)
    result = forecast_origins(panel_model, load_series(frame, DataOptions(id_col="store")), stamp("2023-04-01"),
                              stamp("2023-04-10"), every=3)
    assert set(result.prediction.ids) == {"a", "b"}
    assert [key for key, _ in result.prediction.skipped] == ["zz"]


def test_a_model_that_pads_short_windows_forecasts_from_the_first_points(tmp_path):
    frame = synthetic_long(ids=("a", "b", "c", "short"), n=120)
    frame = frame[(frame["store"] != "short") | (frame["date"] > frame["date"].max() - pd.Timedelta(days=14))]
    series = load_series(frame, DataOptions(id_col="store"))
    model = Forecaster(horizon=4, lookback=12, hidden=4, steps=20, ensemble=1, device="cpu").fit(series)
    assert model.members_[0].config.masked
    first = series.first[series.ids.index("short")]
    result = forecast_origins(model, series, first, first + pd.Timedelta(days=6), every=2)
    assert not result.left_out
    assert result.origins[[key == "short" for key in result.prediction.ids]].tolist() == list(
        pd.date_range(first, periods=4, freq="2D"))
    shortest = series.cut([series.ids.index("short")], [0], 12)  # its first point alone, as forecast pads it
    np.testing.assert_allclose(result.prediction.values[result.prediction.ids.index("short")],
                               model.predict_array(shortest).values[0], **SAME)


# ---- the command -----------------------------------------------------------------------------------------


def test_forecast_origins_end_to_end_csv_json_and_stdin(tiny_model, tiny_sine_csv):
    args = ("forecast", tiny_model, "--origins", "2024-01-04 00:00..2024-01-05 12:00", "--every", "6", "--level", "80")
    result = invoke(*args, tiny_sine_csv, "--format", "csv")
    assert result.exit_code == 0, describe(result)
    frame = pd.read_csv(StringIO(result.stdout), parse_dates=["origin", "timestamp"])
    assert list(frame.columns) == ["origin", "timestamp", "load", "load_lo_80", "load_hi_80"]
    assert frame["origin"].drop_duplicates().tolist() == list(pd.date_range("2024-01-04", "2024-01-05 12:00", freq="6h"))
    assert len(frame) == 7 * 4 and (frame["load_lo_80"] < frame["load_hi_80"]).all()

    piped = invoke(*args, "-", "--format", "json", input=tiny_sine_csv.read_bytes())
    assert piped.exit_code == 0, describe(piped)
    records = json.loads(piped.stdout)
    assert records[0]["origin"] == "2024-01-04T00:00:00" and records[0]["timestamp"] == "2024-01-04T01:00:00"
    np.testing.assert_allclose([r["load"] for r in records], frame["load"], rtol=1e-9)


def test_forecast_origins_in_a_panel_notes_the_origins_left_out(tmp_path, panel_model):
    model, data = tmp_path / "p.tsgate", tmp_path / "p.csv"
    panel_model.save(model)
    panel_frame().to_csv(data, index=False)
    result = invoke("forecast", model, data, "--origins", "2023-04-01..2023-04-30", "--every", "3", "--format", "csv")
    assert result.exit_code == 0, describe(result)
    assert "series 'c' forecasts from 2023-04-22 00:00:00 on (3 origin(s) from 2023-04-13 00:00:00 to 2023-04-19" in result.stderr
    frame = pd.read_csv(StringIO(result.stdout), dtype={"store": str})
    assert list(frame.columns[:3]) == ["origin", "store", "date"]
    strict = invoke("forecast", model, data, "--origins", "2023-04-01..2023-04-30", "--every", "3", "--strict")
    assert_one_line_error(strict, pattern=None)
    assert "series 'c' has 3 points up to the origin 2023-04-13" in strict.stderr


@pytest.mark.parametrize("extra, message", [
    (["--every", "3"], "--every sets the steps between the origins of --origins: give --origins START..END too"),
    (["--origins", "2024-01-02..2024-01-01"], "ends before it starts"),
    (["--origins", "2024-01-02..2024-01-03", "--every", "-1"], "--every must be a whole number of steps, at least 1"),
    (["--origins", "2024-01-02..2024-01-09"], "reaches outside the data"),
])
def test_forecast_origins_errors_are_one_line(tiny_model, tiny_sine_csv, extra, message):
    result = invoke("forecast", tiny_model, tiny_sine_csv, *extra)
    assert_one_line_error(result)
    assert message in result.stderr


def test_forecast_origins_needs_data_and_draws_no_picture(tiny_model, tiny_sine_csv, tmp_path):
    without = invoke("forecast", tiny_model, "--origins", "2024-01-02..2024-01-03")
    assert_one_line_error(without)
    assert "--origins needs DATA" in without.stderr
    picture = invoke("forecast", tiny_model, tiny_sine_csv, "--origins", "2024-01-02..2024-01-03", "--plot", tmp_path / "f.png")
    assert_one_line_error(picture)
    assert not (tmp_path / "f.png").exists()


def test_the_origins_are_checked_before_stdin_is_read(tiny_model):
    result = invoke("forecast", tiny_model, "-", "--origins", "soon", input="not,a,csv\n")
    assert_one_line_error(result)
    assert "--origins takes START..END" in result.stderr



# ---- covariates ------------------------------------------------------------------------------------------

COVARIATES = "future_cov" in {field.name for field in dataclasses.fields(DataOptions)}
needs_covariates = pytest.mark.skipif(not COVARIATES, reason="covariates (--future-cov, --past-cov) are not on this branch")


def covariate_frame(n=160):
    """A synthetic hourly target driven by a known-future column x, beside a past-only column p."""
    rng = np.random.default_rng(3)
    x, p = rng.standard_normal(n), rng.standard_normal(n)
    y = 10 + 3 * x + 0.5 * np.roll(p, 1) + 0.1 * rng.standard_normal(n)
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y, "x": x, "p": p})


COVARIATE_OPTIONS = dict(target=("y",), future_cov=("x",), past_cov=("p",)) if COVARIATES else {}


@pytest.fixture(scope="module")
def covariate_model():
    series = load_series(covariate_frame(), DataOptions(**COVARIATE_OPTIONS))
    return Forecaster(horizon=4, lookback=12, hidden=4, steps=20, ensemble=1, device="cpu").fit(series)


@needs_covariates
def test_a_covariate_origin_forecasts_as_the_data_cut_there_with_its_future_rows(covariate_model):
    frame = covariate_frame()
    series = load_series(frame, DataOptions(**COVARIATE_OPTIONS))
    result = forecast_origins(covariate_model, series, stamp("2024-01-04"), stamp("2024-01-06"), every=8).frame()
    for origin in result["origin"].drop_duplicates():
        cut = frame[frame["timestamp"] <= origin + pd.Timedelta(hours=4)].copy()
        cut.loc[cut["timestamp"] > origin, ["y", "p"]] = np.nan  # the horizon's future rows: x alone
        plain = covariate_model.predict(load_series(cut, DataOptions(**COVARIATE_OPTIONS)))
        mine = result[result["origin"] == origin].drop(columns="origin").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, plain, **SAME)


@needs_covariates
def test_past_covariates_after_an_origin_and_future_ones_past_its_horizon_never_reach_it(covariate_model):
    frame, origin = covariate_frame(), stamp("2024-01-05 12:00")
    every_origin = dict(start=stamp("2024-01-05 04:00"), end=stamp("2024-01-06 04:00"), every=8)

    def rows_of(changed):
        result = forecast_origins(covariate_model, load_series(changed, DataOptions(**COVARIATE_OPTIONS)), **every_origin)
        return result.frame().set_index(["origin", "timestamp"])["y"]

    before = rows_of(frame)
    changed = frame.copy()
    later, beyond = changed["timestamp"] > origin, changed["timestamp"] > origin + pd.Timedelta(hours=4)
    changed.loc[later, ["y", "p"]] = 1000.0
    changed.loc[beyond, "x"] = -1000.0
    after = rows_of(changed)
    up_to = before.index.get_level_values("origin") <= origin
    pd.testing.assert_series_equal(before[up_to], after[up_to])
    within = changed.copy()
    within.loc[later & ~beyond, "x"] += 5.0  # the known future of origin's own horizon
    moved = rows_of(within)
    at = before.index.get_level_values("origin") == origin
    assert not np.allclose(before[at], moved[at])
