"""Baselines a recurrent backbone has to beat: naive, seasonal naive, ridge.

Lookback windows are (N, L, C) and forecasts (N, H, C): N forecast origins,
L lookback steps, H horizon steps, C target columns.
"""

import operator

import numpy as np

from tsgate.errors import DataError, OptionError


def _check_windows(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[1] == 0:
        raise DataError(
            f"{name} must be windows of shape (N, L, C) with L >= 1, got shape "
            f"{x.shape}: build them with the windowing step, not a flat series"
        )
    return x


def _check_horizon(horizon) -> int:
    try:
        horizon = operator.index(horizon)
    except TypeError:
        raise OptionError(
            f"horizon must be a whole number of steps, got {horizon!r}: "
            "pass --horizon 1 or more"
        ) from None
    if horizon < 1:
        raise OptionError(
            f"horizon must be at least 1, got {horizon}: pass --horizon 1 or more"
        )
    return horizon


def _check_season(season) -> int | None:
    if season is None:
        return None
    try:
        return operator.index(season)
    except TypeError:
        raise OptionError(
            f"season must be a whole number of steps, got {season!r}: "
            "pass --season 12 for monthly data, for example"
        ) from None


def naive(x, horizon: int) -> np.ndarray:
    """Repeat each window's last value over the horizon: (N, L, C) -> (N, H, C)."""
    x = _check_windows(x)
    horizon = _check_horizon(horizon)
    return np.repeat(x[:, -1:, :], horizon, axis=1)


def seasonal_naive(x, horizon: int, season: int | None) -> np.ndarray:
    """Repeat each window's last season: step h gets x[:, L - season + h % season].

    season None or <= 1 means there is no season to repeat, so it is naive.
    """
    x = _check_windows(x)
    horizon = _check_horizon(horizon)
    season = _check_season(season)
    if season is None or season <= 1:
        return naive(x, horizon)
    lookback = x.shape[1]
    if season > lookback:
        raise OptionError(
            f"season {season} is longer than the lookback {lookback}: raise "
            f"--lookback to at least {season} or pass a smaller --season"
        )
    steps = lookback - season + np.arange(horizon) % season  # (H,)
    return x[:, steps, :]


def _is_non_negative_number(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and np.isfinite(value)
        and value >= 0
    )


class RidgeBaseline:
    """One ridge regression from the flattened lookback to the whole horizon.

    (N, L, C) windows become (N, L*C) features and (N, H, C) targets become
    (N, H*C) outputs, so every step and column shares one linear model. With
    `features` (N, F), such as the covariates of each window, they join the lags:
    ridge on lags plus covariates, an ARX model.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha  # L2 penalty; sklearn Ridge's default

    def fit(self, x, y, features=None):
        x = _check_windows(x)
        y = _check_windows(y, name="y")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"x has {x.shape[0]} windows but y has {y.shape[0]}: "
                "pass the lookbacks and the horizons cut from the same origins"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all() and (features is None or np.isfinite(features).all())):
            raise DataError(
                "x or y contains NaN or infinite values: fill or drop them first"
            )
        if not _is_non_negative_number(self.alpha):
            raise OptionError(
                f"alpha must be a finite number >= 0, got {self.alpha!r}: "
                "pass alpha=1.0 for the usual amount of shrinkage"
            )
        from sklearn.linear_model import Ridge  # here, not at the top: it costs 1 s of imports (scipy)

        n_windows, self.lookback_, self.n_channels_in_ = x.shape
        _, self.horizon_, self.n_channels_out_ = y.shape
        self.n_features_ = 0 if features is None else np.shape(features)[1]
        self.model_ = Ridge(alpha=self.alpha).fit(
            self._design(x, features), y.reshape(n_windows, -1)
        )
        return self

    @staticmethod
    def _design(x: np.ndarray, features) -> np.ndarray:
        """The regression's inputs: the flattened lags, then the extra features if any."""
        lags = x.reshape(x.shape[0], -1)
        if features is None or np.shape(features)[1] == 0:
            return lags
        return np.concatenate([lags, np.asarray(features, dtype=float)], axis=1)

    def predict(self, x, features=None) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise OptionError(
                "this RidgeBaseline is not fitted yet: call fit(x, y) before predict(x)"
            )
        x = _check_windows(x)
        expected = (self.lookback_, self.n_channels_in_)
        if x.shape[1:] != expected:
            raise DataError(
                f"x windows have (L, C) = {x.shape[1:]} but the model was fitted on "
                f"{expected}: window the data with the same lookback and columns"
            )
        given = 0 if features is None else np.shape(features)[1]
        if given != self.n_features_:
            raise DataError(f"predict got {given} features per window but the model was fitted on {self.n_features_}: "
                            "pass the same features as to fit")
        flat = self.model_.predict(self._design(x, features))  # (N, H*C)
        return flat.reshape(x.shape[0], self.horizon_, self.n_channels_out_)
