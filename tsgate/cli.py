"""The command line: parse options, call the library, render results, map errors to exit codes.

No modelling and no wording happens here: options.py declares the options, the library computes,
render.py and wording.py turn the results into text, and this module writes that text out. Heavy
libraries (torch, pandas, scikit-learn) are imported inside the commands, so `tsgate --help`
starts fast.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click; older releases use the click package
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click

from tsgate.errors import TsgateError
from tsgate.options import (
    MODEL_HELP,
    OUT_HELP,
    TRAIN_HELP,
    Backbone,
    ColumnOptions,
    ControlOptions,
    DataArg,
    Debug,
    EveryOpt,
    LevelOpt,
    ModelFile,
    ModelOpt,
    ModelOptions,
    OriginsOpt,
    OutputOptions,
    PlotOpt,
    ReadOptions,
    SummaryFormat,
    TrainingOptions,
    TuningOptions,
    Verbosity,
    option_groups,
)
from tsgate.version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Interrupted(BaseException):
    """SIGTERM, raised as an exception so that temporary files are cleaned up on the way out."""


class Termination:
    """Where a SIGTERM finds the process. While a command works (`working`), it raises Interrupted,
    which the group turns into "terminated" and exit 143 once the temporary files are gone. At any
    other moment (the error line being written, the interpreter shutting down, as when torchrun
    stops a rank that is already exiting) there is nothing to clean up and an exception there
    would end in a traceback: the process then exits 143 at once."""

    working = False

    @classmethod
    def handle(cls, signum, frame):
        if cls.working:
            raise Interrupted()
        os._exit(EXIT_TERMINATED)

    @classmethod
    @contextmanager
    def at_work(cls):
        cls.working = True
        try:
            yield
        finally:
            cls.working = False


class TsgateGroup(TyperGroup):
    """Turns every failure into one line on stderr and a documented exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        try:
            with Termination.at_work():
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
    """Re-raise the error being handled when --debug stands before the command name or after it.
    The flag is looked for in argv, not in the parsed options: this handler runs outside the
    command, where neither the root's nor the command's parsed options are in reach, and an error
    raised while the options are being converted has none to read."""
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


def version_callback(value: bool):
    if value:
        typer.echo(f"tsgate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")] = False,
    debug: Debug = False,  # read by the error handler (reraise_if_debug), like every command's --debug
):
    """Train, compare and use recurrent forecasters (RNN, GRU, LSTM) on time series in CSV files."""


# ---- from options to the library -----------------------------------------------------------------


def read_series(data: str, columns: ColumnOptions, reading: ReadOptions):
    """DATA read with the columns (covariates among them) and reading options of train and compare."""
    from tsgate.data import DataOptions

    options = DataOptions(columns.targets, columns.time_col, columns.id_col, reading.freq, reading.fill_method,
                          strict=reading.strict, **columns.covariates())
    return load_data(data, options, reading)


def load_data(data: str, options, reading: ReadOptions):
    """Read and validate DATA ('-' for stdin): the one path every command's data takes."""
    from tsgate.data import load_series
    from tsgate.io import read_csv

    return load_series(read_csv(data, reading.sep, reading.encoding, options.label_columns), options)


def make_forecaster(backbone: str, model: ModelOptions, training: TrainingOptions):
    """A validated, unfitted Forecaster from the options train and compare share, each passed by name."""
    from tsgate.forecaster import Forecaster

    forecaster = Forecaster(
        backbone=backbone, lookback=parse_lookback(model.lookback), horizon=model.horizon, hidden=model.hidden,
        layers=model.layers, dropout=model.dropout, norm=model.norm.value, highway=model.highway,
        anchor=model.anchor.value, calendar=model.calendar, ensemble=model.ensemble,
        steps=training.steps, epochs=training.epochs, batch_size=training.batch_size, lr=training.lr,
        patience=training.patience, val_fraction=training.val_fraction, scaler=training.scaler.value,
        loss=training.loss.value, refit=training.refit, device=training.device.value, seed=training.seed,
        threads=training.threads,
    )
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


# ---- to people and to stdout ------------------------------------------------------------------------


def people_console():
    from rich.console import Console

    return Console(stderr=True)


def show_notes(console, notes: list[str], quiet: bool) -> None:
    from tsgate.render import note_line

    if not quiet:
        for note in notes:
            console.print(note_line(note), highlight=False, soft_wrap=True)


def emit(frame, out: OutputOptions, title: str, document: dict | None = None, footer: str = "", view=None,
         files: list = ()) -> None:
    """Write a result frame to stdout or -o in the chosen format (see render.result_text), and
    `files` ((path, bytes) pairs: a picture, saved models) with it: every file or, on a failure, none."""
    from tsgate.io import write_all
    from tsgate.render import result_text

    text = result_text(frame, out.fmt.value, out.path, title, document, footer, view)
    write_all([*files, *([(out.output, text)] if out.output else [])])
    if not out.output:
        sys.stdout.write(text)


def picture_file(plot, draw) -> list:
    """[(plot, the picture's bytes)] with the figure `draw()` builds, or [] without --plot."""
    if plot is None:
        return []
    from tsgate.plots import picture

    return [(plot, picture(draw(), plot))]


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


# ---- train -----------------------------------------------------------------------------------


@app.command(epilog="""Examples:

  tsgate train sample_data/air_passengers.csv --model gru --horizon 12 -o air.tsgate

  cat readings.csv | tsgate train - --target load --model lstm -o load.tsgate

  tsgate train sample_data/us_unemployment_by_industry.csv --id-col industry --format json -o jobs.tsgate

  torchrun --nproc-per-node 2 -m tsgate train stores.csv --id-col store --batch-size 512 -o stores.tsgate

  tsgate train sample_data/air_passengers.csv --model lstm --match params   # an LSTM the size of the default GRU

  tsgate train sample_data/air_passengers.csv --model lstm --tune 30 -o air.tsgate   # the best of 30 trials

Many series (--id-col): a series too short or unreadable is left out with a note and a constant one
forecasts its last value (--strict refuses both). Under torchrun every process reads DATA and trains on its share of each batch; rank 0
writes the model (see README, "Several processes or machines: torchrun").
""")
@option_groups
def train(
    data: DataArg,
    *,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model file to write (atomically). Default: <data>-<model>.tsgate.", rich_help_panel=OUT_HELP)] = None,
    model: ModelOpt = Backbone.gru,
    sizing: ControlOptions,
    network: ModelOptions,
    columns: ColumnOptions,
    reading: ReadOptions,
    training: TrainingOptions,
    plot: PlotOpt = None,
    fmt: Annotated[SummaryFormat, typer.Option("--format", "-f", help="table: summary on stderr; json: summary as JSON on stdout.", rich_help_panel=OUT_HELP)] = SummaryFormat.table,
    tuning: TuningOptions,
    verbosity: Verbosity,
):
    """Train one backbone on a CSV and write a model file."""
    from tsgate import distributed
    from tsgate.controls import parse_budget
    from tsgate.experiment import run_training
    from tsgate.io import write_all
    from tsgate.parallel import start_early
    from tsgate.render import summary_table, to_json
    from tsgate.tune import tuning_request
    from tsgate.wording import data_notes, fallback_notes, panel_notes

    output = output or default_model_path(data, model.value)
    check_outputs([("DATA", data)], output, plot)
    forecaster = make_forecaster(model.value, network, training)
    controls = {"match": sizing.matched(), "params": sizing.params, "budget": parse_budget(sizing.budget)}
    request = tuning_request(tuning.tune, tuning.space, tuning.storage, tuning.study, controls["match"])
    if request is not None:
        no_torchrun("--tune")
    world = join_torchrun(forecaster, data, controls["budget"])
    workers = 1 if world else forecaster.workers(training.jobs)  # under torchrun, the processes are torchrun's
    quiet = verbosity.quiet or not distributed.is_main()
    start_early(workers if network.ensemble > 1 or model == Backbone.auto or request else 1)  # one network trains here
    try:
        series = read_series(data, columns, reading)
        console = people_console()
        show_notes(console, data_notes(series), quiet)
        with progress_bar(console, quiet or not console.is_terminal, f"training {model.value}") as update:
            backbones = 3 if model == Backbone.auto else 1
            on_trial = request and trial_progress(update, backbones * request.trials)
            on_progress = update and (lambda backbone, step, steps, train_loss, val_loss: update(
                step, steps, f"training {backbone}", detail=f"train {train_loss:.4f}  val {val_loss:.4f}"))
            with distributed.failures_as_errors():
                forecaster, tuned = run_training(series, forecaster, controls, request, workers, on_progress, on_trial)
    finally:
        distributed.stop()
    if world is not None and not world.main:
        return  # rank 0 writes the model file and the summary
    show_notes(console, panel_notes(forecaster.skipped_, len(forecaster.ids_), int(forecaster.constant_.sum()))
               + fallback_notes(forecaster.metrics_.get("series_fallback", []), len(forecaster.ids_)), quiet)

    def draw():
        from tsgate.plots import training_figure

        return training_figure(forecaster.history_, title=f"training {forecaster.backbone_} ({data})")

    write_all([(output, forecaster.to_bytes()), *picture_file(plot, draw)])  # both or, on a failure, neither
    summary = {**forecaster.metrics_, "hidden": forecaster.hidden, "model_file": str(output), "series": len(forecaster.ids_),
               "targets": series.targets,
               "skipped_ids": [key for key, _ in forecaster.skipped_], **({"tuning": tuned} if tuned else {})}
    if fmt == SummaryFormat.json:
        sys.stdout.write(to_json(summary))
    elif not quiet:
        console.print(summary_table(summary))


def join_torchrun(forecaster, data: str, budget):
    """The torchrun world this process is part of (None: a single process), joined before any data is read."""
    from tsgate import distributed
    from tsgate.errors import OptionError

    if distributed.requested() is None:
        return None
    if data == "-":
        raise OptionError("under torchrun every process reads DATA itself: give a file path, not '-' (stdin)")
    if budget.seconds is not None:  # each process would stop at its own step, and the others wait for it forever
        raise OptionError("--budget seconds:S does not run under torchrun, whose processes must take the same steps: "
                          "use --budget steps or flops")
    from tsgate.train import resolve_device

    return distributed.start(resolve_device(forecaster.check_options().device).type)


def no_torchrun(option: str) -> None:
    """Refuse `option` under torchrun: it runs its own processes (the --jobs workers)."""
    from tsgate import distributed
    from tsgate.errors import OptionError

    if distributed.requested() is not None:
        raise OptionError(f"{option} runs its trials on --jobs worker processes, not under torchrun: run it as one process")


def trial_progress(update, total: int):
    """The tuning's on_trial for a progress bar: trials finished (by every process sharing the study) of `total`."""
    if update is None:
        return None
    finished: dict = {}

    def on_trial(backbone, number, state, value, count):
        finished[backbone] = max(finished.get(backbone, 0), count)
        score = "" if value is None else f" val MAE {value:.4g}"
        update(sum(finished.values()), total, "tuning", f"{backbone} trial {number}: {state}{score}")

    return on_trial


def check_outputs(inputs: list, output=None, plot=None, save_dir=None, saved: list = ()) -> None:
    """Every output checked before any work: each can be written, a --plot file has a picture's
    suffix, and none is one of the `inputs` ((label, path) pairs) or another output."""
    from tsgate.io import check_distinct, check_writable

    if output:
        check_writable(output)
    check_save_dir(save_dir)
    if plot is not None:
        from tsgate.plots import check_plot_path

        check_plot_path(plot)
    check_distinct([("-o", output), ("--plot", plot), *saved], inputs)


def single_process(command: str) -> None:
    """forecast and compare are quick or parallel on their own: torchrun is for train."""
    from tsgate import distributed
    from tsgate.errors import OptionError

    if distributed.requested() is not None:
        raise OptionError(f"'tsgate {command}' does not run under torchrun: run it as one process (torchrun is for 'tsgate train')")


def default_model_path(data: str, backbone: str) -> Path:
    stem = "stdin" if data == "-" else Path(data).stem
    return Path(f"{stem}-{backbone}.tsgate")


# ---- forecast --------------------------------------------------------------------------------


@app.command(epilog="""Examples:

  tsgate forecast air.tsgate sample_data/air_passengers.csv            # table on a terminal, CSV in a pipe

  tsgate forecast load.tsgate readings.csv --format json | jq '.[0]'

  tsgate forecast air.tsgate                                           # from the end of the training data

  tsgate forecast air.tsgate --level 80 --level 95                     # adds passengers_lo_80, passengers_hi_80, ...

  tsgate forecast air.tsgate sample_data/air_passengers.csv --origins 1958-01-01..1959-12-01 --every 1

Intervals: split-conformal, from the model's errors on held-out windows at each step, scaled by
each series' recent variability (see README, "Prediction intervals").
""")
@option_groups
def forecast(
    model_file: ModelFile,
    data: Annotated[Optional[str], typer.Argument(metavar="DATA", help="CSV with the same columns as in training ('-' for stdin). Default: continue the training data.")] = None,
    *,
    reading: ReadOptions,
    level: LevelOpt = None,
    origins: OriginsOpt = None,
    every: EveryOpt = None,
    out: OutputOptions,
    plot: PlotOpt = None,
    verbosity: Verbosity,
):
    """Forecast the next horizon after each series, with timestamps, on the original scale."""
    from tsgate import render
    from tsgate.intervals import check_levels
    from tsgate.prediction import recent_history
    from tsgate.wording import data_notes, panel_notes

    single_process("forecast")
    levels = check_levels(level)
    if origins is not None or every is not None:
        return forecast_rolling(model_file, data, origins, every, levels, reading, out, plot, verbosity)
    forecaster, series = model_and_data(model_file, data, reading, out.output, plot)
    prediction = forecaster.predict_array(series, levels)
    frame = prediction.frame()
    if series is not None:
        skipped = [*series.skipped, *prediction.skipped]
        show_notes(people_console(), data_notes(series) + panel_notes(skipped, len(prediction.numbers)), verbosity.quiet)
    on_screen = out.output is None and sys.stdout.isatty() and render.resolve_format(out.fmt.value, None) == "table"
    recent = recent_history(forecaster, prediction, series) if on_screen or plot else None  # for people only

    def draw():
        from tsgate.plots import forecast_figure

        return forecast_figure(*render.forecast_panels(prediction, recent),
                               target=forecaster.targets_[0])

    emit(frame, out, title="forecast",
         view=lambda: render.forecast_view(frame, forecaster.targets_, levels),
         footer=render.sparklines(prediction, recent) if on_screen else "", files=picture_file(plot, draw))


def forecast_rolling(model_file, data, origins, every, levels, reading: ReadOptions, out: OutputOptions, plot,
                     verbosity: Verbosity) -> None:
    """forecast --origins: every origin's forecast in one output, the options checked before any data is read."""
    from tsgate import render
    from tsgate.errors import OptionError
    from tsgate.origins import check_every, forecast_origins, parse_origins
    from tsgate.wording import data_notes, panel_notes

    if origins is None:
        raise OptionError("--every sets the steps between the origins of --origins: give --origins START..END too")
    start, end = parse_origins(origins)
    check_every(every)
    if data is None:
        raise OptionError("--origins needs DATA: the model keeps only the end of its training data; pass the CSV to forecast from")
    if plot is not None:
        raise OptionError("--plot draws one forecast per series: leave it out with --origins")
    forecaster, series = model_and_data(model_file, data, reading, out.output, plot)
    rolling = forecast_origins(forecaster, series, start, end, every, levels)
    frame = rolling.frame()
    notes = [*data_notes(series), *panel_notes([*series.skipped, *rolling.prediction.skipped], len(set(rolling.prediction.ids))),
             *render.left_out_origin_notes(rolling.left_out)]
    show_notes(people_console(), notes, verbosity.quiet)
    emit(frame, out, title="forecast", view=lambda: render.forecast_view(frame, forecaster.targets_, levels))


def model_and_data(model_file, data, reading: ReadOptions, output, plot):
    """(the model, DATA read as it was trained, or None) for forecast and inspect, the outputs checked first."""
    from tsgate.forecaster import Forecaster

    check_outputs([("MODEL", model_file), ("DATA", data)], output, plot)
    forecaster = Forecaster.load(model_file)
    if data is None:
        return forecaster, None
    return forecaster, load_data(data, forecaster.data_options(reading.freq, reading.fill_method, reading.strict), reading)


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
@option_groups
def inspect_command(
    model_file: ModelFile,
    data: Annotated[Optional[str], typer.Argument(metavar="DATA", help="CSV with the same columns as in training ('-' for stdin). Default: the end of the training data stored in the model.")] = None,
    *,
    windows: Annotated[int, typer.Option("--windows", help="Most windows to run the network over, spread evenly over DATA.")] = 512,
    reading: ReadOptions,
    out: OutputOptions,
    plot: PlotOpt = None,
    verbosity: Verbosity,
):
    """What the gates do on your data, and how far back the trained network looks."""
    from tsgate import wording
    from tsgate.errors import OptionError
    from tsgate.gates import inspect_forecaster
    from tsgate.render import gate_frame

    single_process("inspect")
    if windows < 1:
        raise OptionError(f"--windows must be at least 1, got {windows}")
    forecaster, series = model_and_data(model_file, data, reading, out.output, plot)
    if series is not None:
        show_notes(people_console(), wording.data_notes(series) + wording.panel_notes(series.skipped, len(series.ids)),
                   verbosity.quiet)
    report = inspect_forecaster(forecaster, series, windows)
    sentences = wording.reading(report)

    def draw():
        from tsgate.plots import inspection_figure

        return inspection_figure(report)

    emit(gate_frame(report), out, document={**report, "reading": sentences},
         footer=wording.inspection_footer(report, sentences), title=wording.inspection_title(report),
         files=picture_file(plot, draw))


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

  tsgate compare sample_data/air_passengers.csv --match params --budget flops   # a fair fight

  tsgate compare sample_data/air_passengers.csv --tune 20 --storage air.journal --study air   # equal tuning budgets

A fair fight: at the same --hidden an LSTM has about four times a plain RNN's recurrent weights.
--match params gives every backbone the hidden size at which its whole network has the same
parameter count (the GRU's at --hidden, or --params N); --budget flops gives each the training
multiply-adds of the GRU's --steps, so a cheaper cell takes more steps. Rows report their hidden
size, steps run and seconds. --tune N first searches N configurations per backbone (each trial
one network, scored on the validation part of the data before the first test period), then
trains and scores each backbone's best as above; rows add their search (see README, "Tuning").
Several processes or machines given the same --storage and --study share the search.

The networks train on --jobs worker processes (default: one per core); the rows are the same
for any --jobs apart from the timing columns.

With --level, every row adds the coverage of its intervals on the test points, their mean width
and MSIS (M4's mean scaled interval score), both in units of MASE's scale. naive and seasonal naive
take their intervals from their own errors over the training data, ridge and the networks from
their errors on the validation part. Beside them: the share of series whose coverage lies outside
its binomial 95% range, and the share with every test point inside.
""")
@option_groups
def compare(
    data: DataArg,
    *,
    models: Annotated[str, typer.Option("--models", help="Comma-separated backbones to compare (auto: the one train --model auto picks, as a row of its own).", rich_help_panel=MODEL_HELP)] = "rnn,gru,lstm",
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per backbone (seeds SEED, SEED+1, ...): tables show mean ± std.", rich_help_panel=TRAIN_HELP)] = 1,
    folds: Annotated[int, typer.Option("--folds", help="Rolling forecast origins, one horizon apart (see below).", rich_help_panel=TRAIN_HELP)] = 1,
    season: Annotated[Optional[int], typer.Option("--season", help="Seasonal-naive lag. Default: from the frequency (12 monthly, 24 hourly, 7 daily, ...).", rich_help_panel=MODEL_HELP)] = None,
    sizing: ControlOptions,
    network: ModelOptions,
    columns: ColumnOptions,
    reading: ReadOptions,
    training: TrainingOptions,
    tuning: TuningOptions,
    covariates_value: Annotated[bool, typer.Option("--covariates-value", help="Also train each backbone without the covariates (rows <backbone>-no-cov), so that the table shows what they are worth.", rich_help_panel=MODEL_HELP)] = False,
    claims: Annotated[bool, typer.Option("--claims", help="Also test the four common claims about RNN, GRU and LSTM on this data, at --match params unless --match is given: sweeps of data size and lookback, one network per sweep fit (see README, \"Testing the common claims on your data\").", rich_help_panel=MODEL_HELP)] = False,
    level: LevelOpt = None,
    plot: PlotOpt = None,
    save_dir: Annotated[Optional[Path], typer.Option("--save-dir", help="Keep every trained model here as BACKBONE-seedN-foldK.tsgate.", rich_help_panel=OUT_HELP)] = None,
    out: OutputOptions,
    verbosity: Verbosity,
):
    """Train several backbones on the same split and compare error, time and size with baselines."""
    from tsgate.compare import CompareOptions
    from tsgate.controls import parse_budget
    from tsgate.experiment import run_experiment
    from tsgate.intervals import check_levels
    from tsgate.parallel import start_early
    from tsgate.tune import tuning_request
    from tsgate.wording import claims_plan_line, comparison_notes, data_notes, panel_notes, tuning_notes

    single_process("compare")
    options = CompareOptions(tuple(name.strip() for name in models.split(",") if name.strip()), seeds, folds, season,
                             check_levels(level), sizing.matched("params" if claims else "hidden"), sizing.params,
                             str(parse_budget(sizing.budget)), covariates_value)
    check_outputs([("DATA", data)], out.output, plot, save_dir,
                  saved_files(save_dir, [out.output, plot], options, training.seed))
    template = make_forecaster("gru", network, training)  # compare sets each backbone
    request = tuning_request(tuning.tune, tuning.space, tuning.storage, tuning.study, options.match)
    workers = template.workers(training.jobs)
    start_early(workers)
    series = read_series(data, columns, reading)
    console = people_console()
    show_notes(console, data_notes(series) + panel_notes(series.skipped, len(series.ids)), verbosity.quiet)
    with progress_bar(console, verbosity.quiet or not console.is_terminal, "comparing") as update:
        found = run_experiment(
            series, template, options, request, claims, on_step=update,
            on_trial=trial_progress(update, len(options.models) * (request.trials if request else 0)),
            on_plan=None if verbosity.quiet else lambda plan: console.print(claims_plan_line(plan), highlight=False, soft_wrap=True),
            keep_models=save_dir is not None, jobs=workers)
    result = found.comparison
    show_notes(console, comparison_notes(result) + tuning_notes(result.rows), verbosity.quiet)

    def draw():
        from tsgate.plots import claims_figure, comparison_figure

        if found.claims is None:
            return comparison_figure(result.rows, metric="mase")
        return claims_figure({claim.id: claim.evidence for claim in found.claims})

    files = picture_file(plot, draw)
    if save_dir is not None:
        files += [(save_dir / name, model.to_bytes()) for name, model in result.models.items()]
    with new_folder(save_dir):
        emit_comparison(result, out, console, verbosity.quiet, files,
                        None if found.claims is None else (found.claims, found.plan))


def check_save_dir(save_dir: Optional[Path]) -> None:
    """Refuse a --save-dir that cannot hold the models before any training starts."""
    from tsgate.errors import OutputError
    from tsgate.io import check_writable

    if save_dir is not None:
        if save_dir.exists() and not save_dir.is_dir():
            raise OutputError(f"--save-dir {save_dir} is a file, not a folder")
        check_writable(save_dir / "model.tsgate" if save_dir.exists() else save_dir)  # compare creates it when saving


def saved_files(save_dir: Optional[Path], others: list, options, seed: int) -> list:
    """("--save-dir", FILE) for each file compare's --save-dir would write that exists now (so may be
    an input, or link to one) or is named by `others` (-o, --plot), for check_outputs to compare.
    Not every name compare would write is listed: --folds and --seeds may be large."""
    from tsgate.compare import saves_over

    if save_dir is None:
        return []
    try:
        present = [path.name for path in save_dir.iterdir()] if save_dir.is_dir() else []
    except OSError:  # a folder that may be entered but not listed: its files are not known
        present = []
    folder = os.path.realpath(save_dir)
    named = [Path(path).name for path in others if path is not None and os.path.dirname(os.path.realpath(path)) == folder]
    return [("--save-dir", save_dir / name) for name in sorted(set(present + named)) if saves_over(name, options, seed)]


@contextmanager
def new_folder(folder: Optional[Path]):
    """`folder` created for the block, and removed again if the block fails while it is still empty."""
    if folder is None or folder.exists():
        yield
        return
    from tsgate.io import failure_named

    with failure_named(folder):
        folder.mkdir()
    try:
        yield
    except BaseException:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise


def emit_comparison(result, out: OutputOptions, console, quiet: bool, files: list, found=None) -> None:
    """The rows on stdout or -o with `files` (see emit), the verdict (and with --claims, the claims'
    lines) below a table, or else on stderr; JSON holds the claims too."""
    from tsgate import render
    from tsgate.wording import claims_lines, comparison_verdict

    verdict = comparison_verdict(result)
    document = render.comparison_document(result, verdict)
    footer = verdict
    if found is not None:
        claims, plan = found
        document.update(render.claims_document(claims, plan))
        footer = "\n".join([verdict, *claims_lines(claims, plan)])
    emit(render.comparison_frame(result.rows), out, title="tsgate compare", footer=footer,
         view=lambda: render.comparison_view(result.rows, result.settings["levels"]), document=document, files=files)
    if render.resolve_format(out.fmt.value, out.path) != "table" and not quiet:  # a table has it as its footer
        console.print(footer, highlight=False, soft_wrap=True)


def main() -> None:
    """Console-script entry point. The SIGTERM handler lasts as long as the command: once its exit
    code is decided, the disposition the process had before is back for the shutdown."""
    previous = signal.signal(signal.SIGTERM, Termination.handle)
    try:
        typer.main.get_command(app)()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: set outside Python
