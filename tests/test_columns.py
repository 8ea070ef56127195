"""Which columns of a table hold what, and their cells as numbers and timestamps (synthetic data only)."""

import functools

import numpy as np
import pandas as pd
import pytest
from helpers.tables import csv, days, load_text, one_line

from tsgate.columns import detect_time_col, numeric_share, parse_timestamps, to_numbers
from tsgate.errors import DataError, OptionError
from tsgate.wording import data_notes


@pytest.fixture
def load(tmp_path):
    """CSV text -> SeriesSet, through the same reader the CLI uses."""
    return functools.partial(load_text, tmp_path)


# ---- which column is which ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["timestamp", "Date", "ds", "month", "TIME"])
def test_time_column_by_name(load, name):
    series = load(days([1, 2, 3, 4], header=f"{name},value"))
    assert series.time_col == name
    assert series.targets == ["value"]


def test_time_column_by_content(load):
    text = csv("reading,when", [f"{v},2024-01-0{v}" for v in range(1, 6)])
    series = load(text)
    assert series.time_col == "when"
    assert series.targets == ["reading"]
    assert series.values[0][:, 0].tolist() == [1, 2, 3, 4, 5]


def test_no_time_column_says_time_col(load):
    with pytest.raises(DataError) as caught:
        load(csv("x,value", ["a,1", "b,2", "c,3"]))
    assert "--time-col" in one_line(caught) and "x, value" in str(caught.value)


def test_explicit_time_col_wins_over_the_name(load):
    text = csv("date,when,value", [f"junk{d},2024-01-0{d},{d}" for d in range(1, 5)])
    series = load(text, time_col="when", target=("value",))
    assert series.time_col == "when"
    assert series.index[0][0] == pd.Timestamp("2024-01-01")


def test_unknown_time_col_lists_present_columns(load):
    with pytest.raises(DataError) as caught:
        load(days([1, 2, 3]), time_col="stamp")
    message = one_line(caught)
    assert "'stamp'" in message and "--time-col" in message and "date, value" in message


def test_target_defaults_to_the_only_numeric_column(load):
    text = csv("date,city,load", [f"2024-01-0{d},paris,{d * 1.5}" for d in range(1, 5)])
    series = load(text)
    assert series.targets == ["load"]
    assert series.values[0][:, 0].tolist() == [1.5, 3.0, 4.5, 6.0]


def test_several_numeric_columns_are_named(load):
    text = csv("date,load,temp,wind", [f"2024-01-0{d},{d},{d + 1},{d + 2}" for d in range(1, 5)])
    with pytest.raises(DataError) as caught:
        load(text)
    message = one_line(caught)
    assert "load, temp, wind" in message and "--target" in message


def test_several_targets(load):
    text = csv("date,load,temp", [f"2024-01-0{d},{d},{10 * d}" for d in range(1, 5)])
    series = load(text, target=("temp", "load"))
    assert series.targets == ["temp", "load"]
    assert series.values[0].shape == (4, 2)
    assert series.values[0][:, 0].tolist() == [10, 20, 30, 40]


def test_no_numeric_column(load):
    text = csv("date,city", [f"2024-01-0{d},paris" for d in range(1, 5)])
    with pytest.raises(DataError) as caught:
        load(text)
    assert "no numeric column" in one_line(caught) and "city" in str(caught.value)


def test_unknown_target_lists_columns(load):
    with pytest.raises(DataError) as caught:
        load(days([1, 2, 3]), target=("sales",))
    message = one_line(caught)
    assert "'sales'" in message and "date, value" in message


def test_time_column_as_target_is_an_option_error(load):
    with pytest.raises(OptionError, match="cannot also be a --target"):
        load(days([1, 2, 3]), target=("date",))


def test_repeated_header_name(load):
    with pytest.raises(DataError, match="'value' appears more than once"):
        load(csv("date,value,value", ["2024-01-01,1,2", "2024-01-02,1,2", "2024-01-03,1,2"]))


def test_unknown_id_col(load):
    with pytest.raises(DataError, match="unknown column 'shop' for --id-col"):
        load(days([1, 2, 3]), id_col="shop")


# ---- cells as numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", [(), ("value",)])
def test_non_numeric_value_names_its_data_row(load, target):
    with pytest.raises(DataError) as caught:
        load(days([1, 2, 3, "n/a?", 5]), target=target)
    message = one_line(caught)
    assert "data row 4" in message and "'n/a?'" in message


def test_one_bad_row_in_a_long_file_is_named(load):
    values = list(range(5000))
    values[3217] = "oops"
    with pytest.raises(DataError, match="'oops' at data row 3218"):
        load(days(values))


def test_quoted_thousands_become_numbers(load):
    text = csv("date,value", ['2024-01-01,"1,234.5"', '2024-01-02,"2,000"', "2024-01-03,3", "2024-01-04,-4"])
    series = load(text)
    assert series.values[0][:, 0].tolist() == [1234.5, 2000.0, 3.0, -4.0]


def test_infinity_is_refused_with_its_row(load):
    with pytest.raises(DataError) as caught:
        load(days([1, 2, "inf", 4]))
    message = one_line(caught)
    assert "data row 3" in message and "float32" in message


@pytest.mark.parametrize("value", ["1e39", "-5e38"])
def test_beyond_float32_is_refused_with_its_row(load, value):
    with pytest.raises(DataError, match="at data row 2, beyond float32"):
        load(days([1, value, 3, 4]))


def test_float32_max_itself_is_accepted(load):
    series = load(days([1, "3.0e38", 3, 4]))
    assert series.values[0][1, 0] == 3.0e38


def test_all_missing_column_is_no_default_candidate(load):
    text = csv("date,value,empty", [f"2024-01-0{d},{d}," for d in range(1, 5)])
    assert load(text).targets == ["value"]


def test_boolean_column_is_not_a_number(load):
    text = csv("date,flag", [f"2024-01-0{d},{'true' if d % 2 else 'false'}" for d in range(1, 5)])
    with pytest.raises(DataError):
        load(text, target=("flag",))


# ---- cells as timestamps -------------------------------------------------------------------------


def test_empty_timestamp_names_its_row(load):
    text = csv("date,value", ["2024-01-01,1", ",2", "2024-01-03,3"])
    with pytest.raises(DataError, match="empty at data row 2"):
        load(text)


def test_unparseable_timestamp_names_its_row(load):
    text = csv("date,value", ["2024-01-01,1", "2024-01-02,2", "yesterday,3", "2024-01-04,4"])
    with pytest.raises(DataError) as caught:
        load(text)
    message = one_line(caught)
    assert "'yesterday'" in message and "data row 3" in message


def test_timezone_aware_timestamps_keep_their_zone(load):
    text = csv("time,value", [f"2024-01-01 0{h}:00+05:30,{h}" for h in range(4)])
    series = load(text)
    index = series.index[0]
    assert index.tz is not None
    assert index[0].utcoffset() == pd.Timedelta(hours=5, minutes=30)
    assert series.to_utc is False and data_notes(series) == []
    assert series.freq == "h"


def test_mixed_offsets_are_converted_to_utc_with_a_note(load):
    # A daylight-saving change: +01:00 then +02:00, one hour apart in real time.
    rows = ["2024-03-31 00:00+01:00,1", "2024-03-31 01:00+01:00,2", "2024-03-31 03:00+02:00,3", "2024-03-31 04:00+02:00,4"]
    series = load(csv("time,value", rows))
    index = series.index[0]
    assert str(index.tz) == "UTC"
    assert index[0] == pd.Timestamp("2024-03-30 23:00", tz="UTC")
    assert series.freq == "h" and series.lengths == [4]
    assert series.to_utc is True
    assert len(data_notes(series)) == 1 and "UTC" in data_notes(series)[0]


# ---- categories: each distinct text converted once, the same values row by row -------------------

TEXTS = ["1,234.5", None, "7", " 8 ", "7", None, "-2,000"]


def test_a_categorical_column_reads_as_its_texts_would():
    plain, categorical = pd.Series(TEXTS, dtype=object), pd.Series(TEXTS, dtype="category")
    assert numeric_share(categorical) == numeric_share(plain) == 1.0
    expected = [1234.5, np.nan, 7.0, 8.0, 7.0, np.nan, -2000.0]
    np.testing.assert_array_equal(to_numbers(categorical, "v").to_numpy(), expected)
    np.testing.assert_array_equal(to_numbers(plain, "v").to_numpy(), expected)


@pytest.mark.parametrize("dtype", [object, "category"])
def test_a_bad_text_names_its_row_whichever_the_dtype(dtype):
    column = pd.Series(TEXTS[:3] + ["n/a"] + TEXTS[3:], dtype=dtype)
    assert numeric_share(column) == pytest.approx(5 / 6)
    with pytest.raises(DataError, match=r"^column 'v' has a non-numeric value 'n/a' at data row 4: "):
        to_numbers(column, "v")


def test_categorical_timestamps_parse_row_by_row():
    texts = ["2024-01-03", "2024-01-01", "2024-01-03", "2024-01-02"]
    parsed, to_utc = parse_timestamps(pd.Series(texts, dtype="category"), "date")
    assert list(parsed) == [pd.Timestamp(t) for t in texts] and to_utc is False
    with pytest.raises(DataError, match=r"^time column 'date' has an unparseable timestamp 'soon' at data row 3: "):
        parse_timestamps(pd.Series(texts[:2] + ["soon"] + texts[2:], dtype="category"), "date")


def test_the_id_column_is_never_taken_for_the_time():
    frame = pd.DataFrame({"day": ["2024-01-01", "2024-01-02"], "when": ["2024-01-01", "2024-01-02"], "v": [1.0, 2.0]})
    assert detect_time_col(frame, None) == "day"
    assert detect_time_col(frame, "day") == "when"
