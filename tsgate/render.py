"""The one place results become text: a rich table for people, CSV / JSON / Markdown for programs.

The library hands up numbers and records; this module lays them out (formats, tables, the
sparklines and the pictures' panels), and wording.py writes the sentences that go with them.
"""

from __future__ import annotations

import json
import math
import sys

SUFFIX_FORMATS = {".json": "json", ".md": "markdown", ".csv": "csv", ".txt": "table"}
SPARKS = "▁▂▃▄▅▆▇█"
FILE_TABLE_WIDTH = 200  # columns of a table written to a file, where no terminal sets the width
PIPE_TABLE_WIDTH = 250  # a pipe has no width; don't squash the columns to 80


def resolve_format(fmt: str, output: str | None) -> str:
    """'auto' means: by the output file's suffix, else a table on a terminal and CSV in a pipe."""
    if fmt != "auto":
        return fmt
    if output:
        from pathlib import Path

        return SUFFIX_FORMATS.get(Path(output).suffix.lower(), "csv")
    return "table" if sys.stdout.isatty() else "csv"


def result_text(frame, fmt: str, output: str | None = None, title: str | None = None, document: dict | None = None,
                footer: str = "", view=None) -> str:
    """`frame` as text in `fmt` ('auto' resolved for `output`, None meaning stdout). A table shows
    `view()` when given (a frame for people) with `footer` below it; JSON is `document` when given."""
    fmt = resolve_format(fmt, output)
    if fmt == "table":
        return table_text(view() if view else frame, title, footer, width=None if output is None else FILE_TABLE_WIDTH)
    return frame_text(frame, fmt, document)


def frame_text(frame, fmt: str, document: dict | None = None) -> str:
    """Text of `frame` in `fmt` (csv, json, markdown); JSON uses `document` when given."""
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "json":
        return to_json(document if document is not None else records(frame))
    if fmt == "markdown":
        return to_markdown(frame)
    raise ValueError(f"no text rendering for {fmt!r}")


# ---- cells -------------------------------------------------------------------------------------


def plain(value):
    """A JSON- and CSV-friendly scalar: ISO text for timestamps, None for NaN."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(frame) -> list[dict]:
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype.kind == "M":
            frame[column] = iso_column(frame[column])
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def iso_column(stamps):
    """ISO text for a timestamp column: dates alone when no row has a time of day or a zone, else
    each stamp's isoformat()."""
    dates_only = stamps.dt.tz is None and bool((stamps == stamps.dt.normalize()).all())
    if numpy_iso_applies(stamps):  # nearly every column: the same text, without a Python call per stamp
        return numpy_iso(stamps, "D" if dates_only else "s")
    return stamps.dt.strftime("%Y-%m-%d") if dates_only else stamps.map(lambda stamp: stamp.isoformat())


def numpy_iso_applies(stamps) -> bool:
    """No NaT, no fraction of a second, four-digit years and whole-minute zone offsets: the stamps
    whose text numpy_iso writes as isoformat() and strftime would."""
    if stamps.isna().any() or not stamps.dt.year.between(1000, 9999).all():
        return False
    if ((stamps.dt.microsecond != 0) | (stamps.dt.nanosecond != 0)).any():
        return False
    return stamps.dt.tz is None or bool((zone_offsets(stamps) % 60 == 0).all())


def zone_offsets(stamps):
    """Each zoned stamp's offset from UTC in seconds (local wall time minus UTC)."""
    wall, utc = stamps.dt.tz_localize(None), stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return (wall - utc).dt.total_seconds().astype("int64")


def numpy_iso(stamps, unit: str):
    """ISO text of whole-second stamps to the day ("D") or second ("s"), a zone's offset after the
    time ('2024-03-31T03:00:00+02:00'), by numpy's vectorised formatting."""
    import numpy as np
    import pandas as pd

    wall = stamps.dt.tz_localize(None) if stamps.dt.tz is not None else stamps
    text = np.datetime_as_string(wall.to_numpy(dtype=f"datetime64[{unit}]"), unit=unit).astype(object)
    if stamps.dt.tz is not None:
        codes, offsets = pd.factorize(zone_offsets(stamps))
        text = text + np.array([offset_text(int(seconds)) for seconds in offsets], dtype=object)[codes]
    return pd.Series(text, index=stamps.index, name=stamps.name, dtype=object)


def offset_text(seconds: int) -> str:
    """A whole-minute UTC offset as datetime.isoformat() writes it: +05:30, -03:00, +00:00."""
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


# ---- formats -----------------------------------------------------------------------------------


def to_csv(frame) -> str:
    """CSV by pandas' writer, every cell as records() gives it: ISO timestamps, empty for None,
    NaN and infinity.

    A text cell that begins or ends with white space (an id such as " 7") is only read back as
    written when quoted: readers skip the spaces after a separator (tsgate's own does) or trim
    fields. pandas' writer quotes by column kind, not by cell, so such a table has every text cell
    quoted (QUOTE_NONNUMERIC: numbers stay bare, an empty cell is "").
    """
    import csv

    ready = frame.copy(deep=False)
    for number in range(frame.shape[1]):
        ready.isetitem(number, csv_column(frame.iloc[:, number]))
    quoting = csv.QUOTE_NONNUMERIC if any(padded_text(ready.iloc[:, n]) for n in range(ready.shape[1])) else csv.QUOTE_MINIMAL
    return ready.to_csv(index=False, lineterminator="\n", quoting=quoting)


def padded_text(column) -> bool:
    """Whether a cell of a text column begins or ends with white space."""
    import pandas as pd

    values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return False
    text = pd.Series(pd.unique(values)).dropna().astype(str)
    return bool((text.str[:1].str.isspace() | text.str[-1:].str.isspace()).any())


def csv_column(column):
    """`column` converted where pandas would write it otherwise than plain() does."""
    import numpy as np
    import pandas as pd

    kind = column.dtype.kind
    if kind == "M":
        return iso_column(column)  # pandas writes "2024-01-01 00:00:00", with a space, not ISO's T
    if kind == "f":
        # As Python floats, which the csv module writes by repr(): the text of the float64 value
        # plain() gives (pandas' own text of a float64 column is the same, but slower; of a float32
        # column, shorter than the widened value). Infinity as an empty cell, like None: pandas
        # would write "inf".
        column = column.astype("float64")
        return column.where(np.isfinite(column.to_numpy())).astype(object)
    if kind in "iub" or pd.api.types.infer_dtype(column, skipna=True) == "string":
        return column  # pandas writes these (and None, NaN, NA as empty cells) exactly as plain() does
    if isinstance(column.dtype, pd.CategoricalDtype) and pd.api.types.infer_dtype(column.cat.categories) == "string":
        return column
    # Anything else (dates in an object column, durations, mixed) cell by cell, kept as objects:
    # Series.map would turn whole numbers beside a None into floats.
    return pd.Series([plain(value) for value in column.astype(object)], index=column.index, dtype=object)


def to_json(document) -> str:
    return json.dumps(document, indent=2, allow_nan=False, default=plain) + "\n"


def to_markdown(frame) -> str:
    columns = [markdown_cell(str(c)) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in records(frame):
        lines.append("| " + " | ".join(markdown_cell(cell_text(v)) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def markdown_cell(text: str) -> str:
    """A cell's text inside a Markdown table: a "|" in it (an id such as "p|q") escaped, so that it
    stays in its cell instead of starting another."""
    return text.replace("|", "\\|")


def cell_text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(frame, title: str | None = None):
    """A rich Table of `frame`, numbers right-aligned."""
    from rich.table import Table
    from rich.text import Text

    # Cells and headers as Text, not strings: rich reads strings as markup and emoji codes, which
    # would restyle, drop or refuse an id such as "[b]7", "a[/]" or ":smile:".
    view = Table(title=title, header_style="bold")
    numeric = {c: frame[c].dtype.kind in "iuf" for c in frame.columns}
    for column in frame.columns:
        view.add_column(Text(str(column)), justify="right" if numeric[column] else "left")
    for row in records(frame):
        view.add_row(*(Text(cell_text(v)) for v in row.values()))
    return view


def table_text(frame, title: str | None, footer: str = "", width: int | None = None) -> str:
    """The rich table (and a footer line) as text, styled only when stdout is a terminal."""
    from rich.console import Console

    if width is None and not sys.stdout.isatty():
        width = PIPE_TABLE_WIDTH
    console = Console(file=sys.stdout, width=width)
    with console.capture() as captured:
        console.print(table(frame, title))
        if footer:  # plain text: the footer names series (sparklines), never markup
            console.print(footer, highlight=False, soft_wrap=True, markup=False, emoji=False)
    return captured.get()


# ---- views: each command's result laid out for people --------------------------------------------

SUMMARY_LABELS = (
    ("device", "device"), ("kernel", "recurrent kernel"), ("hidden", "hidden size"), ("parameters", "parameters (first network)"),
    ("parameters_total", "parameters (all networks)"), ("members", "ensemble members"),
    ("lookbacks", "their lookbacks"), ("anchor_season", "anchor season (1: last value)"),
    ("calendar", "calendar inputs"), ("steps_run", "optimizer steps, refits included"),
    ("best_steps", "best step of each member"), ("best_val_loss", "validation loss (mean over members)"),
    ("val_mae", "validation MAE of the ensemble (data units)"),
    ("calibration_windows", "held-out windows calibrating the intervals"), ("series", "series learned from"),
    ("series_skipped", "series left out"), ("series_constant", "constant series (forecast as such)"),
    ("train_seconds", "training time (s)"), ("model_file", "model file"),
)


def summary_table(summary: dict):
    """train's summary as a rich Table of label and value rows."""
    from rich.table import Table
    from rich.text import Text

    view = Table(show_header=False, box=None, title=f"trained {summary['backbone']}", title_justify="left")
    if isinstance(summary.get("backbone_val_loss"), dict) and len(summary["backbone_val_loss"]) > 1:
        losses = ", ".join(f"{name} {loss:.4g}" for name, loss in summary["backbone_val_loss"].items())
        view.add_row("validation loss per backbone", losses)
    if summary.get("tuning"):
        view.add_row(*tuning_lines(summary["tuning"]))
    for key, label in SUMMARY_LABELS:
        value = summary.get("anchor_seasons", summary[key]) if key == "anchor_season" else summary[key]  # members differ
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        view.add_row(label, Text(f"{value:.4g}" if isinstance(value, float) else str(value)))  # a path is no markup
    return view


def tuning_lines(tuning: dict) -> tuple[str, str]:
    """A search's summary as a (label, value) row: trials, pruned, the spread of their validation MAE, the winner."""
    from tsgate.wording import configuration_text

    best = configuration_text(tuning["best"])
    return ("tuning (trials, pruned; val MAE median, IQR)",
            f"{tuning['trials']}, {tuning['pruned']}; {tuning['val_loss_median']:.4g}, {tuning['val_loss_iqr']:.2g}; best: {best}")


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


def comparison_frame(rows: list[dict]):
    """compare's rows as a frame; counts stay whole numbers beside the baselines' empty cells."""
    import pandas as pd

    frame = pd.DataFrame([flat_tuning(row) for row in rows])
    return frame.astype({name: "Int64" for name in ("rank", "parameters", "hidden", "tuning_trials", "tuning_pruned")
                         if name in frame})


def flat_tuning(row: dict) -> dict:
    """A row with its `tuning` object as columns tuning_trials, tuning_pruned, ... (its best configuration as
    JSON text), so that CSV and Markdown hold one value per cell."""
    if "tuning" not in row:
        return row
    tuning = row["tuning"] or {}
    flat = {f"tuning_{key}": json.dumps(value) if isinstance(value, dict) else value for key, value in tuning.items()}
    return {**{key: value for key, value in row.items() if key != "tuning"}, **flat}


# compare's interval columns for people; "series off" is the share of series whose coverage is outside its
# binomial range, "all in" the share with every test point inside (metrics.series_calibration)
INTERVAL_TITLES = (("cover", "coverage"), ("width", "width"), ("MSIS", "msis"), ("series off", "series_miscalibrated"),
                   ("all in", "series_all_inside"))


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
        "hidden": number(row["hidden"], "{:d}"),
        "train s": number(row["train_seconds"]), "ms/step": number(row["seconds_per_step"] and 1000 * row["seconds_per_step"]),
        "steps": number(row["steps_run"], "{:.0f}"), "ms/forecast": number(row["forecast_ms"]),
        "memory": number(row["effective_memory"], "{:.3g}"),
        "MAE": spread(row, "mae"), "RMSE": spread(row, "rmse"), "sMAPE %": spread(row, "smape"),
        "MASE": spread(row, "mase"), "DM p": number(row["dm_p"], "{:.2g}"),
        **{f"{title} {level_name(level)}%": spread(row, f"{metric}_{level_name(level)}")
           for level in levels for title, metric in INTERVAL_TITLES},
        **(tuning_cells(row.get("tuning")) if any("tuning" in other for other in rows) else {}),
    } for row in rows])


def tuning_cells(tuning: dict | None) -> dict:
    """A tuned row's trials (completed + pruned) and the median and IQR of their validation MAE; dashes elsewhere."""
    if not tuning:
        return {"trials": "-", "trial val MAE": "-"}
    return {"trials": f"{tuning['trials']} + {tuning['pruned']} pruned",
            "trial val MAE": f"{tuning['val_loss_median']:.4g} (IQR {tuning['val_loss_iqr']:.2g})"}


def comparison_document(comparison, verdict: str) -> dict:
    """compare's JSON, as documented in the README: rows, settings, versions, verdict."""
    import torch

    from tsgate.version import __version__

    versions = {"tsgate": __version__, "torch": torch.__version__, "python": sys.version.split()[0]}
    return {"rows": comparison.rows, "settings": comparison.settings, "versions": versions, "verdict": verdict}


def claims_document(claims: list, plan) -> dict:
    """compare --claims' additions to the JSON: each claim with its verdict, summary and evidence,
    and what the sweeps ran on."""
    from tsgate.wording import CLAIMS, claim_summary

    return {
        "claims": [{"id": claim.id, "claim": CLAIMS[claim.id][0], "verdict": claim.verdict,
                    "summary": claim_summary(claim), "evidence": claim.evidence} for claim in claims],
        "claims_plan": {"sweep_fits": plan.fits, "estimated_seconds": plan.seconds, "workers": plan.workers,
                        "data": plan.data, "dropped": plan.dropped},
    }


def gate_frame(report: dict):
    """inspect's table: one row per layer and gate, the mean, spread and saturated share of its activations."""
    import pandas as pd

    return pd.DataFrame([{"layer": layer["layer"], "gate": name, "mean": gate["mean"], "std": gate["std"],
                          "saturated": gate["saturated"]}
                         for layer in report["layers"] for name, gate in layer["gates"].items()])


# ---- sparklines and pictures' panels ---------------------------------------------------------------


def sparkline(history, forecast, width: int = 24) -> str:
    """Recent history (at most `width` evenly spaced points), '│', then the forecast, on one scale."""
    import numpy as np

    past = np.ravel(np.asarray(history, dtype=float))
    ahead = np.ravel(np.asarray(forecast, dtype=float))
    width = max(0, int(width))
    if len(past) > width:
        past = past[np.linspace(0, len(past) - 1, width).round().astype(int)] if width else past[:0]
    values = np.concatenate([past, ahead])
    if not len(values):
        return "│"
    low, high = float(values.min()), float(values.max())
    if high > low:
        steps = np.round((values - low) / (high - low) * (len(SPARKS) - 1)).astype(int)
    else:
        steps = np.full(len(values), len(SPARKS) // 2 - 1)  # flat: a line through the middle
    chars = [SPARKS[s] for s in steps]
    return "".join(chars[: len(past)]) + "│" + "".join(chars[len(past):])


def sparklines(prediction, recent, most: int = 10) -> str:
    """One line per forecast series (the first `most`): its recent history (S, n, C), a bar, then its forecast."""
    from tsgate.data import series_label

    lines = [f"{series_label(key)}: {sparkline(recent[row, :, 0], prediction.values[row, :, 0])}"
             for row, key in enumerate(prediction.ids[:most])]
    if len(prediction.ids) > most:
        lines.append(f"... and {len(prediction.ids) - most} more series")
    return "\n".join(lines)


def forecast_panels(prediction, recent):
    """(history, forecast) of each series for plots.forecast_figure: the first target, intervals as bands."""
    import warnings

    import pandas as pd

    from tsgate.data import series_label
    from tsgate.freq import future_stamps

    horizon = prediction.values.shape[1]
    future = future_stamps(prediction.last_timestamps, prediction.freq, horizon)
    history, forecast = [], []
    for row, key in enumerate(prediction.ids):
        label = series_label(key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.date_range(end=prediction.last_timestamps[row], periods=recent.shape[1], freq=prediction.freq)
        bounds = {level: (low[row, :, 0], high[row, :, 0]) for level, (low, high) in prediction.bounds.items()}
        history.append((label, stamps, recent[row, :, 0]))
        forecast.append((label, future[row * horizon:(row + 1) * horizon], prediction.values[row, :, 0], bounds))
    return history, forecast


def note_line(note: str):
    """A note as rich Text, one line on stderr: the note's own text is never read as markup (it
    names series, whose ids may hold brackets or emoji codes)."""
    from rich.text import Text

    return Text.assemble(("note:", "yellow"), f" {note}")


def left_out_origin_notes(left_out: list) -> list[str]:
    """One note naming the series whose first origins came before they held enough history
    (origins.LeftOut records): the first by name, then a count of the others."""
    from tsgate.data import series_label

    if not left_out:
        return []
    first = left_out[0]
    more = len(left_out) - 1
    also = f"; also {more} more series" if more else ""
    return [f"left out the origins before each series holds the model's context: {series_label(first.id)} "
            f"forecasts from {first.earliest} on ({first.origins} origin(s) from {first.first} to {first.last} "
            f"left out){also} (--strict refuses them instead)"]
