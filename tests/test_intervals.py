"""Prediction intervals: the conformal quantile, the recent scale, calibration on known noise,
the Forecaster's bounds, model files with and without calibration, and the CLI's --level."""

import json
import math
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from helpers.cli import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from tsgate import Forecaster
from tsgate.baselines import naive
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError, ModelFileError, OptionError
from tsgate.intervals import (
    Calibration,
    calibrate,
    check_levels,
    conformal_quantiles,
    in_sample_calibration,
    recent_scale,
    recent_scales_at,
)
from tsgate.metrics import coverage, interval_width, msis

DATA = Path(__file__).parent / "data"


# ---- the conformal quantile -------------------------------------------------------------------


def test_equal_weights_give_the_split_conformal_order_statistic():
    scores = np.random.default_rng(0).permutation(np.arange(1.0, 20.0))  # 1 .. 19
    quantiles = conformal_quantiles(scores, np.ones(19), (95, 90, 50))
    # the ceil((n + 1) L)-th smallest of n = 19: ceil(19) = 19, ceil(18) = 18, ceil(10) = 10
    np.testing.assert_array_equal(quantiles, [19.0, 18.0, 10.0])


def test_a_level_beyond_what_the_sample_supports_is_refused():
    with pytest.raises(OptionError, match="95% interval needs at least 19 held-out errors"):
        conformal_quantiles(np.arange(18.0), np.ones(18), (95,))


def test_every_series_weighs_the_same_however_many_windows_it_has():
    # Series A has one window (score 10), series B nine (scores 1..9): each series weighs 1 in total,
    # and the point predicted counts as one more at +infinity, of the mean weight 0.2: the total is 2.2.
    scores = np.array([10.0] + list(range(1, 10)))
    owners = np.array([0] + [1] * 9)
    weights = 1.0 / np.bincount(owners)[owners]
    # 30%: B's k smallest reach k / 9 / 2.2 >= 0.3 at k = 6; unweighted it is the ceil(11 * 0.3) = 4th smallest.
    # 50%: B's nine reach 1 / 2.2 = 0.45 only, so A's 10 is needed.
    np.testing.assert_array_equal(conformal_quantiles(scores, weights, (30, 50)), [6.0, 10.0])
    assert conformal_quantiles(scores, np.ones(10), (30,))[0] == 4.0


@pytest.mark.parametrize("bad", [0, 100, -5, 150, math.nan, math.inf])
def test_levels_outside_0_100_are_refused(bad):
    with pytest.raises(OptionError, match="strictly between 0 and 100"):
        check_levels([80, bad])


def test_levels_are_sorted_without_repeats():
    assert check_levels([95, 80, 95.0]) == (80.0, 95.0)


# ---- the recent scale ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 60), st.integers(2, 30), st.integers(0, 2**16))
def test_recent_scales_at_every_origin_equal_the_scale_of_each_prefix(length, span, seed):
    values = np.random.default_rng(seed).normal(size=(length, 2)).cumsum(axis=0)
    origins = np.arange(1, length + 1)
    expected = np.stack([recent_scale(values[:origin], span) for origin in origins])
    np.testing.assert_allclose(recent_scales_at(values, origins, span), expected, rtol=1e-12, atol=1e-12)


def test_recent_scale_is_the_mean_absolute_step_of_the_last_span_points():
    values = np.array([[0.0], [100.0], [1.0], [3.0], [0.0]])
    np.testing.assert_allclose(recent_scale(values, span=3), [(2 + 3) / 2])


# ---- calibration on known noise -------------------------------------------------------------------


def gaussian_panel(levels=(0.0, 50.0, 1e4), sigmas=(1.0, 0.01, 300.0), length=3000, seed=0):
    rng = np.random.default_rng(seed)
    return [(level + sigma * rng.standard_normal(length))[:, None] for level, sigma in zip(levels, sigmas)]


def oracle_errors(series, origins, horizon):
    """Errors of the true mean (each series' level, known here) from every origin: pure Gaussian noise."""
    errors, owners, starts = [], [], []
    for number, values in enumerate(series):
        level = np.median(values)
        windows = np.stack([values[o:o + horizon] for o in origins])  # (N, H, 1)
        errors.append(level - windows)
        owners.append(np.full(len(origins), number))
        starts.append(origins)
    return np.concatenate(errors), np.concatenate(owners), np.concatenate(starts)


def test_95_percent_intervals_cover_93_to_97_percent_of_gaussian_noise():
    """Series of very different sizes, one calibration: the recent scale makes their errors comparable."""
    series, horizon, span = gaussian_panel(), 6, 48
    errors, owners, origins = oracle_errors(series, np.arange(span, 1500), horizon)
    scales = np.concatenate([recent_scales_at(v, origins[owners == n], span) for n, v in enumerate(series)])
    calibration = calibrate(errors, scales, owners, span)
    test_errors, test_owners, test_origins = oracle_errors(series, np.arange(1500, 3000 - horizon, 3), horizon)
    test_scales = np.concatenate([recent_scales_at(v, test_origins[test_owners == n], span)
                                  for n, v in enumerate(series)])
    half = calibration.multipliers((80, 95))[:, None] * test_scales[None, :, None, :]  # (levels, N, H, 1)
    covered = np.abs(test_errors)[None] <= half
    assert 0.93 <= covered[1].mean() <= 0.97
    assert 0.77 <= covered[0].mean() <= 0.83
    for number in range(3):  # and for each series alone, whatever its size
        assert 0.92 <= covered[1][test_owners == number].mean() <= 0.98


def forecastable_panel(n_series=60, length=1200, seed=3):
    """Gaussian noise around a known mean, but a forecast error of each series' own size in units of its
    one-step change: the noise is smooth (a moving average), so its steps are small beside its errors on
    some series and large on others."""
    rng = np.random.default_rng(seed)
    series = []
    for k in range(n_series):
        width = int(rng.integers(1, 12))  # a wider moving average: smaller steps for the same spread
        noise = np.convolve(rng.standard_normal(length + width), np.ones(width) / np.sqrt(width), "valid")[:length]
        series.append(noise[:, None])
    return series


def per_series_coverage(calibration, series, origins, horizon, span):
    errors, owners, test_origins = oracle_errors(series, origins, horizon)
    scales = np.concatenate([recent_scales_at(v, test_origins[owners == n], span) for n, v in enumerate(series)])
    half = calibration.multipliers((95,))[0][None] * (scales * calibration.series_levels(owners))[:, None, :]
    covered = (np.abs(errors) <= half).mean(axis=(1, 2))
    return np.array([covered[owners == n].mean() for n in range(len(series))])


def test_per_series_levels_calibrate_each_series_where_the_pool_cannot():
    series, horizon, span = forecastable_panel(), 4, 48
    errors, owners, origins = oracle_errors(series, np.arange(span, 800, 2), horizon)
    scales = np.concatenate([recent_scales_at(v, origins[owners == n], span) for n, v in enumerate(series)])
    pooled = calibrate(errors, scales, owners, span)
    own = calibrate(errors, scales, owners, span, origins, n_series=len(series))
    test = np.arange(800, 1200 - horizon, 4)
    before, after = (per_series_coverage(c, series, test, horizon, span) for c in (pooled, own))
    assert 0.93 <= after.mean() <= 0.97  # the pooled level still holds
    assert np.abs(after - 0.95).max() < 0.08 < 0.1 < np.abs(before - 0.95).max()
    assert np.abs(after - 0.95).mean() < np.abs(before - 0.95).mean() / 2
    assert own.levels.shape == (len(series), 1) and own.levels.min() < 0.8 < 1.25 < own.levels.max()


def test_series_levels_shrink_series_with_few_windows_toward_the_pool():
    from tsgate.intervals import series_levels

    rng = np.random.default_rng(0)
    truth = np.repeat([0.5, 2.0], 20)  # 40 series: half with errors a quarter of the others'
    owners = np.concatenate([np.full(1 if n in (0, 39) else 60, n) for n in range(40)])  # series 0 and 39: one window
    origins = np.concatenate([np.arange(np.sum(owners == n)) for n in range(40)])
    scores = np.abs(rng.standard_normal((len(owners), 3, 1))) * truth[owners][:, None, None]
    scores /= scores.mean()
    levels = series_levels(scores, owners, origins, 41)[:, 0]
    many = levels[1:39]
    assert np.allclose(many, np.where(truth[1:39] < 1, many[:19].mean(), many[19:].mean()), rtol=0.2)
    assert many[19:].mean() / many[:19].mean() > 3  # the series with many windows keep their own level
    looks = np.log(scores.mean(axis=(1, 2)))  # each window's log mean score
    centre = np.mean([looks[owners == n].mean() for n in range(40)])
    for single in (0, 39):  # a series of one window moves from its own level toward the pool's, not all the way
        own = np.exp(looks[owners == single][0] - centre)
        assert min(own, 1.0) < levels[single] < max(own, 1.0)
    assert levels[40] == 1.0  # a series without windows: the pool's level
    assert series_levels(scores[owners == 5], owners[owners == 5] * 0, origins[owners == 5], 1)[0, 0] == 1.0  # alone


def test_short_series_lean_on_the_level_of_padded_windows():
    from tsgate.intervals import series_levels, short_prior

    owners = np.repeat(np.arange(4), 10)
    origins = np.tile(np.arange(10), 4)
    normalized = np.ones((40, 2, 1))
    short_windows = owners == 3
    normalized[short_windows] = 3.0  # series 3's windows were padded and missed three times as much
    short_series = np.array([False, False, False, True, True])  # series 4: a fallback, no windows at all
    prior = short_prior(normalized, owners, short_series, short_windows, 5)
    np.testing.assert_allclose(prior[:, 0], [1.0, 1.0, 1.0, 3.0, 3.0])
    assert series_levels(normalized, owners, origins, 5, prior)[4, 0] == prior[4, 0]
    normalized[short_windows] = 0.5  # padded windows that did better do not narrow a short series' intervals
    assert short_prior(normalized, owners, short_series, short_windows, 5)[:, 0].tolist() == [1.0] * 5


def test_naive_intervals_widen_with_the_step_on_a_random_walk():
    walk = np.random.default_rng(1).standard_normal((2000, 1)).cumsum(axis=0)
    calibration = in_sample_calibration(walk, np.array([0, 2000]), naive, 1, 9, span=50)
    widths = calibration.multipliers((90,))[0, :, 0]
    assert np.all(np.diff(widths) > 0)
    assert 2.4 < widths[-1] / widths[0] < 3.6  # a random walk's h-step error grows like sqrt(h): 3 at h = 9


@pytest.mark.parametrize("lookback, horizon", [(1, 3), (4, 2), (12, 6)])
def test_in_sample_calibration_of_series_end_to_end_is_each_series_own_errors(lookback, horizon):
    from numpy.lib.stride_tricks import sliding_window_view

    from tsgate.baselines import seasonal_naive

    rng = np.random.default_rng(lookback)
    series = [rng.standard_normal((n, 2)).cumsum(axis=0) * (k + 1) for k, n in enumerate([40, lookback + horizon, 3, 70])]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in series])])

    def method(x, h):
        return seasonal_naive(x, h, lookback)

    found = in_sample_calibration(np.concatenate(series), offsets, method, lookback, horizon, span=25)
    errors, scales, owners = [], [], []
    for number, values in enumerate(series):  # every origin of each series alone, from point 2 on
        origins = np.arange(max(lookback, 2), len(values) - horizon + 1)
        if len(origins) == 0:
            continue
        windows = sliding_window_view(values, lookback + horizon, axis=0).transpose(0, 2, 1)[origins - lookback]
        errors.append(method(windows[:, :lookback], horizon) - windows[:, lookback:])
        scales.append(recent_scales_at(values, origins, 25))
        owners.append(np.full(len(origins), number))
    expected = calibrate(np.concatenate(errors), np.concatenate(scales), np.concatenate(owners), 25)
    np.testing.assert_array_equal(found.scores, expected.scores)
    np.testing.assert_array_equal(found.weights, expected.weights)
    with pytest.raises(OptionError, match="too short for in-sample errors at horizon 9"):
        in_sample_calibration(np.zeros((8, 1)), np.array([0, 8]), naive, 1, 9, span=25)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**16),
       st.lists(st.floats(1, 99), min_size=2, max_size=4))
def test_bounds_contain_the_forecast_never_cross_and_widen_with_the_level(windows, horizon, seed, levels):
    rng = np.random.default_rng(seed)
    scores = np.abs(rng.standard_cauchy((windows * 100, horizon, 2)))  # 99 or more: enough for 99%
    calibration = Calibration(scores, rng.uniform(0.1, 1, len(scores)), span=10)
    forecast, scale = rng.normal(size=(3, horizon, 2)), rng.uniform(0.01, 10, (3, 2))
    levels = check_levels(levels)
    bounds = calibration.bounds(forecast, scale, levels)
    for level in levels:
        lower, upper = bounds[level]
        assert np.all(lower <= forecast) and np.all(forecast <= upper)
    for low_level, high_level in zip(levels, levels[1:]):
        assert np.all(bounds[high_level][0] <= bounds[low_level][0])
        assert np.all(bounds[high_level][1] >= bounds[low_level][1])


# ---- the interval metrics ----------------------------------------------------------------------------


def test_msis_matches_m4s_formula_on_hand_made_numbers():
    y = np.array([[[1.0], [5.0], [3.0]]])
    lower = np.array([[[2.0], [2.0], [2.0]]])
    upper = np.array([[[4.0], [4.0], [4.0]]])
    # widths 2 each; y = 1 is 1 below, y = 5 is 1 above, y = 3 inside; 2 / 0.05 = 40 per unit missed; scale 2
    assert msis(y, lower, upper, 2.0, 95) == pytest.approx(((2 + 40) + (2 + 40) + 2) / 3 / 2)
    # at 80%, 2 / 0.2 = 10 per unit missed
    assert msis(y, lower, upper, 2.0, 80) == pytest.approx(((2 + 10) + (2 + 10) + 2) / 3 / 2)
    assert coverage(y, lower, upper) == pytest.approx(1 / 3)
    assert interval_width(lower, upper, 2.0) == pytest.approx(1.0)


def test_crossed_bounds_are_refused():
    with pytest.raises(DataError, match="cross"):
        coverage(np.zeros((1, 2, 1)), np.ones((1, 2, 1)), np.zeros((1, 2, 1)))


# ---- the Forecaster ---------------------------------------------------------------------------------


def noisy_panel(n_series=40, length=400, seed=0):
    """Daily series: a weekly pattern of its own size plus Gaussian noise of known spread."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_series):
        size = 10 ** rng.uniform(0, 3)
        t = np.arange(length)
        values = size * (5 + np.sin(2 * np.pi * t / 7) + 0.3 * rng.standard_normal(length))
        frames.append(pd.DataFrame({"id": f"s{k}", "date": pd.date_range("2020-01-06", periods=length, freq="D"),
                                    "value": values}))
    return pd.concat(frames, ignore_index=True)


def test_forecaster_95_percent_intervals_hold_on_unseen_gaussian_noise():
    """Trained on the first 300 points of each series; tested from 15 later origins on points it never saw."""
    frame, horizon = noisy_panel(), 6
    options = DataOptions(id_col="id")
    cut = lambda end: load_series(frame[frame.groupby("id").cumcount() < end], options)  # noqa: E731
    model = Forecaster(horizon=horizon, hidden=16, steps=300, ensemble=1, calendar=False, seed=0).fit(cut(300))
    covered = []
    for end in range(300, 390, 6):
        prediction = model.predict_array(cut(end), levels=(95,))
        truth = np.stack([v[end:end + horizon] for v in load_series(frame, options).values])
        lower, upper = prediction.bounds[95]
        covered.append((truth >= lower) & (truth <= upper))
    assert 0.93 <= np.mean(covered) <= 0.97


def test_intervals_survive_saving_and_loading(tmp_path):
    series = load_series(noisy_panel(n_series=3, length=200), DataOptions(id_col="id"))
    model = Forecaster(horizon=4, hidden=8, steps=30, ensemble=1).fit(series)
    model.save(tmp_path / "m.tsgate")
    loaded = Forecaster.load(tmp_path / "m.tsgate")
    for data in (None, series):
        expected, got = model.predict(data, levels=(80, 95)), loaded.predict(data, levels=(80, 95))
        pd.testing.assert_frame_equal(got, expected)
    assert list(expected.columns) == ["id", "date", "value", "value_lo_80", "value_hi_80", "value_lo_95", "value_hi_95"]


def rewrite_tensors(source, target, change):
    """Copy a model file with its tensors changed by `change(tensors)`, metadata kept."""
    from safetensors.torch import load_file, save_file

    raw = Path(source).read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    tensors = load_file(source)
    change(tensors)
    save_file(tensors, target, metadata=header["__metadata__"])
    return target


def test_per_series_levels_are_stored_and_a_file_without_them_uses_the_pool(tmp_path):
    series = load_series(noisy_panel(n_series=6, length=200), DataOptions(id_col="id"))
    model = Forecaster(horizon=4, hidden=8, steps=30, ensemble=1).fit(series)
    assert model.calibration_.levels.shape == (6, 1) and (model.calibration_.levels > 0).all()
    model.save(tmp_path / "m.tsgate")
    older = rewrite_tensors(tmp_path / "m.tsgate", tmp_path / "older.tsgate", lambda t: t.pop("calibration.levels"))
    loaded = Forecaster.load(older)
    assert loaded.calibration_.levels is None
    np.testing.assert_array_equal(loaded.calibration_.series_levels(np.arange(6)), np.ones((6, 1)))
    lower, upper = loaded.predict_array(levels=(95,)).bounds[95]
    assert (lower < upper).all()
    wrong = rewrite_tensors(tmp_path / "m.tsgate", tmp_path / "wrong.tsgate",
                            lambda t: t.update({"calibration.levels": -t["calibration.levels"]}))
    with pytest.raises(ModelFileError, match="inconsistent contents"):
        Forecaster.load(wrong)


def test_a_file_from_before_intervals_forecasts_points_and_refuses_levels():
    model = Forecaster.load(DATA / "v1-air-gru.tsgate")
    assert model.predict().shape[0] == model.horizon
    with pytest.raises(ModelFileError, match="no interval calibration"):
        model.predict(levels=(95,))


# ---- the command line -----------------------------------------------------------------------------------


@pytest.fixture
def model_file(sine_csv, tmp_path):
    path = tmp_path / "m.tsgate"
    result = invoke("train", sine_csv, "-o", path, *FAST)
    assert result.exit_code == 0, result.stderr
    return path


def test_forecast_adds_named_bounds_in_every_format(model_file, sine_csv):
    result = invoke("forecast", model_file, sine_csv, "--level", "95", "--level", "80", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(StringIO(result.stdout))
    assert list(frame.columns) == ["timestamp", "load", "load_lo_80", "load_hi_80", "load_lo_95", "load_hi_95"]
    assert (frame["load_lo_95"] <= frame["load_lo_80"]).all() and (frame["load_lo_80"] <= frame["load"]).all()
    assert (frame["load"] <= frame["load_hi_80"]).all() and (frame["load_hi_80"] <= frame["load_hi_95"]).all()
    as_json = json.loads(invoke("forecast", model_file, "--level", "97.5", "-f", "json").stdout)
    assert set(as_json[0]) == {"timestamp", "load", "load_lo_97.5", "load_hi_97.5"}
    assert as_json[0]["load_lo_97.5"] < as_json[0]["load"] < as_json[0]["load_hi_97.5"]


def test_a_forecast_table_shows_each_interval_as_a_range(model_file):
    result = invoke("forecast", model_file, "--level", "90", "-f", "table")
    assert result.exit_code == 0, result.stderr
    assert "load 90%" in result.stdout and " – " in result.stdout
    assert "load_hi_90" not in result.stdout


@pytest.mark.parametrize("level", ["0", "100", "-5", "abc"])
def test_bad_levels_exit_2_with_one_line(model_file, level):
    result = invoke("forecast", model_file, "--level", level)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_levels_on_an_old_model_file_exit_2_with_one_line():
    result = invoke("forecast", DATA / "v1-air-gru.tsgate", "--level", "95")
    assert result.exit_code == 2 and "no interval calibration" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_model_file_holding_nan_is_refused(model_file, tmp_path):
    from safetensors.torch import load_file, save_file

    raw = model_file.read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    tensors = load_file(model_file)
    tensors["scaling.scale"][0, 0] = float("nan")
    broken = tmp_path / "broken.tsgate"
    save_file(tensors, broken, metadata=header["__metadata__"])
    result = invoke("forecast", broken)
    assert result.exit_code == 2 and "NaN or infinite" in result.stderr and "scaling.scale" in result.stderr
    assert result.stdout == ""


def test_a_forecast_that_is_not_finite_is_an_error_not_an_empty_cell(model_file):
    import torch

    model = Forecaster.load(model_file)
    with torch.no_grad():
        for network in model.members_:  # what a file could not hold past loading
            network.head.bias.fill_(float("inf"))
    with pytest.raises(DataError, match="forecast for the series is not finite"):
        model.predict()


def test_compare_scores_the_intervals_of_every_row(sine_csv):
    result = invoke("compare", sine_csv, "--models", "gru", "--level", "95", "-f", "json", *FAST)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["settings"]["levels"] == [95.0]
    assert {row["model"] for row in document["rows"]} == {"gru", "naive", "seasonal_naive", "ridge"}
    for row in document["rows"]:
        assert 0.0 <= row["coverage_95"] <= 1.0
        assert row["msis_95"] >= row["width_95"] > 0  # MSIS is the width plus penalties for misses
    table = invoke("compare", sine_csv, "--models", "gru", "--level", "95", "-f", "table", *FAST)
    assert "cover 95%" in table.stdout and "MSIS 95%" in table.stdout


def test_compare_reports_how_coverage_spreads_over_series(sine_csv):
    result = invoke("compare", sine_csv, "--models", "gru", "--level", "95", "-f", "json", *FAST)
    assert result.exit_code == 0, result.stderr
    for row in json.loads(result.stdout)["rows"]:
        # one series: either its coverage is outside its binomial range or not; all inside or not
        assert row["series_miscalibrated_95"] in (0.0, 1.0) and row["series_all_inside_95"] in (0.0, 1.0)
        assert row["series_all_inside_95"] == float(row["coverage_95"] == 1.0)
    table = invoke("compare", sine_csv, "--models", "gru", "--level", "95", "-f", "table", *FAST)
    assert "series off 95%" in table.stdout and "all in 95%" in table.stdout


# ---- compare's verdict on intervals: the pool against the series -----------------------------------------


def interval_row(model, coverage, off, all_inside, kind="recurrent"):
    return {"model": model, "kind": kind, "mase": 0.5, "dm_p": None, "coverage_95": coverage,
            "series_miscalibrated_95": off, "series_all_inside_95": all_inside}


def test_a_row_that_fits_the_pool_but_not_the_series_is_named():
    from tsgate.verdicts import fits_pool_not_series
    from tsgate.wording import verdict

    # 400 series of 13 points: 95.2% pooled is right, but 80% entirely inside (51% if calibrated) is not
    wide_and_narrow = interval_row("gru", 0.952, 0.04, 0.80)
    calibrated = {**interval_row("naive", 0.95, 0.04, 0.52, kind="baseline"), "mase": 1.0, "dm_p": 0.01}
    assert fits_pool_not_series(wide_and_narrow, 95, 5200, 400, 13)
    assert not fits_pool_not_series(calibrated, 95, 5200, 400, 13)
    assert fits_pool_not_series(interval_row("ridge", 0.95, 0.15, 0.5), 95, 5200, 400, 13)  # 15% outside their range
    assert not fits_pool_not_series(interval_row("gru", 0.99, 0.0, 0.9), 95, 5200, 400, 13)  # the pool itself is off
    text = verdict([wide_and_narrow, calibrated], (95.0,), test_points=5200, seeds=1, horizon=13)
    assert text.endswith(" 95% intervals that fit the pool but not the series: gru (every point inside on 80% of "
                         "series, 51% if calibrated per series; 4% outside their binomial range).")
    assert "naive (every" not in text
    assert "fit the pool" not in verdict([wide_and_narrow], (95.0,), test_points=5200, seeds=1)  # horizon unknown


def test_a_few_series_cannot_show_a_row_misfits_them():
    from tsgate.verdicts import fits_pool_not_series

    # 3 series: all inside on every one is what 0.95 ** 13 = 0.51 gives by chance often enough
    assert not fits_pool_not_series(interval_row("gru", 0.95, 0.0, 1.0), 95, 39, 3, 13)


def test_a_fallback_series_gets_the_level_of_short_windows_at_least_the_pools(tmp_path):
    from test_short_series import short_panel

    series = load_series(pd.read_csv(short_panel(tmp_path / "p.csv")), DataOptions(id_col="store"))
    model = Forecaster(horizon=4, lookback=12, hidden=8, steps=20, ensemble=1, device="cpu").fit(series)
    wee = series.ids.index("wee")
    assert model.fallback_[wee] and model.calibration_.levels[wee, 0] >= 1.0
    prediction = model.predict_array(levels=(80,))
    lower, upper = prediction.bounds[80]
    half = (upper - lower)[wee, :, 0] / 2
    expected = model.calibration_.multipliers((80,))[0, :, 0] * model.interval_scale_[wee, 0] * model.calibration_.levels[wee, 0]
    np.testing.assert_allclose(half, expected, rtol=1e-9)


def test_a_step_no_window_missed_leaves_every_level_finite():
    errors = np.random.default_rng(0).standard_normal((40, 3, 1))
    errors[:, 0] = 0.0  # a perfect first step everywhere (a panel of constant-led series, say)
    owners, origins = np.repeat(np.arange(4), 10), np.tile(np.arange(10), 4)
    calibration = calibrate(errors, np.ones((40, 1)), owners, 25, origins, n_series=4)
    assert np.isfinite(calibration.levels).all() and np.isfinite(calibration.scores).all()
