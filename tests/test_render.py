"""render and wording on hand-made results: formats, ISO timestamps, empty cells, tables, sparklines,
compare's verdict and inspect's reading."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tsgate import gates, render, wording
from tsgate.wording import calibration_clause, verdict

# ---- formats ---------------------------------------------------------------------------------------


def test_auto_format_follows_the_suffix_then_the_terminal(monkeypatch):
    assert render.resolve_format("json", "out.csv") == "json"  # an explicit format wins
    assert [render.resolve_format("auto", name) for name in ("a.JSON", "a.md", "a.csv", "a.txt", "a.out")] == \
        ["json", "markdown", "csv", "table", "csv"]
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert render.resolve_format("auto", None) == "table"
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert render.resolve_format("auto", None) == "csv"


def test_json_uses_the_document_when_given_and_refuses_unknown_formats():
    frame = pd.DataFrame({"a": [1.5, np.nan]})
    assert json.loads(render.frame_text(frame, "json")) == [{"a": 1.5}, {"a": None}]
    assert json.loads(render.frame_text(frame, "json", {"rows": 2})) == {"rows": 2}
    with pytest.raises(ValueError, match="no text rendering"):
        render.frame_text(frame, "yaml")


def test_markdown_shows_none_as_a_dash_and_floats_to_six_digits():
    frame = pd.DataFrame({"model": ["gru", "naive"], "mase": [0.123456789, None], "rank": [1, 2]})
    assert render.to_markdown(frame) == ("| model | mase | rank |\n|---|---|---|\n"
                                         "| gru | 0.123457 | 1 |\n| naive | - | 2 |\n")


# ---- CSV ---------------------------------------------------------------------------------------------


def test_csv_writes_dates_alone_when_no_row_has_a_time_of_day():
    frame = pd.DataFrame({"date": pd.date_range("2024-01-30", periods=3, freq="D"), "y": [1.0, 2.5, 3.0]})
    assert render.to_csv(frame) == "date,y\n2024-01-30,1.0\n2024-01-31,2.5\n2024-02-01,3.0\n"
    assert frame["date"].dtype.kind == "M" and frame["y"].dtype == np.float64  # the caller's frame is left as it was


def test_csv_writes_iso_timestamps_with_their_zone():
    stamps = pd.date_range("2024-03-31 01:00", periods=2, freq="h", tz="Europe/Berlin")  # across the clock change
    frame = pd.DataFrame({"time": stamps, "y": [1.0, 2.0]})
    assert render.to_csv(frame) == "time,y\n2024-03-31T01:00:00+01:00,1.0\n2024-03-31T03:00:00+02:00,2.0\n"
    naive = pd.DataFrame({"time": pd.date_range("2024-01-01 22:00", periods=2, freq="h")})
    assert render.to_csv(naive) == "time\n2024-01-01T22:00:00\n2024-01-01T23:00:00\n"


@pytest.mark.parametrize("stamps", [
    pd.date_range("2024-01-01", periods=3, freq="250ms"),  # fractions of a second
    pd.date_range("1850-01-01", periods=3, freq="h", tz="Europe/Amsterdam"),  # an offset of 19 min 32 s
    pd.date_range("2024-10-27", periods=30, freq="30min", tz="America/St_Johns"),  # -02:30 and -03:30
    pd.DatetimeIndex(["2024-01-01 01:00", None]),  # NaT
])
def test_iso_text_is_each_stamps_isoformat(stamps):
    column = pd.Series(stamps)
    assert list(render.iso_column(column)) == [stamp.isoformat() for stamp in column]


def test_csv_leaves_none_nan_and_infinity_empty_and_keeps_counts_whole():
    rows = [{"model": "gru", "rank": 1, "parameters": 100, "train_seconds": 1.25, "dm_p": None, "note": None},
            {"model": "naive", "rank": 2, "parameters": None, "train_seconds": None, "dm_p": 0.001, "note": "a, \"b\""}]
    frame = render.comparison_frame(rows)
    frame["mase"] = [np.inf, np.nan]
    assert render.to_csv(frame) == ('model,rank,parameters,train_seconds,dm_p,note,mase\n'
                                    'gru,1,100,1.25,,,\n'
                                    'naive,2,,,0.001,"a, ""b""",\n')


def test_csv_floats_are_their_repr_and_float32_is_widened():
    frame = pd.DataFrame({"x": [0.1, 1e16, 1e-05, 100.0, -0.0], "y": np.array([0.1, 1, 2, 3, 4], dtype=np.float32)})
    lines = render.to_csv(frame).splitlines()
    assert lines[1:] == ["0.1,0.10000000149011612", "1e+16,1.0", "1e-05,2.0", "100.0,3.0", "-0.0,4.0"]


def test_csv_of_mixed_objects_goes_cell_by_cell():
    frame = pd.DataFrame({"o": np.array([1, None, pd.Timestamp("2024-01-02 03:00")], dtype=object),
                          "c": pd.Categorical([1, 2, None])})
    assert render.to_csv(frame) == "o,c\n1,1\n,2\n2024-01-02T03:00:00,\n"


def test_csv_of_no_rows_is_the_header_alone():
    assert render.to_csv(pd.DataFrame({"a": pd.Series([], dtype=float), "b": []})) == "a,b\n"


def test_csv_quotes_text_when_a_cell_begins_or_ends_with_a_space():
    for key in (" 7", "7 ", "\t7"):
        frame = pd.DataFrame({"id": [key, "8"], "v": [1.5, np.nan]})
        assert render.to_csv(frame) == f'"id","v"\n"{key}",1.5\n"8",""\n', repr(key)
    categorical = pd.DataFrame({"id": pd.Categorical([" 7", "8"])})
    assert render.to_csv(categorical) == '"id"\n" 7"\n"8"\n'


def test_csv_of_text_without_outer_spaces_quotes_only_what_needs_it():
    frame = pd.DataFrame({"id": ["a b", "a,b", "007", "NA"], "v": [1.0, 2.0, 3.0, 4.0]})
    assert render.to_csv(frame) == 'id,v\na b,1.0\n"a,b",2.0\n007,3.0\nNA,4.0\n'


def test_markdown_escapes_a_pipe_inside_a_cell():
    text = render.to_markdown(pd.DataFrame({"a|b": ["p|q"], "v": [1.0]}))
    assert text == "| a\\|b | v |\n|---|---|\n| p\\|q | 1 |\n"


def test_a_table_shows_markup_and_emoji_codes_as_written():
    frame = pd.DataFrame({"[b]id": ["[b]7", "a[/]", ":smile:"], "v": [1.0, 2.0, 3.0]})
    text = render.table_text(frame, "t", footer="series '[/]': :smile:", width=80)
    assert "[b]id" in text and "[b]7" in text and "a[/]" in text and ":smile:" in text
    assert text.splitlines()[-1] == "series '[/]': :smile:"


def test_a_note_is_text_not_markup():
    assert render.note_line("series '[/]' and :smile:").plain == "note: series '[/]' and :smile:"


# ---- views -------------------------------------------------------------------------------------------


def comparison_rows():
    return [
        {"model": "gru", "kind": "recurrent", "rank": 1, "parameters": 100, "hidden": 8, "train_seconds": 1.0, "seconds_per_step": 0.002,
         "steps_run": 500.0, "forecast_ms": 0.5, "effective_memory": 7.0, "dm_p": None,
         **{f"{m}": 0.5 for m in ("mae", "rmse", "smape", "mase")}, **{f"{m}_std": 0.01 for m in ("mae", "rmse", "smape", "mase")}},
        {"model": "naive", "kind": "baseline", "rank": 2, "parameters": None, "hidden": None, "train_seconds": None, "seconds_per_step": None,
         "steps_run": None, "forecast_ms": None, "effective_memory": None, "dm_p": 0.001,
         **{f"{m}": 1.0 for m in ("mae", "rmse", "smape", "mase")}, **{f"{m}_std": 0.0 for m in ("mae", "rmse", "smape", "mase")}},
    ]


def test_comparison_view_puts_spread_in_the_cell_and_dashes_where_nothing_applies():
    view = render.comparison_view(comparison_rows())
    gru, naive = view.to_dict(orient="records")
    assert gru["MASE"] == "0.5 ± 0.01" and gru["ms/step"] == "2" and gru["params"] == "100"
    assert naive["MASE"] == "1" and naive["params"] == "-" and naive["train s"] == "-" and naive["DM p"] == "0.001"


def test_comparison_document_has_the_documented_keys():
    comparison = SimpleNamespace(rows=[{"model": "gru"}], settings={"seeds": 1})
    document = render.comparison_document(comparison, "gru forecasts best.")
    assert set(document) == {"rows", "settings", "versions", "verdict"}
    assert set(document["versions"]) == {"tsgate", "torch", "python"} and document["verdict"] == "gru forecasts best."


def test_forecast_view_joins_each_interval_into_one_cell():
    frame = pd.DataFrame({"load": [1.0], "load_lo_80": [0.5], "load_hi_80": [1.5]})
    view = render.forecast_view(frame, ["load"], (80.0,))
    assert list(view.columns) == ["load", "load 80%"] and view.iloc[0, 1] == "0.5 – 1.5"


def test_gate_frame_has_a_row_per_layer_and_gate():
    report = {"layers": [{"layer": 1, "gates": {"update": {"mean": 0.8, "std": 0.1, "saturated": 0.2},
                                                "hidden": {"mean": 0.0, "std": 0.5, "saturated": 0.1}}}]}
    frame = render.gate_frame(report)
    assert frame.to_dict(orient="list") == {"layer": [1, 1], "gate": ["update", "hidden"], "mean": [0.8, 0.0],
                                            "std": [0.1, 0.5], "saturated": [0.2, 0.1]}


def test_summary_table_shows_a_path_with_brackets_as_written():
    from rich.console import Console

    summary = {key: 1.0 for key, _ in render.SUMMARY_LABELS}
    summary.update(backbone="gru", lookbacks=[12], model_file="runs/[b]model[/].tsgate")
    console = Console(width=200)
    with console.capture() as captured:
        console.print(render.summary_table(summary))
    assert "runs/[b]model[/].tsgate" in captured.get()


def test_summary_table_lists_every_figure():
    from rich.console import Console

    summary = {key: 1.23456 for key, _ in render.SUMMARY_LABELS}
    summary.update(backbone="gru", lookbacks=[12, 24], skipped_ids=[], backbone_val_loss={"gru": 0.5, "rnn": 0.75})
    console = Console(width=200)
    with console.capture() as captured:
        console.print(render.summary_table(summary))
    lines = [" ".join(line.split()) for line in captured.get().splitlines()]
    assert lines[0] == "trained gru" and "validation loss per backbone gru 0.5, rnn 0.75" in lines
    assert "their lookbacks 12, 24" in lines and "training time (s) 1.235" in lines
    assert len(lines) == 2 + len(render.SUMMARY_LABELS)


# ---- sparklines --------------------------------------------------------------------------------------


def test_sparkline_length_and_extremes():
    history = np.sin(np.arange(100) / 5)
    forecast = np.array([0.0, 0.5, 0.2])
    line = render.sparkline(history, forecast, width=24)
    assert len(line) == 24 + 1 + 3 and line[24] == "│"
    short = render.sparkline(np.array([1.0, 5.0, 3.0]), np.array([2.0]), width=24)
    assert len(short) == 3 + 1 + 1
    assert short[1] == "█" and short[0] == "▁"


def test_sparkline_constant_is_flat():
    line = render.sparkline(np.full(30, 4.2), np.full(5, 4.2), width=10)
    assert len(set(line.replace("│", ""))) == 1


def test_sparkline_forecast_above_history_ends_in_full_block():
    line = render.sparkline(np.linspace(0, 1, 50), np.array([1.5, 2.0]), width=12)
    assert line.endswith("█") and "█" not in line.split("│")[0]


def test_sparkline_scales_history_and_forecast_together():
    assert render.sparkline(np.array([0.0, 7.0]), np.array([3.5]), width=5) == "▁█│▅"


def test_sparklines_show_the_first_series_and_count_the_rest():
    prediction = SimpleNamespace(ids=["c", "a", "b"], values=np.ones((3, 2, 1)))
    recent = np.arange(3 * 4, dtype=float).reshape(3, 4, 1)
    lines = render.sparklines(prediction, recent, most=2).splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["series 'c'", "series 'a'"]
    assert lines[2] == "... and 1 more series"


# ---- compare's verdict ---------------------------------------------------------------------------------


def test_verdict_is_computed_from_the_rows():
    rows = [
        {"model": "gru", "kind": "recurrent", "mase": 0.5, "dm_p": None, "parameters": 100, "train_seconds": 1.0},
        {"model": "lstm", "kind": "recurrent", "mase": 0.52, "dm_p": 0.4, "parameters": 130, "train_seconds": 2.0},
        {"model": "naive", "kind": "baseline", "mase": 1.0, "dm_p": 0.001, "parameters": None, "train_seconds": None},
    ]
    text = verdict(rows)
    assert text.startswith("gru forecasts best (MASE 0.5)")
    assert "lstm is within noise of it (DM p = 0.4)" in text and "1.3x the parameters" in text and "2x the training time" in text
    assert "50% better than the best baseline, naive" in text
    rows[1]["dm_p"] = 0.001
    assert "lstm is worse beyond noise" in verdict(rows)


def test_verdict_when_a_baseline_wins_names_the_best_recurrent_model():
    rows = [
        {"model": "ridge", "kind": "baseline", "mase": 0.4, "dm_p": None, "parameters": 300, "train_seconds": 0.01},
        {"model": "naive", "kind": "baseline", "mase": 0.9, "dm_p": 0.01, "parameters": None, "train_seconds": None},
        {"model": "gru", "kind": "recurrent", "mase": 0.95, "dm_p": 0.2, "parameters": 100, "train_seconds": 1.0},
    ]
    text = verdict(rows)
    assert text.startswith("ridge forecasts best (MASE 0.4); no recurrent backbone beats this baseline here")
    assert "the best, gru (MASE 0.95), is within noise of it (DM p = 0.2)." in text


def test_the_verdict_names_rows_whose_coverage_is_off_beyond_noise():
    rows = [{"model": "gru", "kind": "recurrent", "coverage_95": 0.5},
            {"model": "naive", "kind": "baseline", "coverage_95": 0.95},
            {"model": "ridge", "kind": "baseline", "coverage_95": 0.90}]
    clause = calibration_clause(rows, 95.0, test_points=24, seeds=1)
    assert "gru (covers 50% of 24 test points)" in clause
    assert "naive" not in clause and "ridge" not in clause  # 0.90 is within 2 standard errors of 24 points
    assert calibration_clause(rows[1:], 95.0, test_points=24, seeds=1) == ""


def test_calibration_counts_every_seed_of_a_network():
    rows = [{"model": "gru", "kind": "recurrent", "coverage_95": 0.87}]
    assert calibration_clause(rows, 95.0, test_points=24, seeds=1) == ""  # 0.08 off: within 2 standard errors of 24 points (0.089)
    assert "gru (covers 87% of 72 test points)" in calibration_clause(rows, 95.0, test_points=24, seeds=3)


def test_cost_clause_only_between_two_networks():
    gru = {"kind": "recurrent", "parameters": 100, "train_seconds": 2.0}
    lstm = {"kind": "recurrent", "parameters": 130, "train_seconds": None}
    assert wording.cost_clause(gru, lstm) == ", at 1.3x the parameters"
    assert wording.cost_clause(gru, {**lstm, "kind": "baseline"}) == ""
    assert wording.cost_clause(gru, {**lstm, "parameters": None}) == ""


def test_the_verdict_of_a_comparison_reads_its_settings():
    rows = [{"model": "gru", "kind": "recurrent", "mase": 0.5, "dm_p": None, "coverage_95": 0.2}]
    comparison = SimpleNamespace(rows=rows, settings={"levels": [95.0], "seeds": 2}, test_points=10)
    assert wording.comparison_verdict(comparison) == ("gru forecasts best (MASE 0.5). Badly calibrated 95% intervals: "
                                                      "gru (covers 20% of 20 test points).")


# ---- inspect's reading -----------------------------------------------------------------------------------


def report_of(backbone, gate_stats, profile):
    profile = np.asarray(profile, dtype=float)
    return {"backbone": backbone, "lookback": len(profile), "windows": 8, "layers": [{"layer": 1, "gates": gate_stats}],
            "memory": {"profile": profile.tolist(), "effective": gates.effective_memory(profile), "share": 0.9}}


def test_reading_computes_memory_from_the_mean_gate():
    layers = {"update": {"mean": 0.8, "saturated": 0.1}, "reset": {"mean": 0.3, "saturated": 0.4}}
    sentences = wording.reading(report_of("gru", layers, [0.0, 0.05, 0.15, 0.8]))
    text = " ".join(sentences)
    assert "keeps 80% of the state per step (mean z = 0.80)" in text
    assert "memory of about 5.0 steps" in text
    assert "the last 2 of its 4 steps" in text
    assert "reset gate, with 40%" in text


def test_reading_of_an_lstm_and_a_gate_that_never_saturates():
    stats = {"input": {"mean": 0.5, "saturated": 0.001}, "forget": {"mean": 0.99, "saturated": 0.0},
             "output": {"mean": 0.25, "saturated": 0.004}}
    text = " ".join(wording.reading(report_of("lstm", stats, [0.1, 0.2, 0.3, 0.4])))
    assert "the forget gate keeps 99% of the cell per step (mean f = 0.99)" in text
    assert "memory of about 100.0 steps, longer than the lookback of 4" in text
    assert "no gate saturates" in text and "the step it leans on most is 1 back (40% of the signal)" in text


def test_reading_of_an_rnn_whose_forecast_ignores_its_window():
    text = " ".join(wording.reading(report_of("rnn", {"hidden": {"mean": 0.0, "saturated": 0.25}}, [0.0, 0.0, 0.0])))
    assert "a plain RNN has no gate" in text and "25% of its hidden values are saturated (|h| > 0.95)" in text
    assert "does not depend on any of its 3 input steps" in text


def test_memory_phrase_for_a_gate_that_keeps_everything():
    assert wording.memory_phrase(1.0, 12) == "memory longer than any window"
    assert wording.memory_phrase(0.5, 12) == "memory of about 2.0 steps"


def test_inspection_footer_leads_with_the_effective_memory():
    report = report_of("rnn", {"hidden": {"mean": 0.0, "saturated": 0.0}}, [0.0, 0.5, 0.5])
    footer = wording.inspection_footer(report, ["one", "two"]).splitlines()
    assert footer == [f"effective memory: the last {report['memory']['effective']} of 3 steps carry 90% of the "
                      "forecast's dependence on its window", "one", "two"]


# ---- notes -------------------------------------------------------------------------------------------------


def test_panel_notes_name_the_first_series_left_out_and_count_the_rest():
    skipped = [(f"s{k}", "is too short") for k in range(6)]
    (left_out, constant) = wording.panel_notes(skipped, used=10, constant=3)
    assert left_out == ("left out 6 of 16 series: series 's0' is too short; also 's1', 's2', 's3' and 2 more "
                        "(--strict refuses them instead)")
    assert constant.startswith("3 series are constant")
    assert wording.panel_notes([], used=10) == []


def test_data_notes_say_when_the_time_column_was_converted_to_utc():
    assert wording.data_notes(SimpleNamespace(time_col="when", to_utc=False)) == []
    assert wording.data_notes(SimpleNamespace(time_col="when", to_utc=True)) == [
        "time column 'when' mixes UTC offsets: converted to UTC"]


def test_comparison_notes_say_when_seasonal_naive_fell_back_to_naive():
    assert wording.comparison_notes(SimpleNamespace(season_too_long=None)) == []
    assert wording.comparison_notes(SimpleNamespace(season_too_long=("h", 24, 20), settings={})) == [
        "the h season of 24 steps is as long as the shortest series (20 points): seasonal naive falls back to naive"]
    panel = SimpleNamespace(season_too_long=("h", 24, 20), settings={"lenient": True})  # a panel: per series
    assert wording.comparison_notes(panel) == [
        "the h season of 24 steps is as long as the median series (20 points): seasonal naive falls back to naive"]
