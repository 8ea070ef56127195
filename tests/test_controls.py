"""compare's controls: matched sizes and equal budgets set up each backbone before anything trains."""

import json

import pytest
from conftest import synthetic_sine
from helpers.cli import describe, invoke

from tsgate import Forecaster
from tsgate.compare import CompareOptions, run_comparison
from tsgate.controls import Budget, backbone_templates, parse_budget
from tsgate.data import DataOptions, load_series
from tsgate.errors import OptionError
from tsgate.sizes import count_parameters, first_member_config

MODELS = ("rnn", "gru", "lstm")
SMALL = dict(lookback=24, horizon=6, hidden=16, epochs=1, batch_size=64)


def sine_series():
    return load_series(synthetic_sine(n=240), DataOptions())


@pytest.mark.parametrize("text,expected", [("steps", Budget("steps")), ("FLOPS", Budget("flops")),
                                           ("seconds:2.5", Budget("seconds", 2.5))])
def test_budgets_parse(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["seconds", "seconds:0", "seconds:-1", "seconds:x", "steps:3", "epochs", "seconds:inf"])
def test_a_bad_budget_is_refused(text):
    with pytest.raises(OptionError, match="--budget"):
        parse_budget(text)


def test_match_hidden_leaves_every_backbone_at_the_template_size():
    templates, sizing = backbone_templates(sine_series(), Forecaster(**SMALL), MODELS)
    assert {name: f.hidden for name, f in templates.items()} == {name: 16 for name in MODELS}
    assert sizing.params_target is None


@pytest.mark.parametrize("params", [None, 3_000])
def test_match_params_brings_every_backbone_near_one_count(params):
    series, template = sine_series(), Forecaster(**SMALL)
    templates, sizing = backbone_templates(series, template, MODELS, "params", params)
    target = params or count_parameters(first_member_config(template, series, "gru"))
    assert sizing.params_target == target
    counts = {name: count_parameters(first_member_config(f, series, name)) for name, f in templates.items()}
    assert all(abs(count - target) / target < 0.05 for count in counts.values()), counts
    assert templates["rnn"].hidden > templates["gru"].hidden > templates["lstm"].hidden


def test_params_without_match_params_is_refused():
    with pytest.raises(OptionError, match="--params .* --match params"):
        backbone_templates(sine_series(), Forecaster(**SMALL), MODELS, "hidden", 2_000)


def test_a_flops_budget_gives_each_backbone_the_same_multiply_adds():
    _, sizing = backbone_templates(sine_series(), Forecaster(**SMALL, steps=500), MODELS, budget=Budget("flops"))
    total = sizing.training_macs["gru"] * 500
    for name in MODELS:
        assert abs(sizing.steps[name] * sizing.training_macs[name] - total) <= sizing.training_macs[name] / 2
    assert sizing.steps["rnn"] > sizing.steps["gru"] == 500 > sizing.steps["lstm"]


def test_the_comparison_trains_each_backbone_at_its_matched_size():
    result = run_comparison(sine_series(), Forecaster(**SMALL), CompareOptions(match="params", params=2_500))
    rows = {row["model"]: row for row in result.rows}
    assert all(abs(rows[name]["parameters"] - 2_500) / 2_500 < 0.05 for name in MODELS)
    assert {name: rows[name]["hidden"] for name in MODELS} == result.settings["hidden_by_model"]
    assert result.settings["match"] == "params" and result.settings["params_target"] == 2_500


def test_a_time_budget_cuts_the_watched_run_and_says_it_is_not_reproducible():
    template = Forecaster(**{**SMALL, "epochs": None, "steps": 100_000, "patience": 100_000})
    result = run_comparison(sine_series(), template, CompareOptions(models=("rnn",), budget="seconds:0.3"))
    row = next(row for row in result.rows if row["model"] == "rnn")
    assert row["steps_run"] < 100_000 * template.ensemble
    assert result.settings["budget"] == "seconds:0.3" and result.settings["reproducible"] is False


def test_compare_on_the_command_line_reports_the_match(tmp_path):
    path = tmp_path / "sine.csv"
    synthetic_sine(n=240).to_csv(path, index=False)
    result = invoke("compare", path, "--match", "params", "--params", "2000", "--lookback", "24", "--horizon", "6",
                    "--epochs", "1", "--format", "json", "--quiet", "--models", "rnn,lstm", "--budget", "flops")
    assert result.exit_code == 0, describe(result)
    document = json.loads(result.stdout)
    rows = {row["model"]: row for row in document["rows"]}
    assert rows["rnn"]["hidden"] > rows["lstm"]["hidden"]
    assert document["settings"]["budget"] == "flops" and document["settings"]["params_target"] == 2000


@pytest.mark.parametrize("args,message", [
    (["--params", "2000"], "--params sets the parameter count of --match params"),
    (["--budget", "hours"], "unknown --budget 'hours'"),
    (["--match", "params", "--params", "5"], "--params 5 is below the smallest"),
])
def test_bad_controls_are_one_line_errors(tiny_sine_csv, args, message):
    result = invoke("compare", tiny_sine_csv, "--lookback", "12", "--horizon", "4", "--epochs", "1", "--quiet", *args)
    assert result.exit_code == 2, describe(result)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_train_matches_the_size_of_the_default_gru(tmp_path):
    path, model = tmp_path / "sine.csv", tmp_path / "lstm.tsgate"
    synthetic_sine(n=240).to_csv(path, index=False)
    result = invoke("train", path, "--model", "lstm", "--match", "params", "--hidden", "16", "--lookback", "24",
                    "--horizon", "6", "--epochs", "1", "--ensemble", "1", "--format", "json", "-o", model, "--quiet")
    assert result.exit_code == 0, describe(result)
    summary = json.loads(result.stdout)
    series = sine_series()
    gru = count_parameters(first_member_config(Forecaster(**{**SMALL, "ensemble": 1}), series, "gru"))
    assert summary["hidden"] < 16 and abs(summary["parameters"] - gru) / gru < 0.05
    assert Forecaster.load(model).hidden == summary["hidden"]


def test_train_refuses_match_params_with_auto(tiny_sine_csv, tmp_path):
    result = invoke("train", tiny_sine_csv, "--model", "auto", "--match", "params", "--lookback", "12", "--horizon", "4",
                    "--epochs", "1", "-o", tmp_path / "m.tsgate", "--quiet")
    assert result.exit_code == 2 and "--match params needs a backbone" in result.stderr, describe(result)
    assert not (tmp_path / "m.tsgate").exists()
