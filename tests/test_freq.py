"""Frequencies: aliases, seasons and calendar cycles read from them, and one time grid for a panel,
on which forecast stamps, shifted stamps and calendar inputs must equal what each series' own
date_range gives, including where series share no grid."""

import numpy as np
import pandas as pd
import pytest

from tsgate.errors import OptionError
from tsgate.freq import (
    calendar_cycles,
    calendar_features,
    calendar_on_grid,
    context_calendar,
    future_stamps,
    fixed_step,
    grid_through,
    infer_season,
    inferred_freq,
    normalise_freq,
    parse_freq,
    shift_stamps,
    stamp_ranges,
)

# ---- aliases and seasons -------------------------------------------------------------------


@pytest.mark.parametrize(
    "freq, season",
    [
        ("h", 24),
        ("H", 24),
        ("2h", 12),
        ("30min", 48),
        ("30T", 48),
        ("15min", 96),
        ("5min", 288),
        ("min", 1440),
        ("7min", None),  # 1440 / 7 is not whole
        ("s", None),  # a day of seconds is too long a season
        ("24h", 7),
        ("D", 7),
        ("B", 5),
        ("W-SUN", 52),
        ("W", 52),
        ("MS", 12),
        ("M", 12),
        ("ME", 12),
        ("BM", 12),
        ("QS-OCT", 4),
        ("Q", 4),
        ("Q-DEC", 4),
        ("QE-DEC", 4),
        ("3MS", 4),
        ("YS", None),
        ("A", None),
        ("A-DEC", None),
        ("YE", None),
        (None, None),
        ("", None),
        ("not a frequency", None),
        ("xx", None),
        ("30", None),
    ],
)
def test_infer_season(freq, season):
    assert infer_season(freq) == season


@pytest.mark.parametrize("legacy, modern", [("30T", "30min"), ("H", "h"), ("Q-DEC", "QE-DEC"), ("2A", "2YE"), ("M", "ME")])
def test_parse_freq_reads_legacy_aliases_with_their_multiple_and_anchor(legacy, modern):
    assert parse_freq(legacy) == parse_freq(modern) == pd.tseries.frequencies.to_offset(modern)


@pytest.mark.parametrize("text", ["xx", "30", "not a frequency", "Z-DEC"])
def test_parse_freq_gives_none_for_what_pandas_cannot_read(text):
    assert parse_freq(text) is None


def test_inferred_freq_is_the_canonical_alias_or_none():
    assert inferred_freq(pd.date_range("2024-01-01", periods=6, freq="MS")) == "MS"
    assert inferred_freq(pd.date_range("2024-01-01", periods=6, freq="60min")) == "h"
    assert inferred_freq(pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-04"])) is None


def test_fixed_step_only_where_every_step_lasts_as_long():
    to_offset = pd.tseries.frequencies.to_offset
    assert fixed_step(to_offset("h"), "Europe/Berlin") == 3600 * 10**9
    assert fixed_step(to_offset("2D"), None) == 2 * 86400 * 10**9
    assert fixed_step(to_offset("D"), "Europe/Berlin") is None  # a day across a clock change lasts 23 or 25 hours
    assert fixed_step(to_offset("MS"), None) is None


def test_normalise_freq_canonical_aliases():
    assert normalise_freq("D") == normalise_freq(pd.offsets.Day())
    assert normalise_freq("MS") == "MS"
    with pytest.raises(OptionError):
        normalise_freq("not-a-freq")


def test_calendar_cycles_follow_the_frequency():
    assert calendar_cycles("h") == ("day", "week")
    assert calendar_cycles("30min") == ("day", "week")
    assert calendar_cycles("D") == ("week", "year")
    assert calendar_cycles("MS") == ("year",)
    assert calendar_cycles("W-SUN") == () and calendar_cycles("YS") == ()


def test_calendar_features_are_the_phase_of_each_cycle():
    index = pd.DatetimeIndex(["2024-01-01 06:00", "2024-01-01 18:00"])  # a Monday
    features = calendar_features(index, ("day", "week"))
    np.testing.assert_allclose(features[0, :2], [1.0, 0.0], atol=1e-12)  # 6 h is a quarter of a day
    np.testing.assert_allclose(features[1, :2], [-1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(features[0, 2:], [np.sin(2 * np.pi * 0.25 / 7), np.cos(2 * np.pi * 0.25 / 7)])


# ---- one time grid for a panel -------------------------------------------------------------


CASES = [
    ("MS", ["2020-01-01", "2021-03-01", "2019-07-01"]),
    ("W-SUN", ["2024-01-07", "2023-05-14", "2024-02-04"]),
    ("D", ["2024-01-01", "2022-12-30", "2024-02-29"]),
    ("h", ["2024-03-30 22:00", "2024-03-31 05:00", "2024-01-01 00:00"]),
    ("h", ["2024-01-01 10:30", "2024-01-01 11:00", "2024-01-02 00:00"]),  # no shared grid: one by one
]


@pytest.mark.parametrize("freq, stamps", CASES)
@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_future_stamps_continue_each_series(freq, stamps, tz):
    last = pd.DatetimeIndex(stamps).tz_localize(tz)
    expected = [pd.date_range(stamp, periods=5, freq=freq)[1:] for stamp in last]
    assert list(future_stamps(last, freq, 4)) == [stamp for part in expected for stamp in part]


@pytest.mark.parametrize("freq, stamps", CASES)
def test_stamp_ranges_run_from_each_start(freq, stamps):
    ranges = stamp_ranges(pd.DatetimeIndex(stamps), [3, 1, 5], freq)
    assert [len(index) for index in ranges] == [3, 1, 5]
    assert [index[0] for index in ranges] == list(pd.DatetimeIndex(stamps))
    assert ranges[2][-1] == shift_stamps(pd.DatetimeIndex(stamps[2:]), np.array([4]), freq)[0]


@pytest.mark.parametrize("freq, stamps", CASES)
def test_shift_stamps_moves_each_stamp_its_own_number_of_steps(freq, stamps):
    first = pd.DatetimeIndex(stamps)
    steps = np.array([0, 7, 30])
    assert list(shift_stamps(first, steps, freq)) == [pd.date_range(s, periods=k + 1, freq=freq)[-1] for s, k in zip(first, steps)]


@pytest.mark.parametrize("freq, stamps", CASES)
def test_calendar_on_a_shared_grid_equals_each_series_own(freq, stamps):
    first, lengths = pd.DatetimeIndex(stamps), np.array([30, 12, 45])
    indexes = [pd.date_range(start, periods=n, freq=freq) for start, n in zip(first, lengths)]
    last = pd.DatetimeIndex([index[-1] for index in indexes])
    cycles = ("day", "week", "year")
    features, starts = calendar_on_grid(first, last, lengths, freq, cycles, lambda: indexes)
    for index, start in zip(indexes, starts):
        np.testing.assert_allclose(features[start:start + len(index)], calendar_features(index, cycles), atol=1e-12)
    context = context_calendar(last, 8, freq, cycles)
    for row, index in enumerate(indexes):
        np.testing.assert_allclose(context[row], calendar_features(index[-8:], cycles), atol=1e-12)


def test_series_far_apart_in_time_get_no_giant_grid():
    stamps = pd.DatetimeIndex(["1990-01-01", "2024-01-01"])
    assert grid_through(stamps, "min") is None  # 17.9 million minutes for two stamps
    assert grid_through(stamps, "MS") is not None  # 409 months
    last = stamps + pd.Timedelta(minutes=5)
    assert list(future_stamps(last, "min", 2)) == [last[0] + pd.Timedelta(minutes=k) for k in (1, 2)] + \
        [last[1] + pd.Timedelta(minutes=k) for k in (1, 2)]
