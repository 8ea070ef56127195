"""Training an ensemble's networks: one task per member, run in this process or on workers.

A fit is a generator (schedule.fit_ensemble, behind Forecaster.fitting) that yields lists of
MemberTask and is sent back the TrainedMember of each; `run_fits` drives any number of fits at
once, so compare can put every network of every fold, backbone and seed on the same workers.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Callable, Generator

import numpy as np
import torch

from tsgate import train as training
from tsgate.config import ModelConfig, TrainConfig
from tsgate.models import RecurrentForecaster
from tsgate.parallel import run_tasks
from tsgate.windows import WindowSet


@dataclass(frozen=True)
class MemberTask:
    """One network to train: its shape, its training options (with its own seed) and its windows."""

    model: ModelConfig
    train: TrainConfig
    data: WindowSet
    device: str  # a resolved torch device type: cpu, cuda or mps
    refit: bool = True  # after early stopping, retrain on every window for the best step count
    refit_steps: int | None = None  # given: no watched run, only a refit for this many steps
    schedule: int | None = None  # the refit's learning-rate schedule length, when a time limit set the watched run's
    time_limit: float | None = None  # most seconds of the watched run (compare --budget seconds:S)

    @property
    def budget(self) -> int:
        """The watched run's most steps, the unit of progress (a refit-only task has none)."""
        if self.refit_steps is not None:
            return 0
        return training.step_budget(self.train, len(self.data.train))


@dataclass
class TrainedMember:
    """A trained network as plain data (it crosses process boundaries)."""

    model: ModelConfig
    seed: int
    state: dict  # the final weights: refitted when the task asked for it
    history: list[dict]  # the watched run's validation checks
    steps_run: int
    best_step: int
    best_val_loss: float
    val_forecasts: np.ndarray | None  # (N, H, C), scaled, by the watched run's best weights (before any refit)
    refit_steps: int
    seconds: float  # training time of this network alone
    kernel: str  # the path its recurrent passes trained on (kernels.fast_path_name): tsgate-cpp, tsgate-python or stock
    schedule: int | None = None  # the watched run's learning-rate schedule length in steps

    def network(self) -> RecurrentForecaster:
        network = RecurrentForecaster(self.model)
        network.load_state_dict(self.state)
        return network.eval()


def train_member(task: MemberTask, report: Callable | None = None) -> TrainedMember:
    """Train one member: early stopping on the validation windows, then (with refit) a refit on all
    windows from the same initial weights. `report(step, steps, train_loss, val_loss)` sees progress."""
    from tsgate.kernels import fast_path_name

    started = time.perf_counter()
    device = torch.device(task.device)
    training.seed_everything(task.train.seed)
    network = RecurrentForecaster(task.model)
    initial = copy.deepcopy(network.state_dict())  # made on CPU first: the same weights on every device
    if task.refit_steps is not None:
        steps = training.refit(network, initial, task.data, task.train, device, task.refit_steps, task.schedule)
        return TrainedMember(task.model, task.train.seed, cpu_state(network), [], 0, 0, float("nan"), None, steps,
                             time.perf_counter() - started, fast_path_name(network.rnn))
    watched = training.watch(network, task.data, task.train, device, report, task.time_limit)
    forecasts = training.validation_forecasts(network, task.data)
    refit_steps = training.refit(network, initial, task.data, task.train, device, watched.best_step,
                                 watched.budget) if task.refit else 0
    return TrainedMember(task.model, task.train.seed, cpu_state(network), watched.history, watched.steps_run,
                         watched.best_step, watched.best_val_loss, forecasts, refit_steps, time.perf_counter() - started,
                         fast_path_name(network.rnn), watched.budget)


def with_refit(trial: TrainedMember, refitted: TrainedMember) -> TrainedMember:
    """A watched-only member after its refit-only task: the refit's weights, the trial's record."""
    return replace(trial, state=refitted.state, refit_steps=refitted.refit_steps, seconds=trial.seconds + refitted.seconds)


def cpu_state(network) -> dict:
    return {name: value.detach().to("cpu").clone() for name, value in network.state_dict().items()}


Fit = Generator[list[MemberTask], list[TrainedMember], object]


def run_fits(fits: list[Fit], jobs: int, on_progress: Callable | None = None, expected_steps: int = 0) -> list:
    """Drive fits to their end, each round's tasks of every fit together on `jobs` workers.

    on_progress(done, total, train_loss, val_loss) counts watched steps over all fits;
    `expected_steps` is the total to show (it grows if the tasks turn out to need more).
    """
    tracker = ProgressTracker(on_progress, expected_steps)
    requests = {number: next(fit) for number, fit in enumerate(fits)}
    outcomes: dict[int, object] = {}
    while requests:
        tasks = [(number, task) for number, batch in requests.items() for task in batch]
        results = run_tasks(train_member, [task for _, task in tasks], jobs, tracker.start([t for _, t in tasks]))
        tracker.finish()
        replies: dict[int, list[TrainedMember]] = {number: [] for number in requests}
        for (number, _), result in zip(tasks, results):
            replies[number].append(result)
        requests = {}
        for number, reply in replies.items():
            try:
                requests[number] = fits[number].send(reply)
            except StopIteration as stop:
                outcomes[number] = stop.value
    return [outcomes[number] for number in range(len(fits))]


class ProgressTracker:
    """Adds up the watched steps of the tasks of one round to those of the rounds before."""

    def __init__(self, on_progress: Callable | None, expected_steps: int):
        self.on_progress, self.total, self.done_before = on_progress, expected_steps, 0
        self.budgets: list[int] = []
        self.steps: list[int] = []

    def start(self, tasks: list[MemberTask]) -> Callable | None:
        if not self.on_progress:
            return None
        self.budgets = [task.budget for task in tasks]
        self.steps = [0] * len(tasks)
        self.total = max(self.total, self.done_before + sum(self.budgets))
        return self.update

    def update(self, index: int, step: int, steps: int, train_loss: float, val_loss: float) -> None:
        self.steps[index] = step
        self.on_progress(self.done_before + sum(self.steps), self.total, train_loss, val_loss)

    def finish(self) -> None:
        """A finished task counts its whole budget, early stopping or not."""
        self.done_before += sum(self.budgets)
        self.budgets, self.steps = [], []
