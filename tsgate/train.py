"""The training loop: device, seeds, threads, batches, clipping, early stopping, timing."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from tsgate.config import TrainConfig
from tsgate.errors import OptionError, TrainingError
from tsgate.windows import WindowSet, split_batch

EVAL_CHUNK = 1024  # windows per forward pass when evaluating; bounds memory on long series


@dataclass
class TrainResult:
    device: str
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    train_seconds: float
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, val_loss


EpochCallback = Callable[[int, int, float, float], None]  # (epoch, epochs, train_loss, val_loss)


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
    # Long lookbacks drive gate values into denormals, which are 2.5-3.5x slower on CPU.
    torch.set_flush_denormal(True)


def seed_everything(seed: int) -> torch.Generator:
    """The one place randomness is seeded; returns the generator used for shuffling."""
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def fit(model: nn.Module, data: WindowSet, config: TrainConfig, device: torch.device,
        generator: torch.Generator, on_epoch: EpochCallback | None = None) -> TrainResult:
    """Adam on MSE with clipping; stops after `patience` epochs without improvement and restores the best weights."""
    model.to(device)
    windows = data.windows.to(device) if device.type != "cpu" else data.windows
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    best_loss, best_epoch, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    history = []
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        train_loss = run_epoch(model, windows, data, config, optimizer, generator, device)
        val_loss = evaluate_loss(model, windows, data.val_starts.to(device), data.lookback)
        check_finite(train_loss, val_loss, epoch)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if on_epoch:
            on_epoch(epoch, config.epochs, train_loss, val_loss)
        if val_loss < best_loss:
            best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch > config.patience:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    model.load_state_dict(best_state)
    return TrainResult(str(device.type), len(history), best_epoch, best_loss, seconds, history)


def run_epoch(model, windows, data: WindowSet, config: TrainConfig, optimizer, generator, device) -> float:
    model.train()
    loss_fn = nn.MSELoss()
    order = data.train_starts[torch.randperm(len(data.train_starts), generator=generator)].to(device)
    total, count = 0.0, 0
    for first in range(0, len(order), config.batch_size):
        starts = order[first:first + config.batch_size]
        x, y = split_batch(windows, starts, data.lookback)  # (B, L, C), (B, H, C)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        total += loss.item() * len(starts)
        count += len(starts)
    return total / count


def evaluate_loss(model, windows, starts, lookback: int) -> float:
    """Mean squared error over the windows at `starts`, on the scaled values."""
    return validation_errors(model, windows, starts, lookback)[0]


@torch.inference_mode()
def validation_errors(model, windows, starts, lookback: int, unit_scale=None) -> tuple[float, float]:
    """(MSE on the scaled values, MAE in data units) over the windows at `starts`.

    Streams chunk by chunk, so memory stays flat however many windows there are;
    `unit_scale` (N, C) turns each window's scaled error back into data units.
    """
    model.eval()
    squared = absolute = 0.0
    count = 0
    for first in range(0, len(starts), EVAL_CHUNK):
        x, y = split_batch(windows, starts[first:first + EVAL_CHUNK], lookback)
        error = (model(x) - y).double()  # (B, H, C)
        squared += float(error.square().sum())
        if unit_scale is not None:
            absolute += float((error.abs() * unit_scale[first:first + len(x), None, :]).sum())
        count += error.numel()
    return squared / count, absolute / count


@torch.inference_mode()
def predict_inputs(model, inputs: torch.Tensor) -> torch.Tensor:
    """Predictions (N, H, C) for ready inputs (N, L, C), in chunks."""
    model.eval()
    predictions = torch.empty(len(inputs), model.config.horizon, model.config.n_targets, device=inputs.device)
    for first in range(0, len(inputs), EVAL_CHUNK):
        predictions[first:first + EVAL_CHUNK] = model(inputs[first:first + EVAL_CHUNK])
    return predictions


def check_finite(train_loss: float, val_loss: float, epoch: int) -> None:
    if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
        raise TrainingError(
            f"training diverged at epoch {epoch} (loss became {train_loss if not math.isfinite(train_loss) else val_loss}): "
            "lower --lr (e.g. --lr 1e-4) or use --scaler standard; no model was written"
        )
