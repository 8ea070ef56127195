"""Fitted: what a Forecaster learns, as one plain record.

A fit (schedule.fit_ensemble) returns it, a model file holds it (modelfile.write / read),
and the Forecaster keeps each field as its attribute of the same name with a trailing
underscore (`ids` as `ids_`), the scikit-learn way of marking learned state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fitted:
    backbone: str  # the members' backbone (the winner, with backbone auto)
    members: list  # RecurrentForecaster per member, in evaluation mode
    member_seeds: list[int]  # the seed each member trained with
    cycles: tuple[str, ...]  # calendar cycles the networks read after the target channels
    calibration: object  # intervals.Calibration, or None (a file written before intervals)
    interval_scale: object  # (S, C) each series' recent scale at its end, raw units; None without calibration
    scaling: object  # windows.Scaling, per series and column
    constant: object  # (S,) bool: constant over the training part, forecast as the last value
    context: object  # (S, L_max, C) raw: the last points of each series, as many as the longest lookback
    ids: list[str]  # the series learned from, in the order of every (S, ...) array
    targets: list[str]
    freq: str
    time_col: str
    id_col: str | None
    last_timestamps: object  # DatetimeIndex (S,): each series' last training timestamp
    skipped: list[tuple[str, str]]  # (id, why) of the series left out of training
    history: list[list[dict]]  # each member's validation checks
    metrics: dict  # the fit's summary (schedule.fit_metrics)
    train_config: object  # config.TrainConfig
    # (S,) bool: series too short to learn from, forecast from their own points or last value (None: none)
    fallback: object = None
    context_points: object = None  # (S,) each context row's own points, the rest padding (None: all its own)
    covariates: object = None  # covariates.CovariateModel: columns, scaling, static values, context (None: none)
