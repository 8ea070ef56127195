"""The fit schedule: which networks train in which round, then calibration and the Fitted record.

A fit is a generator of rounds (ensemble.Fit, driven by ensemble.run_fits) that returns a
Fitted. With one backbone, every member trains in one round. With backbone auto, the first
member of each backbone trains watched only (no refit); the one with the best validation loss
wins, and a second round refits it and trains the winner's other members.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from tsgate.config import BACKBONE_NAMES, ModelConfig, TrainConfig
from tsgate.covariates import config_fields
from tsgate.ensemble import Fit, MemberTask, TrainedMember, with_refit
from tsgate.fitted import Fitted
from tsgate.intervals import calibrate, interval_span, recent_scales_of_series
from tsgate.prepare import TrainingPlan
from tsgate.windows import last_points_padded


def fit_ensemble(plan: TrainingPlan, backbone: str, shape: ModelConfig, train: TrainConfig, device: str,
                 time_limit: float | None = None) -> Fit:
    """Train the members of `plan` (backbone a name or "auto"); `shape` holds the options every
    member shares, `train` the first member's training options (member k trains with seed + k);
    each watched run lasts at most `time_limit` seconds when given."""
    backbone, members, trials = yield from train_rounds(plan, backbone, shape, train, device, time_limit)
    started = time.perf_counter()
    calibration_data = plan.windows[plan.lookbacks[0]]
    held_out = ensemble_validation_errors(members, calibration_data)  # before any refit: unseen windows
    val_mae = float((np.abs(held_out) * plan.scaling.scale[calibration_data.series_of_val][:, None, :]).mean())
    span = interval_span(plan.season, plan.horizon)
    calibration = calibrate_intervals(held_out, calibration_data, plan, span)
    own_seconds = plan.seconds + (time.perf_counter() - started)  # this process's part; the members time their own
    seconds = own_seconds + sum(t.seconds for name, t in trials.items() if name != backbone) + sum(m.seconds for m in members)
    fitted = fitted_record(plan, backbone, members, calibration, train)
    return replace(fitted, metrics=fit_metrics(fitted, members, trials, device, val_mae, seconds))


def train_rounds(plan: TrainingPlan, backbone: str, shape: ModelConfig, train: TrainConfig, device: str,
                 time_limit: float | None = None):
    """(the backbone, its trained members, {backbone: its first member} of every backbone tried)."""

    def task(name: str, k: int, **how) -> MemberTask:
        model = replace(shape, backbone=name, n_targets=len(plan.series.targets), lookback=plan.lookbacks[k],
                        anchor_season=plan.member_anchor(k), n_calendar=2 * len(plan.cycles), masked=plan.masked,
                        scale_by_anchor=plan.anchor_season > 1 and shape.norm == "window",
                        **config_fields(plan.covariates and plan.covariates.model))
        return MemberTask(model, replace(train, seed=train.seed + k), plan.windows[plan.lookbacks[k]], device,
                          time_limit=time_limit, **how)

    if backbone != "auto":
        members = yield [task(backbone, k) for k in range(len(plan.lookbacks))]
        return backbone, members, {backbone: members[0]}
    trials = dict(zip(BACKBONE_NAMES, (yield [task(name, 0, refit=False) for name in BACKBONE_NAMES])))
    backbone = min(BACKBONE_NAMES, key=lambda name: trials[name].best_val_loss)
    winner = trials[backbone]
    refit = [task(backbone, 0, refit_steps=winner.best_step, schedule=winner.schedule)] if train.refit else []
    rest = yield refit + [task(backbone, k) for k in range(1, len(plan.lookbacks))]
    members = [with_refit(winner, rest[0]) if refit else winner] + rest[len(refit):]
    trials[backbone] = members[0]
    return backbone, members, trials


def fitted_record(plan: TrainingPlan, backbone: str, members: list[TrainedMember], calibration,
                  train: TrainConfig) -> Fitted:
    """Everything the fit learned, from the plan and the trained members (metrics left empty)."""
    series, scaling = plan.series, plan.scaling
    everyone = np.arange(len(series.ids))  # the recent scale at each series' end, raw units:
    interval_scale = recent_scales_of_series(plan.scaled, series.offsets, everyone, series.length_array,
                                             calibration.span) * scaling.scale
    context, points = last_points_padded(series.flat, series.offsets, max(plan.lookbacks))  # (S, L_max, C), raw
    fallback = plan.fallback if plan.fallback is not None and plan.fallback.any() else None
    return Fitted(backbone=backbone, members=[member.network() for member in members],
                  member_seeds=[member.seed for member in members],
                  cycles=plan.cycles, calibration=calibration, interval_scale=interval_scale, scaling=scaling,
                  constant=scaling.is_constant(), context=context,
                  ids=list(series.ids), targets=list(series.targets), freq=series.freq, time_col=series.time_col,
                  id_col=series.id_col, last_timestamps=series.last, skipped=plan.skipped,
                  history=[member.history for member in members], metrics={}, train_config=train,
                  fallback=fallback, context_points=points if (points < context.shape[1]).any() else None,
                  covariates=None if plan.covariates is None else plan.covariates.model)


def fit_metrics(fitted: Fitted, members: list[TrainedMember], trials: dict, device: str, val_mae: float,
                seconds: float) -> dict:
    """The fit's summary: what trained, how long, how well; the kernel is the path member 0 trained with."""
    from tsgate import distributed
    from tsgate.models import parameter_count

    steps = sum(m.steps_run + m.refit_steps for m in members)
    steps += sum(t.steps_run for name, t in trials.items() if name != fitted.backbone)
    networks, calibration = fitted.members, fitted.calibration
    return {
        "backbone": fitted.backbone,
        "device": device,
        "kernel": members[0].kernel,
        "parameters": parameter_count(networks[0]),  # the first network; others differ by their highway
        "parameters_total": sum(parameter_count(network) for network in networks),
        "members": len(members),
        "lookbacks": [m.model.lookback for m in members],
        "anchor_season": members[0].model.anchor_season,
        **({"anchor_seasons": seasons} if len(set(seasons := [m.model.anchor_season for m in members])) > 1 else {}),
        "calendar": list(fitted.cycles),
        "backbone_val_loss": {name: t.best_val_loss for name, t in trials.items()},
        "steps_run": steps,
        "best_steps": [m.best_step for m in members],
        "best_val_loss": float(np.mean([m.best_val_loss for m in members])),
        "val_mae": val_mae,
        "calibration_windows": len(calibration.scores),
        "world_size": world.size if (world := distributed.current()) else 1,  # torchrun processes
        "series_skipped": len(fitted.skipped),
        "series_constant": int(fitted.constant.sum()),
        **({"series_fallback": [key for key, flag in zip(fitted.ids, fitted.fallback) if flag]}
           if fitted.fallback is not None else {}),  # only where a panel has such series
        "interval_span": calibration.span,
        "train_seconds": seconds,
        "seconds_per_step": seconds / max(steps, 1),
    }


# ---- calibration -------------------------------------------------------------------------------


def ensemble_validation_errors(members: list[TrainedMember], data) -> np.ndarray:
    """Errors (N, H, C), in scaled units, of the members' median forecast over the validation windows
    (made before any refit, so on windows no member trained on).

    Members with other lookbacks have other windows, but their validation targets are the same
    points in the same order (windows.build_windows), so their forecasts line up.
    """
    _, truth = data.gather(data.val_starts)  # (N, H, C)
    return np.median(np.stack([m.val_forecasts for m in members]), axis=0) - truth.numpy()


def calibrate_intervals(errors: np.ndarray, data, plan: TrainingPlan, span: int):
    """The interval calibration from held-out errors (N, H, C) of the validation windows of `data`, with
    each series' own error level; short series (a fallback, or one shorter than the longest member
    lookback) lean on the level of the held-out windows that were padded."""
    owners, origins, longest = data.series_of_val, data.origin_of_val, max(plan.lookbacks)
    series = plan.series
    short = series.length_array < longest
    if plan.fallback is not None:
        short = short | plan.fallback
    scales = recent_scales_of_series(plan.scaled, series.offsets, owners, origins, span)
    return calibrate(errors, scales, owners, span, origins, short, origins < longest, len(series.ids))
