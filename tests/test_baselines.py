import numpy as np
import pytest

from tsgate.baselines import RidgeBaseline, naive, seasonal_naive
from tsgate.errors import DataError, OptionError


@pytest.fixture
def toy():
    # Two windows, L=5, two channels; channel 1 is channel 0 times 10.
    base = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]])
    return np.stack([base, 10 * base], axis=-1)  # (2, 5, 2)


def test_naive_repeats_the_last_value(toy):
    forecast = naive(toy, 3)
    assert forecast.shape == (2, 3, 2)
    np.testing.assert_array_equal(forecast[0, :, 0], [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(forecast[1, :, 1], [100.0, 100.0, 100.0])


def test_seasonal_naive_repeats_the_last_season(toy):
    forecast = seasonal_naive(toy, 5, season=2)
    assert forecast.shape == (2, 5, 2)
    # Last season of window 0 is [4, 5]; it repeats from the first step.
    np.testing.assert_array_equal(forecast[0, :, 0], [4.0, 5.0, 4.0, 5.0, 4.0])
    np.testing.assert_array_equal(forecast[1, :, 1], [90.0, 100.0, 90.0, 100.0, 90.0])


@pytest.mark.parametrize("season", [None, 0, 1])
def test_seasonal_naive_without_a_season_is_naive(toy, season):
    np.testing.assert_array_equal(seasonal_naive(toy, 4, season), naive(toy, 4))


def test_seasonal_naive_is_exact_on_a_periodic_series():
    period, lookback, horizon = 7, 14, 10
    rng = np.random.default_rng(2)
    cycle = rng.normal(size=(period, 3))
    series = np.tile(cycle, (10, 1))  # (70, 3), exactly periodic
    starts = range(0, len(series) - lookback - horizon + 1)
    x = np.stack([series[s : s + lookback] for s in starts])
    y = np.stack([series[s + lookback : s + lookback + horizon] for s in starts])
    np.testing.assert_allclose(seasonal_naive(x, horizon, period), y)
    assert not np.allclose(naive(x, horizon), y)


def test_season_longer_than_lookback_raises():
    x = np.zeros((3, 12, 1))
    with pytest.raises(OptionError, match="season 24 is longer than the lookback 12"):
        seasonal_naive(x, 6, season=24)


def test_bad_shapes_and_horizons_raise(toy):
    with pytest.raises(DataError, match=r"\(N, L, C\)"):
        naive(np.zeros((4, 5)), 2)
    with pytest.raises(OptionError, match="horizon"):
        naive(toy, 0)
    with pytest.raises(OptionError, match="horizon"):
        naive(toy, 2.5)


def _ar_windows(n_points, lookback, horizon, seed):
    """Windows cut from a stationary AR(2) process with two channels."""
    rng = np.random.default_rng(seed)
    series = np.zeros((n_points, 2))
    for t in range(2, n_points):
        series[t] = 1.2 * series[t - 1] - 0.5 * series[t - 2] + rng.normal(size=2)
    starts = range(n_points - lookback - horizon + 1)
    x = np.stack([series[s : s + lookback] for s in starts])
    y = np.stack([series[s + lookback : s + lookback + horizon] for s in starts])
    return x, y


def test_ridge_learns_an_ar_process_far_better_than_naive():
    x, y = _ar_windows(1200, lookback=8, horizon=3, seed=3)
    x_train, y_train, x_test, y_test = x[:800], y[:800], x[800:], y[800:]
    model = RidgeBaseline(alpha=1.0).fit(x_train, y_train)
    forecast = model.predict(x_test)
    assert forecast.shape == y_test.shape
    ridge_mse = np.mean((forecast - y_test) ** 2)
    naive_mse = np.mean((naive(x_test, 3) - y_test) ** 2)
    assert ridge_mse < 0.6 * naive_mse


def test_ridge_follows_the_estimator_contract():
    model = RidgeBaseline(alpha=0.5)
    assert model.alpha == 0.5
    assert not hasattr(model, "model_")
    x, y = _ar_windows(100, lookback=4, horizon=2, seed=4)
    assert model.fit(x, y) is model
    assert (model.lookback_, model.horizon_, model.n_channels_in_) == (4, 2, 2)


def test_ridge_predict_before_fit_raises():
    with pytest.raises(OptionError, match="not fitted"):
        RidgeBaseline().predict(np.zeros((2, 4, 1)))


def test_ridge_predict_with_another_lookback_raises():
    x, y = _ar_windows(100, lookback=4, horizon=2, seed=5)
    model = RidgeBaseline().fit(x, y)
    with pytest.raises(DataError, match="same lookback"):
        model.predict(np.zeros((2, 5, 2)))


def test_ridge_rejects_unpaired_windows_and_bad_alpha():
    x, y = _ar_windows(100, lookback=4, horizon=2, seed=6)
    with pytest.raises(DataError, match="windows"):
        RidgeBaseline().fit(x, y[:-1])
    with pytest.raises(OptionError, match="alpha"):
        RidgeBaseline(alpha=-1.0).fit(x, y)
