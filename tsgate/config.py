"""The options of a model and of its training, validated, with a comment on every default.

Both are saved in the model file, so loading rebuilds exactly what was trained.
This module imports nothing heavy: the CLI takes its defaults from here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tsgate.errors import OptionError

BACKBONE_NAMES = ("rnn", "gru", "lstm")
DEVICES = ("auto", "cpu", "cuda", "mps")
SCALERS = ("standard", "minmax", "robust", "none")
# Measured on a 2-core machine (benchmarks/README.md): one thread trains these small
# recurrent steps fastest, and more threads collapse when the other core is busy.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network; saved in the model file so loading rebuilds it exactly."""

    backbone: str = "gru"  # rnn | gru | lstm
    n_targets: int = 1  # value columns forecast together (input and output channels)
    lookback: int = 48  # past steps the model reads
    horizon: int = 12  # future steps it predicts at once (direct multi-output)
    hidden: int = 64  # recurrent state size
    layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # between stacked layers only, as in torch
    # Read and predict relative to each window's last value: trending series then leave the
    # range the scaler saw without leaving the range the network saw, and "no change" is easy to learn.
    relative: bool = True

    def __post_init__(self):
        if self.backbone not in BACKBONE_NAMES:
            raise OptionError(f"unknown model {self.backbone!r}: use one of {', '.join(BACKBONE_NAMES)}")
        for name in ("n_targets", "lookback", "horizon", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """How to fit; saved in the model file beside the model config."""

    epochs: int = 100  # upper bound; early stopping usually ends sooner
    batch_size: int = 128  # windows per Adam step; 128 keeps the recurrent matmuls efficient on CPU
    lr: float = 3e-3  # Adam learning rate
    patience: int = 10  # epochs without a better validation loss before stopping
    clip: float = 1.0  # max global gradient norm, against exploding gradients
    val_fraction: float = 0.2  # share of each series held out for validation (at least one horizon)
    scaler: str = "standard"  # standard | minmax | robust | none, fitted per series on training data
    device: str = "auto"  # auto takes cuda, then mps, then cpu
    seed: int = 0  # seeds weights, shuffling and dropout
    threads: int = DEFAULT_THREADS  # torch CPU threads

    def __post_init__(self):
        positive = {"epochs": self.epochs, "batch-size": self.batch_size, "threads": self.threads}
        for name, value in positive.items():
            if value < 1:
                raise OptionError(f"--{name} must be at least 1, got {value}")
        if self.patience < 0:
            raise OptionError(f"--patience must be 0 or more, got {self.patience}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptionError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise OptionError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        if self.scaler not in SCALERS:
            raise OptionError(f"unknown --scaler {self.scaler!r}: use one of {', '.join(SCALERS)}")
        if self.device not in DEVICES:
            raise OptionError(f"unknown --device {self.device!r}: use one of {', '.join(DEVICES)}")

    def to_dict(self) -> dict:
        return asdict(self)
