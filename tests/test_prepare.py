"""prepare: which series a fit learns from, pads or falls back on, the lookbacks, the anchor, the
scaling and the windows of each lookback, on small synthetic SeriesSets."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tsgate.data import SeriesSet
from tsgate.errors import DataError, OptionError
from tsgate.prepare import calendar_grid, plan_training, train_lengths, usable_series

PLAN = dict(lookback=12, horizon=4, val_fraction=0.2, members=1, anchor="last", calendar=False, scaler="standard")


def hourly(lengths: dict[str, int], constant=(), seed=0) -> SeriesSet:
    """Synthetic hourly series (a daily sine plus noise), one per id, all ending at the same hour."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-03-01")
    values, index = [], []
    for k, (key, n) in enumerate(lengths.items()):
        t = np.arange(n)
        series = np.full(n, 5.0) if key in constant else 10 * (k + 1) + 3 * np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n)
        values.append(series[:, None])
        index.append(pd.date_range(end=end, periods=n, freq="h"))
    return SeriesSet.from_arrays(list(lengths), values, index, targets=["load"], freq="h", time_col="timestamp",
                                 id_col="id" if len(lengths) > 1 else None)


# ---- which series ---------------------------------------------------------------------------------


def test_a_panel_keeps_the_series_too_short_and_flags_those_that_cannot_train():
    # b (15 training points) holds no whole window of 12 + 4: it learns from padded ones; d (3) not even those.
    series = replace(hourly({"a": 100, "b": 19, "c": 100, "d": 7}), skipped=[("z", "has no regular frequency")])
    plan = plan_training(series, **PLAN)
    assert plan.series.ids == ["a", "b", "c", "d"] and plan.left_out == []
    assert plan.fallback.tolist() == [False, False, False, True] and plan.masked
    assert [key for key, _ in plan.skipped] == ["z"]  # only the loader's
    windows = plan.windows[12]
    assert len(windows.train) == 2 * (80 - 12 - 4 + 1) + (15 - 4 - 2 + 1)  # b: 2 to 11 points of its own
    assert set(windows.series_of_val.tolist()) == {0, 1, 2}


@pytest.mark.parametrize("lengths, strict, length", [({"a": 19}, False, 19), ({"a": 100, "b": 19}, True, 19),
                                                     ({"a": 9, "b": 8}, False, 9)])
def test_one_series_a_strict_set_or_a_panel_of_nothing_refuses_instead(lengths, strict, length):
    series = replace(hourly(lengths), strict=strict)
    with pytest.raises(DataError, match=rf"has {length} points but lookback 12 \+ horizon 4 \+ validation 4 need at least 20"):
        usable_series(series, 12, 4, 0.2)


def test_auto_lookback_of_a_panel_follows_its_median_series_not_the_shortest():
    # Hourly data: the recent span is two days (48). One series fits it: 48. In a panel the 60-point
    # series (48 training points) would allow only 44 and the 7-point one none: neither sets it.
    series = hourly({"a": 400, "b": 60, "c": 7})
    usable, base, left_out, fallback = usable_series(series, "auto", 4, 0.2)
    assert base == 48 and usable.ids == ["a", "b", "c"] and left_out == [] and fallback.tolist() == [False, False, True]
    assert usable_series(hourly({"a": 400}), "auto", 4, 0.2)[1] == 48
    # One series, or a strict set, still fits the shortest.
    assert usable_series(replace(hourly({"a": 400, "b": 60}), strict=True), "auto", 4, 0.2)[1] == 44


def test_train_lengths_hold_back_at_least_one_horizon():
    series = hourly({"a": 100, "b": 10})
    assert train_lengths(series, 4, 0.2).tolist() == [80, 6]  # 20% of 100; 20% of 10 is less than the horizon


# ---- lookbacks, anchor, scaling, calendar ------------------------------------------------------------


def test_members_spread_their_lookbacks_around_an_auto_base_and_share_a_given_one():
    series = hourly({"a": 400, "b": 60})
    spread = plan_training(series, **{**PLAN, "lookback": "auto", "members": 4})
    assert spread.base_lookback == 48 and spread.lookbacks == [48, 24, 72, 48]  # the median series has room for all
    assert sorted(spread.windows) == [24, 48, 72]  # one window set per distinct lookback
    narrow = plan_training(replace(series, strict=True), **{**PLAN, "lookback": "auto", "members": 4})
    assert narrow.lookbacks == [44, 22, 44, 44]  # strict: 1.5 x 44 is capped at the shortest's room, 44
    fixed = plan_training(series, **{**PLAN, "members": 3})
    assert fixed.lookbacks == [12, 12, 12] and sorted(fixed.windows) == [12]


@pytest.mark.parametrize("anchor, season", [("auto", 24), ("seasonal", 24), ("last", 1), ("none", 0)])
def test_the_anchor_season_follows_the_option_and_the_data(anchor, season):
    plan = plan_training(hourly({"a": 300}), **{**PLAN, "lookback": 48, "anchor": anchor})
    assert plan.season == 24 and plan.anchor_season == season  # a daily sine: seasonal naive beats the last value


def test_a_seasonal_anchor_longer_than_the_lookback_is_refused():
    with pytest.raises(OptionError, match="--anchor seasonal needs a season of at most the lookback"):
        plan_training(hourly({"a": 300}), **{**PLAN, "anchor": "seasonal"})


def test_scaling_is_fitted_on_the_training_part_and_stored_as_the_windows_dtype():
    plan = plan_training(hourly({"a": 200, "b": 200}), **PLAN)
    assert plan.scaled.dtype == np.float32 and plan.windows[12].flat.dtype.is_floating_point
    parts = np.split(plan.scaled, plan.series.offsets[1:-1])
    for part, length in zip(parts, plan.train_lengths):
        assert abs(float(part[:length].mean())) < 1e-5 and float(part[:length].std()) == pytest.approx(1, rel=1e-4)
    assert plan_training(hourly({"a": 200}), **{**PLAN, "scaler": "none"}).scaled.dtype == np.float64


def test_a_panel_flags_constant_series_and_cuts_no_windows_from_them():
    plan = plan_training(hourly({"a": 100, "flat": 100, "c": 100}, constant=("flat",)), **PLAN)
    assert plan.scaling.is_constant().tolist() == [False, True, False]
    windows = plan.windows[12]
    assert len(windows.train) == 2 * (80 - 12 - 4 + 1)  # each learnable series: every training window
    assert set(windows.series_of_val.tolist()) == {0, 2}
    with pytest.raises(DataError, match="all 2 series are constant"):
        plan_training(hourly({"x": 100, "y": 100}, constant=("x", "y")), **PLAN)


def test_calendar_inputs_come_on_one_grid_only_when_asked_for():
    series = hourly({"a": 100, "b": 60})
    plan = plan_training(series, **{**PLAN, "calendar": True})
    features, first = plan.calendar
    assert plan.cycles == ("day", "week") and features.shape == (100, 4)  # both end at the same hour: one grid
    assert first.tolist() == [0, 40]
    assert plan.windows[12].calendar is not None
    assert plan_training(series, **PLAN).calendar is None and calendar_grid(series, ()) is None
