"""The one place results become text: a rich table for people, CSV / JSON / Markdown for programs."""

from __future__ import annotations

import json
import math
import sys

SUFFIX_FORMATS = {".json": "json", ".md": "markdown", ".csv": "csv", ".txt": "table"}


def resolve_format(fmt: str, output: str | None) -> str:
    """'auto' means: by the output file's suffix, else a table on a terminal and CSV in a pipe."""
    if fmt != "auto":
        return fmt
    if output:
        from pathlib import Path

        return SUFFIX_FORMATS.get(Path(output).suffix.lower(), "csv")
    return "table" if sys.stdout.isatty() else "csv"


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
    """ISO text for a timestamp column: dates alone when no row has a time of day or a zone."""
    dates_only = stamps.dt.tz is None and bool((stamps == stamps.dt.normalize()).all())
    return stamps.dt.strftime("%Y-%m-%d") if dates_only else stamps.map(lambda stamp: stamp.isoformat())


def to_csv(frame) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    for row in records(frame):
        writer.writerow(["" if v is None else v for v in row.values()])
    return buffer.getvalue()


def to_json(document) -> str:
    return json.dumps(document, indent=2, allow_nan=False, default=plain) + "\n"


def to_markdown(frame) -> str:
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in records(frame):
        lines.append("| " + " | ".join(cell_text(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def cell_text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table(frame, title: str | None = None):
    """A rich Table of `frame`, numbers right-aligned."""
    from rich.table import Table

    view = Table(title=title, header_style="bold")
    numeric = {c: frame[c].dtype.kind in "iuf" for c in frame.columns}
    for column in frame.columns:
        view.add_column(str(column), justify="right" if numeric[column] else "left")
    for row in records(frame):
        view.add_row(*(cell_text(v) for v in row.values()))
    return view


def table_text(frame, title: str | None, footer: str = "", width: int | None = None) -> str:
    """The rich table (and a footer line) as text, styled only when stdout is a terminal."""
    from rich.console import Console

    if width is None and not sys.stdout.isatty():
        width = 250  # a pipe has no width; don't squash the columns to 80
    console = Console(file=sys.stdout, width=width)
    with console.capture() as captured:
        console.print(table(frame, title))
        if footer:
            console.print(footer, highlight=False, soft_wrap=True)
    return captured.get()


def frame_text(frame, fmt: str, document: dict | None = None) -> str:
    """Text of `frame` in `fmt` (csv, json, markdown); JSON uses `document` when given."""
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "json":
        return to_json(document if document is not None else records(frame))
    if fmt == "markdown":
        return to_markdown(frame)
    raise ValueError(f"no text rendering for {fmt!r}")
