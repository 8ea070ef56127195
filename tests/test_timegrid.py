"""One time grid for a panel: forecast stamps, shifted stamps and calendar inputs looked up on it
must equal what each series' own date_range gives, including where series share no grid."""

import numpy as np
import pandas as pd
import pytest

from tsgate.auto import calendar_features, calendar_on_grid, context_calendar
from tsgate.data import shift_stamps
from tsgate.timegrid import future_stamps, grid_through

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
