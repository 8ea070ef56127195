import subprocess
import sys

import numpy as np
import pytest

from tsgate.errors import DataError, OptionError
from tsgate.metrics import (
    mae,
    mase,
    rmse,
    score_all,
    seasonal_naive_scale,
    smape,
)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(5, 3, 2))  # (N, H, C)
    y_pred = y_true + rng.normal(scale=0.5, size=y_true.shape)
    return y_true, y_pred


def test_mae_and_rmse_agree_with_sklearn_and_numpy(pair):
    from sklearn.metrics import mean_absolute_error, mean_squared_error  # both in scikit-learn 1.3, the floor

    y_true, y_pred = pair
    flat_true, flat_pred = y_true.ravel(), y_pred.ravel()
    by_sklearn = mean_absolute_error(flat_true, flat_pred)
    assert mae(y_true, y_pred) == pytest.approx(by_sklearn)
    assert mae(y_true, y_pred) == pytest.approx(np.mean(np.abs(y_true - y_pred)))
    by_sklearn = np.sqrt(mean_squared_error(flat_true, flat_pred))
    assert rmse(y_true, y_pred) == pytest.approx(by_sklearn)
    by_numpy = np.sqrt(np.mean((y_true - y_pred) ** 2))
    assert rmse(y_true, y_pred) == pytest.approx(by_numpy)


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 2), (300, 12, 1), (40, 7, 3)])
def test_mae_and_rmse_equal_scikit_learns_to_the_last_bit(shape):
    # mean_squared_error's square root is root_mean_squared_error, and exists in scikit-learn 1.3 too.
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    rng = np.random.default_rng(sum(shape))
    for scale in (1e-3, 1.0, 1e4):
        y_true = rng.normal(size=shape) * scale + 50
        y_pred = y_true + rng.normal(scale=scale, size=shape)
        for truth, forecast in ((y_true, y_pred), (y_true.transpose(2, 1, 0), y_pred.transpose(2, 1, 0))):
            flat_true, flat_pred = truth.ravel(), forecast.ravel()
            assert mae(truth, forecast) == float(mean_absolute_error(flat_true, flat_pred))
            assert rmse(truth, forecast) == float(np.sqrt(mean_squared_error(flat_true, flat_pred)))


def test_scoring_does_not_import_scikit_learn():
    code = "import sys, tsgate.metrics; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_metrics_return_plain_floats(pair):
    for value in score_all(*pair, scale=1.0).values():
        assert type(value) is float


def test_smape_hand_case():
    y_true = np.array([[[100.0], [0.0], [0.0]]])
    y_pred = np.array([[[110.0], [0.0], [5.0]]])
    # Terms: 2*10/210, 0 (both zero), 2*5/5 = 2; mean * 100.
    expected = 100.0 * (20.0 / 210.0 + 0.0 + 2.0) / 3.0
    assert smape(y_true, y_pred) == pytest.approx(expected)


def test_smape_bounds(pair):
    y_true, y_pred = pair
    assert smape(y_true, y_true) == 0.0
    assert 0.0 < smape(y_true, y_pred) < 200.0
    # Opposite signs are the worst case: every term is 2.
    assert smape(y_true, -y_true) == pytest.approx(200.0)


def test_mase_of_seasonal_naive_on_its_training_data_is_one():
    rng = np.random.default_rng(1)
    season = 4
    series = np.sin(np.arange(60) * 2 * np.pi / season) + rng.normal(size=60)
    scale = seasonal_naive_scale(series, season)
    y_true = series[season:].reshape(1, -1, 1)
    y_pred = series[:-season].reshape(1, -1, 1)
    assert mase(y_true, y_pred, scale) == pytest.approx(1.0)


def test_naive_scale_by_hand():
    history = [1.0, 3.0, 2.0, 6.0]
    assert seasonal_naive_scale(history, 1) == pytest.approx((2 + 1 + 4) / 3)
    assert seasonal_naive_scale(history, 2) == pytest.approx((1 + 3) / 2)


def test_mase_broadcasts_a_per_series_per_channel_scale():
    y_true = np.zeros((2, 3, 2))
    y_pred = np.ones((2, 3, 2))
    scale = np.array([1.0, 2.0, 4.0, 8.0]).reshape(2, 1, 2)  # (N, 1, C)
    expected = np.mean([1, 1 / 2, 1 / 4, 1 / 8])
    assert mase(y_true, y_pred, scale) == pytest.approx(expected)


def test_mase_rejects_a_scale_that_does_not_broadcast(pair):
    with pytest.raises(DataError, match="broadcast"):
        mase(*pair, scale=np.ones(7))


def test_mase_rejects_a_zero_scale(pair):
    with pytest.raises(DataError, match="positive"):
        mase(*pair, scale=0.0)


def test_scale_of_a_constant_series_raises():
    with pytest.raises(DataError, match="repeats exactly"):
        seasonal_naive_scale(np.full(20, 3.0), 1)


def test_scale_of_an_exactly_periodic_series_raises():
    with pytest.raises(DataError, match="every 3 steps"):
        seasonal_naive_scale(np.tile([1.0, 2.0, 5.0], 5), 3)


def test_scale_needs_more_history_than_one_season():
    with pytest.raises(DataError, match="too short"):
        seasonal_naive_scale(np.arange(12.0), 12)


def test_scale_rejects_a_bad_season():
    with pytest.raises(OptionError, match="season"):
        seasonal_naive_scale(np.arange(12.0), 0)


def test_shape_mismatch_raises():
    with pytest.raises(DataError, match="same shape"):
        mae(np.zeros((2, 3, 1)), np.zeros((2, 4, 1)))


def test_nan_forecast_raises():
    y_pred = np.zeros((1, 2, 1))
    y_pred[0, 1, 0] = np.nan
    with pytest.raises(DataError, match="y_pred contains NaN"):
        rmse(np.zeros((1, 2, 1)), y_pred)


def test_score_all_keys_and_values(pair):
    y_true, y_pred = pair
    scores = score_all(y_true, y_pred, scale=2.0)
    assert list(scores) == ["mae", "rmse", "smape", "mase"]
    assert scores["mae"] == mae(y_true, y_pred)
    assert scores["mase"] == pytest.approx(scores["mae"] / 2.0)


# ---- coverage series by series -----------------------------------------------------------------------------

@pytest.mark.parametrize("points, level", [(1, 95), (5, 95), (13, 95), (24, 95), (48, 80), (100, 99)])
def test_binomial_range_leaves_at_most_two_and_a_half_percent_on_each_side(points, level):
    from scipy.stats import binom

    from tsgate.metrics import binomial_range

    lo, hi = binomial_range(points, level)
    p = level / 100
    assert binom.cdf(lo - 1, points, p) <= 0.025 < binom.cdf(lo, points, p)  # lo is the largest such bound
    assert binom.sf(hi, points, p) <= 0.025 < binom.sf(hi - 1, points, p) or hi == 0


def test_binomial_range_of_thirteen_weekly_points():
    from tsgate.metrics import binomial_range

    assert binomial_range(13, 95) == (11, 13)  # 10 of 13 inside a 95% interval happens less than 2.5% of the time
    with pytest.raises(DataError, match="at least one test point"):
        binomial_range(0, 95)


def test_series_calibration_counts_series_outside_their_range_and_entirely_inside():
    from tsgate.metrics import series_calibration

    hits = [np.ones(13, bool), np.r_[np.ones(11), np.zeros(2)], np.r_[np.ones(10), np.zeros(3)], np.ones(24, bool)]
    spread = series_calibration(hits, 95)
    assert spread["miscalibrated"] == 0.25  # only the one with 10 of 13
    assert spread["all_inside"] == 0.5
    assert spread["all_inside_expected"] == pytest.approx((3 * 0.95 ** 13 + 0.95 ** 24) / 4)
    assert series_calibration(np.zeros((2, 5), bool), 95)["miscalibrated"] == 1.0  # an (S, P) array works too
    with pytest.raises(DataError, match="without a series"):
        series_calibration([], 95)


def test_inside_flags_each_point_and_refuses_crossed_bounds():
    from tsgate.metrics import coverage, inside

    truth, lower, upper = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.5, 0.0]), np.array([1.0, 2.0, 2.0])
    assert inside(truth, lower, upper).tolist() == [True, False, True]
    assert coverage(truth, lower, upper) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="bounds cross"):
        inside(truth, upper, lower)
