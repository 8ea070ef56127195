"""The numbers each claim is judged on, read off compare's fitted networks and the sweeps' runs.

Errors are in MASE units (compare.scaled_errors), paired point by point across the fits of a
sweep, so a Diebold-Mariano test can compare two backbones at one setting, or whether the gap
between two backbones changed from one setting to another.

Seconds of a validation check are derived, not timed: its step times the fit's seconds per
step (its training time over all its steps, refits and validation checks included).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

BACKBONES = ("rnn", "gru", "lstm")


def spread(values) -> dict:
    """{mean, std (over the values, 0 for one), n} of a list of numbers."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(values):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "n": int(len(values))}


# ---- from the comparison's networks -------------------------------------------------------------


def size_and_speed(comparison, fitted: dict, hidden: int) -> dict:
    """fewer-parameters-faster: counts at equal hidden size (no training: the networks the fits
    built, rebuilt at --hidden), then time per step and per forecast, and to the best check, as trained."""
    from tsgate.sizes import count_parameters

    rows = {row["model"]: row for row in comparison.rows}
    return {
        "hidden": hidden,
        "parameters_at_equal_hidden": {name: count_parameters(replace(fitted[name][0].members_[0].config, hidden=hidden))
                                       for name in BACKBONES},
        "match": comparison.settings.get("match", "hidden"),
        "parameters": {name: rows[name]["parameters"] for name in BACKBONES},
        "hidden_trained": {name: fitted[name][0].hidden for name in BACKBONES},
        "seconds_per_step": {name: spread([f.metrics_["seconds_per_step"] for f in fitted[name]]) for name in BACKBONES},
        "forecast_ms": {name: rows[name]["forecast_ms"] for name in BACKBONES},
        "seconds_to_best": {name: spread([best_check(history)["step"] * f.metrics_["seconds_per_step"]
                                          for f in fitted[name] for history in f.history_]) for name in BACKBONES},
    }


def best_check(history: list[dict]) -> dict:
    return min((check for check in history if check["val_loss"] is not None), key=lambda check: check["val_loss"])


def steps_to_near(checks: list[dict], best: float, near: float) -> int:
    """The first check within `near` of the way from the first check's loss down to the best. Measured
    on the improvement, not on the loss: a network starts as its anchor's forecast, often within a few
    percent of its best loss already, where "within 5% of the best loss" would hold at step 0."""
    reach = best + near * (checks[0]["val_loss"] - best)
    return next(check["step"] for check in checks if check["val_loss"] <= reach)


def convergence(comparison, fitted: dict, near: float) -> dict:
    """converges-more-easily: per backbone, over every network the comparison trained (seeds x folds
    x ensemble members), the steps and seconds to come within `near` of its own best validation loss
    (of the way down to it: steps_to_near),
    that best loss, the steps between checks (the resolution of the steps) and each network's
    validation curve against seconds."""
    rows = {row["model"]: row for row in comparison.rows}
    found = {"near": near}
    for name in BACKBONES:
        steps, seconds, losses, every, curves = [], [], [], [], []
        for forecaster in fitted[name]:
            per_step = forecaster.metrics_["seconds_per_step"]
            for history in forecaster.history_:
                checks = [c for c in history if c["val_loss"] is not None]
                curves.append({"seconds": [c["step"] * per_step for c in checks], "val_loss": [c["val_loss"] for c in checks]})
                best = best_check(history)["val_loss"]
                first = steps_to_near(checks, best, near)
                steps.append(first)
                seconds.append(first * per_step)
                losses.append(best)
                every += [history[2]["step"] - history[1]["step"]] if len(history) > 2 else []
        found[name] = {"steps_to_near_best": spread(steps), "seconds_to_near_best": spread(seconds),
                       "best_val_loss": spread(losses), "check_every": max(every, default=None), "curves": curves}
        tuning = rows[name].get("tuning")
        if tuning:  # compare --tune: how the trials' losses spread
            found[name]["tuning"] = {key: tuning.get(key) for key in ("trials", "val_loss_median", "val_loss_iqr")}
    return found


# ---- from the sweeps --------------------------------------------------------------------------


def data_sweeps(plan, runs: dict, horizon: int, seeds: int) -> dict:
    """lstm-better-on-large-data: at each data size, each backbone's MASE and LSTM's gap to GRU and
    to RNN (negative: LSTM better) with its DM p; the gap's change from the smallest size to the largest."""
    axes = {}
    for axis in ("history", "series"):
        points = plan.axis(axis)
        if axis == "series" and not points:
            continue
        axes[axis] = {
            "points": [point_evidence(point, runs[point], "lstm", ("gru", "rnn"), horizon, seeds) for point in points],
            "trend": {other: gap_change(runs[points[0]], runs[points[-1]], "lstm", other, other, horizon, seeds)
                      for other in ("gru", "rnn")} if len(points) > 1 else None,
            "dropped": [d for d in plan.dropped if d["axis"] == axis],
        }
    return {"data": plan.data, "axes": axes}


def lookback_sweep(plan, runs: dict, horizon: int, seeds: int) -> dict:
    """rnn-enough-for-short-sequences: at each lookback, RNN's gap to the better gated cell there
    (positive: RNN worse) with its DM p; the gap's change from the shortest lookback to the longest."""
    points = plan.axis("lookback")
    found = []
    for point in points:
        gated = better_of(runs[point], ("gru", "lstm"))
        found.append({**point_evidence(point, runs[point], "rnn", (gated,), horizon, seeds), "gated": gated})
    trend = None
    if len(points) > 1:
        trend = gap_change(runs[points[0]], runs[points[-1]], "rnn", found[0]["gated"], found[-1]["gated"], horizon, seeds)
    return {"base_lookback": plan.base_lookback, "points": found, "trend": trend,
            "dropped": [d for d in plan.dropped if d["axis"] == "lookback"]}


def point_evidence(point, runs: list, subject: str, others: tuple[str, ...], horizon: int, seeds: int) -> dict:
    """At one sweep point: every backbone's MASE (mean, std over seeds) and `subject`'s gap to each of `others`."""
    from tsgate.compare import paired_errors

    mase = {name: spread(seed_mase(runs, name)) for name in BACKBONES}
    found = {"value": point.value, "size": point.size, "mase": {n: m["mean"] for n, m in mase.items()},
             "mase_std": {n: m["std"] for n, m in mase.items()}, "gap": {}, "gap_std": {}, "dm_p": {}}
    for other in others:
        gap = spread(seed_mase(runs, subject) - seed_mase(runs, other))
        found["gap"][other], found["gap_std"][other] = gap["mean"], gap["std"]
        found["dm_p"][other] = dm_p(paired_errors(runs, subject, seeds), paired_errors(runs, other, seeds), horizon)
    return found


def gap_change(small: list, large: list, subject: str, other_small: str, other_large: str, horizon: int,
               seeds: int) -> dict:
    """How `subject`'s gap (its MASE minus the other's) changed from the `small` runs to the `large`
    ones: the change, its spread over seeds, and a DM p on the difference of the two differences.

    The loss differential (|s_L| - |o_L|) - (|s_S| - |o_S|) is |a| - |b| for a = |s_L| + |o_S| and
    b = |o_L| + |s_S|, so diebold_mariano on a and b tests whether the gap moved."""
    from tsgate.compare import paired_errors

    def errors(runs, name):
        return np.abs(paired_errors(runs, name, seeds))

    change = (seed_mase(large, subject) - seed_mase(large, other_large)) - (seed_mase(small, subject) - seed_mase(small, other_small))
    moved = spread(change)
    a = errors(large, subject) + errors(small, other_small)
    b = errors(large, other_large) + errors(small, subject)
    return {"change": moved["mean"], "spread": moved["std"], "dm_p": dm_p(a, b, horizon)}


def seed_mase(runs: list, name: str) -> np.ndarray:
    """(seeds,) the MASE of `name`'s runs, averaged over folds per seed, in seed order."""
    seeds = sorted({run.seed for run in runs if run.model == name})
    return np.array([np.mean([r.scores["mase"] for r in runs if r.model == name and r.seed == seed]) for seed in seeds])


def better_of(runs: list, names: tuple[str, ...]) -> str:
    return min(names, key=lambda name: float(seed_mase(runs, name).mean()))


def dm_p(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int) -> float:
    from tsgate.significance import diebold_mariano

    return diebold_mariano(errors_a, errors_b, min(horizon, len(errors_a) - 1), power=1).p_value
