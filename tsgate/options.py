"""The command line's options, each declared once, and the groups of them that commands share.

Typer reads a command's options from its signature. A command names a group once, as a
parameter annotated with one of the dataclasses below (`model: ModelOptions`); `option_groups`
spreads the group's fields into the signature Typer reads, at that place and in that order, and
hands the command one dataclass built from what was parsed. So `--horizon` is the field
`ModelOptions.horizon` in every command that takes it, and the command passes it on by name.

Only typer and config.py are imported here: `tsgate --help` must not load pandas or torch.
"""

import dataclasses
import functools
import inspect
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from tsgate.config import (
    ANCHORS,
    DEFAULT_ANCHOR,
    DEFAULT_CALENDAR,
    DEFAULT_LOOKBACK,
    DEVICES,
    FILL_METHODS,
    LOSSES,
    MATCHES,
    MODEL_CHOICES,
    NORMS,
    SCALERS,
)
from tsgate.config import ModelConfig as M
from tsgate.config import TrainConfig as T


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of the option values config.py defines, so typer lists and checks them without
    a second copy here (member names are the values: Backbone.gru, Scaler.standard)."""
    return Enum(name, [(value, value) for value in values], type=str)


Backbone = choices("Backbone", MODEL_CHOICES)
Loss = choices("Loss", LOSSES)
Anchor = choices("Anchor", ANCHORS)
Norm = choices("Norm", NORMS)
Scaler = choices("Scaler", SCALERS)
Device = choices("Device", DEVICES)
Fill = choices("Fill", FILL_METHODS)
OutputFormat = choices("OutputFormat", ("auto", "table", "csv", "json", "markdown"))
SummaryFormat = choices("SummaryFormat", ("table", "json"))
Match = choices("Match", MATCHES)

# The panels of `--help` (shown when rich renders the help).
DATA_HELP = "Data options"
MODEL_HELP = "Model options"
TRAIN_HELP = "Training options"
OUT_HELP = "Output options"
TUNE_HELP = "Tuning options"

# ---- single options: flags, help and type in one place; config.py keeps the defaults ----------

DataArg = Annotated[str, typer.Argument(metavar="DATA", help="CSV file with a time column and value columns; '-' reads stdin.")]
ModelFile = Annotated[Path, typer.Argument(metavar="MODEL", help="A model file written by 'tsgate train'.")]
Target = Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Value column(s) to forecast; repeat or comma-separate. Default: the only numeric column.", rich_help_panel=DATA_HELP)]
TimeCol = Annotated[Optional[str], typer.Option("--time-col", help="Timestamp column. Default: detected by name, then by content.", rich_help_panel=DATA_HELP)]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Series id column, for many series in long format (one global model).", rich_help_panel=DATA_HELP)]
Freq = Annotated[Optional[str], typer.Option("--freq", help="Frequency as a pandas alias (D, h, 30min, W, MS). Default: inferred.", rich_help_panel=DATA_HELP)]
FillOpt = Annotated[Optional[Fill], typer.Option("--fill", help="Fill missing values and gaps. Default: missing values are an error.", rich_help_panel=DATA_HELP)]
Strict = Annotated[bool, typer.Option("--strict", help="In a file of many series, refuse one that cannot be used (too short, constant, gaps without --fill, unknown to the model) instead of leaving it out with a note.", rich_help_panel=DATA_HELP)]
PastCov = Annotated[Optional[list[str]], typer.Option("--past-cov", help="Covariate column(s) observed up to the forecast origin only; repeat or comma-separate.", rich_help_panel=DATA_HELP)]
FutureCov = Annotated[Optional[list[str]], typer.Option("--future-cov", help="Covariate column(s) known over the whole horizon ahead (forecasts, planned events); forecast reads their values from rows after each series' last target, with the target empty.", rich_help_panel=DATA_HELP)]
StaticCov = Annotated[Optional[list[str]], typer.Option("--static-cov", help="Covariate column(s) constant within each series of a panel (numeric or categorical).", rich_help_panel=DATA_HELP)]
Categorical = Annotated[Optional[list[str]], typer.Option("--categorical", help="Covariate column(s) to read as categories whatever their cells look like (a text column is one anyway).", rich_help_panel=DATA_HELP)]
Sep = Annotated[Optional[str], typer.Option("--sep", help="Field separator. Default: detected among , ; tab |.", rich_help_panel=DATA_HELP)]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of the CSV (a UTF-8 BOM is always accepted).", rich_help_panel=DATA_HELP)]

ModelOpt = Annotated[Backbone, typer.Option("--model", "-m", help="Recurrent backbone; auto trains each and keeps the best on validation data.", rich_help_panel=MODEL_HELP)]
Lookback = Annotated[str, typer.Option("--lookback", "-l", help="Past steps the model reads, or auto: three horizons or two seasons, as far as the shortest series allows (members then read 0.5x, 1x and 1.5x of it).", rich_help_panel=MODEL_HELP)]
Horizon = Annotated[int, typer.Option("--horizon", "-H", help="Future steps predicted at once.", rich_help_panel=MODEL_HELP)]
Hidden = Annotated[int, typer.Option("--hidden", help="Recurrent state size.", rich_help_panel=MODEL_HELP)]
Layers = Annotated[int, typer.Option("--layers", help="Stacked recurrent layers.", rich_help_panel=MODEL_HELP)]
Dropout = Annotated[float, typer.Option("--dropout", help="Dropout between stacked layers.", rich_help_panel=MODEL_HELP)]
AnchorOpt = Annotated[Anchor, typer.Option("--anchor", help="The simple forecast the network corrects: seasonal naive, the last value, or auto (the better of the two on the training part).", rich_help_panel=MODEL_HELP)]
NormOpt = Annotated[Norm, typer.Option("--norm", help="window: each window relative to its last value, in units of its mean absolute step; level: relative to its last value only.", rich_help_panel=MODEL_HELP)]
Highway = Annotated[bool, typer.Option("--highway/--no-highway", help="A linear map from the window to the forecast beside the recurrent path (LSTNet's highway).", rich_help_panel=MODEL_HELP)]
Calendar = Annotated[bool, typer.Option("--calendar/--no-calendar", help="Calendar inputs (hour of day, day of week, time of year) where the frequency has them.", rich_help_panel=MODEL_HELP)]
Ensemble = Annotated[int, typer.Option("--ensemble", "-k", help="Networks trained with different seeds (and lookbacks); the forecast is their median.", rich_help_panel=MODEL_HELP)]

Steps = Annotated[int, typer.Option("--steps", help="Most optimizer steps per network; early stopping usually ends sooner.", rich_help_panel=TRAIN_HELP)]
Epochs = Annotated[Optional[int], typer.Option("--epochs", help="Also stop after this many passes over the training windows. Default: no such cap.", rich_help_panel=TRAIN_HELP)]
LossOpt = Annotated[Loss, typer.Option("--loss", help="Training loss on errors in units of each window's scale.", rich_help_panel=TRAIN_HELP)]
Refit = Annotated[bool, typer.Option("--refit/--no-refit", help="After early stopping, retrain on every window (validation part included) for the best number of steps.", rich_help_panel=TRAIN_HELP)]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Windows per optimizer step.", rich_help_panel=TRAIN_HELP)]
Lr = Annotated[float, typer.Option("--lr", help="Peak Adam learning rate (a cosine schedule lowers it to 10% over --steps).", rich_help_panel=TRAIN_HELP)]
Patience = Annotated[int, typer.Option("--patience", help="Validation checks without improvement before stopping.", rich_help_panel=TRAIN_HELP)]
ValFraction = Annotated[float, typer.Option("--val-fraction", help="Share of each series held out at its end for validation (at least one horizon).", rich_help_panel=TRAIN_HELP)]
ScalerOpt = Annotated[Scaler, typer.Option("--scaler", help="Per-series scaler, fitted on the training part only.", rich_help_panel=TRAIN_HELP)]
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto takes cuda, then mps, then cpu.", rich_help_panel=TRAIN_HELP)]
Seed = Annotated[int, typer.Option("--seed", help="Seed for weights, shuffling and dropout; same seed, same result on CPU.", rich_help_panel=TRAIN_HELP)]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads for torch (1 is fastest for these small models on a busy machine); with --jobs above 1, each worker uses one.", rich_help_panel=TRAIN_HELP)]
Jobs = Annotated[Optional[int], typer.Option("--jobs", "-j", help="Worker processes training networks side by side, one torch thread each (1 on a GPU). Results do not depend on it. Default: one per usable core.", show_default=False, rich_help_panel=TRAIN_HELP)]
MatchOpt = Annotated[Optional[Match], typer.Option("--match", help="What every backbone has the same of: hidden (the --hidden size) or params (each backbone's hidden size chosen so that its whole network has the same parameter count: --params, default the GRU's at --hidden). Default: hidden (params with compare --claims).", show_default=False, rich_help_panel=MODEL_HELP)]
ParamsOpt = Annotated[Optional[int], typer.Option("--params", help="The parameter count --match params gives every backbone. Default: the GRU's at --hidden on this data.", show_default=False, rich_help_panel=MODEL_HELP)]
BudgetOpt = Annotated[str, typer.Option("--budget", help="What every network gets the same amount of in training: steps (--steps optimizer steps), flops (the multiply-adds of the GRU's --steps, so a cheaper cell takes more steps) or seconds:S (S seconds of training per network; not reproducible).", rich_help_panel=TRAIN_HELP)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]

LevelOpt = Annotated[Optional[list[float]], typer.Option("--level", help="Prediction interval level in percent, strictly between 0 and 100; repeat for several (--level 80 --level 95).", rich_help_panel=OUT_HELP)]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="auto: table on a terminal, CSV when piped (or by -o's suffix).", rich_help_panel=OUT_HELP)]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to this file (atomically) instead of stdout.", rich_help_panel=OUT_HELP)]
PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="Also draw a picture into this file: PNG, SVG or PDF by its suffix (written atomically; stdout is unchanged).", rich_help_panel=OUT_HELP)]

Tune = Annotated[Optional[int], typer.Option("--tune", help="First tune each backbone with N trials of a hyperparameter search (Optuna's seeded TPE sampler; hopeless trials are pruned at their validation checks). Each trial fits ONE network (no ensemble, no refit) and is scored by its validation MAE: the test period is never seen. The best configuration then trains as without tuning (--ensemble, and in compare --seeds and --folds). See README, \"Tuning\".", show_default=False, rich_help_panel=TUNE_HELP)]
SpaceOpt = Annotated[Optional[Path], typer.Option("--space", help="A TOML or JSON file narrowing or widening the search space: {\"hidden\": [16, 64], \"loss\": [\"mae\"], \"layers\": 1} (two numbers a range, another list a choice, a value fixed). Keys: hidden (or params with --match params), layers, lr, dropout, lookback (a multiple of the automatic one), batch_size, loss.", rich_help_panel=TUNE_HELP)]
StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="An Optuna storage the trials are kept in: sqlite:///study.db, a postgresql:// URL, or a journal file path (on a shared file system). Processes started with the same --storage and --study share the search. Default: a temporary file.", rich_help_panel=TUNE_HELP)]
StudyOpt = Annotated[Optional[str], typer.Option("--study", help="The study's name in --storage (one study per backbone: NAME-gru, ...). Default: tsgate.", rich_help_panel=TUNE_HELP)]


# ---- groups: the options several commands take together ----------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """The network's shape and the ensemble (train, compare): Forecaster arguments of the same names."""

    lookback: Lookback = DEFAULT_LOOKBACK
    horizon: Horizon = M.horizon
    hidden: Hidden = M.hidden
    layers: Layers = M.layers
    dropout: Dropout = M.dropout
    anchor: AnchorOpt = Anchor(DEFAULT_ANCHOR)
    norm: NormOpt = Norm(M.norm)
    highway: Highway = M.highway
    calendar: Calendar = DEFAULT_CALENDAR
    ensemble: Ensemble = T.ensemble


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How the networks are fitted (train, compare): Forecaster arguments of the same names, and
    the worker processes that fit them."""

    steps: Steps = T.steps
    epochs: Epochs = T.epochs
    batch_size: BatchSize = T.batch_size
    lr: Lr = T.lr
    patience: Patience = T.patience
    val_fraction: ValFraction = T.val_fraction
    loss: LossOpt = Loss(T.loss)
    refit: Refit = T.refit
    scaler: ScalerOpt = Scaler(T.scaler)
    device: DeviceOpt = Device(T.device)
    seed: Seed = T.seed
    threads: Threads = T.threads
    jobs: Jobs = None


@dataclasses.dataclass(frozen=True)
class ColumnOptions:
    """Which columns of DATA hold the series and its covariates (train, compare; a model file knows its own)."""

    target: Target = None
    time_col: TimeCol = None
    id_col: IdCol = None
    past_cov: PastCov = None  # covariates (covariates.py), in their roles
    future_cov: FutureCov = None
    static_cov: StaticCov = None
    categorical: Categorical = None

    def covariates(self) -> dict:
        """The DataOptions covariate fields of the same names, each option's names split at commas."""
        from tsgate.covariates import split_names

        return {name: split_names(getattr(self, name)) for name in ("past_cov", "future_cov", "static_cov", "categorical")}

    @property
    def targets(self) -> tuple[str, ...]:
        """--target's names: repeated, comma-separated or both."""
        return tuple(name.strip() for item in self.target or () for name in item.split(",") if name.strip())


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How DATA is read (every command that reads a CSV)."""

    freq: Freq = None
    fill: FillOpt = None
    strict: Strict = False
    sep: Sep = None
    encoding: Encoding = "utf-8"

    @property
    def fill_method(self) -> Optional[str]:
        return self.fill.value if self.fill else None


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """Where a result goes and in which format (forecast, compare, inspect)."""

    fmt: FormatOpt = OutputFormat.auto
    output: OutputOpt = None

    @property
    def path(self) -> Optional[str]:
        """The output file's name for format detection by suffix; None for stdout."""
        return str(self.output) if self.output else None


@dataclasses.dataclass(frozen=True)
class Verbosity:
    """What a command says on stderr (every command). The command reads quiet; --debug is read
    from argv by the error handler (cli.reraise_if_debug says why)."""

    quiet: Quiet = False
    debug: Debug = False


@dataclasses.dataclass(frozen=True)
class ControlOptions:
    """What every backbone gets the same of (train, compare): size and training budget (controls.py)."""

    match: MatchOpt = None
    params: ParamsOpt = None
    budget: BudgetOpt = "steps"

    def matched(self, default: str = "hidden") -> str:
        """--match's value; `default` when it was not given."""
        return self.match.value if self.match else default


@dataclasses.dataclass(frozen=True)
class TuningOptions:
    """The hyperparameter search before training (train, compare), which tune.tuning_request checks
    before any data is read; an option of the search without --tune is refused there."""

    tune: Tune = None
    space: SpaceOpt = None
    storage: StorageOpt = None
    study: StudyOpt = None


GROUPS = (ModelOptions, TrainingOptions, ColumnOptions, ReadOptions, OutputOptions, Verbosity, TuningOptions,
          ControlOptions)


def option_groups(command):
    """`command` with each parameter annotated by a group of GROUPS replaced, for Typer, by that
    group's fields (as keyword parameters, in place); the command is called with the group built."""
    hints = typing.get_type_hints(command, include_extras=True)
    parameters, groups = [], {}
    for parameter in inspect.signature(command).parameters.values():
        annotation = hints.get(parameter.name, parameter.annotation)
        if annotation in GROUPS:
            groups[parameter.name] = annotation
            parameters += group_parameters(annotation)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    names = [parameter.name for parameter in parameters]
    if len(set(names)) < len(names):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter name ({', '.join(names)})")

    @functools.wraps(command)
    def run(**values):
        for name, group in groups.items():
            values[name] = group(**{field.name: values.pop(field.name) for field in dataclasses.fields(group)})
        return command(**values)

    # Keyword-only throughout: the fields stand between parameters without defaults. Typer calls
    # a command with keywords, so the kinds change nothing on the command line.
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return run


def group_parameters(group) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(group, include_extras=True)
    return [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                              annotation=hints[field.name]) for field in dataclasses.fields(group)]
