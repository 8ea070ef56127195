"""Pictures for people: training curves, forecasts, model comparisons, gates and memory.

The one module that imports matplotlib, and only inside its functions, so `import tsgate` stays
light. Each picture is a `*_figure` function that takes plain data and returns a
`matplotlib.figure.Figure` (no pyplot, no global state, never a window); `picture` renders a
figure into memory, and the command writes those bytes together with its other outputs.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from tsgate.errors import OptionError
from tsgate.io import check_writable

SUFFIXES = (".png", ".svg", ".pdf")
DPI = 120  # raster resolution of .png; a 10 x 5 inch figure is 1200 x 600 pixels
WIDTH = 10.0  # inches, every figure
HEIGHT = 5.0  # inches, a one-row figure; several panels add rows
PANEL_HEIGHT = 3.2  # inches per row of forecast panels
HEATMAP_HEIGHT = 2.2  # inches per layer in the inspection figure
# Files that do not change when redrawn from the same data: no creation dates inside.
METADATA = {".png": {}, ".svg": {"Date": None}, ".pdf": {"CreationDate": None}}


def check_plot_path(path: str | os.PathLike) -> Path:
    """Validate before any long work: a known suffix (OptionError) and a writable place (OutputError)."""
    picture_suffix(path)
    return check_writable(path)


def picture_suffix(path: str | os.PathLike) -> str:
    """The suffix of a picture file, lower case; OptionError for one matplotlib is not asked to write."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        found = f"suffix {target.suffix!r}" if target.suffix else "no suffix"
        raise OptionError(f"cannot draw {target}: it has {found}; name the picture with {', '.join(SUFFIXES)}")
    return suffix


def picture(fig, path: str | os.PathLike) -> bytes:
    """The bytes of `fig` drawn in the format the suffix of `path` names (the file is not written:
    a command writes the picture together with its other outputs)."""
    suffix = picture_suffix(path)
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "tsgate"}):  # SVG element ids from a fixed salt, not random
        fig.savefig(buffer, format=suffix[1:], dpi=DPI, metadata=METADATA[suffix])
    return buffer.getvalue()


def new_figure(height: float = HEIGHT):
    """A Figure on the Agg canvas, never attached to pyplot or a display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Constrained layout is matplotlib's tight layout that also makes room for colourbars and suptitles.
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def empty_note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


# --- training -------------------------------------------------------------------------------


def training_figure(history: list[list[dict]], title: str = "training"):
    from matplotlib.lines import Line2D

    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_title(f"{title}: train and validation loss per validation check", parse_math=False)  # names a data file
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    members = [checks for checks in history if checks]
    if not members:
        empty_note(ax, "no validation checks recorded")
        return fig
    losses = []
    handles = []
    for k, checks in enumerate(members):
        colour = f"C{k % 10}"
        val = [(c["step"], c["val_loss"]) for c in checks if finite(c.get("val_loss"))]
        train = [(c["step"], c["train_loss"]) for c in checks if finite(c.get("train_loss"))]
        name = "" if len(members) == 1 else f"member {k}: "
        if train:
            ax.plot(*zip(*train), color=colour, linestyle="--", alpha=0.7, linewidth=1.2)
            losses += [loss for _, loss in train]
        if val:
            ax.plot(*zip(*val), color=colour, linestyle="-", linewidth=1.8)
            losses += [loss for _, loss in val]
            best_step, best = min(val, key=lambda point: point[1])
            ax.plot([best_step], [best], marker="o", markersize=8, color=colour, markeredgecolor="black")
            handles.append(Line2D([], [], color=colour, linewidth=1.8,
                                  label=f"{name}best validation {best:.4g} at step {best_step}"))
    # The line styles once for all members, then one colour per member with its best check.
    style = [Line2D([], [], color="0.3", linestyle="-", label="validation loss"),
             Line2D([], [], color="0.3", linestyle="--", label="train loss"),
             Line2D([], [], color="0.3", linestyle="", marker="o", markeredgecolor="black", label="best validation check")]
    ax.legend(handles=style + handles, fontsize="small", loc="upper right")
    positive = [loss for loss in losses if loss > 0]
    if positive and len(positive) == len(losses) and max(positive) > 10 * min(positive):
        ax.set_yscale("log")
        ax.set_ylabel("loss (log scale)")
    ax.grid(True, alpha=0.3)
    return fig


def finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


# --- forecast -------------------------------------------------------------------------------


def forecast_figure(history: list[tuple], forecast: list[tuple], target: str, max_panels: int = 6):
    """history[i] = (label, timestamps, values); forecast[i] = (label, timestamps, values, {level: (lower, upper)})."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    shown = forecast[: max(1, max_panels)]
    hidden = len(forecast) - len(shown)
    cols = 1 if len(shown) <= 1 else 2
    rows = max(1, math.ceil(len(shown) / cols))
    fig = new_figure(max(HEIGHT, PANEL_HEIGHT * rows + 0.6))
    intervals = any(item[3] for item in shown) if shown else False
    # Ids and column names are shown as written: never read as mathtext (a "$" pair would be typeset
    # or, unparseable, fail the whole picture).
    fig.suptitle(f"{target}: recent history and forecast" + (" with prediction intervals" if intervals else ""),
                 parse_math=False)
    if not shown:
        empty_note(fig.add_subplot(), "no series to plot")
        return fig
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(shown):]:
        ax.remove()  # an odd panel count leaves one cell empty
    for i, (ax, (label, times, values, bounds)) in enumerate(zip(axes, shown)):
        times = as_datetimes(times)
        if i < len(history):
            _, past_times, past_values = history[i]
            past_times = as_datetimes(past_times)
            ax.plot(past_times, np.asarray(past_values, dtype=float), color="0.2", linewidth=1.3, label="history")
            if len(past_times):
                ax.axvline(past_times[-1], color="0.5", linestyle=":", linewidth=1, label="forecast origin")
        levels = sorted((bounds or {}).items(), key=lambda item: float(item[0]), reverse=True)
        for rank, (level, (lower, upper)) in enumerate(levels):
            alpha = 0.18 + 0.22 * rank / max(1, len(levels) - 1) if len(levels) > 1 else 0.3  # wider lighter
            ax.fill_between(times, np.asarray(lower, dtype=float), np.asarray(upper, dtype=float), color="C0",
                            alpha=alpha, linewidth=0, label=f"{percent(level)} interval")
        ax.plot(times, np.asarray(values, dtype=float), color="C0", linewidth=1.8, label="forecast")
        ax.set_title(str(label), parse_math=False)
        ax.set_ylabel(target, parse_math=False)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small", loc="best")
    if hidden:
        # A figure-level x label: the layout keeps room for it below the panels' date labels.
        fig.supxlabel(f"showing the first {len(shown)} of {len(forecast)} series; {hidden} more not drawn",
                      fontsize="small", color="0.3")
    return fig


def as_datetimes(times):
    """Timestamps matplotlib draws as dates: datetime objects (time zones kept)."""
    import pandas as pd

    return pd.DatetimeIndex(times).to_pydatetime()


def percent(level) -> str:
    """80 -> '80%', 0.8 -> '80%': levels arrive in percent, fractions are accepted too."""
    value = float(level)
    return f"{value * 100 if value <= 1 else value:g}%"


# --- comparison -----------------------------------------------------------------------------


def comparison_figure(rows: list[dict], metric: str = "mase"):
    from matplotlib.transforms import blended_transform_factory

    fig = new_figure()
    fig.suptitle(f"model comparison: {metric.upper()} (lower is better)")
    axes = fig.subplots(1, 2, sharey=True)
    scored = [row for row in rows if finite(row.get(metric))]
    recurrent = [row for row in scored if row.get("kind", "recurrent") != "baseline"]
    baselines = [row for row in scored if row.get("kind") == "baseline"]
    panels = (("train_seconds", "training time (seconds, log scale)", f"{metric.upper()} against training time"),
              ("parameters", "parameters (count, log scale)", f"{metric.upper()} against parameter count"))
    for ax, (column, xlabel, title) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
        points = [row for row in recurrent if finite(row.get(column)) and row[column] > 0]
        for k, row in enumerate(points):
            std = row.get(f"{metric}_std")
            ax.errorbar([row[column]], [row[metric]], yerr=[std] if finite(std) and std > 0 else None,
                        fmt="o", color=f"C{k % 10}", capsize=4, markersize=7, label=row["model"])
            ax.annotate(str(row["model"]), (row[column], row[metric]), xytext=(6, 6), textcoords="offset points")
        if not points:
            ax.text(0.5, 0.5, f"no recurrent model with {column.replace('_', ' ')}", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")
            ax.set_xlim(1, 10)
        label_at = blended_transform_factory(ax.transAxes, ax.transData)  # x in the panel, y at the line
        for row in baselines:
            ax.axhline(row[metric], color="0.45", linestyle="--", linewidth=1.2)
            ax.text(0.99, row[metric], f" {row['model']}", transform=label_at, ha="right", va="bottom",
                    fontsize="small", color="0.3")
    axes[0].set_ylabel(f"{metric.upper()} (mean over seeds, bar: std)")
    if baselines or recurrent:
        from matplotlib.lines import Line2D

        handles, _ = axes[0].get_legend_handles_labels()
        if baselines:
            handles.append(Line2D([], [], color="0.45", linestyle="--", label="baseline (no training time)"))
        axes[0].legend(handles=handles, fontsize="small", loc="best")
    else:
        axes[0].text(0.5, 0.35, f"no rows with {metric}", transform=axes[0].transAxes, ha="center", color="0.4")
    return fig


# --- claims ---------------------------------------------------------------------------------

BACKBONE_ORDER = ("rnn", "gru", "lstm")


def claims_figure(evidence: dict):
    """compare --claims: MASE against training data and against lookback (mean over seeds, band:
    std), and validation loss against seconds (mean over networks, band: their range).
    `evidence` maps each claim's id to its evidence (evidence.py)."""
    fig = new_figure(HEIGHT)
    fig.suptitle("the common claims on this data (lower is better)")
    sizes, lookbacks, curves = fig.subplots(1, 3)
    history = evidence["lstm-better-on-large-data"]["axes"]["history"]["points"]
    sweep_panel(sizes, history, "training points (deepest fold, log scale)", "MASE against data size")
    sweep_panel(lookbacks, evidence["rnn-enough-for-short-sequences"]["points"], "lookback (steps, log scale)",
                "MASE against lookback")
    curve_panel(curves, evidence["converges-more-easily"])
    return fig


def sweep_panel(ax, points: list[dict], xlabel: str, title: str) -> None:
    ax.set_title(title)
    if not points:
        empty_note(ax, "the data holds no setting of this sweep")
        return
    x = np.array([point["size"] for point in points], dtype=float)
    for k, name in enumerate(BACKBONE_ORDER):
        mean = np.array([point["mase"][name] for point in points], dtype=float)
        std = np.array([point["mase_std"][name] or 0.0 for point in points], dtype=float)
        ax.plot(x, mean, marker="o", color=f"C{k}", label=name)
        ax.fill_between(x, mean - std, mean + std, color=f"C{k}", alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{value:,.0f}" for value in x], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("MASE (band: std over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def curve_panel(ax, convergence: dict, points: int = 100) -> None:
    """Each backbone's validation curves on one grid of seconds; a network that stopped early keeps its last loss."""
    ax.set_title("validation loss against seconds")
    drawn = False
    for k, name in enumerate(BACKBONE_ORDER):
        curves = [c for c in convergence[name]["curves"] if len(c["seconds"]) > 1]
        if not curves:
            continue
        grid = np.linspace(0, max(c["seconds"][-1] for c in curves), points)
        losses = np.stack([np.interp(grid, c["seconds"], c["val_loss"]) for c in curves])  # (networks, points)
        ax.plot(grid, losses.mean(axis=0), color=f"C{k}", label=name)
        ax.fill_between(grid, losses.min(axis=0), losses.max(axis=0), color=f"C{k}", alpha=0.2, linewidth=0)
        drawn = True
    if not drawn:
        empty_note(ax, "no validation checks recorded")
        return
    ax.set_xlabel("seconds (steps x seconds per step)")
    ax.set_ylabel("validation loss (band: range over networks)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


# --- inspection -----------------------------------------------------------------------------


def inspection_figure(report: dict):
    layers = report.get("layers") or []
    lookback = int(report["lookback"])
    fig = new_figure(HEATMAP_HEIGHT * max(1, len(layers)) + 3.0)
    fig.suptitle(f"{str(report.get('backbone', 'network')).upper()}: gate activations and memory "
                 f"over a lookback of {lookback} steps")
    axes = fig.subplots(len(layers) + 1, 1, sharex=True, squeeze=False).ravel()
    grids = [np.array([gate["mean_per_step"] for gate in layer["gates"].values()], dtype=float) for layer in layers]
    # One colour scale for every layer, so equal colours mean equal activations.
    values = np.concatenate([grid.ravel() for grid in grids]) if grids else np.zeros(1)
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    image = None
    for ax, layer, grid in zip(axes, layers, grids):
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        ax.set_yticks(range(len(grid)), [gate_label(name, gate) for name, gate in layer["gates"].items()])
        ax.set_title(f"layer {layer['layer']}: mean gate activation per step", fontsize="medium")
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(layers)]), label="mean activation", shrink=0.9)
    memory = report.get("memory") or {}
    profile = np.asarray(memory.get("profile") or [], dtype=float)
    bars = axes[-1]
    bars.bar(np.arange(len(profile)), profile, width=0.8, color="C0", label="memory profile")
    effective, share = memory.get("effective"), memory.get("share", 0.9)
    if effective:
        start = lookback - int(effective) - 0.5
        bars.axvspan(start, lookback - 0.5, color="C1", alpha=0.2, zorder=0,
                     label=f"{percent(share)} of the signal: last {int(effective)} steps")
    bars.set_title("memory: how much each step back moves the forecast", fontsize="medium")
    bars.set_ylabel("share of signal")
    bars.set_xlabel("steps back from the forecast origin")
    bars.legend(fontsize="small", loc="upper left")
    bars.grid(True, axis="y", alpha=0.3)
    ticks = step_ticks(lookback)
    bars.set_xticks(ticks, [str(t - lookback) for t in ticks])
    bars.set_xlim(-0.5, lookback - 0.5)
    return fig


def gate_label(name: str, gate: dict) -> str:
    saturated = gate.get("saturated")
    extra = f", {saturated:.0%} saturated" if finite(saturated) else ""
    return f"{name} (mean {gate['mean']:.2f}{extra})" if finite(gate.get("mean")) else str(name)


def step_ticks(lookback: int, most: int = 12) -> list[int]:
    """Column positions to label: about `most` of them, always the oldest step (-L) and the last (-1)."""
    stride = max(1, math.ceil(lookback / most))
    ticks = list(range(lookback - 1, -1, -stride))[::-1]
    if ticks and ticks[0] != 0 and ticks[0] >= stride / 2:
        ticks.insert(0, 0)
    elif ticks and ticks[0] != 0:
        ticks[0] = 0
    return ticks
