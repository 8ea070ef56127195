"""Baselines a recurrent backbone has to beat: naive, seasonal naive, ridge.

Lookback windows are (N, L, C) and forecasts (N, H, C): N forecast origins,
L lookback steps, H horizon steps, C target columns.
"""

import operator
import re
import warnings

import numpy as np
from pandas.tseries import offsets
from pandas.tseries.frequencies import to_offset

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
    (N, H*C) outputs, so every step and column shares one linear model.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha  # L2 penalty; sklearn Ridge's default

    def fit(self, x, y):
        x = _check_windows(x)
        y = _check_windows(y, name="y")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"x has {x.shape[0]} windows but y has {y.shape[0]}: "
                "pass the lookbacks and the horizons cut from the same origins"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
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
        self.model_ = Ridge(alpha=self.alpha).fit(
            x.reshape(n_windows, -1), y.reshape(n_windows, -1)
        )
        return self

    def predict(self, x) -> np.ndarray:
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
        flat = self.model_.predict(x.reshape(x.shape[0], -1))  # (N, H*C)
        return flat.reshape(x.shape[0], self.horizon_, self.n_channels_out_)


# Steps per seasonal cycle for each offset kind. Days cycle over a week and
# sub-daily ticks over a day; years have no shorter cycle worth modelling.
_WEEKLY_CYCLE_DAYS = 7
_BUSINESS_DAYS_PER_WEEK = 5
_WEEKS_PER_YEAR = 52
_MONTHS_PER_YEAR = 12
_QUARTERS_PER_YEAR = 4
DAY_NANOS = 24 * 60 * 60 * 10**9
# The longest sub-daily season offered: one day of 1-minute data. Finer data
# (seconds) would need lookbacks of 86,400 steps, so it gets no season.
_MAX_DAILY_SEASON = 1440

MONTHLY_OFFSETS = (
    offsets.MonthBegin,
    offsets.MonthEnd,
    offsets.BusinessMonthBegin,
    offsets.BusinessMonthEnd,
)
QUARTERLY_OFFSETS = (
    offsets.QuarterBegin,
    offsets.QuarterEnd,
    offsets.BQuarterBegin,
    offsets.BQuarterEnd,
)

# Aliases pandas 3 no longer parses, mapped to their modern spelling. Only
# tried after the string as given fails, so pandas 2 keeps its own reading.
_LEGACY_ALIASES = {
    "H": "h",
    "BH": "bh",
    "T": "min",
    "S": "s",
    "L": "ms",
    "U": "us",
    "N": "ns",
    "M": "ME",
    "BM": "BME",
    "SM": "SME",
    "Q": "QE",
    "BQ": "BQE",
    "A": "YE",
    "Y": "YE",
    "BA": "BYE",
    "BY": "BYE",
    "AS": "YS",
    "BAS": "BYS",
}


def parse_freq(freq: str):
    """The offset for freq, reading legacy aliases too; None if unparseable."""
    candidates = [freq]
    # A pandas frequency is an optional multiple, an alias and an optional
    # anchor: "30T", "Q-DEC". Only the alias part may need renaming.
    match = re.fullmatch(r"([+-]?\d*)([A-Za-z]+)(-.*)?", freq)
    if match and match[2] in _LEGACY_ALIASES:
        multiple, alias, anchor = match.groups(default="")
        candidates.append(multiple + _LEGACY_ALIASES[alias] + anchor)
    for candidate in candidates:
        try:
            with warnings.catch_warnings():
                # pandas 2 warns that legacy aliases are deprecated; we map them.
                warnings.simplefilter("ignore", FutureWarning)
                return to_offset(candidate)
        except (ValueError, TypeError):
            continue
    return None


def _per_cycle(cycle: int, n: int) -> int | None:
    """Steps per cycle when each step spans n units; None unless whole and > 1."""
    if n < 1 or cycle % n != 0 or cycle // n <= 1:
        return None
    return cycle // n


def _season_of(offset) -> int | None:
    # Day before Tick: pandas 2 makes Day a Tick, pandas 3 does not.
    if isinstance(offset, offsets.Day):
        return _per_cycle(_WEEKLY_CYCLE_DAYS, offset.n)
    if isinstance(offset, offsets.Tick):
        nanos = offset.nanos
        if nanos > 0 and nanos % DAY_NANOS == 0:  # e.g. "24h" is daily
            return _per_cycle(_WEEKLY_CYCLE_DAYS, nanos // DAY_NANOS)
        season = _per_cycle(DAY_NANOS, nanos)
        if season is None or season > _MAX_DAILY_SEASON:
            return None
        return season
    if isinstance(offset, (offsets.BusinessDay, offsets.CustomBusinessDay)):
        return _per_cycle(_BUSINESS_DAYS_PER_WEEK, offset.n)
    if isinstance(offset, offsets.Week):
        return _per_cycle(_WEEKS_PER_YEAR, offset.n)
    if isinstance(offset, MONTHLY_OFFSETS):
        return _per_cycle(_MONTHS_PER_YEAR, offset.n)
    if isinstance(offset, QUARTERLY_OFFSETS):
        return _per_cycle(_QUARTERS_PER_YEAR, offset.n)
    return None  # yearly, business-hourly and anything else: no season


def infer_season(freq: str | None) -> int | None:
    """The usual seasonal period for a pandas frequency string, or None.

    Monthly 12, quarterly 4, weekly 52, daily 7, business daily 5, hourly 24,
    half-hourly 48, 15-minutely 96, k-minutely 1440 / k when whole. Multiples
    divide the cycle ("2h" -> 12). Yearly, unknown and unparseable -> None.
    """
    if not isinstance(freq, str) or not freq.strip():
        return None
    offset = parse_freq(freq.strip())
    return None if offset is None else _season_of(offset)
