"""Is one forecaster's accuracy really different from another's?

The Diebold-Mariano test on paired forecast errors, with the small-sample
correction of Harvey, Leybourne & Newbold, as in R's forecast::dm.test.
"""

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tsgate.errors import DataError, OptionError


@dataclass(frozen=True)
class DMResult:
    statistic: float  # > 0: forecaster a has the larger loss; +-inf if deterministic
    p_value: float  # two-sided, from Student's t with n - 1 degrees of freedom
    n: int  # number of paired errors tested


def _check_errors(errors_a, errors_b) -> tuple[np.ndarray, np.ndarray]:
    errors_a = np.asarray(errors_a, dtype=float)
    errors_b = np.asarray(errors_b, dtype=float)
    if errors_a.ndim != 1 or errors_b.ndim != 1:
        raise DataError(
            f"errors must be 1-D series in time order, got shapes {errors_a.shape} "
            f"and {errors_b.shape}: flatten them the same way before testing"
        )
    if errors_a.size != errors_b.size:
        raise DataError(
            f"errors must be paired, got {errors_a.size} and {errors_b.size} values: "
            "pass both forecasters' errors on the same windows"
        )
    if errors_a.size < 2:
        raise DataError(
            f"the Diebold-Mariano test needs at least 2 paired errors, got "
            f"{errors_a.size}: evaluate on more windows"
        )
    if not (np.isfinite(errors_a).all() and np.isfinite(errors_b).all()):
        raise DataError(
            "errors contain NaN or infinite values: drop those windows first"
        )
    return errors_a, errors_b


def _check_horizon(horizon, n: int) -> int:
    try:
        horizon = operator.index(horizon)
    except TypeError:
        raise OptionError(
            f"horizon must be a whole number of steps, got {horizon!r}"
        ) from None
    if not 1 <= horizon < n:
        # The correction factor is 0 at h = n and its square root undefined beyond.
        raise OptionError(
            f"horizon must be between 1 and n - 1 = {n - 1} for {n} paired errors, "
            f"got {horizon}: test on more windows or a shorter horizon"
        )
    return horizon


def _autocovariances(d: np.ndarray, max_lag: int) -> np.ndarray:
    """gamma_k = sum_t (d_t - mean)(d_{t+k} - mean) / n for k = 0..max_lag.

    Divided by n, not n - k, like R's acf(type="covariance").
    """
    centred = d - d.mean()
    n = d.size
    return np.array(
        [centred[: n - k] @ centred[k:] / n for k in range(max_lag + 1)]
    )


def _deterministic(mean_d: float, n: int) -> DMResult:
    """A loss differential with no variance: the sign of its mean is certain."""
    if mean_d == 0.0:
        return DMResult(statistic=0.0, p_value=1.0, n=n)
    return DMResult(statistic=math.copysign(math.inf, mean_d), p_value=0.0, n=n)


def diebold_mariano(errors_a, errors_b, horizon: int, power: float = 2) -> DMResult:
    """Diebold-Mariano test that two forecasters are equally accurate.

    With loss differential d_t = |e_a,t|^power - |e_b,t|^power over n pairs in
    time order, and autocovariances gamma_k of d (divided by n):

        V    = (gamma_0 + 2 * sum_{k=1}^{h-1} gamma_k) / n
        DM   = mean(d) / sqrt(V)                     Diebold & Mariano (1995)
        DM*  = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)
                                      Harvey, Leybourne & Newbold (1997)
        p    = 2 * P(T_{n-1} > |DM*|)

    The rectangular kernel can make V <= 0; then, as forecast::dm.test does,
    the test is redone with h = 1 (V = gamma_0 / n, and h = 1 in the
    correction). A differential with no variance at all is deterministic:
    mean 0 gives statistic 0 and p 1, otherwise statistic +-inf and p 0.

    Diebold, F.X. & Mariano, R.S. (1995), "Comparing predictive accuracy",
    JBES 13(3), 253-263. Harvey, D., Leybourne, S. & Newbold, P. (1997),
    "Testing the equality of prediction mean squared errors", IJF 13(2),
    281-291. Reference code: R package forecast, dm.test (R/DM2.R).
    """
    errors_a, errors_b = _check_errors(errors_a, errors_b)
    n = errors_a.size
    horizon = _check_horizon(horizon, n)
    if not (isinstance(power, numbers.Real) and math.isfinite(power) and power > 0):
        raise OptionError(
            f"power must be a positive number, got {power!r}: "
            "use 2 for squared or 1 for absolute error"
        )
    d = np.abs(errors_a) ** power - np.abs(errors_b) ** power
    mean_d = float(d.mean())
    if np.all(d == d[0]):
        # Checked exactly: rounding would otherwise leave a tiny spurious variance.
        return _deterministic(float(d[0]), n)
    gammas = _autocovariances(d, horizon - 1)
    variance = (gammas[0] + 2.0 * gammas[1:].sum()) / n
    if variance <= 0:
        horizon, variance = 1, gammas[0] / n
    if variance <= 0:
        return _deterministic(mean_d, n)
    correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = mean_d / math.sqrt(variance) * correction
    p_value = float(2.0 * stats.t.sf(abs(statistic), df=n - 1))
    return DMResult(statistic=float(statistic), p_value=p_value, n=n)
