"""Settings chosen from the data: the auto lookback, the members' lookbacks and the anchor."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tsgate.windows
from tsgate.auto import MAX_AUTO_LOOKBACK, auto_lookback, choose_anchor, in_sample_error, member_lookbacks
from tsgate.errors import DataError, OptionError

# ---- lookbacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("season, horizon, expected", [(None, 6, 18), (24, 6, 48), (4, 6, 18), (12, 3, 24)])
def test_auto_lookback_is_the_recent_span_where_the_series_allow_it(season, horizon, expected):
    assert auto_lookback(season, horizon, [1000, 800]) == expected  # three horizons or two seasons, the longer


def test_auto_lookback_is_capped_by_the_shortest_series():
    assert auto_lookback(24, 6, [1000, 30, 400]) == 24  # the shortest leaves 30 - 6 points before its horizon


def test_auto_lookback_is_capped_by_the_cost_limit():
    assert auto_lookback(365, 7, [5000]) == MAX_AUTO_LOOKBACK  # two seasons of 365 would be 730 steps


def test_auto_lookback_refuses_series_with_no_training_window():
    with pytest.raises(DataError, match=r"^the shortest series leaves 6 training points, too few for horizon 6: "
                                         r"lower --horizon or --val-fraction, or use longer series$"):
        auto_lookback(None, 6, [100, 6])


def test_a_given_lookback_is_every_members():
    assert member_lookbacks(40, 4, 6, 100, auto=False) == [40, 40, 40, 40]


def test_auto_members_spread_around_the_base_in_turn():
    assert member_lookbacks(40, 5, 6, 100, auto=True) == [40, 20, 60, 40, 20]


def test_auto_members_stay_between_the_horizon_and_what_the_series_allow():
    assert member_lookbacks(40, 3, 30, 50, auto=True) == [40, 30, 50]  # 20 raised to the horizon, 60 cut to 50
    assert member_lookbacks(10, 3, 30, 50, auto=True) == [10, 10, 15]  # never below a base shorter than the horizon


@settings(max_examples=60, deadline=None, derandomize=True)
@given(lengths=st.lists(st.integers(2, 3000), min_size=1, max_size=5), horizon=st.integers(1, 60),
       season=st.sampled_from([None, 4, 7, 12, 24, 52, 168]), members=st.integers(1, 7))
def test_auto_lookback_never_exceeds_what_the_series_allow(lengths, horizon, season, members):
    if min(lengths) - horizon < 1:
        with pytest.raises(Exception, match="too few"):
            auto_lookback(season, horizon, lengths)
        return
    lookback = auto_lookback(season, horizon, lengths)
    allowed = min(lengths) - horizon
    assert 1 <= lookback <= allowed
    for each in member_lookbacks(lookback, members, horizon, allowed, auto=True):
        assert 1 <= each <= allowed


# ---- the anchor --------------------------------------------------------------------------------

T = np.arange(400)
SEASONAL = [np.sin(2 * np.pi * T / 12)[:, None]]
WALK = [np.cumsum(np.random.default_rng(0).standard_normal(400))[:, None]]


@pytest.mark.parametrize("series", [SEASONAL, WALK])
def test_none_and_last_ignore_the_data(series):
    assert choose_anchor("none", 12, 36, series, 6) == 0
    assert choose_anchor("last", 12, 36, series, 6) == 1


def test_seasonal_takes_the_season_where_the_lookback_holds_it():
    assert choose_anchor("seasonal", 12, 36, WALK, 6) == 12  # asked for, even where it forecasts worse


@pytest.mark.parametrize("season, shown", [(None, "unknown"), (48, "48"), (1, "1")])
def test_seasonal_without_a_usable_season_is_refused(season, shown):
    with pytest.raises(OptionError, match=rf"^--anchor seasonal needs a season of at most the lookback \(36\); "
                                          rf"the data's is {shown}: raise --lookback, or use --anchor auto or last$"):
        choose_anchor("seasonal", season, 36, SEASONAL, 6)


@pytest.mark.parametrize("season, lookback", [(None, 36), (48, 36), (1, 36)])
def test_auto_takes_the_last_value_without_a_usable_season(season, lookback):
    assert choose_anchor("auto", season, lookback, SEASONAL, 6) == 1


def test_auto_takes_the_season_exactly_where_its_in_sample_error_is_lower():
    rng = np.random.default_rng(1)
    for mix in np.linspace(0, 1, 6):  # from a pure season to a pure random walk
        series = [(1 - mix) * SEASONAL[0] + mix * np.cumsum(rng.standard_normal((400, 1)), axis=0)]
        better = in_sample_error(series, 12, 6) < in_sample_error(series, 1, 6)
        assert choose_anchor("auto", 12, 36, series, 6) == (12 if better else 1)


def test_auto_anchor_picks_the_season_only_where_it_forecasts_better():
    assert choose_anchor("auto", 12, 36, SEASONAL, 6) == 12
    assert choose_anchor("auto", 12, 36, WALK, 6) == 1
    assert choose_anchor("auto", 12, 8, SEASONAL, 6) == 1  # a season longer than the lookback cannot be read
    assert choose_anchor("last", 12, 36, SEASONAL, 6) == 1 and choose_anchor("none", 12, 36, SEASONAL, 6) == 0


# ---- in-sample error ---------------------------------------------------------------------------


def plain_in_sample_error(series, season, horizon):
    """The mean over steps and series (those longer than the step's lag) of each series' mean absolute
    error of repeating the last season, one series and one step at a time."""
    errors = []
    for step in range(horizon):
        lag = season * (step // season + 1)
        errors += [np.abs(values[lag:] - values[:-lag]).mean() for values in series if len(values) > lag]
    return float(np.mean(errors)) if errors else math.inf


def random_series(lengths, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, channels)).cumsum(axis=0) for n in lengths]


@pytest.mark.parametrize("season, horizon", [(1, 1), (1, 5), (7, 3), (7, 16), (12, 30)])
def test_in_sample_error_is_the_per_series_mean(season, horizon):
    series = random_series([60, 9, 140, 25, 3])  # some shorter than the longer lags: left out of those steps
    assert in_sample_error(series, season, horizon) == pytest.approx(plain_in_sample_error(series, season, horizon), rel=1e-12)


def test_in_sample_error_is_the_same_in_groups_of_series(monkeypatch):
    series = random_series([60, 9, 140, 25, 80, 33], seed=3)
    whole = in_sample_error(series, 7, 10)
    grouped = tsgate.windows.series_chunks
    monkeypatch.setattr(tsgate.windows, "series_chunks", lambda offsets: grouped(offsets, rows=50))
    assert len(grouped(np.cumsum([0, 60, 9, 140, 25, 80, 33]), rows=50)) > 2
    assert in_sample_error(series, 7, 10) == pytest.approx(whole, rel=1e-12)
    assert whole == pytest.approx(plain_in_sample_error(series, 7, 10), rel=1e-12)


def test_in_sample_error_with_no_series_long_enough_is_infinite():
    assert in_sample_error(random_series([3, 4]), 12, 6) == math.inf
