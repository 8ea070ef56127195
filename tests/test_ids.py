"""Ids are labels: read as text exactly as written, kept through training, the model file and
forecasts, and written back exactly in every output format."""

import csv
import io
import json

import numpy as np
import pytest
from conftest import TINY
from helpers.cli import assert_one_line_error, invoke

from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError
from tsgate.forecaster import Forecaster
from tsgate.io import read_csv

# Codes a spreadsheet or pandas would merge or rewrite as numbers, missing values or trimmed text.
LEADING_ZEROS = ("007", "07", "7")
ODD = (" 7", "7 ", "A", "a", "caf\u00e9", "cafe\u0301", "NA", "nan", "None", "1.0", "1e3", "a,b", "x\"y", "[b]z", "p|q",
       ":smile:")


def quoted(text: str) -> str:
    """A CSV cell holding `text` exactly: quoted, inner quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def panel_text(ids, n=40, header="store,date,sales", quote=True, sep=",") -> str:
    """A daily long-format panel, one series per id (cells quoted when `quote`), each with its own level."""
    rows = [header]
    for k, key in enumerate(ids):
        cell = quoted(key) if quote else key
        for t in range(n):
            day = np.datetime64("2023-01-01") + t
            rows.append(sep.join([cell, str(day), f"{10 * (k + 1) + np.sin(t / 3):.4f}"]))
    return "\n".join(rows) + "\n"


def write(folder, text: str, name="panel.csv") -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(path: str, **options):
    options = DataOptions(**options)
    return load_series(read_csv(path, labels=options.label_columns), options)


def forecast_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def zeros_model(tmp_path_factory):
    """A model trained on the panel of ids 007, 07 and 7 (unquoted, as a spreadsheet writes them)."""
    folder = tmp_path_factory.mktemp("zeros")
    data = write(folder, panel_text(LEADING_ZEROS, quote=False))
    model = folder / "m.tsgate"
    result = invoke("train", data, "--id-col", "store", "-o", model, "--format", "json", *TINY)
    assert result.exit_code == 0, result.stderr
    return model, json.loads(result.stdout)


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory):
    """A model trained on ids with spaces, case, Unicode forms, NA-like and number-like text,
    separators, quotes and markup, every cell quoted as a CSV writer quotes it."""
    folder = tmp_path_factory.mktemp("odd")
    data = write(folder, panel_text(LEADING_ZEROS + ODD))
    model = folder / "m.tsgate"
    result = invoke("train", data, "--id-col", "store", "-o", model, "--format", "json", *TINY)
    assert result.exit_code == 0, result.stderr
    return model, data


# ---- reading ---------------------------------------------------------------------------------------


def test_ids_differing_only_in_leading_zeros_are_three_series(tmp_path):
    series = load(write(tmp_path, panel_text(LEADING_ZEROS, quote=False)), id_col="store")
    assert series.ids == ["007", "07", "7"] and series.lengths == [40, 40, 40]


def test_ids_keep_spaces_case_unicode_and_number_like_text(tmp_path):
    series = load(write(tmp_path, panel_text(LEADING_ZEROS + ODD)), id_col="store")
    assert series.ids == sorted(LEADING_ZEROS + ODD)  # every one distinct, in text order
    assert all(type(key) is str for key in series.ids)


def test_an_unquoted_id_keeps_trailing_spaces_and_loses_only_the_padding_after_the_separator(tmp_path):
    text = "date, store ,sales\n" + "".join(f"2023-01-{d:02d}, 007 ,{d}\n2023-01-{d:02d},07,{d}\n" for d in range(1, 6))
    series = load(write(tmp_path, text), id_col="store")
    assert series.ids == ["007 ", "07"]  # the header's name is stripped; a space before a cell is the separator's


def test_an_id_column_of_whole_numbers_stays_text_in_text_order(tmp_path):
    series = load(write(tmp_path, panel_text(("1", "2", "10"), quote=False)), id_col="store")
    assert series.ids == ["1", "10", "2"]  # sorted as text, as any text ids are


def test_an_id_column_of_numbers_keeps_each_numbers_text(tmp_path):
    series = load(write(tmp_path, panel_text(("1", "1.50", "+3", "1e3", "-0", "10"), quote=False)), id_col="store")
    assert series.ids == ["+3", "-0", "1", "1.50", "10", "1e3"]


def test_ids_are_not_split_by_a_thousands_separator(tmp_path):
    text = panel_text(("1,234", "1234"), header="store;date;sales", quote=False, sep=";")
    series = load(write(tmp_path, text), id_col="store")
    assert series.ids == ["1,234", "1234"]


def test_the_id_column_is_found_whatever_spaces_surround_its_header_name(tmp_path):
    text = panel_text(LEADING_ZEROS, quote=False, header="  store ;date;sales", sep=";")
    series = load(write(tmp_path, text), id_col="store")
    assert series.ids == ["007", "07", "7"]


def test_ids_from_many_chunks_keep_their_text(tmp_path, monkeypatch):
    import tsgate.io

    monkeypatch.setattr(tsgate.io, "CHUNK_ROWS", 25)
    monkeypatch.setattr(tsgate.io, "HEAD_ROWS", 10)
    series = load(write(tmp_path, panel_text(LEADING_ZEROS + ("NA",), quote=False)), id_col="store")
    assert series.ids == ["007", "07", "7", "NA"] and series.lengths == [40] * 4


def test_ids_that_look_like_numbers_only_in_a_later_chunk_keep_their_text(tmp_path, monkeypatch):
    import tsgate.io

    monkeypatch.setattr(tsgate.io, "CHUNK_ROWS", 25)  # rows 41-80 are 007 alone: the parser would make it 7
    monkeypatch.setattr(tsgate.io, "HEAD_ROWS", 10)
    series = load(write(tmp_path, panel_text(("a", "007", "7"), quote=False)), id_col="store")
    assert series.ids == ["007", "7", "a"] and series.lengths == [40] * 3


@pytest.mark.parametrize("cell", ["", "   ", '""'])
def test_an_empty_id_is_refused_with_its_row(tmp_path, cell):
    text = panel_text(("a",), quote=False) + f"{cell},2023-03-01,1\n"
    with pytest.raises(DataError, match=r"^id column 'store' is empty at data row 41: every row needs an id") as caught:
        load(write(tmp_path, text), id_col="store")
    assert "\n" not in str(caught.value)


def test_an_empty_id_is_one_line_from_the_command(tmp_path):
    data = write(tmp_path, panel_text(("007",), quote=False) + ",2023-03-01,1\n")
    assert_one_line_error(invoke("train", data, "--id-col", "store", *TINY), pattern="id column 'store' is empty at data row 41")


def test_other_columns_still_read_na_as_missing(tmp_path):
    text = "store,date,sales\n" + "".join(f"NA,2023-01-{d:02d},{'NA' if d == 3 else d}\n" for d in range(1, 8))
    frame = read_csv(write(tmp_path, text), labels=("store",))
    assert frame["store"].astype(str).tolist() == ["NA"] * 7 and np.isnan(frame["sales"].iloc[2])


# ---- through the commands --------------------------------------------------------------------------


def test_leading_zeros_train_as_three_series(zeros_model):
    _, summary = zeros_model
    assert summary["series"] == 3 and summary["series_skipped"] == 0


def test_the_model_file_keeps_the_ids_as_text(zeros_model):
    model, _ = zeros_model
    assert Forecaster.load(model).ids_ == ["007", "07", "7"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_forecast_gives_the_ids_back_exactly(zeros_model, fmt):
    model, _ = zeros_model
    result = invoke("forecast", model, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    rows = forecast_rows(result.stdout) if fmt == "csv" else json.loads(result.stdout)
    assert [row["store"] for row in rows] == ["007"] * 4 + ["07"] * 4 + ["7"] * 4


def test_forecast_on_new_data_matches_ids_exactly(zeros_model, tmp_path):
    model, _ = zeros_model
    data = write(tmp_path, panel_text(("007", "0007"), n=30, quote=False))
    result = invoke("forecast", model, data, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert {row["store"] for row in forecast_rows(result.stdout)} == {"007"}
    assert "series '0007' was not in the training data" in result.stderr


def test_forecast_on_new_data_with_only_an_unknown_id_is_refused(zeros_model, tmp_path):
    model, _ = zeros_model
    data = write(tmp_path, panel_text(("0007",), n=30, quote=False))
    assert_one_line_error(invoke("forecast", model, data), pattern="series '0007' was not in the training data")


def test_inspect_reads_new_data_with_the_same_ids(zeros_model, tmp_path):
    model, _ = zeros_model
    data = write(tmp_path, panel_text(("07",), n=30, quote=False))
    result = invoke("inspect", model, data, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["windows"] > 0


def test_skipped_ids_stay_text_in_the_summary_and_the_model_file(tmp_path):
    text = panel_text(("007", "08"), quote=False) + panel_text(("7",), n=5, quote=False).split("\n", 1)[1]
    model = tmp_path / "m.tsgate"
    result = invoke("train", write(tmp_path, text), "--id-col", "store", "-o", model, "--format", "json", *TINY)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["series_fallback"] == ["7"]  # 5 points: too short to learn from
    loaded = Forecaster.load(model)
    assert loaded.ids_ == ["007", "08", "7"] and loaded.fallback_.tolist() == [False, False, True]


def test_whole_number_ids_come_out_as_text_in_text_order(tmp_path):
    model = tmp_path / "m.tsgate"
    data = write(tmp_path, panel_text(("1", "2", "10"), quote=False))
    assert invoke("train", data, "--id-col", "store", "-o", model, *TINY).exit_code == 0
    result = invoke("forecast", model, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [row["store"] for row in json.loads(result.stdout)][::4] == ["1", "10", "2"]


def test_odd_ids_round_trip_through_a_forecast_csv(odd_model, tmp_path):
    model, _ = odd_model
    out = tmp_path / "forecast.csv"
    result = invoke("forecast", model, "-o", out)
    assert result.exit_code == 0, result.stderr
    again = read_csv(str(out), labels=("store",))
    assert sorted(set(again["store"].astype(str))) == sorted(LEADING_ZEROS + ODD)
    assert {row["store"] for row in forecast_rows(out.read_text(encoding="utf-8"))} == set(LEADING_ZEROS + ODD)


def test_a_forecast_csv_of_plain_ids_quotes_nothing_new(zeros_model):
    model, _ = zeros_model
    result = invoke("forecast", model, "--format", "csv")
    assert result.stdout.splitlines()[1].startswith("007,") and '"' not in result.stdout


def test_odd_ids_come_back_exactly_in_json(odd_model):
    model, _ = odd_model
    result = invoke("forecast", model, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert sorted({row["store"] for row in json.loads(result.stdout)}) == sorted(LEADING_ZEROS + ODD)


def test_odd_ids_forecast_from_new_data_with_the_same_ids(odd_model):
    model, data = odd_model
    result = invoke("forecast", model, data, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert sorted({row["store"] for row in json.loads(result.stdout)}) == sorted(LEADING_ZEROS + ODD)


def test_odd_ids_are_shown_as_written_in_a_table(odd_model):
    model, _ = odd_model
    result = invoke("forecast", model, "--format", "table")
    assert result.exit_code == 0, result.stderr
    for key in ("[b]z", ":smile:", "cafe\u0301", "NA", "1e3"):
        assert f" {key} " in result.stdout, key


def test_odd_ids_keep_a_markdown_table_whole(odd_model):
    model, _ = odd_model
    result = invoke("forecast", model, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert {line.count("|") - line.count("\\|") for line in lines} == {lines[0].count("|")}
    assert any(line.startswith("| p\\|q |") for line in lines) and any(line.startswith("| [b]z |") for line in lines)


def test_a_note_naming_an_id_with_markup_shows_it_as_written(tmp_path):
    text = panel_text(("a",), quote=False) + panel_text(("[/]", ":smile:"), n=5, quote=False).split("\n", 1)[1]
    result = invoke("train", write(tmp_path, text), "--id-col", "store", "-o", tmp_path / "m.tsgate",
                    *[option for option in TINY if option != "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert "too short to learn from (':smile:', '[/]')" in result.stderr


# ---- labels that are not ids -----------------------------------------------------------------------


def test_a_number_like_column_name_stays_as_written(tmp_path):
    text = "".join(f"2023-01-{d:02d},{d % 7 + 0.5}\n" for d in range(1, 31))
    model = tmp_path / "m.tsgate"
    data = write(tmp_path, "date,007\n" + text)
    assert invoke("train", data, "--target", "007", "-o", model, *TINY).exit_code == 0
    result = invoke("forecast", model, data, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "date,007"


def test_a_column_named_like_a_repeat_is_its_own_column(tmp_path):
    text = "date,v,v.1\n" + "".join(f"2023-01-{d:02d},{d},{2 * d}\n" for d in range(1, 8))
    series = load(write(tmp_path, text), target=("v.1",))
    assert series.targets == ["v.1"] and series.flat[:, 0].tolist() == [2.0 * d for d in range(1, 8)]


@pytest.mark.parametrize("header", ["date,v,v", "date,v, v ", "date,v,\"v \""])
def test_a_name_the_header_holds_twice_is_refused(tmp_path, header):
    text = header + "\n" + "".join(f"2023-01-{d:02d},{d},{2 * d}\n" for d in range(1, 8))
    with pytest.raises(DataError, match="^column 'v' appears more than once in the header: rename one of them$"):
        load(write(tmp_path, text))


def test_ids_from_standard_input_keep_their_text(tmp_path):
    result = invoke("train", "-", "--id-col", "store", "-o", tmp_path / "m.tsgate", "--format", "json", *TINY,
                    input=panel_text(LEADING_ZEROS, quote=False))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["series"] == 3
    assert Forecaster.load(tmp_path / "m.tsgate").ids_ == ["007", "07", "7"]
