import math

import numpy as np
import pytest
from scipy import stats

from tsgate.errors import DataError, OptionError
from tsgate.significance import DMResult, diebold_mariano

# A small fixed example; its loss differential has positive long-run variance
# for h = 1 and h = 3 (checked in _hand_dm), so no fallback is involved.
E_A = np.array([1.5, -1.6, 1.4, 0.5, -0.4, 0.6, 2.0, -2.1, 1.9, 0.3, -0.2, 0.4])
E_B = np.array([0.8, -0.9, 1.1, 0.7, -0.6, 0.5, 1.2, -0.8, 1.0, 0.5, -0.4, 0.6])


def _hand_dm(e_a, e_b, h, power=2):
    """DM with the HLN correction, written out term by term with loops."""
    n = len(e_a)
    d = [abs(a) ** power - abs(b) ** power for a, b in zip(e_a, e_b)]
    d_bar = sum(d) / n
    gamma = [
        sum((d[t] - d_bar) * (d[t + k] - d_bar) for t in range(n - k)) / n
        for k in range(h)
    ]
    long_run = gamma[0] + 2 * sum(gamma[1:])
    assert long_run > 0, "example must not need the variance fallback"
    dm = d_bar / math.sqrt(long_run / n)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return hln, 2 * stats.t.sf(abs(hln), df=n - 1)


@pytest.mark.parametrize("h", [1, 3])
def test_matches_a_hand_computation(h):
    expected_stat, expected_p = _hand_dm(E_A, E_B, h)
    result = diebold_mariano(E_A, E_B, horizon=h)
    assert result.statistic == pytest.approx(expected_stat, rel=1e-12)
    assert result.p_value == pytest.approx(expected_p, rel=1e-12)
    assert result.n == len(E_A)


def test_h1_and_h3_differ_on_the_example():
    # Guards the hand check against a horizon that is silently ignored.
    assert diebold_mariano(E_A, E_B, 1).statistic != pytest.approx(
        diebold_mariano(E_A, E_B, 3).statistic
    )


def test_power_one_uses_absolute_errors():
    expected_stat, _ = _hand_dm(E_A, E_B, 1, power=1)
    result = diebold_mariano(E_A, E_B, 1, power=1)
    assert result.statistic == pytest.approx(expected_stat)


def test_identical_errors_give_p_one():
    result = diebold_mariano(E_A, E_A.copy(), horizon=2)
    assert result == DMResult(statistic=0.0, p_value=1.0, n=len(E_A))


def test_errors_equal_in_size_but_opposite_sign_give_p_one():
    assert diebold_mariano(E_A, -E_A, horizon=1).p_value == 1.0


def test_a_constant_nonzero_differential_is_deterministic():
    e_a = np.full(10, 2.0)
    e_b = np.full(10, 1.0)
    result = diebold_mariano(e_a, e_b, horizon=1)
    assert result.p_value == 0.0
    assert result.statistic == math.inf
    assert diebold_mariano(e_b, e_a, horizon=1).statistic == -math.inf


def test_a_clearly_better_forecaster_is_detected():
    rng = np.random.default_rng(0)
    errors_a = rng.normal(size=200)
    errors_b = 0.5 * errors_a + rng.normal(scale=0.01, size=200)
    result = diebold_mariano(errors_a, errors_b, horizon=1)
    assert result.p_value < 0.01
    assert result.statistic > 0  # a has the larger loss


def test_swapping_the_forecasters_negates_the_statistic():
    rng = np.random.default_rng(1)
    errors_a, errors_b = rng.normal(size=(2, 50))
    forward = diebold_mariano(errors_a, errors_b, horizon=2)
    backward = diebold_mariano(errors_b, errors_a, horizon=2)
    assert forward.statistic != 0.0
    assert backward.statistic == pytest.approx(-forward.statistic)
    assert backward.p_value == pytest.approx(forward.p_value)


def test_negative_long_run_variance_falls_back_to_h1():
    # Alternating differential: strong negative lag-1 autocovariance makes
    # gamma_0 + 2 * gamma_1 negative, so the test is redone with h = 1.
    e_a = np.array([2.0, 0.0] * 10) + np.linspace(0.0, 0.3, 20)
    e_b = np.ones(20)
    d = np.abs(e_a) ** 2 - np.abs(e_b) ** 2
    centred = d - d.mean()
    assert centred @ centred + 2 * (centred[:-1] @ centred[1:]) < 0
    result = diebold_mariano(e_a, e_b, horizon=2)
    expected_stat, expected_p = _hand_dm(e_a, e_b, 1)
    assert result.statistic == pytest.approx(expected_stat)
    assert result.p_value == pytest.approx(expected_p)


@pytest.mark.parametrize("h", [1, 3])
def test_p_values_are_roughly_uniform_under_the_null(h):
    rng = np.random.default_rng(2024)
    trials = 200
    rejections = sum(
        diebold_mariano(*rng.normal(size=(2, 100)), horizon=h).p_value < 0.05
        for _ in range(trials)
    )
    assert 0.01 <= rejections / trials <= 0.12


def test_mismatched_lengths_raise():
    with pytest.raises(DataError, match="paired"):
        diebold_mariano(np.ones(5), np.ones(6), horizon=1)


def test_too_few_pairs_raise():
    with pytest.raises(DataError, match="at least 2"):
        diebold_mariano([1.0], [2.0], horizon=1)


def test_non_1d_errors_raise():
    with pytest.raises(DataError, match="1-D"):
        diebold_mariano(np.ones((3, 2)), np.ones((3, 2)), horizon=1)


@pytest.mark.parametrize("h", [0, 12, 2.5])
def test_bad_horizon_raises(h):
    with pytest.raises(OptionError, match="horizon"):
        diebold_mariano(E_A, E_B, horizon=h)


def test_bad_power_raises():
    with pytest.raises(OptionError, match="power"):
        diebold_mariano(E_A, E_B, horizon=1, power=0)
