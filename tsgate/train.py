"""The training loop: device, seeds, threads, batches, learning-rate schedule, early stopping, refit, timing."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from tsgate import distributed
from tsgate.config import TrainConfig
from tsgate.errors import OptionError, TrainingError
from tsgate.optim import ClippedAdam
from tsgate.windows import StartRanges, WindowSet

# Windows per forward pass when evaluating: bounds memory on long series. Smaller chunks keep a
# pass in cache: 6,000 validation windows took 0.11/0.30/0.18 s (RNN/GRU/LSTM) in chunks of 1,024
# and 0.06/0.12/0.14 s in chunks of 256 (hidden 64, lookback 48, one thread).
EVAL_CHUNK = 256


ProgressCallback = Callable[[int, int, float, float], None]  # (step, steps, train_loss, val_loss)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda was asked for, but torch sees no CUDA GPU here: use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionError("--device mps was asked for, but this machine has no Apple MPS device: use --device auto or cpu")
    return torch.device(name)


def configure_torch(threads: int) -> None:
    """Process-wide settings for fast, reproducible CPU training."""
    torch.set_num_threads(threads)
    # Long lookbacks drive gate values into denormals, which are 2.5-3.5x slower on CPU. numpy 1.x
    # warns on stderr when it first measures a float type with denormals flushed: measure them first.
    np.finfo(np.float32), np.finfo(np.float64)
    torch.set_flush_denormal(True)


def seed_everything(seed: int) -> None:
    """Seeds what draws from torch's global generator (initial weights, dropout); batches are
    shuffled by a generator of their own, seeded in `run_steps`."""
    torch.manual_seed(seed)


def watch(model: nn.Module, data: WindowSet, config: TrainConfig, device: torch.device,
          on_progress: ProgressCallback | None = None, time_limit: float | None = None) -> "WatchedRun":
    """Train on the training windows with early stopping on the validation windows, for at most
    `time_limit` seconds when given; the best weights are loaded into `model` when it returns."""
    model.to(device)
    data = data.to(device, window_dtype(device, data))
    watched = run_steps(model, data, data.train, config, device, on_progress, val_starts=data.val_starts,
                        time_limit=time_limit)
    model.load_state_dict(watched.best_state)
    return watched


def refit(model: nn.Module, initial_state: dict, data: WindowSet, config: TrainConfig, device: torch.device,
          steps: int, budget: int | None = None) -> int:
    """With `config.refit`, train `initial_state` again on every window, validation part included, for
    the `steps` that validated best, so the newest points are learned too; `budget` is the watched
    run's schedule length when a time limit set it. Returns the steps run."""
    if not config.refit or steps < 1:
        return 0
    model.load_state_dict(initial_state)
    data = data.to(device, window_dtype(device, data))
    run_steps(model, data, data.all, config, device, stop_at=steps, budget=budget)
    return steps


@dataclass
class WatchedRun:
    steps_run: int
    best_step: int
    best_val_loss: float
    best_state: dict
    history: list[dict]
    budget: int  # the learning-rate schedule's length in steps


def run_steps(model, data: WindowSet, starts: StartRanges, config: TrainConfig, device, on_progress=None,
              val_starts=None, stop_at: int | None = None, budget: int | None = None,
              time_limit: float | None = None) -> WatchedRun:
    """Adam steps over shuffled batches of the windows at `starts` with a cosine learning-rate schedule.

    With `val_starts`, checks the validation loss every `check_every` steps and stops
    after `patience` checks without improvement; with `stop_at`, runs exactly that many
    steps. Both runs follow the same schedule and shuffle with the same seed, so a refit
    is the watched run again, cut at its best step, on more windows.

    With `time_limit`, the run also stops once that many seconds have passed; at its first check
    the schedule is shortened to the steps the limit will allow at the pace so far, so that the
    learning rate still comes down before time runs out (which makes such a run depend on the
    machine's speed: it is not reproducible).
    """
    started = time.perf_counter()
    generator = batch_generator(config.seed)
    objective = distributed.wrap(Objective(model, config.loss))  # under torchrun: gradients averaged over processes
    optimizer = ClippedAdam(model.parameters(), config.clip)
    budget = budget or step_budget(config, len(data.train))  # the refit keeps the watched run's schedule
    last_step = stop_at or budget
    every = check_every(len(data.train), config.batch_size)
    best = WatchedRun(0, 0, math.inf, copy.deepcopy(model.state_dict()), [], budget)
    if val_starts is not None:  # step 0 is a candidate: the anchor alone, where the head starts at zero
        best.best_val_loss = validation_loss(model, data, val_starts, config.loss, device)
        best.history.append({"step": 0, "train_loss": None, "val_loss": best.best_val_loss})
    losses, step, checks_since_best = [], 0, 0
    model.train()
    for batch in batches(starts, config.batch_size, generator):
        losses.append(train_step(objective, data, batch, optimizer, config.lr * cosine_factor(step, budget)))
        step += 1
        out_of_time = time_limit is not None and time.perf_counter() - started >= time_limit
        if time_limit is not None and step == every:
            budget = best.budget = min(budget, max(step, int(step * time_limit / (time.perf_counter() - started))))
            last_step = budget
        if val_starts is not None and (step % every == 0 or step == last_step or out_of_time):
            train_loss = distributed.total(sum(losses), device) / len(losses)
            val_loss = validation_loss(model, data, val_starts, config.loss, device)
            check_finite(train_loss, val_loss, step, best.history[0]["val_loss"])
            losses = []
            best.history.append({"step": step, "train_loss": train_loss, "val_loss": val_loss})
            if on_progress:
                on_progress(step, last_step, train_loss, val_loss)
            if val_loss < best.best_val_loss:
                best.best_step, best.best_val_loss, best.best_state = step, val_loss, copy.deepcopy(model.state_dict())
                checks_since_best = 0
            else:
                checks_since_best += 1
                if checks_since_best > config.patience:
                    break
            model.train()
        if step >= last_step or out_of_time:
            break
    if val_starts is None and losses:  # a refit has no validation checks: still refuse a loss gone non-finite
        mean = distributed.total(sum(losses), device) / len(losses)
        check_finite(mean, mean, step, math.inf)
    best.steps_run = step
    return best


def step_budget(config: TrainConfig, n_train_windows: int) -> int:
    """Most optimizer steps: --steps, capped by --epochs passes over the training windows when given."""
    if config.epochs is None:
        return config.steps
    return min(config.steps, config.epochs * math.ceil(n_train_windows / config.batch_size))


def check_every(n_train_windows: int, batch_size: int) -> int:
    """Steps between validation checks: one epoch, at least 10 and at most 100 steps."""
    return min(100, max(10, math.ceil(n_train_windows / batch_size)))


def cosine_factor(step: int, budget: int) -> float:
    """Learning-rate multiplier: from 1 down to 0.1 along half a cosine over the budget."""
    progress = min(step / budget, 1.0)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))


def batch_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def batches(starts: StartRanges, batch_size: int, generator: torch.Generator):
    """Endless shuffled batches of window starts, one permutation per pass.

    The permutation is of window numbers, in int32 where they fit: the only array per window
    that training holds (4 bytes each), mapped to starts one batch at a time."""
    total = len(starts)
    dtype = torch.int32 if total < 2**31 else torch.int64
    device = starts.first.device
    while True:
        order = torch.randperm(total, generator=generator, dtype=dtype)
        for first in range(0, total, batch_size):
            yield starts.at(order[first:first + batch_size].to(device))


class Objective(nn.Module):
    """The training loss as a module, so that DistributedDataParallel can wrap it under torchrun."""

    def __init__(self, model: nn.Module, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, x, y):
        return window_loss(self.model, x, y, self.kind)


def train_step(objective, data: WindowSet, batch, optimizer: ClippedAdam, lr: float) -> float:
    """One Adam step on this process's share of `batch`; returns its part of the batch's mean loss
    (the parts of all processes add up to the mean over the whole batch)."""
    mine, weight = distributed.share(batch)
    x, y = data.gather(mine)  # (B, L, I), (B, H, C)
    loss = objective(x, y) * weight
    optimizer.zero_grad()
    loss.backward()
    optimizer.step(lr)
    world = distributed.current()
    return loss.item() / (world.size if world else 1)


LOSSES = {"mae": nn.functional.l1_loss, "huber": nn.functional.huber_loss, "mse": nn.functional.mse_loss}


def window_loss(model, x, y, kind: str, reduction: str = "mean"):
    """The loss on errors in units of each window's scale (scale-free: series of any size weigh alike)."""
    forecast, scale = model.forecast_and_scale(x)
    return LOSSES[kind](forecast / scale, y / scale, reduction=reduction)


def window_dtype(device: torch.device, data: WindowSet) -> torch.dtype:
    """The windows' own dtype (windows.storage_dtype), but float32 on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else data.flat.dtype


def validation_loss(model, data: WindowSet, starts, kind: str, device) -> float:
    """evaluate_loss, computed by the main process alone and shared with the others under torchrun."""
    return distributed.from_main(evaluate_loss(model, data, starts, kind) if distributed.is_main() else math.nan, device)


@torch.inference_mode()
def evaluate_loss(model, data: WindowSet, starts, kind: str) -> float:
    """The training loss over the windows at `starts`, streamed chunk by chunk."""
    model.eval()
    total, count = 0.0, 0
    for first in range(0, len(starts), EVAL_CHUNK):
        x, y = data.gather(starts[first:first + EVAL_CHUNK])
        total += float(window_loss(model, x, y, kind, reduction="sum"))
        count += y.numel()
    return total / count


@torch.inference_mode()
def validation_forecasts(model, data: WindowSet) -> np.ndarray:
    """Forecasts (N, H, C) in scaled units over the validation windows, made on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    data = data.to(device, window_dtype(device, data))
    forecasts = []
    starts = data.val_starts
    for first in range(0, len(starts), EVAL_CHUNK):
        x, _ = data.gather(starts[first:first + EVAL_CHUNK])
        forecasts.append(model(x).cpu().numpy())
    return np.concatenate(forecasts)


@torch.inference_mode()
def predict_inputs(model, inputs: torch.Tensor) -> torch.Tensor:
    """Predictions (N, H, C) for ready inputs (N, L, I), in chunks, in the inputs' dtype."""
    model.eval()
    predictions = torch.empty(len(inputs), model.config.horizon, model.config.n_targets, dtype=inputs.dtype,
                              device=inputs.device)
    for first in range(0, len(inputs), EVAL_CHUNK):
        predictions[first:first + EVAL_CHUNK] = model(inputs[first:first + EVAL_CHUNK])
    return predictions


# A validation loss this many times the untrained network's (or 1, in window-scale units) has
# diverged: with clipping and an absolute loss the weights can grow huge without overflowing.
DIVERGED = 1e6


def check_finite(train_loss: float, val_loss: float, step: int, start_loss: float) -> None:
    worst = train_loss if not math.isfinite(train_loss) else val_loss
    if not (math.isfinite(worst) and val_loss <= DIVERGED * max(start_loss, 1.0)):
        raise TrainingError(
            f"training diverged at step {step} (validation loss {worst:.3g}, {start_loss:.3g} at the start): "
            "lower --lr (e.g. --lr 1e-4); no model was written"
        )
