"""Loading long-format panels (synthetic data only): the vectorised route gives exactly what the
per-series route gives, and an awkward series is left out of a panel instead of stopping it."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.per_series import load_per_series

import tsgate.data
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError
from tsgate.io import read_csv

IDS = ("north", "east", "west", "south")


def panel(freq="D", lengths=(40, 31, 55, 47), targets=("value",), seed=0, tz=None, start="2023-01-02") -> pd.DataFrame:
    """Synthetic series in long format, each starting at its own place on the `freq` grid."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, (key, n) in enumerate(zip(IDS, lengths)):
        stamps = pd.date_range(start, periods=n + 3 * k, freq=freq, tz=tz)[3 * k:]
        columns = {name: (j + 1) * 10 * (k + 1) + rng.standard_normal(n).round(3) for j, name in enumerate(targets)}
        frames.append(pd.DataFrame({"id": key, "time": stamps, **columns}))
    return pd.concat(frames, ignore_index=True)


def write(tmp_path, frame: pd.DataFrame, name="panel.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def load(path, per_series=False, **options):
    """The set `load_series` gives, or with `per_series` the reference: every series through prepare_one."""
    options = DataOptions(**options)
    return (load_per_series if per_series else load_series)(read_csv(path, labels=options.label_columns), options)


@pytest.fixture
def calls(monkeypatch):
    """How many series went through prepare_one (the per-series route)."""
    count = {"n": 0}
    original = tsgate.data.prepare_one

    def counting(*args, **kwargs):
        count["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(tsgate.data, "prepare_one", counting)
    return count


def assert_same(fast, reference):
    assert fast.ids == reference.ids
    np.testing.assert_array_equal(fast.flat, reference.flat)
    assert fast.flat.dtype == np.float64 and fast.flat.shape == reference.flat.shape
    np.testing.assert_array_equal(fast.offsets, reference.offsets)
    assert fast.offsets.dtype == np.int64
    assert fast.first.equals(reference.first) and fast.first.dtype == reference.first.dtype
    assert fast.freq == reference.freq and fast.season == reference.season
    assert fast.skipped == reference.skipped
    assert (fast.targets, fast.time_col, fast.id_col, fast.to_utc) == (reference.targets, reference.time_col, reference.id_col, reference.to_utc)


# ---- the vectorised route equals the per-series route --------------------------------------------


@pytest.mark.parametrize("freq", ["D", "h", "15min", "MS", "W-SUN", "QS-JAN", "ME"])
def test_shuffled_panel_loads_as_the_per_series_route_loads_it(tmp_path, calls, freq):
    frame = panel(freq)
    path = write(tmp_path, frame.sample(frac=1.0, random_state=1))
    fast = load(path, id_col="id")
    assert calls["n"] == 0  # every series was regular: none went one by one
    reference = load(path, per_series=True, id_col="id")
    assert calls["n"] == len(IDS)
    assert_same(fast, reference)
    assert fast.freq == freq  # the alias seasons and calendar features read
    assert fast.ids == sorted(IDS) and fast.skipped == []
    for key, values, index in zip(fast.ids, fast.values, fast.index):
        part = frame[frame["id"] == key]
        np.testing.assert_array_equal(values[:, 0], part["value"].to_numpy())
        assert index.equals(pd.DatetimeIndex(part["time"]))


def test_series_in_file_order_need_no_sort(tmp_path, calls):
    path = write(tmp_path, panel("D").sort_values(["id", "time"]))
    fast = load(path, id_col="id")
    assert calls["n"] == 0
    assert_same(fast, load(path, per_series=True, id_col="id"))


def test_several_targets(tmp_path):
    path = write(tmp_path, panel("h", targets=("load", "temp")).sample(frac=1.0, random_state=2))
    fast = load(path, id_col="id", target=("temp", "load"))
    assert fast.targets == ["temp", "load"] and fast.flat.shape == (sum((40, 31, 55, 47)), 2)
    assert_same(fast, load(path, per_series=True, id_col="id", target=("temp", "load")))
    assert fast.values[0][:, 0].mean() > fast.values[0][:, 1].mean()  # temp was made twice load


def test_zoned_timestamps_keep_their_offset(tmp_path):
    frame = panel("h")
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%d %H:%M") + "+05:30"
    path = write(tmp_path, frame)
    fast = load(path, id_col="id")
    assert fast.first[0].utcoffset() == pd.Timedelta(hours=5, minutes=30)
    assert_same(fast, load(path, per_series=True, id_col="id"))


def test_mixed_offsets_are_converted_to_utc_in_both_routes(tmp_path):
    frame = panel("h", tz="Europe/Paris", lengths=(400, 300, 500, 450), start="2023-03-20")  # spans the clock change
    frame["time"] = frame["time"].astype(str)
    path = write(tmp_path, frame)
    fast = load(path, id_col="id")
    assert str(fast.first.tz) == "UTC" and fast.to_utc is True
    assert fast.freq == "h" and fast.skipped == []
    assert_same(fast, load(path, per_series=True, id_col="id"))


def test_numeric_ids_are_sorted_as_text(tmp_path):
    frame = panel("D")
    frame["id"] = frame["id"].map({"north": 10, "east": 9, "west": 100, "south": 1})
    path = write(tmp_path, frame)
    fast = load(path, id_col="id")
    assert fast.ids == ["1", "10", "100", "9"]
    assert_same(fast, load(path, per_series=True, id_col="id"))


def test_a_gap_filled_with_freq_and_fill(tmp_path, calls):
    frame = panel("D")
    frame = frame.drop(index=[45, 46]).sample(frac=1.0, random_state=3)  # two days missing in "east"
    path = write(tmp_path, frame)
    fast = load(path, id_col="id", freq="D", fill="interpolate")
    assert calls["n"] == 1  # only the series with the gap went one by one
    assert fast.lengths == [31, 40, 47, 55] and fast.skipped == []
    assert not np.isnan(fast.flat).any()
    assert_same(fast, load(path, per_series=True, id_col="id", freq="D", fill="interpolate"))


def test_business_days_are_checked_by_name(tmp_path):
    # A few weekdays in a row are "D" to pandas, not "B": such a series differs from a "B" panel.
    frame = panel("B")
    short = pd.DataFrame({"id": "zz", "time": pd.date_range("2023-01-02", periods=3, freq="B"), "value": [1.0, 2.0, 3.0]})
    path = write(tmp_path, pd.concat([frame, short]))
    fast = load(path, id_col="id")
    assert fast.freq == "B" and [key for key, _ in fast.skipped] == ["zz"]
    assert "frequency D, not the others' B" in fast.skipped[0][1]
    assert_same(fast, load(path, per_series=True, id_col="id"))


def test_generated_benchmark_panel(tmp_path):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "panel_data.py"
    spec = importlib.util.spec_from_file_location("tsgate_panel_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.panel_frame(30, seed=4, min_length=30, max_length=80, awkward=True)
    csv = write(tmp_path, frame.sample(frac=1.0, random_state=5))
    fast = load(csv, id_col="id")
    assert len(fast.ids) == 30 and fast.freq == "D"
    assert_same(fast, load(csv, per_series=True, id_col="id"))


# ---- awkward series in a panel ---------------------------------------------------------------------


def awkward_panel() -> pd.DataFrame:
    """Four good daily series and four awkward ones (named b, d, f, g), shuffled."""
    good = panel("D")
    days = pd.date_range("2023-03-01", periods=10, freq="D")
    gap = pd.DataFrame({"id": "b", "time": days.delete(4), "value": np.arange(9.0)})
    duplicate = pd.DataFrame({"id": "d", "time": days.insert(6, days[5]), "value": np.arange(11.0)})
    short = pd.DataFrame({"id": "f", "time": days[:2], "value": [1.0, 2.0]})
    missing = pd.DataFrame({"id": "g", "time": days, "value": [1.0, 2.0, np.nan] + [4.0] * 7})
    return pd.concat([good, gap, duplicate, short, missing], ignore_index=True)


def test_awkward_series_are_left_out_with_their_reasons(tmp_path):
    frame = awkward_panel()
    path = write(tmp_path, frame)
    series = load(path, id_col="id")
    assert series.ids == sorted(IDS)
    reasons = dict(series.skipped)
    assert list(reasons) == ["b", "d", "f", "g"]
    assert reasons["b"].startswith("has no regular frequency; e.g. a step of 2 days 00:00:00 after 2023-03-04")
    rows = np.flatnonzero((frame["id"] == "d").to_numpy() & (frame["time"] == pd.Timestamp("2023-03-06")).to_numpy()) + 1
    assert reasons["d"].startswith(f"has the timestamp 2023-03-06 00:00:00 twice (data rows {rows[0]} and {rows[1]})")
    assert reasons["f"] == "has only 2 point(s): too short to infer a frequency or to forecast"
    row = int(np.flatnonzero(frame["value"].isna().to_numpy())[0]) + 1
    assert reasons["g"] == f"has 1 missing value(s) (first at data row {row}, 2023-03-03 00:00:00): pass --fill ffill, interpolate or zero"
    assert all("\n" not in reason for reason in reasons.values())
    for key, values in zip(series.ids, series.values):
        np.testing.assert_array_equal(values[:, 0], frame.loc[frame["id"] == key, "value"].to_numpy())
    assert_same(series, load(path, per_series=True, id_col="id"))


def test_fill_keeps_the_series_with_a_missing_value(tmp_path):
    path = write(tmp_path, awkward_panel())
    series = load(path, id_col="id", fill="ffill")
    assert "g" in series.ids and [key for key, _ in series.skipped] == ["b", "d", "f"]
    assert series.values[series.ids.index("g")][:4, 0].tolist() == [1.0, 2.0, 2.0, 4.0]
    assert_same(series, load(path, per_series=True, id_col="id", fill="ffill"))


def test_a_series_of_another_frequency_is_left_out(tmp_path):
    weekly = pd.DataFrame({"id": "w", "time": pd.date_range("2023-01-01", periods=12, freq="W-SUN"), "value": np.arange(12.0)})
    path = write(tmp_path, pd.concat([panel("D"), weekly]))
    series = load(path, id_col="id")
    assert series.freq == "D" and "w" not in series.ids
    assert series.skipped == [("w", "has the frequency W-SUN, not the others' D: pass --freq to use one")]
    with pytest.raises(DataError, match=r"^the series have different frequencies \(D, W-SUN\): pass --freq to use one$"):
        load(path, id_col="id", strict=True)


def test_strict_raises_the_first_series_error(tmp_path):
    path = write(tmp_path, awkward_panel())
    with pytest.raises(DataError) as caught:
        load(path, id_col="id", strict=True)
    assert str(caught.value) == (
        "cannot infer a regular frequency for series 'b'; e.g. a step of 2 days 00:00:00 after 2023-03-04 00:00:00: "
        "pass --freq (e.g. D, h, 30min, MS) and --fill for the gaps"
    )
    with pytest.raises(DataError, match=r"^series 'd' has the timestamp 2023-03-06 00:00:00 twice"):
        load(write(tmp_path, awkward_panel().query("id != 'b'"), "nob.csv"), id_col="id", strict=True)


@pytest.mark.parametrize("with_id", [False, True])
def test_a_single_series_file_raises_its_series_error(tmp_path, with_id):
    days = pd.date_range("2023-03-01", periods=10, freq="D").delete(4)
    frame = pd.DataFrame({"id": "only", "time": days, "value": np.arange(9.0)})
    path = write(tmp_path, frame if with_id else frame.drop(columns="id"))
    with pytest.raises(DataError, match=r"^cannot infer a regular frequency for (series 'only'|the series); e.g. a step of 2 days"):
        load(path, id_col="id" if with_id else None)


def test_every_series_left_out_is_an_error_naming_the_count(tmp_path):
    frame = pd.DataFrame({"id": ["a", "a", "b", "b"], "time": ["2023-01-01", "2023-01-02"] * 2, "value": [1, 2, 3, 4]})
    with pytest.raises(DataError) as caught:
        load(write(tmp_path, frame), id_col="id")
    assert str(caught.value) == ("all 2 series were left out, the first because series 'a' has only 2 point(s): "
                                 "too short to infer a frequency or to forecast")


@pytest.mark.parametrize("cell, column, message", [
    ("lots", "value", "non-numeric value 'lots' at data row 7"),
    ("someday", "time", "unparseable timestamp 'someday' at data row 7"),
    (np.nan, "id", "id column 'id' is empty at data row 7"),
])
def test_whole_file_problems_still_stop_a_panel(tmp_path, cell, column, message):
    frame = panel("D").astype({"value": object, "time": object})
    frame.loc[6, column] = cell
    with pytest.raises(DataError, match=message):
        load(write(tmp_path, frame), id_col="id")


def test_a_target_with_no_values_in_one_series(tmp_path):
    frame = panel("D", targets=("load", "temp"))
    frame.loc[frame["id"] == "west", "temp"] = np.nan
    path = write(tmp_path, frame)
    series = load(path, id_col="id", target=("load", "temp"))
    assert series.skipped == [("west", "has no values in column 'temp': choose another --target")]
    with pytest.raises(DataError, match=r"^column 'temp' has no values in series 'west': choose another --target$"):
        load(path, id_col="id", target=("load", "temp"), strict=True)


def test_a_series_starting_off_the_monthly_grid(tmp_path, calls):
    # Each step is one month start, but the first stamp is not one: not a monthly-start series.
    odd = pd.DataFrame({"id": "odd", "time": pd.DatetimeIndex(["2023-01-15", "2023-02-01", "2023-03-01", "2023-04-01"]),
                        "value": [1.0, 2.0, 3.0, 4.0]})
    path = write(tmp_path, pd.concat([panel("MS"), odd]))
    series = load(path, id_col="id")
    assert calls["n"] == 1 and series.freq == "MS" and "odd" not in series.ids
    assert series.skipped[0][0] == "odd" and series.skipped[0][1].startswith("has no regular frequency")
    assert_same(series, load(path, per_series=True, id_col="id"))
    given = load(path, id_col="id", freq="MS")
    assert given.skipped == [("odd", "has the timestamp 2023-01-15 00:00:00 that is not on a MS grid starting at "
                                     "2023-01-15 00:00:00: pass the right --freq or resample the data first")]
    assert_same(given, load(path, per_series=True, id_col="id", freq="MS"))


def test_ids_filtered_out_of_a_frame_are_not_series(tmp_path):
    frame = read_csv(write(tmp_path, panel("D")))
    assert isinstance(frame["id"].dtype, pd.CategoricalDtype)
    series = load_series(frame[frame["id"] != "west"], DataOptions(id_col="id"))
    assert series.ids == ["east", "north", "south"] and series.skipped == []


@pytest.mark.parametrize("layout", ["date by date", "series out of time order"])
def test_rows_in_other_orders(tmp_path, layout):
    frame = panel("D")
    if layout == "date by date":  # as a wide table melted to long format: each series still in time order
        frame = frame.sort_values(["time", "id"], kind="stable")
    else:
        frame = frame.iloc[::-1]
    path = write(tmp_path, frame)
    fast = load(path, id_col="id")
    assert fast.lengths == [31, 40, 47, 55] and fast.index[0].is_monotonic_increasing
    assert_same(fast, load(path, per_series=True, id_col="id"))
