"""train.py: the step budget and check interval, the learning-rate schedule, shuffled batches,
early stopping, the refit, divergence, devices and seeds (tiny synthetic window sets, CPU)."""

import math

import numpy as np
import pytest
import torch
from conftest import synthetic_sine

from tsgate import train as training
from tsgate.config import ModelConfig, TrainConfig
from tsgate.errors import OptionError, TrainingError
from tsgate.models import RecurrentForecaster
from tsgate.windows import StartRanges, build_windows

CPU = torch.device("cpu")
LOOKBACK, HORIZON = 12, 4


def sine_windows(n=120, validation=24):
    """One scaled synthetic sine of `n` points, its last `validation` points held out."""
    values = synthetic_sine(n=n)["load"].to_numpy()[:, None]
    scaled = (values - values[:-validation].mean()) / values[:-validation].std()
    return build_windows(scaled, [0, n], [n - validation], LOOKBACK, HORIZON)


def network(seed=0, backbone="gru") -> RecurrentForecaster:
    training.seed_everything(seed)
    return RecurrentForecaster(ModelConfig(backbone, 1, LOOKBACK, HORIZON, 8))


def state_of(model) -> dict:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


# ---- the budget, the checks and the schedule ---------------------------------------------------


@pytest.mark.parametrize("steps, epochs, batch_size, windows, budget", [
    (4000, None, 128, 10_000, 4000),  # no epoch cap: --steps
    (4000, 3, 128, 1000, 24),  # 3 passes of ceil(1000 / 128) = 8 batches
    (4000, 2, 100, 1000, 20),  # batches that divide the windows exactly
    (10, 5, 16, 1000, 10),  # the epoch cap is above --steps: --steps
    (4000, 1, 128, 5, 1),  # fewer windows than a batch: one step per pass
])
def test_step_budget(steps, epochs, batch_size, windows, budget):
    config = TrainConfig(steps=steps, epochs=epochs, batch_size=batch_size)
    assert training.step_budget(config, windows) == budget


@pytest.mark.parametrize("windows, batch_size, every", [
    (5, 128, 10),  # one batch per epoch, but at least 10 steps between checks
    (1280, 128, 10),
    (1281, 128, 11),  # an epoch of 11 batches
    (5000, 128, 40),
    (12_800, 128, 100),
    (1_000_000, 128, 100),  # at most 100 steps between checks
])
def test_check_every_is_an_epoch_between_10_and_100_steps(windows, batch_size, every):
    assert training.check_every(windows, batch_size) == every


def test_cosine_factor_falls_from_one_to_a_tenth():
    budget = 200
    factors = [training.cosine_factor(step, budget) for step in range(budget + 1)]
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(0.1, abs=1e-15)
    assert factors[budget // 2] == pytest.approx(0.55)
    assert all(later <= earlier for earlier, later in zip(factors, factors[1:]))
    assert factors[1] < 1.0 and factors[-2] > 0.1  # strictly inside between the ends
    assert training.cosine_factor(budget * 3, budget) == factors[-1]  # a refit past the budget stays at the floor


# ---- batches -------------------------------------------------------------------------------------


def starts_of(batches) -> list[int]:
    return torch.cat(batches).tolist()


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_a_seeded_generator_gives_the_same_batches_twice():
    starts = StartRanges([0, 100], [30, 17])
    first = take(training.batches(starts, 8, training.batch_generator(4)), 12)
    again = take(training.batches(starts, 8, training.batch_generator(4)), 12)
    other = take(training.batches(starts, 8, training.batch_generator(5)), 12)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert starts_of(first) != starts_of(other)


def test_each_pass_gives_every_window_once():
    starts = StartRanges([0, 100, 500], [30, 17, 6])  # three series: starts 0-29, 100-116, 500-505
    every_start = sorted([*range(30), *range(100, 117), *range(500, 506)])
    per_pass = math.ceil(len(every_start) / 8)
    stream = training.batches(starts, 8, training.batch_generator(0))
    passes = [take(stream, per_pass) for _ in range(3)]
    for batches in passes:
        assert [len(batch) for batch in batches] == [8] * (per_pass - 1) + [len(every_start) - 8 * (per_pass - 1)]
        assert sorted(starts_of(batches)) == every_start
    assert starts_of(passes[0]) != starts_of(passes[1])  # shuffled again for each pass


# ---- early stopping ------------------------------------------------------------------------------


def scripted_validation(monkeypatch, losses):
    """Validation losses in the order given (the first is step 0's), whatever the network does."""
    script = iter(losses)
    monkeypatch.setattr(training, "validation_loss", lambda *args: next(script))


@pytest.mark.parametrize("patience, losses, best_step, stopped_at", [
    (2, [1.0, 2.0, 3.0, 4.0, 5.0], 0, 30),  # no check improves: stop at the third
    (0, [1.0, 1.5], 0, 10),  # no patience: the first check without improvement stops
    (2, [1.0, 0.9, 0.8, 0.85, 0.95, 0.9, 0.1], 20, 50),  # two improvements, then three checks without
    (1, [1.0, 0.9, 0.9, 0.8, 0.8, 0.85, 0.0], 30, 50),  # an equal loss is no improvement
], ids=["never-better", "no-patience", "better-then-not", "equal-is-not-better"])
def test_watch_stops_after_patience_checks_without_improvement(monkeypatch, patience, losses, best_step, stopped_at):
    data = sine_windows()
    assert training.check_every(len(data.train), 16) == 10
    scripted_validation(monkeypatch, losses)
    model = network()
    run = training.watch(model, data, TrainConfig(steps=1000, batch_size=16, patience=patience), CPU)
    assert run.steps_run == stopped_at
    assert [check["step"] for check in run.history] == list(range(0, stopped_at + 1, 10))
    assert [check["val_loss"] for check in run.history] == losses[:len(run.history)]
    assert run.best_step == best_step and run.best_val_loss == min(losses[:len(run.history)])
    assert run.history[0]["train_loss"] is None and all(check["train_loss"] > 0 for check in run.history[1:])


def test_watch_checks_at_the_last_step_and_reports_progress(monkeypatch):
    scripted_validation(monkeypatch, [1.0, 0.9, 0.8, 0.7])
    seen = []
    run = training.watch(network(), sine_windows(), TrainConfig(steps=25, batch_size=16), CPU,
                         lambda step, steps, train_loss, val_loss: seen.append((step, steps, val_loss)))
    assert run.steps_run == 25 and [check["step"] for check in run.history] == [0, 10, 20, 25]
    assert seen == [(10, 25, 0.9), (20, 25, 0.8), (25, 25, 0.7)]


def test_watch_leaves_the_best_weights_in_the_model():
    data = sine_windows()
    model = network()
    run = training.watch(model, data, TrainConfig(steps=60, batch_size=16, patience=100), CPU)
    assert run.steps_run == 60 and run.best_step > 0
    assert same_state(state_of(model), run.best_state)
    assert training.evaluate_loss(model, data, data.val_starts, "mae") == pytest.approx(run.best_val_loss, rel=1e-6)
    assert run.best_val_loss < run.history[0]["val_loss"]  # training helped on this easy series


# ---- refit ---------------------------------------------------------------------------------------


def counted_steps(monkeypatch) -> list:
    calls = []
    original = training.train_step
    monkeypatch.setattr(training, "train_step", lambda *args: calls.append(1) or original(*args))
    return calls


def test_refit_runs_exactly_the_steps_asked_on_every_window(monkeypatch):
    data = sine_windows()
    calls = counted_steps(monkeypatch)
    passes = []
    original_batches = training.batches
    monkeypatch.setattr(training, "batches", lambda starts, *rest: passes.append(len(starts)) or original_batches(starts, *rest))
    model = network()
    initial = state_of(model)
    assert training.refit(model, initial, data, TrainConfig(steps=1000, batch_size=16), CPU, 7) == 7
    assert len(calls) == 7 and passes == [len(data.all)] and len(data.all) > len(data.train)
    assert not same_state(state_of(model), initial)


def test_refit_starts_from_the_initial_weights():
    data, config = sine_windows(), TrainConfig(steps=1000, batch_size=16)
    model = network()
    initial = state_of(model)
    training.refit(model, initial, data, config, CPU, 5)
    first = state_of(model)
    training.refit(model, initial, data, config, CPU, 5)  # from `initial` again, not from where it ended
    assert same_state(state_of(model), first)


@pytest.mark.parametrize("refit, steps", [(False, 7), (True, 0)])
def test_no_refit_runs_no_step(monkeypatch, refit, steps):
    calls = counted_steps(monkeypatch)
    model = network()
    initial = state_of(model)
    assert training.refit(model, initial, sine_windows(), TrainConfig(refit=refit), CPU, steps) == 0
    assert calls == [] and same_state(state_of(model), initial)


# ---- divergence ----------------------------------------------------------------------------------


@pytest.mark.parametrize("train_loss, val_loss, start_loss, shown", [
    (math.nan, 1.0, 1.0, "nan"),
    (1.0, math.nan, 1.0, "nan"),
    (math.inf, 1.0, 1.0, "inf"),
    (1.0, 2e6, 1.0, "2e+06"),  # finite but a million times the start
    (1.0, 2e6, 0.001, "2e+06"),  # the bound is relative to 1 when the start is below it
])
def test_check_finite_refuses_a_diverged_loss(train_loss, val_loss, start_loss, shown):
    with pytest.raises(TrainingError) as caught:
        training.check_finite(train_loss, val_loss, 17, start_loss)
    message = str(caught.value)
    assert message.startswith(f"training diverged at step 17 (validation loss {shown}, ")
    assert message.endswith("lower --lr (e.g. --lr 1e-4); no model was written")


@pytest.mark.parametrize("train_loss, val_loss, start_loss", [(1.0, 1.0, 1.0), (0.5, 9e5, 1.0), (1.0, 5e6, 10.0)])
def test_check_finite_accepts_a_loss_within_bounds(train_loss, val_loss, start_loss):
    training.check_finite(train_loss, val_loss, 3, start_loss)


def test_a_nan_loss_stops_watch_and_refit(monkeypatch):
    monkeypatch.setattr(training, "train_step", lambda *args: math.nan)
    with pytest.raises(TrainingError, match="training diverged at step 10"):
        training.watch(network(), sine_windows(), TrainConfig(steps=100, batch_size=16), CPU)
    model = network()
    with pytest.raises(TrainingError, match="training diverged at step 4"):
        training.refit(model, state_of(model), sine_windows(), TrainConfig(batch_size=16), CPU, 4)


# ---- devices and seeds ---------------------------------------------------------------------------


def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None):
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_resolve_device(monkeypatch):
    assert training.resolve_device("cpu") == CPU
    no_accelerator(monkeypatch)
    assert training.resolve_device("auto") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training.resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name, message", [
    ("cuda", "--device cuda was asked for, but torch sees no CUDA GPU here: use --device auto or cpu"),
    ("mps", "--device mps was asked for, but this machine has no Apple MPS device: use --device auto or cpu"),
])
def test_an_unavailable_device_is_an_option_error(monkeypatch, name, message):
    no_accelerator(monkeypatch)
    with pytest.raises(OptionError) as caught:
        training.resolve_device(name)
    assert str(caught.value) == message


def test_seed_everything_makes_two_runs_equal():
    data, config = sine_windows(), TrainConfig(steps=30, batch_size=16, seed=3)
    runs = []
    for seed in (3, 3, 4):
        model = network(seed, "lstm")
        run = training.watch(model, data, config, CPU)
        runs.append((state_of(model), run.history))
    assert same_state(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not same_state(runs[0][0], runs[2][0])


# ---- evaluation in chunks ------------------------------------------------------------------------


def test_chunked_evaluation_equals_one_pass(monkeypatch):
    data = sine_windows()
    model = network()
    training.watch(model, data, TrainConfig(steps=20, batch_size=16), CPU)
    whole = training.evaluate_loss(model, data, data.val_starts, "mse")
    forecasts = training.validation_forecasts(model, data)
    inputs, _ = data.gather(data.val_starts)
    predicted = training.predict_inputs(model, inputs)
    monkeypatch.setattr(training, "EVAL_CHUNK", 4)  # 21 validation windows: chunks of 4 and one of 1
    assert training.evaluate_loss(model, data, data.val_starts, "mse") == pytest.approx(whole, rel=1e-6)  # float32 sums per chunk
    np.testing.assert_allclose(training.validation_forecasts(model, data), forecasts, rtol=1e-6)
    torch.testing.assert_close(training.predict_inputs(model, inputs), predicted)
    assert forecasts.shape == (len(data.val_starts), HORIZON, 1) == (21, 4, 1)
