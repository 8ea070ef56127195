"""Turning a table's rows into series: header, missing values, frequency, gaps, ids (synthetic data only).

Which columns hold what and how their cells read as numbers and timestamps: test_columns.py.
"""

import functools

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_long, synthetic_sine
from helpers.tables import csv, days, load_text, one_line

from tsgate.data import DataOptions, SeriesSet, load_series
from tsgate.errors import DataError, OptionError
from tsgate.io import read_csv


@pytest.fixture
def load(tmp_path):
    """CSV text -> SeriesSet, through the same reader the CLI uses."""
    return functools.partial(load_text, tmp_path)


# ---- header --------------------------------------------------------------------------------


def test_header_names_are_stripped(load):
    series = load(csv(" date , value ", ["2024-01-01,1", "2024-01-02,2", "2024-01-03,3"]))
    assert series.time_col == "date" and series.targets == ["value"]


# ---- values ------------------------------------------------------------------------------------


def test_missing_values_are_counted_and_located(load):
    with pytest.raises(DataError) as caught:
        load(days([1, "", 3, "", 5, 6]))
    message = one_line(caught)
    assert "2 missing value(s)" in message
    assert "data row 2" in message and "2024-01-02" in message
    assert "--fill" in message


@pytest.mark.parametrize(
    "fill, expected",
    [
        ("ffill", [1.0, 1.0, 1.0, 7.0, 7.0]),
        ("interpolate", [1.0, 3.0, 5.0, 7.0, 7.0]),
        ("zero", [1.0, 0.0, 0.0, 7.0, 0.0]),
    ],
)
def test_fill_methods(load, fill, expected):
    series = load(days([1, "", "", 7, ""]), fill=fill)
    values = series.values[0][:, 0]
    assert not np.isnan(values).any()
    assert values.tolist() == expected


@pytest.mark.parametrize("fill", ["ffill", "interpolate"])
def test_leading_missing_values_take_the_first_value(load, fill):
    series = load(days(["", "", 4, 8]), fill=fill)
    assert series.values[0][:, 0].tolist() == [4.0, 4.0, 4.0, 8.0]


def test_unknown_fill_is_refused_even_without_gaps(load):
    with pytest.raises(OptionError, match="unknown --fill 'mean'"):
        load(days([1, 2, 3]), fill="mean")


def test_all_missing_column_is_refused(load):
    text = csv("date,value,empty", [f"2024-01-0{d},{d}," for d in range(1, 5)])
    with pytest.raises(DataError, match="'empty' has no values"):
        load(text, target=("empty",))


# ---- timestamps ---------------------------------------------------------------------------------


def test_duplicated_timestamp_names_both_rows(load):
    text = csv("date,value", ["2024-01-01,1", "2024-01-02,2", "2024-01-03,3", "2024-01-02,4"])
    with pytest.raises(DataError) as caught:
        load(text)
    message = one_line(caught)
    assert "twice" in message and "data rows 2 and 4" in message and "2024-01-02" in message


def test_unsorted_rows_are_sorted_with_their_values(load):
    text = csv("date,value", ["2024-01-03,30", "2024-01-01,10", "2024-01-04,40", "2024-01-02,20"])
    series = load(text)
    assert list(series.index[0]) == list(pd.date_range("2024-01-01", periods=4, freq="D"))
    assert series.values[0][:, 0].tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize("freq, expected", [("MS", "MS"), ("h", "h"), ("D", "D"), ("15min", "15min"), ("W-SUN", "W-SUN")])
def test_frequency_inferred(tmp_path, freq, expected):
    frame = pd.DataFrame({"time": pd.date_range("2024-01-07", periods=10, freq=freq), "v": np.arange(10.0)})
    path = tmp_path / "f.csv"
    frame.to_csv(path, index=False)
    series = load_series(read_csv(str(path)), DataOptions())
    assert series.freq == expected
    assert series.index[0].freq == pd.tseries.frequencies.to_offset(expected)
    assert series.lengths == [10]


def test_gap_without_freq_suggests_freq(load):
    text = csv("date,value", ["2024-01-01,1", "2024-01-02,2", "2024-01-03,3", "2024-01-05,5", "2024-01-06,6"])
    with pytest.raises(DataError) as caught:
        load(text)
    message = one_line(caught)
    assert "--freq" in message and "2024-01-03" in message


def test_freq_turns_gaps_into_missing_values_then_fill_works(load):
    text = csv("date,value", ["2024-01-01,1", "2024-01-02,2", "2024-01-03,3", "2024-01-05,5", "2024-01-06,6"])
    with pytest.raises(DataError) as caught:
        load(text, freq="D")
    message = one_line(caught)
    assert "1 missing value(s)" in message and "gap" in message and "2024-01-04" in message
    series = load(text, freq="D", fill="interpolate")
    assert series.lengths == [6]
    assert series.values[0][:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert series.freq == "D"


def test_freq_off_the_grid_is_refused(load):
    text = csv("time,value", ["2024-01-01 00:00,1", "2024-01-01 01:00,2", "2024-01-01 01:30,3", "2024-01-01 03:00,4"])
    with pytest.raises(DataError, match="not on a h grid"):
        load(text, freq="h")


def test_unknown_freq_is_an_option_error(load):
    with pytest.raises(OptionError, match="unknown frequency 'fortnightly'"):
        load(days([1, 2, 3]), freq="fortnightly")


def test_freq_far_too_fine_is_refused(load):
    with pytest.raises(DataError, match="too fine"):
        load(csv("date,value", ["2020-01-01,1", "2022-01-01,2", "2024-01-01,3"]), freq="min")


# ---- long format ---------------------------------------------------------------------------------


def test_id_col_splits_series_sorted_by_id(tmp_path):
    frame = synthetic_long(ids=("west", "east", "north"), n=30)
    frame = frame.sample(frac=1.0, random_state=0)  # shuffled rows
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    series = load_series(read_csv(str(path)), DataOptions(id_col="store"))
    assert series.ids == ["east", "north", "west"]
    assert series.id_col == "store" and series.time_col == "date" and series.targets == ["sales"]
    assert series.lengths == [30, 30, 30]
    for key, values, index in zip(series.ids, series.values, series.index):
        original = frame[frame["store"] == key].sort_values("date")["sales"].to_numpy()
        np.testing.assert_allclose(values[:, 0], original)
        assert index.is_monotonic_increasing


def test_long_csv_fixture_loads(long_csv):
    series = load_series(read_csv(str(long_csv)), DataOptions(id_col="store"))
    assert series.ids == ["a", "b", "c"] and series.freq == "D"


def test_id_with_a_single_point_is_refused_when_strict(load):
    rows = [f"a,2024-01-0{d},{d}" for d in range(1, 5)] + ["b,2024-01-01,9"]
    with pytest.raises(DataError) as caught:
        load(csv("id,date,value", rows), id_col="id", strict=True)
    message = one_line(caught)
    assert "series 'b'" in message and "1 point" in message


def test_id_with_a_single_point_is_left_out_of_a_panel(load):
    rows = [f"a,2024-01-0{d},{d}" for d in range(1, 5)] + ["b,2024-01-01,9"]
    series = load(csv("id,date,value", rows), id_col="id")
    assert series.ids == ["a"] and series.lengths == [4]
    assert series.skipped == [("b", "has only 1 point(s): too short to infer a frequency or to forecast")]


def test_missing_id_is_refused_not_dropped(load):
    rows = [f"a,2024-01-0{d},{d}" for d in range(1, 5)] + [",2024-01-05,5"]
    with pytest.raises(DataError, match="empty at data row 5"):
        load(csv("id,date,value", rows), id_col="id")


def test_different_frequencies_across_ids(load):
    rows = [f"a,2024-01-0{d},{d}" for d in range(1, 5)] + [f"b,2024-01-0{d},{d}" for d in (1, 3, 5, 7)]
    with pytest.raises(DataError) as caught:
        load(csv("id,date,value", rows), id_col="id", strict=True)
    assert "different frequencies (2D, D)" in one_line(caught) and "--freq" in str(caught.value)
    series = load(csv("id,date,value", rows), id_col="id")
    assert series.ids == ["a"] and series.freq == "D"
    assert series.skipped == [("b", "has the frequency 2D, not the others' D: pass --freq to use one")]


def test_missing_value_in_one_id_names_the_series(load):
    rows = [f"a,2024-01-0{d},{d}" for d in range(1, 5)] + ["b,2024-01-01,1", "b,2024-01-02,", "b,2024-01-03,3"]
    with pytest.raises(DataError) as caught:
        load(csv("id,date,value", rows), id_col="id", strict=True)
    message = one_line(caught)
    assert "series 'b'" in message and "data row 6" in message
    [(key, reason)] = load(csv("id,date,value", rows), id_col="id").skipped
    assert key == "b" and reason.startswith("has 1 missing value(s) (first at data row 6, 2024-01-02") and "--fill" in reason


# ---- SeriesSet ---------------------------------------------------------------------------------------


def test_drop_last(sine_csv):
    series = load_series(read_csv(str(sine_csv)), DataOptions())
    shorter = series.drop_last(5)
    assert shorter.lengths == [series.lengths[0] - 5]
    np.testing.assert_array_equal(shorter.values[0], series.values[0][:-5])
    assert shorter.index[0][-1] == series.index[0][-6]
    assert shorter.freq == series.freq and shorter.targets == series.targets
    assert series.lengths == [240]  # the original is untouched
    assert series.drop_last(0).lengths == series.lengths


def test_sine_fixture_values_survive_loading(sine_csv):
    series = load_series(read_csv(str(sine_csv)), DataOptions())
    np.testing.assert_allclose(series.values[0][:, 0], synthetic_sine()["load"].to_numpy())
    assert series.freq == "h" and series.values[0].dtype == np.float64


@pytest.mark.parametrize("freq, season", [("h", 24), ("D", 7), ("MS", 12), ("YS", None)])
def test_the_season_is_set_once_and_carried(freq, season):
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 30), "time": np.tile(pd.date_range("2000-01-01", periods=30, freq=freq), 2),
                          "value": np.arange(60.0)})
    series = load_series(frame, DataOptions(id_col="id"))
    assert series.season == season
    assert series.subset([1]).season == series.drop_last(3).season == season
    built = SeriesSet.from_arrays(series.ids, series.values, series.index, targets=["value"], freq=freq, time_col="time")
    assert built.season == season
