"""Issue 10 through the CLI: `inspect` in every format, --plot on every command, the effective
memory column of compare, and forecast's sparklines (real files, CliRunner)."""

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from helpers.cli import invoke

GATES = {"rnn": {"hidden"}, "gru": {"update", "reset", "candidate", "hidden"},
         "lstm": {"input", "forget", "cell_candidate", "output", "cell", "hidden"}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    from conftest import synthetic_sine

    data = folder / "sine.csv"
    synthetic_sine().to_csv(data, index=False)
    paths = {}
    for backbone in GATES:
        paths[backbone] = folder / f"{backbone}.tsgate"
        result = invoke("train", data, "-o", paths[backbone], "--model", backbone, "--ensemble", "1", *FAST)
        assert result.exit_code == 0, result.stderr
    return data, paths


def png_pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def assert_picture(path):
    pixels = png_pixels(path)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05  # not blank


@pytest.mark.parametrize("backbone", sorted(GATES))
def test_inspect_gives_json_with_a_memory_profile_and_every_gate(models, backbone):
    data, paths = models
    result = invoke("inspect", paths[backbone], data, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backbone"] == backbone and report["lookback"] == 12
    profile = report["memory"]["profile"]
    assert len(profile) == 12 and abs(sum(profile) - 1) < 1e-6 and min(profile) >= 0
    assert 1 <= report["memory"]["effective"] <= 12
    assert set(report["layers"][0]["gates"]) == GATES[backbone]
    for gate in report["layers"][0]["gates"].values():
        assert len(gate["mean_per_step"]) == 12 and len(gate["mean_per_unit"]) == 8  # --hidden 8
        assert abs(np.mean(gate["mean_per_unit"]) - gate["mean"]) < 1e-9  # the same values, averaged another way
    assert report["reading"] and any(str(report["memory"]["effective"]) in line for line in report["reading"])


def test_inspect_table_and_csv_summarise_each_gate(models):
    data, paths = models
    table = invoke("inspect", paths["gru"], data, "--format", "table")
    assert table.exit_code == 0, table.stderr
    assert "effective memory: the last" in table.stdout and "update" in table.stdout
    csv = invoke("inspect", paths["gru"], "--format", "csv")  # the training tail stored in the model
    frame = pd.read_csv(StringIO(csv.stdout))
    assert list(frame.columns) == ["layer", "gate", "mean", "std", "saturated"]
    assert set(frame["gate"]) == GATES["gru"]
    update = frame.set_index("gate").loc["update"]
    assert 0 < update["mean"] < 1 and 0 <= update["saturated"] <= 1


def test_every_command_draws_its_picture_and_keeps_stdout(models, tmp_path):
    data, paths = models
    pictures = {name: tmp_path / f"{name}.png" for name in ("train", "forecast", "compare", "inspect")}
    assert invoke("train", data, "-o", tmp_path / "m.tsgate", "--ensemble", "1", *FAST, "--plot", pictures["train"]).exit_code == 0
    plain = invoke("forecast", paths["gru"], data, "--level", "80", "--format", "csv")
    drawn = invoke("forecast", paths["gru"], data, "--level", "80", "--format", "csv", "--plot", pictures["forecast"])
    assert drawn.exit_code == 0, drawn.stderr
    assert drawn.stdout == plain.stdout  # a picture changes nothing on stdout
    compared = invoke("compare", data, "--models", "rnn,gru", *FAST, "--format", "csv", "--plot", pictures["compare"])
    assert compared.exit_code == 0, compared.stderr
    assert invoke("inspect", paths["lstm"], data, "--plot", pictures["inspect"], "--format", "json").exit_code == 0
    for path in pictures.values():
        assert_picture(path)
    assert invoke("inspect", paths["gru"], "--plot", tmp_path / "gates.svg", "--format", "json").exit_code == 0
    assert (tmp_path / "gates.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_a_plot_that_cannot_be_written_stops_before_training(models, tmp_path):
    data, _ = models
    model = tmp_path / "m.tsgate"
    for bad in (tmp_path / "missing" / "t.png", tmp_path / "t.jpg"):
        result = invoke("train", data, "-o", model, *FAST, "--plot", bad)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
        assert not model.exists()  # refused before any training


def test_compare_reports_each_backbones_effective_memory(models):
    data, _ = models
    result = invoke("compare", data, "--models", "rnn,lstm", *FAST, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = pd.read_csv(StringIO(result.stdout)).set_index("model")
    for backbone in ("rnn", "lstm"):
        assert 1 <= rows.loc[backbone, "effective_memory"] <= 12
    assert np.isnan(rows.loc["naive", "effective_memory"])


def test_sparklines_show_history_then_forecast_and_stay_out_of_csv(models):
    from tsgate.forecaster import Forecaster
    from tsgate.prediction import recent_history
    from tsgate.render import sparklines

    data, paths = models
    model = Forecaster.load(paths["gru"])
    prediction = model.predict_array()
    lines = sparklines(prediction, recent_history(model, prediction)).splitlines()
    assert len(lines) == 1 and lines[0].startswith("the series: ") and "│" in lines[0]
    history, forecast = lines[0].split(": ", 1)[1].split("│")
    assert len(forecast) == 4 and set(history + forecast) <= set("▁▂▃▄▅▆▇█")
    csv = invoke("forecast", paths["gru"], "--format", "csv").stdout
    assert "│" not in csv and "▁" not in csv
