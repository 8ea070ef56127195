"""The options of a model and of its training, validated, with a comment on every default.

Both are saved in the model file, so loading rebuilds exactly what was trained.
This module imports nothing heavy: the CLI takes its defaults from here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tsgate.errors import OptionError

BACKBONE_NAMES = ("rnn", "gru", "lstm")
MODEL_CHOICES = BACKBONE_NAMES + ("auto",)  # auto: the backbone with the best validation loss
DEVICES = ("auto", "cpu", "cuda", "mps")
SCALERS = ("standard", "minmax", "robust", "none")
NORMS = ("window", "level", "none")
ANCHORS = ("auto", "seasonal", "last", "none")
LOSSES = ("mae", "huber", "mse")
FILL_METHODS = ("ffill", "interpolate", "zero")  # how --fill closes missing values and gaps
MATCHES = ("hidden", "params")  # what compare --match holds equal between backbones: the hidden size or the parameter count
# Forecaster defaults that are not a config field: they are resolved from the data at fit time.
DEFAULT_LOOKBACK = "auto"  # three horizons or two seasons, within what the shortest series allows
DEFAULT_ANCHOR = "auto"  # seasonal naive where it beats the last value on the training part
DEFAULT_CALENDAR = True  # sine/cosine of the day, week and year cycles the frequency has
# Measured on a 2-core machine (benchmarks/README.md): one thread trains these small
# recurrent steps fastest, and more threads collapse when the other core is busy.
DEFAULT_THREADS = 1
# Smallest window or recent scale, in scaled units (a series' training standard deviation is 1
# with the default scaler): a flat stretch would otherwise divide by zero.
MIN_SCALE = 1e-3


@dataclass(frozen=True)
class ModelConfig:
    """Shape of one network; saved in the model file so loading rebuilds it exactly."""

    backbone: str = "gru"  # rnn | gru | lstm
    n_targets: int = 1  # value columns forecast together (output channels, first input channels)
    lookback: int = 48  # past steps the network reads
    horizon: int = 12  # future steps it predicts at once (direct multi-output)
    hidden: int = 64  # recurrent state size
    layers: int = 1  # stacked recurrent layers
    dropout: float = 0.0  # between stacked layers only, as in torch
    # How each window is normalised before the network reads it (see models.window_stats):
    # window: minus its last value, divided by its mean absolute step (scale-free, like MASE);
    # level: minus its last value only (tsgate 0.1); none: as scaled.
    norm: str = "window"
    # The forecast the network corrects: 0 none, 1 the last value, m > 1 the last season of m
    # steps repeated. A network whose head is zero forecasts exactly this.
    anchor_season: int = 1
    n_calendar: int = 0  # calendar inputs (sine and cosine pairs) after the target channels
    highway: bool = True  # a linear map from the window to the forecast beside the recurrent path (LSTNet)
    # A last input channel, 1 where the window holds the series and 0 where it is padding: set where a
    # panel pads the windows of series shorter than the lookback (prepare.py), off for every other fit.
    masked: bool = False
    # Count the network's correction in the seasonal anchor's in-window error rather than the
    # one-step change (models.anchor_error): set by every fit whose anchor is seasonal since 0.8.
    scale_by_anchor: bool = False
    # Covariate input channels (covariates.py), after the calendar ones: past, future and static, each
    # numeric column one channel and each categorical one per level. The horizon's future covariates
    # also reach the head, and the highway reads them all (an ARX path). 0: none, as before them.
    n_past: int = 0
    n_future: int = 0
    n_static: int = 0

    def __post_init__(self):
        if self.backbone not in BACKBONE_NAMES:
            raise OptionError(f"unknown model {self.backbone!r}: use one of {', '.join(BACKBONE_NAMES)}")
        for name in ("n_targets", "lookback", "horizon", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise OptionError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise OptionError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.norm not in NORMS:
            raise OptionError(f"unknown --norm {self.norm!r}: use one of {', '.join(NORMS)}")
        if not 0 <= self.anchor_season <= self.lookback:
            raise OptionError(f"the anchor's season {self.anchor_season} must lie between 0 and the lookback {self.lookback}")
        if self.anchor_season == 0 and self.norm != "none":
            # The window's level is subtracted before the network reads it; without an anchor
            # nothing would add it back, and the network cannot see it.
            raise OptionError(f"--anchor none needs --norm none (--norm {self.norm} reads windows relative to their "
                              "last value, which the anchor adds back): use --anchor last, or --norm none")
        for name in ("n_calendar", "n_past", "n_future", "n_static"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must be 0 or more, got {getattr(self, name)}")

    @property
    def n_covariates(self) -> int:
        """Covariate input channels along the lookback."""
        return self.n_past + self.n_future + self.n_static

    @property
    def first_covariate(self) -> int:
        """The input channel of the first covariate: after the targets and the calendar."""
        return self.n_targets + self.n_calendar

    @property
    def n_inputs(self) -> int:
        return self.n_targets + self.n_calendar + self.n_covariates + int(self.masked)

    @property
    def head_inputs(self) -> int:
        """The head reads the last state and the horizon's future covariates."""
        return self.hidden + self.horizon * self.n_future

    @property
    def exogenous_inputs(self) -> int:
        """The highway's covariate part reads the lookback's past and future covariates, the static ones
        once and the horizon's future covariates."""
        return self.lookback * (self.n_past + self.n_future) + self.n_static + self.horizon * self.n_future

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """How to fit; saved in the model file beside the model config."""

    # Optimizer steps, the unit of the budget: a 144-point series gives one batch per epoch,
    # so an epoch budget would give it a hundred steps and a long series thousands.
    steps: int = 4000  # most Adam steps per network; early stopping usually ends sooner
    epochs: int | None = None  # optional cap on passes over the training windows
    batch_size: int = 128  # windows per Adam step; 128 keeps the recurrent matmuls efficient on CPU
    lr: float = 3e-3  # peak Adam learning rate; a cosine schedule over `steps` lowers it to 10%
    patience: int = 10  # validation checks without improvement before stopping
    clip: float = 1.0  # max global gradient norm, against exploding gradients
    val_fraction: float = 0.2  # share of each series held out for validation (at least one horizon)
    scaler: str = "standard"  # standard | minmax | robust | none, fitted per series on training data
    loss: str = "mae"  # mae | huber | mse, on errors in units of each window's scale
    # After early stopping picks the step count, train again from the same start on every
    # window, validation part included, for that many steps: the newest points are learned too.
    refit: bool = True
    ensemble: int = 3  # members (seeds and lookbacks); the forecast is their median
    device: str = "auto"  # auto takes cuda, then mps, then cpu
    seed: int = 0  # seeds weights, shuffling and dropout
    threads: int = DEFAULT_THREADS  # torch CPU threads

    def __post_init__(self):
        positive = {"steps": self.steps, "batch-size": self.batch_size, "threads": self.threads,
                    "ensemble": self.ensemble}
        if self.epochs is not None:
            positive["epochs"] = self.epochs
        for name, value in positive.items():
            if value < 1:
                raise OptionError(f"--{name} must be at least 1, got {value}")
        if self.patience < 0:
            raise OptionError(f"--patience must be 0 or more, got {self.patience}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise OptionError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise OptionError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        for name, value, choices in (("scaler", self.scaler, SCALERS), ("loss", self.loss, LOSSES),
                                     ("device", self.device, DEVICES)):
            if value not in choices:
                raise OptionError(f"unknown --{name} {value!r}: use one of {', '.join(choices)}")

    def to_dict(self) -> dict:
        return asdict(self)
