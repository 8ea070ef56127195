"""End to end through the CLI: real files, stdin, formats, exit codes, and a real shell pipeline."""

import json
import os
import subprocess
import sys
from io import StringIO

import pandas as pd
import pytest
from conftest import FAST, TINY, synthetic_sine
from helpers.cli import assert_one_line_error, invoke


def train(csv, model_path, *extra):
    result = invoke("train", csv, "-o", model_path, *FAST, *extra)
    assert result.exit_code == 0, result.stderr
    return result


def test_every_command_has_help_with_examples():
    for command in ("train", "forecast", "compare", "inspect"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "Examples" in result.stdout and f"tsgate {command}" in result.stdout


def test_version():
    from tsgate import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"tsgate {__version__}"


def test_train_then_forecast_csv_on_stdout(sine_csv, tmp_path):
    model_path = tmp_path / "m.tsgate"
    result = train(sine_csv, model_path)
    assert result.stdout == ""  # the model file is the output; people's text goes to stderr
    assert model_path.exists()
    forecast = invoke("forecast", model_path, sine_csv)
    assert forecast.exit_code == 0, forecast.stderr
    frame = pd.read_csv(StringIO(forecast.stdout), parse_dates=["timestamp"])
    last = synthetic_sine()["timestamp"].iloc[-1]
    assert list(frame.columns) == ["timestamp", "load"]
    assert list(frame["timestamp"]) == list(pd.date_range(last, periods=5, freq="h")[1:])


def test_train_from_stdin_equals_train_from_file(sine_csv, tmp_path):
    from_file, from_stdin = tmp_path / "file.tsgate", tmp_path / "stdin.tsgate"
    train(sine_csv, from_file)
    result = invoke("train", "-", "-o", from_stdin, *FAST, input=sine_csv.read_text())
    assert result.exit_code == 0, result.stderr
    assert from_file.read_bytes() == from_stdin.read_bytes()


def test_forecast_reads_stdin_and_writes_json(sine_csv, tmp_path):
    model_path = tmp_path / "m.tsgate"
    train(sine_csv, model_path)
    result = invoke("forecast", model_path, "-", "--format", "json", input=sine_csv.read_text())
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and set(rows[0]) == {"timestamp", "load"}
    assert rows[0]["timestamp"].startswith("2024-01-11T00:00")


def test_forecast_without_data_continues_the_training_data(sine_csv, tmp_path):
    model_path = tmp_path / "m.tsgate"
    train(sine_csv, model_path)
    with_data = invoke("forecast", model_path, sine_csv, "-f", "csv")
    without = invoke("forecast", model_path, "-f", "csv")
    assert without.exit_code == 0 and without.stdout == with_data.stdout


def test_forecast_output_file_by_suffix(sine_csv, tmp_path):
    model_path, out = tmp_path / "m.tsgate", tmp_path / "f.json"
    train(sine_csv, model_path)
    result = invoke("forecast", model_path, "-o", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(out.read_text())) == 4


def test_train_summary_as_json(sine_csv, tmp_path):
    from tsgate.models import ModelConfig
    from tsgate.sizes import count_parameters

    result = train(sine_csv, tmp_path / "m.tsgate", "--format", "json", "--model", "lstm")
    summary = json.loads(result.stdout)
    assert summary["backbone"] == "lstm" and summary["device"] == "cpu"
    assert summary["val_mae"] > 0
    # FAST: 240 hourly points, lookback 12 (shared by the default 3 members), horizon 4, hidden 8;
    # the hourly calendar gives day and week inputs (4 channels beside the target).
    assert summary["members"] == 3 and summary["lookbacks"] == [12, 12, 12]
    assert summary["calendar"] == ["day", "week"]
    config = ModelConfig("lstm", lookback=12, horizon=4, hidden=8, n_calendar=4, anchor_season=summary["anchor_season"])
    assert summary["parameters"] == count_parameters(config) == 568
    # --epochs 3 caps each watched run at 3 passes of ceil(177 windows / 128) = 2 steps: 6 steps, checked
    # once at the end (before the 10-step check interval), so each member runs all 6 and then refits
    # for its best step count, 0 (the untrained network validated best) or 6.
    assert len(summary["best_steps"]) == 3 and set(summary["best_steps"]) <= {0, 6}
    assert summary["steps_run"] == 3 * 6 + sum(summary["best_steps"])
    assert summary["seconds_per_step"] == pytest.approx(summary["train_seconds"] / summary["steps_run"])


def test_same_seed_same_output_twice(sine_csv, tmp_path):
    outputs = []
    for name in ("a", "b"):
        train(sine_csv, tmp_path / f"{name}.tsgate", "--seed", "0")
        outputs.append(invoke("forecast", tmp_path / f"{name}.tsgate", sine_csv).stdout)
    assert outputs[0] == outputs[1] and outputs[0]


def test_long_format_forecasts_each_id(long_csv, tmp_path):
    model_path = tmp_path / "m.tsgate"
    train(long_csv, model_path, "--id-col", "store")
    frame = pd.read_csv(StringIO(invoke("forecast", model_path, long_csv).stdout))
    assert list(frame.columns) == ["store", "date", "sales"]
    assert frame["store"].value_counts().to_dict() == {"a": 4, "b": 4, "c": 4}


def test_default_model_path_is_named_after_data_and_backbone(sine_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("train", sine_csv, *FAST, "--model", "rnn")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "sine-rnn.tsgate").exists()


@pytest.mark.parametrize("args,message", [
    (["--horizon", "-1"], "--horizon must be at least 1"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "0"], "--lr must be a positive"),
    (["--model", "transformer"], "transformer"),
    (["--target", "nope"], "unknown column 'nope'"),
])
def test_bad_options_exit_2_with_one_line(sine_csv, tmp_path, args, message):
    out = tmp_path / "m.tsgate"
    result = invoke("train", sine_csv, "-o", out, "--quiet", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    assert not out.exists()


def test_output_folder_missing_is_an_error_before_training(sine_csv, tmp_path):
    result = invoke("train", sine_csv, "-o", tmp_path / "nowhere" / "m.tsgate", *FAST)
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = invoke("--debug", "train", tmp_path / "missing.csv")
    assert isinstance(result.exception, Exception) and "file not found" in str(result.exception)


def test_a_real_shell_pipeline(sine_csv, tmp_path):
    """cat file | tsgate train - ... ; tsgate forecast ... | next program."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    model_path = tmp_path / "p.tsgate"
    tsgate = f"{sys.executable} -m tsgate"
    script = (f"cat {sine_csv} | {tsgate} train - {' '.join(FAST)} -o {model_path} && "
              f"{tsgate} forecast {model_path} {sine_csv} | wc -l")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"  # a header and one row per horizon step
    assert "Traceback" not in done.stderr


def test_help_imports_no_heavy_library():
    code = ("import sys, tsgate.cli\n"
            "from typer.testing import CliRunner\n"
            "CliRunner().invoke(tsgate.cli.app, ['--help'])\n"
            "CliRunner().invoke(tsgate.cli.app, ['train', '--help'])\n"
            "print(sorted(m for m in ('torch', 'pandas', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_several_targets_are_forecast_together(tmp_path):
    frame = synthetic_sine()
    frame["temp"] = 20 + frame["load"] / 10
    data, model_path = tmp_path / "two.csv", tmp_path / "two.tsgate"
    frame.to_csv(data, index=False)
    several = invoke("train", data, "-o", model_path, *FAST)
    assert several.exit_code == 2 and "several numeric columns (load, temp)" in several.stderr
    train(data, model_path, "--target", "load,temp")
    forecast = pd.read_csv(StringIO(invoke("forecast", model_path, data).stdout))
    assert list(forecast.columns) == ["timestamp", "load", "temp"] and len(forecast) == 4
    assert forecast["temp"].between(15, 25).all() and forecast["load"].between(0, 20).all()


def test_debug_after_the_command_shows_the_traceback_too(tmp_path):
    result = invoke("train", tmp_path / "missing.csv", "--debug")
    assert isinstance(result.exception, Exception) and "file not found" in str(result.exception)
    without = invoke("train", tmp_path / "missing.csv")
    assert without.exit_code == 2 and without.stderr.startswith("Error: file not found")


def test_option_groups_stand_in_the_signature_where_the_command_names_them():
    import inspect

    from tsgate.cli import compare, forecast

    names = list(inspect.signature(compare).parameters)
    assert names[:9] == ["data", "models", "seeds", "folds", "season", "match", "params", "budget", "lookback"]
    assert names.index("ensemble") + 1 == names.index("target") and names.index("encoding") + 1 == names.index("steps")
    assert names[-6:] == ["plot", "save_dir", "fmt", "output", "quiet", "debug"]
    assert list(inspect.signature(forecast).parameters) == [
        "model_file", "data", "freq", "fill", "strict", "sep", "encoding", "level", "origins", "every", "fmt", "output", "plot",
        "quiet", "debug"]


def test_option_groups_hand_the_command_one_dataclass_per_group():
    from dataclasses import fields

    from tsgate.options import ModelOptions, Verbosity, option_groups

    seen = {}

    @option_groups
    def command(data: str, *, model: ModelOptions, verbosity: Verbosity):
        seen.update(data=data, model=model, verbosity=verbosity)

    command(data="x", **{field.name: field.default for field in fields(ModelOptions)}, quiet=True, debug=False)
    assert seen == {"data": "x", "model": ModelOptions(), "verbosity": Verbosity(quiet=True)}


def test_option_groups_refuse_a_name_twice():
    from tsgate.options import ModelOptions, option_groups

    with pytest.raises(TypeError, match="repeats a parameter name"):
        @option_groups
        def command(*, horizon: int = 1, model: ModelOptions):
            pass


def test_horizon_and_the_other_options_reach_the_forecaster_by_name():
    import inspect
    from dataclasses import fields

    from tsgate import Forecaster
    from tsgate.cli import make_forecaster
    from tsgate.options import Anchor, ModelOptions, Scaler, TrainingOptions

    forecaster = make_forecaster("lstm", ModelOptions(horizon=5, lookback="24", anchor=Anchor.last),
                                 TrainingOptions(seed=3, scaler=Scaler.robust))
    assert (forecaster.backbone, forecaster.horizon, forecaster.lookback, forecaster.anchor) == ("lstm", 5, 24, "last")
    assert (forecaster.seed, forecaster.scaler) == (3, "robust")
    # Every constructor argument but clip is an option, and the options' defaults are the Forecaster's.
    from_options = make_forecaster("gru", ModelOptions(), TrainingOptions()).get_params()
    assert from_options == Forecaster().get_params()
    options = {field.name for group in (ModelOptions, TrainingOptions) for field in fields(group)} - {"jobs"}
    assert set(inspect.signature(Forecaster.__init__).parameters) - {"self", "backbone", "clip"} == options


@pytest.mark.parametrize("encoding,message", [
    ("punycode", r"cannot be decoded as punycode"),
    ("undefined", r"cannot be decoded as undefined"),
    ("rot13", r"'rot13' is a Python codec but not a text encoding"),
    ("base64", r"'base64' is a Python codec but not a text encoding"),
])
@pytest.mark.parametrize("command", ["train", "compare", "forecast", "inspect"])
def test_an_unusual_encoding_is_one_line_on_every_command(tmp_path, tiny_sine_csv, tiny_model, command, encoding, message):
    args = {"train": ["train", tiny_sine_csv, "-o", tmp_path / "m.tsgate", *TINY],
            "compare": ["compare", tiny_sine_csv, "--models", "rnn", *TINY],
            "forecast": ["forecast", tiny_model, tiny_sine_csv], "inspect": ["inspect", tiny_model, tiny_sine_csv]}[command]
    result = invoke(*args, "--encoding", encoding)
    assert_one_line_error(result, 2, message)
    assert "--encoding utf-8 or latin-1" in result.stderr and not list(tmp_path.iterdir())
