"""The command line: parse options, call the library, render results, map errors to exit codes.

No modelling happens here. Heavy libraries (torch, pandas, scikit-learn) are
imported inside the commands, so `tsgate --help` starts fast.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click; older releases use the click package
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

from tsgate import __version__
from tsgate.config import (
    ANCHORS,
    DEFAULT_ANCHOR,
    DEFAULT_CALENDAR,
    DEFAULT_LOOKBACK,
    DEVICES,
    LOSSES,
    MODEL_CHOICES,
    NORMS,
    SCALERS,
)
from tsgate.config import ModelConfig as M
from tsgate.config import TrainConfig as T
from tsgate.errors import TsgateError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Interrupted(BaseException):
    """SIGTERM, raised as an exception so that temporary files are cleaned up on the way out."""


class TsgateGroup(TyperGroup):
    """Turns every failure into one line on stderr and a documented exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            if result == EXIT_INTERRUPTED:  # typer's main turns KeyboardInterrupt into a silent Exit(130)
                raise KeyboardInterrupt
            code = result if isinstance(result, int) else EXIT_OK
        except click.exceptions.NoArgsIsHelpError as exc:
            sys.stderr.write(exc.ctx.get_help() + "\n")
            code = EXIT_USAGE
        except click.exceptions.UsageError as exc:
            code = report(f"{exc.format_message()} (see '{exc.ctx.command_path if exc.ctx else 'tsgate'} --help')", EXIT_USAGE)
        except click.exceptions.ClickException as exc:
            code = report(exc.format_message(), exc.exit_code)
        except TsgateError as exc:
            code = reraise_if_debug(argv) or report(str(exc), exc.exit_code)
        except (KeyboardInterrupt, typer.Abort):
            code = report("interrupted; no output was written", EXIT_INTERRUPTED)
        except Interrupted:
            code = report("terminated; no output was written", EXIT_TERMINATED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
            code = reraise_if_debug(argv) or report(
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in tsgate: rerun with --debug and report the traceback to its maintainers",
                EXIT_INTERNAL,
            )
        if standalone_mode:
            sys.exit(code)
        return code


def reraise_if_debug(argv: list[str]) -> int:
    if "--debug" in argv:
        raise
    return 0


def report(message: str, code: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    sys.stderr.write(f"Error: {first}\n")
    sys.stderr.flush()
    return code


app = typer.Typer(
    cls=TsgateGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Train, compare and use recurrent forecasters (RNN, GRU, LSTM) on time series in CSV files.",
    epilog="Exit codes: 0 ok, 2 bad input or usage, 1 internal error, 130 interrupted, 143 terminated. Data '-' means stdin.",
)


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


class OutputFormat(str, Enum):
    auto = "auto"
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"


class Fill(str, Enum):
    ffill = "ffill"
    interpolate = "interpolate"
    zero = "zero"


# ---- shared options: defined once, used by every command -----------------------------------
# Typer reads each command's options from that command's signature, so train and compare
# both list these parameters; the aliases keep each option's flags, help and type in one place,
# and config.py keeps the defaults.

DATA_HELP = "Data options"
MODEL_HELP = "Model options"
TRAIN_HELP = "Training options"
OUT_HELP = "Output options"

DataArg = Annotated[str, typer.Argument(metavar="DATA", help="CSV file with a time column and value columns; '-' reads stdin.")]
Target = Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Value column(s) to forecast; repeat or comma-separate. Default: the only numeric column.", rich_help_panel=DATA_HELP)]
TimeCol = Annotated[Optional[str], typer.Option("--time-col", help="Timestamp column. Default: detected by name, then by content.", rich_help_panel=DATA_HELP)]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Series id column, for many series in long format (one global model).", rich_help_panel=DATA_HELP)]
Freq = Annotated[Optional[str], typer.Option("--freq", help="Frequency as a pandas alias (D, h, 30min, W, MS). Default: inferred.", rich_help_panel=DATA_HELP)]
FillOpt = Annotated[Optional[Fill], typer.Option("--fill", help="Fill missing values and gaps. Default: missing values are an error.", rich_help_panel=DATA_HELP)]
Strict = Annotated[bool, typer.Option("--strict", help="In a file of many series, refuse one that cannot be used (too short, constant, gaps without --fill, unknown to the model) instead of leaving it out with a note.", rich_help_panel=DATA_HELP)]
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
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary on stderr.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]

LevelOpt = Annotated[Optional[list[float]], typer.Option("--level", help="Prediction interval level in percent, strictly between 0 and 100; repeat for several (--level 80 --level 95).", rich_help_panel=OUT_HELP)]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="auto: table on a terminal, CSV when piped (or by -o's suffix).", rich_help_panel=OUT_HELP)]
OutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result to this file (atomically) instead of stdout.", rich_help_panel=OUT_HELP)]
PlotOpt = Annotated[Optional[Path], typer.Option("--plot", help="Also draw a picture into this file: PNG, SVG or PDF by its suffix (written atomically; stdout is unchanged).", rich_help_panel=OUT_HELP)]


def version_callback(value: bool):
    if value:
        typer.echo(f"tsgate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")] = False,
    debug: Debug = False,
):
    """Train, compare and use recurrent forecasters (RNN, GRU, LSTM) on time series in CSV files."""


def split_targets(target: Optional[list[str]]) -> tuple[str, ...]:
    return tuple(name.strip() for item in target or () for name in item.split(",") if name.strip())


def read_series(data, target, time_col, id_col, freq, fill, sep, encoding, strict=False):
    from tsgate.data import DataOptions

    options = DataOptions(split_targets(target), time_col, id_col, freq, fill.value if fill else None, strict=strict)
    return load_data(data, options, sep, encoding)


def load_data(data: str, options, sep, encoding):
    """Read and validate DATA ('-' for stdin): the one path every command's data takes."""
    from tsgate.data import load_series
    from tsgate.io import read_csv

    return load_series(read_csv(data, sep, encoding), options)


# The Forecaster arguments that train and compare take from options of the same name.
FORECASTER_OPTIONS = ("lookback", "horizon", "hidden", "layers", "dropout", "norm", "highway", "anchor", "calendar",
                      "steps", "epochs", "batch_size", "lr", "patience", "val_fraction", "scaler", "loss", "refit",
                      "ensemble", "device", "seed", "threads")


def forecaster_options(command_locals: dict) -> dict:
    """The command's values of FORECASTER_OPTIONS: one list, so train and compare cannot drift apart."""
    return {name: command_locals[name] for name in FORECASTER_OPTIONS}


def make_forecaster(**options):
    """A validated, unfitted Forecaster from the options train and compare share (enums as their values)."""
    from tsgate.forecaster import Forecaster

    values = {name: value.value if isinstance(value, Enum) else value for name, value in options.items()}
    values["lookback"] = parse_lookback(values["lookback"])
    forecaster = Forecaster(**values)
    forecaster.check_options()  # option errors before reading a possibly long stdin
    return forecaster


def parse_lookback(text: str):
    from tsgate.errors import OptionError

    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise OptionError(f"--lookback must be a whole number of steps or 'auto', got {text!r}") from None


def people_console():
    from rich.console import Console

    return Console(stderr=True)


# ---- train -----------------------------------------------------------------------------------


@app.command(epilog="""Examples:

  tsgate train sample_data/air_passengers.csv --model gru --horizon 12 -o air.tsgate

  cat readings.csv | tsgate train - --target load --model lstm -o load.tsgate

  tsgate train sample_data/us_unemployment_by_industry.csv --id-col industry --format json -o jobs.tsgate

  torchrun --nproc-per-node 2 -m tsgate train stores.csv --id-col store --batch-size 512 -o stores.tsgate

Many series (--id-col): a series too short or unreadable is left out with a note and a constant one
forecasts its last value (--strict refuses both). Under torchrun every process reads DATA and trains on its share of each batch; rank 0
writes the model (see README, "Several processes or machines: torchrun").
""")
def train(
    data: DataArg,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model file to write (atomically). Default: <data>-<model>.tsgate.", rich_help_panel=OUT_HELP)] = None,
    model: ModelOpt = Backbone.gru,
    lookback: Lookback = DEFAULT_LOOKBACK,
    horizon: Horizon = M.horizon,
    hidden: Hidden = M.hidden,
    layers: Layers = M.layers,
    dropout: Dropout = M.dropout,
    anchor: AnchorOpt = Anchor(DEFAULT_ANCHOR),
    norm: NormOpt = Norm(M.norm),
    highway: Highway = M.highway,
    calendar: Calendar = DEFAULT_CALENDAR,
    ensemble: Ensemble = T.ensemble,
    target: Target = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    freq: Freq = None,
    fill: FillOpt = None,
    strict: Strict = False,
    sep: Sep = None,
    encoding: Encoding = "utf-8",
    steps: Steps = T.steps,
    epochs: Epochs = T.epochs,
    batch_size: BatchSize = T.batch_size,
    lr: Lr = T.lr,
    patience: Patience = T.patience,
    val_fraction: ValFraction = T.val_fraction,
    loss: LossOpt = Loss(T.loss),
    refit: Refit = T.refit,
    scaler: ScalerOpt = Scaler.standard,
    device: DeviceOpt = Device.auto,
    seed: Seed = T.seed,
    threads: Threads = T.threads,
    jobs: Jobs = None,
    plot: PlotOpt = None,
    fmt: Annotated[SummaryFormat, typer.Option("--format", "-f", help="table: summary on stderr; json: summary as JSON on stdout.", rich_help_panel=OUT_HELP)] = SummaryFormat.table,
    quiet: Quiet = False,
    debug: Debug = False,
):
    """Train one backbone on a CSV and write a model file."""
    from tsgate import distributed
    from tsgate.io import check_writable
    from tsgate.parallel import start_early

    output = output or default_model_path(data, model.value)
    check_writable(output)
    check_plot(plot)
    forecaster = make_forecaster(backbone=model, **forecaster_options(locals()))
    world = join_torchrun(forecaster, data)
    workers = 1 if world else forecaster.workers(jobs)  # under torchrun, the processes are torchrun's
    quiet = quiet or not distributed.is_main()
    start_early(workers if ensemble > 1 or model == Backbone.auto else 1)  # one network trains here
    try:
        series = read_series(data, target, time_col, id_col, freq, fill, sep, encoding, strict)
        console = people_console()
        show_notes(console, series.notes, quiet)
        with progress_bar(console, quiet or not console.is_terminal, f"training {model.value}") as update:
            on_progress = update and (lambda step, steps, train_loss, val_loss: update(
                step, steps, detail=f"train {train_loss:.4f}  val {val_loss:.4f}"))
            with distributed.failures_as_errors():
                forecaster.fit(series, on_progress=on_progress, jobs=workers)
    finally:
        distributed.stop()
    if world is not None and not world.main:
        return  # rank 0 writes the model file and the summary
    show_notes(console, panel_notes(forecaster.skipped_, len(forecaster.ids_), int(forecaster.constant_.sum())), quiet)
    forecaster.save(output)
    if plot:
        from tsgate.plots import plot_training

        plot_training(forecaster.history_, plot, title=f"training {forecaster.backbone_} ({data})")
    summary = {**forecaster.metrics_, "model_file": str(output), "series": len(forecaster.ids_), "targets": series.targets,
               "skipped_ids": [key for key, _ in forecaster.skipped_]}
    if fmt == SummaryFormat.json:
        from tsgate.render import to_json

        sys.stdout.write(to_json(summary))
    elif not quiet:
        print_summary(console, summary)


def join_torchrun(forecaster, data: str):
    """The torchrun world this process is part of (None: a single process), joined before any data is read."""
    from tsgate import distributed
    from tsgate.errors import OptionError

    if distributed.requested() is None:
        return None
    if data == "-":
        raise OptionError("under torchrun every process reads DATA itself: give a file path, not '-' (stdin)")
    from tsgate.train import resolve_device

    return distributed.start(resolve_device(forecaster.check_options().device).type)


def check_plot(plot) -> None:
    """A --plot file is checked (suffix, folder) before any work, like -o."""
    if plot is not None:
        from tsgate.plots import check_plot_path

        check_plot_path(plot)


def single_process(command: str) -> None:
    """forecast and compare are quick or parallel on their own: torchrun is for train."""
    from tsgate import distributed
    from tsgate.errors import OptionError

    if distributed.requested() is not None:
        raise OptionError(f"'tsgate {command}' does not run under torchrun: run it as one process (torchrun is for 'tsgate train')")


def default_model_path(data: str, backbone: str) -> Path:
    stem = "stdin" if data == "-" else Path(data).stem
    return Path(f"{stem}-{backbone}.tsgate")


def panel_notes(skipped: list[tuple[str, str]], used: int, constant: int = 0) -> list[str]:
    """One note naming the series left out (the first few, then a count), one counting constant ones."""
    from tsgate.data import series_label

    notes = []
    if skipped:
        key, why = skipped[0]
        others = ", ".join(repr(key) for key, _ in skipped[1:4]) + (f" and {len(skipped) - 4} more" if len(skipped) > 4 else "")
        also = f"; also {others}" if others else ""
        notes.append(f"left out {len(skipped)} of {len(skipped) + used} series: {series_label(key)} {why}{also} "
                     "(--strict refuses them instead)")
    if constant:
        notes.append(f"{constant} series are constant over their training part: they forecast their last value")
    return notes


def show_notes(console, notes: list[str], quiet: bool) -> None:
    if not quiet:
        for note in notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)  # one note, one line


def print_summary(console, summary: dict) -> None:
    from rich.table import Table

    view = Table(show_header=False, box=None, title=f"trained {summary['backbone']}", title_justify="left")
    if isinstance(summary.get("backbone_val_loss"), dict) and len(summary["backbone_val_loss"]) > 1:
        losses = ", ".join(f"{name} {loss:.4g}" for name, loss in summary["backbone_val_loss"].items())
        view.add_row("validation loss per backbone", losses)
    labels = [("device", "device"), ("kernel", "recurrent kernel"), ("parameters", "parameters (first network)"),
              ("parameters_total", "parameters (all networks)"), ("members", "ensemble members"),
              ("lookbacks", "their lookbacks"), ("anchor_season", "anchor season (1: last value)"),
              ("calendar", "calendar inputs"), ("steps_run", "optimizer steps, refits included"),
              ("best_steps", "best step of each member"), ("best_val_loss", "validation loss (mean over members)"),
              ("val_mae", "validation MAE of the ensemble (data units)"),
              ("calibration_windows", "held-out windows calibrating the intervals"), ("series", "series learned from"),
              ("series_skipped", "series left out"), ("series_constant", "constant series (forecast as such)"),
              ("train_seconds", "training time (s)"),
              ("model_file", "model file")]
    for key, label in labels:
        value = summary[key]
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        view.add_row(label, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(view)


# ---- forecast --------------------------------------------------------------------------------


@app.command(epilog="""Examples:

  tsgate forecast air.tsgate sample_data/air_passengers.csv            # table on a terminal, CSV in a pipe

  tsgate forecast load.tsgate readings.csv --format json | jq '.[0]'

  tsgate forecast air.tsgate                                           # from the end of the training data

  tsgate forecast air.tsgate --level 80 --level 95                     # adds passengers_lo_80, passengers_hi_80, ...

Intervals: split-conformal, from the model's errors on held-out windows at each step, scaled by
each series' recent variability (see README, "Prediction intervals").
""")
def forecast(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="A model file written by 'tsgate train'.")],
    data: Annotated[Optional[str], typer.Argument(metavar="DATA", help="CSV with the same columns as in training ('-' for stdin). Default: continue the training data.")] = None,
    freq: Freq = None,
    fill: FillOpt = None,
    strict: Strict = False,
    sep: Sep = None,
    encoding: Encoding = "utf-8",
    level: LevelOpt = None,
    fmt: FormatOpt = OutputFormat.auto,
    output: OutputOpt = None,
    plot: PlotOpt = None,
    quiet: Quiet = False,
    debug: Debug = False,
):
    """Forecast the next horizon after each series, with timestamps, on the original scale."""
    from tsgate.intervals import check_levels

    single_process("forecast")
    levels = check_levels(level)
    forecaster, series = model_and_data(model_file, data, freq, fill, strict, sep, encoding, output, plot)
    prediction = forecaster.predict_array(series, levels)
    frame = prediction.frame()
    if series is not None:
        skipped = [*series.skipped, *prediction.skipped]
        show_notes(people_console(), series.notes + panel_notes(skipped, len(prediction.numbers)), quiet)
    from tsgate.render import resolve_format

    on_screen = output is None and sys.stdout.isatty() and resolve_format(fmt.value, None) == "table"
    from tsgate.prediction import recent_history

    recent = recent_history(forecaster, prediction, series) if on_screen or plot else None  # for people only
    emit(frame, fmt.value, output, title="forecast", view=lambda: forecast_view(frame, forecaster.targets_, levels),
         footer=sparklines(forecaster, prediction, recent) if on_screen else "")
    if plot:
        from tsgate.plots import plot_forecast

        plot_forecast(*forecast_panels(forecaster, prediction, recent), plot, target=forecaster.targets_[0])


def model_and_data(model_file, data, freq, fill, strict, sep, encoding, output, plot):
    """(the model, DATA read as it was trained, or None) for forecast and inspect, the outputs checked first."""
    from tsgate.forecaster import Forecaster

    if output:
        from tsgate.io import check_writable

        check_writable(output)
    check_plot(plot)
    forecaster = Forecaster.load(model_file)
    if data is None:
        return forecaster, None
    return forecaster, load_data(data, forecaster.data_options(freq, fill.value if fill else None, strict), sep, encoding)


def forecast_panels(forecaster, prediction, recent):
    """(history, forecast) of each series for plots.plot_forecast: the first target, intervals as bands."""
    import warnings

    import pandas as pd

    from tsgate.data import series_label
    from tsgate.freq import future_stamps

    horizon = prediction.values.shape[1]
    future = future_stamps(prediction.last_timestamps, forecaster.freq_, horizon)
    history, forecast = [], []
    for row, number in enumerate(prediction.numbers):
        label = series_label(forecaster.ids_[number])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.date_range(end=prediction.last_timestamps[row], periods=recent.shape[1], freq=forecaster.freq_)
        bounds = {level: (low[row, :, 0], high[row, :, 0]) for level, (low, high) in prediction.bounds.items()}
        history.append((label, stamps, recent[row, :, 0]))
        forecast.append((label, future[row * horizon:(row + 1) * horizon], prediction.values[row, :, 0], bounds))
    return history, forecast


def sparklines(forecaster, prediction, recent, most: int = 10) -> str:
    """One line per series (the first `most`): its recent history, a bar, then its forecast."""
    from tsgate.data import series_label
    from tsgate.plots import sparkline

    lines = [f"{series_label(forecaster.ids_[number])}: {sparkline(recent[row, :, 0], prediction.values[row, :, 0])}"
             for row, number in enumerate(prediction.numbers[:most])]
    if len(prediction.numbers) > most:
        lines.append(f"... and {len(prediction.numbers) - most} more series")
    return "\n".join(lines)


def forecast_view(frame, targets: list[str], levels: tuple[float, ...]):
    """The table for people: each interval as one 'low – high' cell beside its point forecast."""
    from tsgate.intervals import bound_columns, level_name

    view = frame.copy()
    for target in targets:
        for level in levels:
            low, high = bound_columns(target, level)
            view[low] = [f"{a:.6g} – {b:.6g}" for a, b in zip(view[low], view[high])]
            view = view.drop(columns=high).rename(columns={low: f"{target} {level_name(level)}%"})
    return view


def emit(frame, fmt: str, output: Optional[Path], title: str, document: dict | None = None, footer: str = "",
         view=None) -> None:
    """Write a result frame to stdout or `output` in the chosen format; a table shows `view()` when
    given (a frame for people), with `footer` below it."""
    from tsgate.render import frame_text, resolve_format, table_text

    fmt = resolve_format(fmt, str(output) if output else None)
    if fmt == "table":
        text = table_text(view() if view else frame, title, footer, width=None if output is None else 200)
    else:
        text = frame_text(frame, fmt, document)
    if output:
        from tsgate.io import write_atomic

        write_atomic(output, text)
    else:
        sys.stdout.write(text)


# ---- inspect ---------------------------------------------------------------------------------


@app.command(name="inspect", epilog="""Examples:

  tsgate inspect air.tsgate sample_data/air_passengers.csv             # gate statistics and effective memory
  tsgate inspect air.tsgate --format json | jq .memory                   # over the end of the training data
  tsgate inspect air.tsgate sample_data/air_passengers.csv --plot gates.png

How to read it: each row is one gate of one layer, averaged over the windows, steps and units:
mean and spread of its activation, and the share of values saturated (a sigmoid gate within 0.05
of 0 or 1, a tanh value beyond ±0.95). GRU's update gate z is the share of the state kept per
step (memory of about 1/(1-z) steps), LSTM's forget gate f the share of the cell kept. The memory
profile is how much the forecast depends on each past step (gradient magnitude, summing to one);
the effective memory is the number of recent steps that carry 90% of it. JSON has every per-step
value; table, CSV and Markdown give the per-gate summary.
""")
def inspect_command(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL", help="A model file written by 'tsgate train'.")],
    data: Annotated[Optional[str], typer.Argument(metavar="DATA", help="CSV with the same columns as in training ('-' for stdin). Default: the end of the training data stored in the model.")] = None,
    windows: Annotated[int, typer.Option("--windows", help="Most windows to run the network over, spread evenly over DATA.")] = 512,
    freq: Freq = None,
    fill: FillOpt = None,
    strict: Strict = False,
    sep: Sep = None,
    encoding: Encoding = "utf-8",
    fmt: FormatOpt = OutputFormat.auto,
    output: OutputOpt = None,
    plot: PlotOpt = None,
    quiet: Quiet = False,
    debug: Debug = False,
):
    """What the gates do on your data, and how far back the trained network looks."""
    from tsgate.errors import OptionError
    from tsgate.gates import inspect_forecaster

    single_process("inspect")
    if windows < 1:
        raise OptionError(f"--windows must be at least 1, got {windows}")
    forecaster, series = model_and_data(model_file, data, freq, fill, strict, sep, encoding, output, plot)
    if series is not None:
        show_notes(people_console(), series.notes + panel_notes(series.skipped, len(series.ids)), quiet)
    report = inspect_forecaster(forecaster, series, windows)
    memory = report["memory"]
    footer = "\n".join([f"effective memory: the last {memory['effective']} of {report['lookback']} steps carry "
                        f"{memory['share']:.0%} of the forecast's dependence on its window", *report["reading"]])
    emit(gate_frame(report), fmt.value, output, document=report, footer=footer,
         title=f"tsgate inspect: {report['backbone']}, lookback {report['lookback']}, {report['windows']} windows")
    if plot:
        from tsgate.plots import plot_inspection

        plot_inspection(report, plot)


def gate_frame(report: dict):
    """One row per layer and gate: mean, spread and saturated share of its activations."""
    import pandas as pd

    return pd.DataFrame([{"layer": layer["layer"], "gate": name, "mean": gate["mean"], "std": gate["std"],
                          "saturated": gate["saturated"]}
                         for layer in report["layers"] for name, gate in layer["gates"].items()])


# ---- compare ---------------------------------------------------------------------------------


@app.command(epilog="""Forecast origins: fold k (k = 0 .. K-1) tests on the HORIZON points that end k horizons
before the end of each series, and trains only on the points before them (its validation part
is the end of those). Fold 0 tests on the last horizon. Rows report the mean over folds, then
mean ± std over seeds; DM p compares each row's errors with the best row's (Diebold-Mariano
with the Harvey-Leybourne-Newbold correction, on absolute errors in MASE units).

Examples:

  tsgate compare sample_data/air_passengers.csv --models rnn,gru,lstm --horizon 12 --seeds 3

  tsgate compare readings.csv --target load --folds 4 --format csv > comparison.csv

  cat readings.csv | tsgate compare - --format json | jq '.rows[] | select(.model=="gru")'

  tsgate compare sample_data/air_passengers.csv --horizon 12 --level 95   # adds coverage, width and MSIS

  tsgate compare readings.csv --seeds 3 --jobs 4   # 27 networks on 4 worker processes

The networks train on --jobs worker processes (default: one per core); the rows are the same
for any --jobs apart from the timing columns.

With --level, every row adds the coverage of its intervals on the test points, their mean width
and MSIS (M4's mean scaled interval score), both in units of MASE's scale. naive and seasonal naive
take their intervals from their own errors over the training data, ridge and the networks from
their errors on the validation part.
""")
def compare(
    data: DataArg,
    models: Annotated[str, typer.Option("--models", help="Comma-separated backbones to compare (auto: the one train --model auto picks, as a row of its own).", rich_help_panel=MODEL_HELP)] = "rnn,gru,lstm",
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per backbone (seeds SEED, SEED+1, ...): tables show mean ± std.", rich_help_panel=TRAIN_HELP)] = 1,
    folds: Annotated[int, typer.Option("--folds", help="Rolling forecast origins, one horizon apart (see below).", rich_help_panel=TRAIN_HELP)] = 1,
    season: Annotated[Optional[int], typer.Option("--season", help="Seasonal-naive lag. Default: from the frequency (12 monthly, 24 hourly, 7 daily, ...).", rich_help_panel=MODEL_HELP)] = None,
    lookback: Lookback = DEFAULT_LOOKBACK,
    horizon: Horizon = M.horizon,
    hidden: Hidden = M.hidden,
    layers: Layers = M.layers,
    dropout: Dropout = M.dropout,
    anchor: AnchorOpt = Anchor(DEFAULT_ANCHOR),
    norm: NormOpt = Norm(M.norm),
    highway: Highway = M.highway,
    calendar: Calendar = DEFAULT_CALENDAR,
    ensemble: Ensemble = T.ensemble,
    target: Target = None,
    time_col: TimeCol = None,
    id_col: IdCol = None,
    freq: Freq = None,
    fill: FillOpt = None,
    strict: Strict = False,
    sep: Sep = None,
    encoding: Encoding = "utf-8",
    steps: Steps = T.steps,
    epochs: Epochs = T.epochs,
    batch_size: BatchSize = T.batch_size,
    lr: Lr = T.lr,
    patience: Patience = T.patience,
    val_fraction: ValFraction = T.val_fraction,
    loss: LossOpt = Loss(T.loss),
    refit: Refit = T.refit,
    scaler: ScalerOpt = Scaler.standard,
    device: DeviceOpt = Device.auto,
    seed: Seed = T.seed,
    threads: Threads = T.threads,
    jobs: Jobs = None,
    level: LevelOpt = None,
    plot: PlotOpt = None,
    save_dir: Annotated[Optional[Path], typer.Option("--save-dir", help="Keep every trained model here as BACKBONE-seedN-foldK.tsgate.", rich_help_panel=OUT_HELP)] = None,
    fmt: FormatOpt = OutputFormat.auto,
    output: OutputOpt = None,
    quiet: Quiet = False,
    debug: Debug = False,
):
    """Train several backbones on the same split and compare error, time and size with baselines."""
    from tsgate.compare import CompareOptions, run_comparison
    from tsgate.intervals import check_levels
    from tsgate.parallel import start_early

    single_process("compare")
    check_output_targets(output, save_dir)
    check_plot(plot)
    template = make_forecaster(backbone="gru", **forecaster_options(locals()))  # compare sets each backbone
    workers = template.workers(jobs)
    start_early(workers)
    options = CompareOptions(tuple(name.strip() for name in models.split(",") if name.strip()), seeds, folds, season,
                             check_levels(level))
    series = read_series(data, target, time_col, id_col, freq, fill, sep, encoding, strict)
    console = people_console()
    show_notes(console, series.notes + panel_notes(series.skipped, len(series.ids)), quiet)
    with progress_bar(console, quiet or not console.is_terminal, "comparing") as update:
        result = run_comparison(series, template, options, update, save_dir, workers)
    show_notes(console, result.notes, quiet)
    emit_comparison(result, fmt.value, output, console, quiet)
    if plot:
        from tsgate.plots import plot_comparison

        plot_comparison(result.rows, plot, metric="mase")


def check_output_targets(output: Optional[Path], save_dir: Optional[Path]) -> None:
    """Refuse unwritable destinations before any training starts."""
    from tsgate.errors import OutputError
    from tsgate.io import check_writable

    if output:
        check_writable(output)
    if save_dir is not None:
        if save_dir.exists() and not save_dir.is_dir():
            raise OutputError(f"--save-dir {save_dir} is a file, not a folder")
        check_writable(save_dir / "model.tsgate" if save_dir.exists() else save_dir)  # compare creates it when saving


def emit_comparison(result, fmt: str, output: Optional[Path], console, quiet: bool) -> None:
    import pandas as pd

    from tsgate.render import resolve_format

    frame = pd.DataFrame(result.rows).astype({"rank": "Int64", "parameters": "Int64"})
    if resolve_format(fmt, str(output) if output else None) == "table":
        emit(frame, "table", output, title="tsgate compare", footer=result.verdict,
             view=lambda: comparison_view(result.rows, result.settings["levels"]))
        return
    emit(frame, fmt, output, title="tsgate compare", document=result.document())
    if not quiet:
        console.print(result.verdict, highlight=False, soft_wrap=True)


def comparison_view(rows: list[dict], levels: list[float] = ()):
    """The table for people: mean ± std in one cell, dashes where a column has no meaning."""
    import pandas as pd

    from tsgate.intervals import level_name

    def spread(row, metric):
        mean, std = row[metric], row[f"{metric}_std"]
        return f"{mean:.4g} ± {std:.2g}" if std else f"{mean:.4g}"

    def number(value, pattern="{:.3g}"):
        return "-" if value is None else pattern.format(value)

    return pd.DataFrame([{
        "rank": row["rank"], "model": row["model"], "params": number(row["parameters"], "{:d}"),
        "train s": number(row["train_seconds"]), "ms/step": number(row["seconds_per_step"] and 1000 * row["seconds_per_step"]),
        "steps": number(row["steps_run"], "{:.0f}"), "ms/forecast": number(row["forecast_ms"]),
        "memory": number(row["effective_memory"], "{:.3g}"),
        "MAE": spread(row, "mae"), "RMSE": spread(row, "rmse"), "sMAPE %": spread(row, "smape"),
        "MASE": spread(row, "mase"), "DM p": number(row["dm_p"], "{:.2g}"),
        **{f"{title} {level_name(level)}%": spread(row, f"{metric}_{level_name(level)}")
           for level in levels for title, metric in (("cover", "coverage"), ("width", "width"), ("MSIS", "msis"))},
    } for row in rows])


@contextmanager
def progress_bar(console, silent: bool, label: str):
    """A transient rich progress bar on stderr; yields update(done, total, description, detail), or None when silent."""
    if silent:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None, detail="")

        def update(done, total, description=label, detail=""):
            progress.update(task, completed=done, total=total, description=description, detail=detail)

        yield update


def main() -> None:
    """Console-script entry point."""
    def on_sigterm(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, on_sigterm)
    typer.main.get_command(app)()
