"""Pictures: sizes, formats, non-blank content, early path checks, atomic writes."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from helpers.cli import invoke

from tsgate import plots
from tsgate.errors import OptionError, OutputError
from tsgate.io import write_atomic

DPI = 120


def training_history(members=2, checks=8):
    return [[{"step": 100 * s, "train_loss": None if s == 0 else 2.0 / (s + 1), "val_loss": 2.5 / (s + 1) + 0.05 * k}
             for s in range(checks)] for k in range(members)]


def forecast_series(count=2, n=48, horizon=12):
    history, forecast = [], []
    for i in range(count):
        times = pd.date_range("2024-01-01", periods=n, freq="h")
        values = 10 + np.sin(np.arange(n) / 4) + i
        ahead = pd.date_range(times[-1] + pd.Timedelta("1h"), periods=horizon, freq="h")
        mean = 10 + np.sin(np.arange(n, n + horizon) / 4) + i
        history.append((f"synthetic {i}", times, values))
        forecast.append((f"synthetic {i}", ahead, mean, {80: (mean - 0.5, mean + 0.5), 95: (mean - 1, mean + 1)}))
    return history, forecast


def comparison_rows():
    return [
        {"model": "gru", "kind": "recurrent", "mase": 0.8, "mase_std": 0.05, "train_seconds": 12.0, "parameters": 1500},
        {"model": "lstm", "kind": "recurrent", "mase": 0.75, "mase_std": 0.0, "train_seconds": 20.0, "parameters": 2000},
        {"model": "naive", "kind": "baseline", "mase": 1.0, "mase_std": 0.0, "train_seconds": None, "parameters": None},
    ]


def inspection_report(lookback=24, layers=2):
    rng = np.random.default_rng(0)
    gates = ("input", "forget", "cell", "output")
    return {
        "backbone": "lstm",
        "lookback": lookback,
        "layers": [{"layer": k, "gates": {g: {"mean_per_step": rng.random(lookback).tolist(),
                                              "std_per_step": [0.1] * lookback, "mean": 0.5,
                                              "saturated": None if g == "cell" else 0.1} for g in gates}}
                   for k in range(layers)],
        "memory": {"profile": (np.exp(-np.arange(lookback)[::-1] / 5) / 5).tolist(), "effective": 9, "share": 0.9},
    }


def save(figure, path):
    """What a command does with a picture: render it into memory, then write the bytes."""
    write_atomic(path, plots.picture(figure, path))


# Each picture: (draw to a path, expected size in inches).
PICTURES = {
    "training": (lambda p: save(plots.training_figure(training_history()), p), (10, 5)),
    "forecast": (lambda p: save(plots.forecast_figure(*forecast_series(), target="load"), p), (10, 5)),
    "comparison": (lambda p: save(plots.comparison_figure(comparison_rows()), p), (10, 5)),
    "inspection": (lambda p: save(plots.inspection_figure(inspection_report(layers=2)), p), (10, 2 * 2.2 + 3)),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_png_has_the_figure_size_and_content(tmp_path, name):
    import matplotlib.image

    draw, (width, height) = PICTURES[name]
    path = tmp_path / f"{name}.png"
    draw(path)
    pixels = matplotlib.image.imread(path)
    assert abs(pixels.shape[1] - width * DPI) <= 2 and abs(pixels.shape[0] - height * DPI) <= 2
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20  # lines, bands, text: far more than a blank canvas
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_svg_and_pdf_by_suffix(tmp_path, name):
    draw, _ = PICTURES[name]
    draw(tmp_path / "picture.svg")
    draw(tmp_path / "picture.pdf")
    svg = (tmp_path / "picture.svg").read_bytes()
    assert svg.lstrip().startswith((b"<?xml", b"<svg")) and b"<svg" in svg[:1000]
    assert (tmp_path / "picture.pdf").read_bytes().startswith(b"%PDF")


def test_same_data_same_file(tmp_path):
    for suffix in (".svg", ".pdf", ".png"):
        save(plots.comparison_figure(comparison_rows()), tmp_path / f"a{suffix}")
        save(plots.comparison_figure(comparison_rows()), tmp_path / f"b{suffix}")
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


@pytest.mark.parametrize("name", ["picture.jpg", "picture", "picture.png.txt"])
def test_bad_suffix_is_an_option_error_naming_png(tmp_path, name):
    with pytest.raises(OptionError, match=r"\.png"):
        plots.check_plot_path(tmp_path / name)


def test_upper_case_suffix_is_accepted(tmp_path):
    assert plots.check_plot_path(tmp_path / "a.PNG") == tmp_path / "a.PNG"


def test_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        plots.check_plot_path(tmp_path / "absent" / "a.png")


@pytest.mark.parametrize("command", ["train", "forecast", "inspect", "compare"])
def test_path_errors_come_before_any_drawing(tmp_path, monkeypatch, command, tiny_sine_csv, tiny_model):
    import matplotlib.figure

    def refuse(*args, **kwargs):
        raise AssertionError("drew a figure before checking the path")

    monkeypatch.setattr(matplotlib.figure.Figure, "__init__", refuse)
    reads = {"train": [tiny_sine_csv, "-o", tmp_path / "m.tsgate", *TINY], "forecast": [tiny_model],
             "inspect": [tiny_model], "compare": [tiny_sine_csv, "--models", "rnn", *TINY]}[command]
    for picture, message in ((tmp_path / "a.jpg", "name the picture with"), (tmp_path / "absent" / "a.png", "does not exist")):
        result = invoke(command, *reads, "--plot", picture)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert sorted(os.listdir(tmp_path)) == []  # nothing trained, nothing written


def test_failure_mid_render_leaves_no_file(tmp_path, monkeypatch):
    import matplotlib.figure

    def broken(self, *args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        save(plots.training_figure(training_history()), tmp_path / "new.png")
    assert os.listdir(tmp_path) == []
    existing = tmp_path / "old.png"
    existing.write_bytes(b"previous picture")
    with pytest.raises(RuntimeError):
        save(plots.comparison_figure(comparison_rows()), existing)
    assert os.listdir(tmp_path) == ["old.png"]
    assert existing.read_bytes() == b"previous picture"


def test_forecast_draws_at_most_max_panels_and_says_how_many_more():
    fig = plots.forecast_figure(*forecast_series(9), target="load")
    assert len(fig.axes) == 6
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "3 more" in texts
    assert "synthetic 5" in texts and "synthetic 6" not in texts


def test_forecast_all_panels_without_note_when_they_fit():
    fig = plots.forecast_figure(*forecast_series(3), target="load", max_panels=6)
    assert len(fig.axes) == 3  # the fourth cell of the 2 x 2 grid is removed
    texts = " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
    assert "more" not in texts


def test_forecast_shows_ids_and_column_names_as_written_not_as_mathtext():
    import io

    history, forecast = forecast_series(2)
    label = "series '$\\nosuch$'"
    history = [(label, *item[1:]) for item in history]
    forecast = [(label, *item[1:]) for item in forecast]
    fig = plots.forecast_figure(history, forecast, target="cost $x_$")
    fig.savefig(io.BytesIO(), format="png")  # mathtext would refuse both
    assert fig.axes[0].get_title() == label and fig.axes[0].get_ylabel() == "cost $x_$"


def test_forecast_bands_wider_level_lighter():
    fig = plots.forecast_figure(*forecast_series(1), target="load")
    bands = {c.get_label(): c.get_alpha() for c in fig.axes[0].collections if "interval" in c.get_label()}
    assert bands["95% interval"] < bands["80% interval"]


def test_forecast_x_axis_shows_dates():
    from matplotlib.dates import ConciseDateFormatter

    fig = plots.forecast_figure(*forecast_series(1), target="load")
    assert isinstance(fig.axes[0].xaxis.get_major_formatter(), ConciseDateFormatter)


def test_training_marks_each_members_best_check_and_uses_log_scale_for_wide_ranges():
    history = training_history(members=3)
    fig = plots.training_figure(history)
    ax = fig.axes[0]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o" and len(line.get_xdata()) == 1]
    assert len(markers) == 3
    best = {(line.get_xdata()[0], line.get_ydata()[0]) for line in markers}
    expected = {min(((c["step"], c["val_loss"]) for c in checks), key=lambda p: p[1]) for checks in history}
    assert best == expected
    assert ax.get_yscale() == "log"


def test_training_linear_scale_for_narrow_ranges():
    history = [[{"step": s, "train_loss": 1.0 + 0.1 * s, "val_loss": 1.5 - 0.1 * s} for s in range(4)]]
    assert plots.training_figure(history).axes[0].get_yscale() == "linear"


def test_comparison_baselines_are_dashed_lines_and_axes_are_log():
    fig = plots.comparison_figure(comparison_rows())
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert [list(line.get_ydata()) for line in dashed] == [[1.0, 1.0]]
        labels = {t.get_text() for t in ax.texts}
        assert {"gru", "lstm"} <= labels and " naive" in labels


def test_inspection_labels_steps_back_and_marks_effective_memory():
    fig = plots.inspection_figure(inspection_report(lookback=24, layers=2))
    bars = fig.axes[2]
    ticks = [t.get_text() for t in bars.get_xticklabels()]
    assert ticks[0] == "-24" and ticks[-1] == "-1"
    _, labels = bars.get_legend_handles_labels()
    assert "90% of the signal: last 9 steps" in labels
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)


def test_empty_inputs_still_draw(tmp_path):
    save(plots.training_figure([]), tmp_path / "t.png")
    save(plots.forecast_figure([], [], target="load"), tmp_path / "f.png")
    save(plots.comparison_figure([]), tmp_path / "c.png")
    assert sorted(os.listdir(tmp_path)) == ["c.png", "f.png", "t.png"]


def test_importing_tsgate_does_not_import_matplotlib():
    code = "import tsgate, tsgate.plots, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
