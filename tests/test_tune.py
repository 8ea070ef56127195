"""Tuning: the search space and its files, a search that repeats and never sees the test period,
studies shared by processes (none lost, none repeated, a killed one loses only its running trial),
and one clear line for every bad input."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import optuna
import pytest
from conftest import synthetic_sine
from helpers.cli import assert_one_line_error, describe, invoke
from helpers.processes import stop, subprocess_env, wait_until_under_way

from tsgate import Forecaster
from tsgate.compare import CompareOptions
from tsgate.data import DataOptions, load_series
from tsgate.errors import OptionError
from tsgate.space import DEFAULT_SPACE, Dimension, default_space, read_space
from tsgate.studies import HOST, SameLossMedianPruner, counted, fail_stale
from tsgate.tune import TuningRequest, tune, tune_comparison

# Trials as small as they come: a tiny network for a few steps, on a narrow space.
TEMPLATE = dict(hidden=8, steps=20, lookback=12, horizon=4, ensemble=1)
SMALL_SPACE = {"hidden": [4, 8], "layers": [1, 2], "batch_size": [32, 64]}
TUNE_FAST = ["--hidden", "8", "--steps", "20", "--lookback", "12", "--horizon", "4", "--ensemble", "1", "--quiet",
             "--jobs", "1"]


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SMALL_SPACE))
    return path


def small_space():
    space = default_space()
    space.update(hidden=Dimension("int", 4, 8, log=True), layers=Dimension("int", 1, 2),
                 batch_size=Dimension("choice", choices=(32, 64)))
    return space


def sine(n=120, **changes):
    frame = synthetic_sine(n=n)
    for position, value in changes.items():
        frame.loc[int(position), "load"] = value
    return load_series(frame, DataOptions())


def trials_seen(results) -> dict:
    """{backbone: [(number, state, value, config)]}: everything a search decided."""
    return {name: [(r["number"], r["state"], r["value"], r["config"]) for r in result.records]
            for name, result in results.items()}


# ---- the search space ---------------------------------------------------------------------------


def test_a_space_file_narrows_widens_and_fixes(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('hidden = [16, 64]\nlr = [1e-4, 1e-2]\nloss = ["mae"]\nlayers = 1\nbatch_size = [32, 64, 512]\n')
    space = read_space(path)
    assert space["hidden"] == Dimension("int", 16, 64, log=True)
    assert space["lr"] == Dimension("float", 1e-4, 1e-2, log=True)  # wider than the default 3e-4
    assert space["loss"] == Dimension("choice", choices=("mae",))
    assert space["layers"] == Dimension("fixed", value=1)
    assert space["batch_size"] == Dimension("choice", choices=(32, 64, 512))
    assert space["dropout"] == DEFAULT_SPACE["dropout"] and "params" not in space


def test_match_params_searches_a_parameter_target_instead_of_hidden(tmp_path):
    assert "params" in default_space("params") and "hidden" not in default_space("params")
    path = tmp_path / "space.json"
    path.write_text('{"params": [2000, 4000]}')
    assert read_space(path, "params")["params"] == Dimension("int", 2000, 4000, log=True)
    with pytest.raises(OptionError, match="only with --match params"):
        read_space(path, "hidden")


@pytest.mark.parametrize("content,message", [
    ('{"hiden": [8, 16]}', "unknown key 'hiden'"),
    ('{"hidden": [64, 16]}', "empty range"),
    ('{"loss": []}', "empty list"),
    ('{"lr": [0, 0.01]}', "must be above 0"),
    ('{"layers": 1.5}', "whole number"),
    ('{"loss": ["mae", "l4"]}', "must be one of"),
    ('{"hidden": [8, 16', "not valid JSON"),
    ('[1, 2]', "table of keys"),
])
def test_a_bad_space_file_is_one_clear_line(tmp_path, tiny_sine_csv, content, message):
    path = tmp_path / "space.json"
    path.write_text(content)
    with pytest.raises(OptionError, match=message):
        read_space(path)
    result = invoke("train", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--space", path, "-o", tmp_path / "m.tsgate")
    assert_one_line_error(result, 2, message)
    assert not (tmp_path / "m.tsgate").exists()


def test_an_unreadable_space_file_is_one_clear_line(tmp_path, tiny_sine_csv):
    for path, message in ((tmp_path / "missing.toml", "cannot be read"), (tmp_path / "space.yaml", "a .toml or .json")):
        assert_one_line_error(invoke("compare", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--space", path), 2, message)


# ---- bad input through the command line ------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "compare"])
def test_tune_zero_is_one_line(tmp_path, tiny_sine_csv, command):
    assert_one_line_error(invoke(command, tiny_sine_csv, *TUNE_FAST, "--tune", "0"), 2, "--tune must be at least 1")


def test_search_options_without_tune_are_refused(tiny_sine_csv, tmp_path):
    result = invoke("train", tiny_sine_csv, *TUNE_FAST, "--storage", tmp_path / "journal.log")
    assert_one_line_error(result, 2, "add --tune N")
    result = invoke("train", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--study", "air")
    assert_one_line_error(result, 2, "give --storage too")


@pytest.mark.parametrize("storage", ["sqlite:////no/such/folder/study.db", "/no/such/folder/journal.log",
                                     "postgresql://tsgate:secret@127.0.0.1:1/tsgate"])
def test_an_unreachable_storage_is_one_line(tiny_sine_csv, storage):
    result = invoke("compare", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--storage", storage)
    assert_one_line_error(result, 2, "cannot be opened")
    assert "secret" not in result.stderr  # a password stays out of the message


def test_a_study_of_other_data_or_options_is_refused(tmp_path, tiny_sine_csv, space_file):
    storage = ["--storage", tmp_path / "journal.log", "--study", "air", "--space", space_file, "--tune", "1"]
    first = invoke("train", tiny_sine_csv, *TUNE_FAST, *storage, "-o", tmp_path / "a.tsgate")
    assert first.exit_code == 0, describe(first)
    other = tmp_path / "other.csv"
    synthetic_sine(n=120, seed=1).to_csv(other, index=False)
    for data, more in ((other, []), (tiny_sine_csv, ["--lr", "0.001"]), (tiny_sine_csv, ["--val-fraction", "0.3"])):
        result = invoke("train", data, *TUNE_FAST, *storage, *more, "-o", tmp_path / "b.tsgate")
        assert_one_line_error(result, 2, "study air-gru in --storage .* was tuned on other data or other options")
    again = invoke("train", tiny_sine_csv, *TUNE_FAST, *storage, "--ensemble", "2", "-o", tmp_path / "c.tsgate")
    assert again.exit_code == 0, describe(again)  # the ensemble trains after the search: it does not change a trial


def test_compare_refuses_to_tune_auto(tiny_sine_csv):
    assert_one_line_error(invoke("compare", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--models", "gru,auto"), 2,
                          "leave auto out of --models")


# ---- the search ---------------------------------------------------------------------------------


def test_a_seeded_search_repeats_exactly_with_one_job():
    series, templates = sine(), {"gru": Forecaster(**TEMPLATE, backbone="gru")}
    first = trials_seen(tune(series, templates, 4, small_space(), jobs=1))
    assert first == trials_seen(tune(series, templates, 4, small_space(), jobs=1))
    configs = [config for _, _, _, config in first["gru"]]
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 4, configs  # the trials do differ
    untuned = {"hidden": 8, "layers": 1, "dropout": 0.0, "lr": 0.003, "loss": "mae", "lookback": 12}
    assert {key: configs[0][key] for key in untuned} == untuned  # the search starts from the untuned setup
    assert configs[0]["batch_size"] in (32, 64)  # where the space holds it: the default 128 is drawn again
    other = trials_seen(tune(series, {"gru": Forecaster(**{**TEMPLATE, "seed": 1}, backbone="gru")}, 4, small_space()))
    assert other != first  # and the seed is what fixes them


def test_the_search_never_reads_the_test_period():
    """compare's search sees only the data before every fold's test period: changing only the last
    horizon gives the same trials, changing a point before it does not."""
    options, request = CompareOptions(models=("rnn",)), TuningRequest(3, small_space(), None, None)
    template = Forecaster(**TEMPLATE)

    def seen(series):
        return trials_seen(tune_comparison(series, template, options, request)[1])

    original = seen(sine())
    assert seen(sine(**{"116": 99.0, "119": -5.0})) == original  # inside the last horizon (4 points)
    assert seen(sine(**{"110": 99.0})) != original  # in the validation part


def test_match_params_sizes_each_backbone_for_one_drawn_count():
    templates = {name: Forecaster(**TEMPLATE, backbone=name) for name in ("rnn", "gru", "lstm")}
    space = {**small_space(), "params": Dimension("int", 3000, 3000)}
    del space["hidden"]
    hidden = {name: result.best["hidden"] for name, result in tune(sine(), templates, 1, space, match="params").items()}
    assert hidden["rnn"] > hidden["gru"] > hidden["lstm"], hidden  # an LSTM cell holds the most weights per unit


def test_the_pruner_compares_only_trials_of_the_same_loss():
    study = optuna.create_study()
    checks = {10: 1.0, 20: 0.5}
    for loss, scale in (("mae", 1.0), ("mse", 0.1)):
        for _ in range(5):
            study.add_trial(optuna.trial.create_trial(
                params={"loss": loss}, distributions={"loss": optuna.distributions.CategoricalDistribution(["mae", "huber", "mse"])},
                value=scale, intermediate_values={s: scale * v for s, v in checks.items()}))

    def running(loss, values):
        return optuna.trial.create_trial(
            state=optuna.trial.TrialState.RUNNING, params={"loss": loss},
            distributions={"loss": optuna.distributions.CategoricalDistribution(["mae", "huber", "mse"])},
            intermediate_values=values)

    pruner = SameLossMedianPruner()
    assert not pruner.prune(study, running("mae", {10: 0.9, 20: 0.45}))  # better than the MAE trials by then
    assert pruner.prune(study, running("mae", {10: 0.9, 20: 0.6}))
    assert not pruner.prune(study, running("mae", {10: 5.0}))  # never at the first check
    assert pruner.prune(study, running("mse", {10: 0.2, 20: 0.06}))  # 0.06 is good MAE, bad MSE
    assert not pruner.prune(study, running("huber", {10: 9.0, 20: 9.0}))  # no finished Huber trials to judge by


def test_the_trial_of_a_dead_process_is_failed_and_asked_again(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="s")
    alive, dead = study.ask(), study.ask()
    alive.set_user_attr("owner", f"{HOST}:{os.getpid()}")
    dead.set_user_attr("owner", f"{HOST}:{gone.pid}")
    assert counted(study) == 1  # the dead process's trial is not waited for
    fail_stale(study)
    states = [trial.state.name for trial in study.get_trials()]
    assert states == ["RUNNING", "FAIL"], states


# ---- through the commands ---------------------------------------------------------------------------


def test_compare_tune_reports_each_rows_search(tiny_sine_csv, space_file):
    result = invoke("compare", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--space", space_file, "--models", "rnn,gru",
                    "--format", "json")
    assert result.exit_code == 0, describe(result)
    document = json.loads(result.stdout)
    rows = {row["model"]: row for row in document["rows"]}
    for name in ("rnn", "gru"):
        tuning = rows[name]["tuning"]
        assert {"trials", "pruned", "best", "val_loss_median", "val_loss_iqr", "seconds"} <= set(tuning)
        assert tuning["trials"] + tuning["pruned"] == 2 and tuning["val_loss_iqr"] >= 0
        assert 4 <= tuning["best"]["hidden"] <= 8 and rows[name]["hidden"] == tuning["best"]["hidden"]
    assert "tuning" not in rows["ridge"]
    assert document["settings"]["tuning"]["trials"] == 2
    assert document["settings"]["tuning"]["space"]["hidden"] == {"kind": "int", "low": 4, "high": 8, "log": True}
    csv = invoke("compare", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--space", space_file, "--models", "rnn",
                 "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert {"tuning_trials", "tuning_pruned", "tuning_best", "tuning_val_loss_median"} <= set(header), header


def test_train_tune_writes_the_best_trial_with_the_full_ensemble(tmp_path, tiny_sine_csv, space_file):
    out = tmp_path / "m.tsgate"
    result = invoke("train", tiny_sine_csv, *TUNE_FAST, "--tune", "2", "--space", space_file, "--ensemble", "2",
                    "--format", "json", "-o", out)
    assert result.exit_code == 0, describe(result)
    summary = json.loads(result.stdout)
    tuning = summary["tuning"]
    assert tuning["trials"] + tuning["pruned"] == 2 and "seconds" in tuning
    model = Forecaster.load(out)
    assert model.hidden == tuning["best"]["hidden"] and model.layers == tuning["best"]["layers"]
    assert len(model.members_) == 2  # the search fits one network, the model the full ensemble
    assert model.metrics_["tuning"] == {k: v for k, v in tuning.items() if k != "seconds"}


# ---- studies shared by processes --------------------------------------------------------------------


def tsgate_process(args, cwd, code: str = "", **kwargs) -> subprocess.Popen:
    """`python -m tsgate ARGS` as a real process, after `code` (a patch of the library) has run."""
    script = code + "\nimport runpy, sys\nsys.argv = ['tsgate', *sys.argv[1:]]\nrunpy.run_module('tsgate', run_name='__main__')\n"
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=cwd, **kwargs)


def finished_and_failed(storage, name):
    """(finished trials, failed trials, every state) of study `name` in `storage` (a URL or a journal path)."""
    where = str(storage)
    if "://" not in where:
        where = optuna.storages.journal.JournalStorage(optuna.storages.journal.JournalFileBackend(where))
    states = [trial.state.name for trial in optuna.load_study(study_name=name, storage=where).get_trials()]
    return sum(s in ("COMPLETE", "PRUNED") for s in states), states.count("FAIL"), states


def tuning_args(csv, space_file, storage, model="gru", tune="2"):
    return ["train", csv, *TUNE_FAST, "--model", model, "--tune", tune, "--space", space_file, "--storage", storage,
            "--study", "shared"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_two_processes_sharing_a_study_finish_it_with_exactly_n_trials(tmp_path, tiny_sine_csv, space_file):
    storage = tmp_path / "journal.log"
    args = tuning_args(tiny_sine_csv, space_file, storage, model="auto")
    children = [tsgate_process([*args, "-o", tmp_path / f"m{k}.tsgate"], tmp_path) for k in range(2)]
    try:
        outcomes = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            stop(child)
    for child, (_, stderr) in zip(children, outcomes):
        assert child.returncode == 0, stderr
    for backbone in ("rnn", "gru", "lstm"):
        finished, _, states = finished_and_failed(storage, f"shared-{backbone}")
        assert finished == 2, (backbone, states)
        assert "RUNNING" not in states
    # A third process finds every study complete: it asks for no trial, it only trains the winner.
    before, size = finished_and_failed(storage, "shared-gru")[2], storage.stat().st_size
    third = invoke(*args, "-o", tmp_path / "m3.tsgate")
    assert third.exit_code == 0, describe(third)
    assert finished_and_failed(storage, "shared-gru")[2] == before
    assert storage.stat().st_size == size  # nothing written: no trial was asked


def test_a_study_in_a_database_is_resumed_not_repeated(tmp_path, tiny_sine_csv, space_file):
    # The RDB storage under the sharing rules the journal test checks: a second run asked for
    # 3 trials of a finished 2-trial study adds exactly one.
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for k, tune, finished in ((0, "2", 2), (1, "3", 3)):
        result = invoke(*tuning_args(tiny_sine_csv, space_file, storage, tune=tune), "-o", tmp_path / f"m{k}.tsgate")
        assert result.exit_code == 0, describe(result)
        assert finished_and_failed(storage, "shared-gru")[:2] == (finished, 0)


HOLD_TRIAL_ONE = textwrap.dedent("""
    import os, sys, threading
    import tsgate.tune as tune
    fd = int(sys.argv.pop(1))
    original = tune.fit_trial
    def fit_trial(search, study, trial, config):
        if trial.number == 1:  # hold trial 1 running until the test kills this process
            os.write(fd, b"running")
            threading.Event().wait()
        return original(search, study, trial, config)
    tune.fit_trial = fit_trial
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_process_loses_only_its_running_trial(tmp_path, tiny_sine_csv, space_file):
    storage = tmp_path / "journal.log"
    args = ["train", tiny_sine_csv, *TUNE_FAST, "--tune", "3", "--space", space_file, "--storage", storage,
            "--study", "killed", "-o", tmp_path / "m.tsgate"]
    read, write = os.pipe()
    child = tsgate_process([write, *args], tmp_path, HOLD_TRIAL_ONE, pass_fds=(write,))
    os.close(write)
    try:
        wait_until_under_way(child, read)
        assert finished_and_failed(storage, "killed-gru")[0] == 1  # trial 0 finished, trial 1 is running
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        stop(child)
    assert not (tmp_path / "m.tsgate").exists()
    resumed = invoke(*args)  # the same command again: it resumes the study
    assert resumed.exit_code == 0, describe(resumed)
    finished, failed, states = finished_and_failed(storage, "killed-gru")
    assert (finished, failed) == (3, 1), states
    assert states[1] == "FAIL"  # trial 1, lost with its process; trials 2 and 3 took its place
    assert np.isfinite(json.loads(invoke(*args, "--format", "json").stdout)["tuning"]["val_loss_median"])


def test_trials_on_worker_processes_finish_each_study_with_n():
    templates = {name: Forecaster(**TEMPLATE, backbone=name) for name in ("rnn", "gru")}
    results = tune(sine(), templates, 3, small_space(), jobs=2)
    assert {name: result.trials + result.pruned for name, result in results.items()} == {"rnn": 3, "gru": 3}
    assert all(result.lost == 0 for result in results.values())


def test_the_table_shows_each_rows_trials_and_the_spread_of_their_scores():
    from tsgate.render import comparison_frame, comparison_view

    plain = {"rank": 1, "model": "ridge", "parameters": 52, "hidden": None, "train_seconds": 0.1, "seconds_per_step": None,
             "steps_run": None, "forecast_ms": 0.2, "effective_memory": None, "dm_p": None,
             **{f"{m}{s}": 0.5 for m in ("mae", "rmse", "smape", "mase") for s in ("", "_std")}}
    tuned = {**plain, "rank": 2, "model": "gru", "tuning": {"trials": 17, "pruned": 3, "best": {"hidden": 32},
                                                             "val_loss_median": 1.2345, "val_loss_iqr": 0.25, "seconds": 9.0}}
    view = comparison_view([plain, tuned])
    assert list(view["trials"]) == ["-", "17 + 3 pruned"]
    assert list(view["trial val MAE"]) == ["-", "1.234 (IQR 0.25)"]
    assert "trials" not in comparison_view([plain])  # untuned tables keep their columns
    frame = comparison_frame([plain, tuned])
    assert list(frame["tuning_trials"].astype(object).fillna(-1)) == [-1, 17]
    assert json.loads(frame["tuning_best"][1]) == {"hidden": 32}


def test_a_search_whose_best_is_the_untuned_setup_trains_the_untuned_model():
    # One trial is the untuned configuration (a study's trial 0), so the tuned rows must be the
    # untuned ones: the auto lookback, and with it the members' spread of lookbacks, kept.
    from tsgate.experiment import run_experiment
    from tsgate.tune import tuning_request

    series = load_series(synthetic_sine(n=200), DataOptions())
    template = Forecaster(hidden=8, steps=30, horizon=4, ensemble=3)
    options = CompareOptions(models=("gru",))
    untuned = {row["model"]: row["mase"] for row in run_experiment(series, template, options).comparison.rows}
    tuned = run_experiment(series, template, options, tuning_request(1)).comparison
    rows = {row["model"]: row for row in tuned.rows}
    assert rows["gru"]["tuning"]["best"]["lookback"] == "auto"
    assert {name: row["mase"] for name, row in rows.items()} == untuned
