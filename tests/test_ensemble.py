"""ensemble and schedule: run_fits drives generator fits, progress adds up over rounds, a refit joins its
trial, each member records its kernel, and backbone auto tries every backbone before training the winner."""

from types import SimpleNamespace

import numpy as np
import pytest

from tsgate import ensemble
from tsgate.config import BACKBONE_NAMES, ModelConfig, TrainConfig
from tsgate.ensemble import MemberTask, ProgressTracker, TrainedMember, run_fits, train_member, with_refit
from tsgate.prepare import TrainingPlan
from tsgate.schedule import train_rounds


def member(**changes) -> TrainedMember:
    """A trained member as plain data, without training anything."""
    fields = dict(model=ModelConfig(lookback=12, horizon=4), seed=0, state={"w": "trial"}, history=[{"step": 0}],
                  steps_run=50, best_step=30, best_val_loss=0.5, val_forecasts=np.zeros((2, 4, 1)), refit_steps=0,
                  seconds=1.5, kernel="stock")
    return TrainedMember(**{**fields, **changes})


# ---- run_fits -----------------------------------------------------------------------------------


@pytest.fixture
def echoed(monkeypatch):
    """run_tasks answers each task with ("done", task) and records every call's tasks."""
    calls = []

    def run_tasks(function, tasks, jobs, on_progress=None):
        calls.append(list(tasks))
        return [("done", task) for task in tasks]

    monkeypatch.setattr(ensemble, "run_tasks", run_tasks)
    return calls


def rounds_of(name: str, sizes: list[int]):
    """A fit of len(sizes) rounds of tasks named after it; it returns (name, every reply it was sent)."""
    replies = []
    for number, size in enumerate(sizes):
        replies.append((yield [f"{name}{number}.{k}" for k in range(size)]))
    return name, replies


def test_run_fits_sends_each_fit_its_own_replies_and_returns_the_outcomes_in_order(echoed):
    outcomes = run_fits([rounds_of("a", [2, 1]), rounds_of("b", [1]), rounds_of("c", [1, 2, 1])], jobs=2)
    assert [name for name, _ in outcomes] == ["a", "b", "c"]
    for name, replies in outcomes:
        for number, reply in enumerate(replies):
            assert [task for _, task in reply] == [f"{name}{number}.{k}" for k in range(len(reply))]
    assert [len(reply) for reply in outcomes[2][1]] == [1, 2, 1]
    # One call per round, every unfinished fit's tasks together; a fit that ended asks no more.
    assert echoed == [["a0.0", "a0.1", "b0.0", "c0.0"], ["a1.0", "c1.0", "c1.1"], ["c2.0"]]


# ---- progress -----------------------------------------------------------------------------------


def test_progress_counts_watched_steps_across_rounds():
    seen = []
    tracker = ProgressTracker(lambda *args: seen.append(args), expected_steps=100)
    update = tracker.start([SimpleNamespace(budget=40), SimpleNamespace(budget=40)])
    update(0, 10, 40, 0.5, 0.6)
    update(1, 20, 40, 0.4, 0.5)
    assert seen == [(10, 100, 0.5, 0.6), (30, 100, 0.4, 0.5)]
    tracker.finish()  # both stopped early: each still counts its whole budget
    update = tracker.start([SimpleNamespace(budget=30)])
    update(0, 5, 30, 0.3, 0.4)
    assert seen[-1] == (85, 110, 0.3, 0.4)  # 80 done before; the total grew to what the tasks need


def test_progress_keeps_a_larger_expected_total_and_costs_nothing_without_a_callback():
    seen = []
    tracker = ProgressTracker(lambda *args: seen.append(args), expected_steps=500)
    tracker.start([SimpleNamespace(budget=10)])(0, 10, 10, 0.1, 0.2)
    assert seen == [(10, 500, 0.1, 0.2)]
    assert ProgressTracker(None, 0).start([SimpleNamespace(budget=10)]) is None


# ---- members ------------------------------------------------------------------------------------


def test_with_refit_takes_the_refits_weights_and_keeps_the_trials_record():
    trial = member()
    refitted = member(state={"w": "refit"}, history=[], steps_run=0, best_step=0, best_val_loss=float("nan"),
                      val_forecasts=None, refit_steps=30, seconds=0.25)
    joined = with_refit(trial, refitted)
    assert joined.state == {"w": "refit"} and joined.refit_steps == 30 and joined.seconds == 1.75
    assert (joined.history, joined.steps_run, joined.best_step, joined.best_val_loss) == ([{"step": 0}], 50, 30, 0.5)
    assert joined.val_forecasts is trial.val_forecasts  # made by the watched run, before any refit


@pytest.mark.parametrize("path, name", [("python", "tsgate-python"), ("stock", "stock")])
def test_a_member_records_the_kernel_it_trained_with(monkeypatch, path, name):
    from tsgate.windows import build_windows

    monkeypatch.setenv("TSGATE_KERNEL", path)
    windows = build_windows(np.sin(np.arange(80.0) / 3)[:, None], np.array([0, 80]), [64], 8, 2)
    task = MemberTask(ModelConfig("gru", 1, 8, 2, 4), TrainConfig(steps=5, batch_size=16), windows, "cpu")
    assert train_member(task).kernel == name


# ---- the schedule -------------------------------------------------------------------------------


def plan_of(lookbacks: list[int]) -> TrainingPlan:
    """A plan with placeholders where the rounds only pass things on (the windows, by lookback)."""
    return TrainingPlan(series=SimpleNamespace(targets=["y"]), left_out=[], horizon=4, base_lookback=lookbacks[0],
                        lookbacks=lookbacks, train_lengths=None, scaling=None, scaled=None, season=None,
                        cycles=("year",), calendar=None, anchor_season=1,
                        windows={lookback: f"windows {lookback}" for lookback in lookbacks}, seconds=0.0)


def test_one_backbone_trains_every_member_in_one_round():
    rounds = train_rounds(plan_of([12, 6]), "lstm", ModelConfig(horizon=4), TrainConfig(seed=3), "cpu")
    tasks = next(rounds)
    assert [(t.model.backbone, t.model.lookback, t.train.seed, t.data, t.refit) for t in tasks] == [
        ("lstm", 12, 3, "windows 12", True), ("lstm", 6, 4, "windows 6", True)]
    assert all(t.model.n_calendar == 2 and t.model.anchor_season == 1 and t.model.n_targets == 1 for t in tasks)
    with pytest.raises(StopIteration) as done:
        rounds.send([member(model=t.model, seed=t.train.seed) for t in tasks])
    backbone, members, trials = done.value.value
    assert backbone == "lstm" and [m.seed for m in members] == [3, 4] and trials == {"lstm": members[0]}


def test_auto_tries_each_backbone_then_refits_the_winner_and_trains_its_other_members():
    rounds = train_rounds(plan_of([12, 6, 18]), "auto", ModelConfig(horizon=4), TrainConfig(seed=7), "cpu")
    trials = next(rounds)
    assert [(t.model.backbone, t.model.lookback, t.train.seed, t.refit) for t in trials] == [
        (name, 12, 7, False) for name in BACKBONE_NAMES]
    losses = {"rnn": 0.9, "gru": 0.4, "lstm": 0.6}
    second = rounds.send([member(model=t.model, best_val_loss=losses[t.model.backbone], best_step=20 + k)
                          for k, t in enumerate(trials)])
    assert [(t.model.backbone, t.model.lookback, t.train.seed, t.refit_steps) for t in second] == [
        ("gru", 12, 7, 21), ("gru", 6, 8, None), ("gru", 18, 9, None)]
    with pytest.raises(StopIteration) as done:
        rounds.send([member(model=t.model, state={"w": k}) for k, t in enumerate(second)])
    backbone, members, tried = done.value.value
    assert backbone == "gru" and [m.model.lookback for m in members] == [12, 6, 18]
    assert members[0].state == {"w": 0} and members[0].best_step == 21  # the refit's weights, the trial's record
    assert {name: t.best_val_loss for name, t in tried.items()} == losses


def test_auto_without_refit_keeps_the_winning_trial_as_it_is():
    rounds = train_rounds(plan_of([12, 6]), "auto", ModelConfig(horizon=4), TrainConfig(refit=False), "cpu")
    trials = next(rounds)
    winner = member(model=trials[2].model, best_val_loss=0.1)
    second = rounds.send([member(model=trials[0].model), member(model=trials[1].model), winner])
    assert [(t.model.backbone, t.model.lookback, t.refit_steps) for t in second] == [("lstm", 6, None)]
    with pytest.raises(StopIteration) as done:
        rounds.send([member(model=second[0].model)])
    assert done.value.value[1][0] is winner
