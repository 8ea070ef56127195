"""The model file: safetensors tensors plus one JSON document, nothing executable.

Layout (see README "Model file"): a standard safetensors file. Its header's
`__metadata__` holds one key, "tsgate", whose value is a JSON document with the
format name and version, the Forecaster's parameters, the shared model config,
each member's lookback and seed, calendar cycles, column names, frequency, ids,
last timestamps, history and metrics. Tensors: member k's state dict under
"members.k.", the per-series scaler under "scaling.center"/"scaling.scale"
(S, C) and the last points of each training series (as many as the longest
member lookback) under "context" (S, L, C). Since tsgate 0.3, the interval calibration:
"calibration.scores" (N, H, C) and "calibration.weights" (N,) of the held-out windows, and
"calibration.scale" (S, C), each series' recent scale at the end of its training data; the
JSON's "intervals" holds the span that scale reads. Files without them forecast points only.
After 0.7.0, a panel's file adds "calibration.levels" (S, C), each series' held-out error level
relative to the pool's (intervals.series_levels), where any differs from 1; files without it give
every series the pool's level.
Since tsgate 0.5, "series.constant" (S,) flags the series that were constant over their training
part (forecast as their last value); files without it have none. Since tsgate 0.6, a panel with
series shorter than the lookback adds "series.fallback" (S,), the series too short to learn from,
and "context.points" (S,), each context row's own points (the rest copies its first value); the
model config's "masked" says the networks read a mask input. Files without them have none.

Since tsgate 0.8, a model with covariates adds the JSON's "covariates" (each column's name, role and
categories, and the scaler kind) and the tensors "covariates.center" and "covariates.scale" (S, Kd:
each past and future column's scaling per series, 0 and 1 for a categorical one),
"covariates.static_center" and "covariates.static_scale" (Ks,), "covariates.static" (S, Ks: each
series' raw static values, categorical ones as level codes) and "covariates.context" (S, L, Kd: the
raw past and future rows beside "context"); the model config's "n_past", "n_future" and "n_static"
give their input channels. Files without them have none, and read exactly as before.

Format 1 (tsgate 0.1: one network under "model.") is upgraded on loading.

`write` and `read` turn a Forecaster's parameters and its Fitted record into such a file and
back; `save` and `load` move the raw tensors and JSON document.

Loading parses the header with size limits before handing the bytes to
safetensors, so a pickle, a zip (bomb or not), a truncated file or a giant
JSON document is refused without being executed or expanded; tensors holding
NaN or infinity are refused too.
"""

from __future__ import annotations

import json
import struct
from dataclasses import replace
from pathlib import Path

from tsgate.version import __version__
from tsgate.config import ModelConfig, TrainConfig
from tsgate.errors import ModelFileError, OptionError
from tsgate.fitted import Fitted
from tsgate.io import write_atomic

FORMAT = "tsgate-model"
FORMAT_VERSION = 2
MAX_HEADER_BYTES = 16 * 1024 * 1024  # far above any real model's header; stops JSON bombs early
MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
# Metrics that are wall-clock figures: left out, so that equal runs give equal files.
TIMING_METRICS = ("train_seconds", "seconds_per_step")


def write(path, params: dict, fitted: Fitted) -> None:
    """A model file of a Forecaster with constructor arguments `params` and learned state `fitted`."""
    write_atomic(path, encode(params, fitted))


def encode(params: dict, fitted: Fitted) -> bytes:
    """The bytes `write` puts in the file."""
    return to_bytes(tensors_of(fitted), document_of(params, fitted))


def read(path) -> tuple[dict, Fitted]:
    """(constructor arguments, learned state) from a model file; ModelFileError for anything else."""
    tensors, meta = load(path)
    try:
        return meta["params"], fitted_from(tensors, meta)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, OptionError) as exc:
        raise inconsistent(path, exc) from exc


def inconsistent(path, exc: Exception) -> ModelFileError:
    return ModelFileError(f"{path} is a tsgate model file with inconsistent contents ({type(exc).__name__}): retrain it")


def tensors_of(fitted: Fitted) -> dict:
    import numpy as np
    import torch

    tensors = {f"members.{k}.{name}": value for k, network in enumerate(fitted.members)
               for name, value in network.state_dict().items()}
    tensors["scaling.center"] = torch.from_numpy(fitted.scaling.center)
    tensors["scaling.scale"] = torch.from_numpy(fitted.scaling.scale)
    tensors["context"] = torch.from_numpy(np.ascontiguousarray(fitted.context))
    tensors["series.constant"] = torch.from_numpy(fitted.constant.astype(np.uint8))
    if fitted.fallback is not None:
        tensors["series.fallback"] = torch.from_numpy(fitted.fallback.astype(np.uint8))
    if fitted.context_points is not None:
        tensors["context.points"] = torch.from_numpy(fitted.context_points.astype(np.int64))
    if fitted.covariates is not None:
        model = fitted.covariates
        scaling = model.scaling
        tensors.update({"covariates.center": torch.from_numpy(scaling.center), "covariates.scale": torch.from_numpy(scaling.scale),
                        "covariates.static_center": torch.from_numpy(scaling.static_center),
                        "covariates.static_scale": torch.from_numpy(scaling.static_scale),
                        "covariates.static": torch.from_numpy(np.ascontiguousarray(model.static, dtype=np.float64)),
                        "covariates.context": torch.from_numpy(np.ascontiguousarray(model.context, dtype=np.float64))})
    if fitted.calibration is not None:
        tensors["calibration.scores"] = torch.from_numpy(fitted.calibration.scores)
        tensors["calibration.weights"] = torch.from_numpy(fitted.calibration.weights)
        tensors["calibration.scale"] = torch.from_numpy(fitted.interval_scale)
        levels = fitted.calibration.levels
        if levels is not None and (levels != 1).any():  # all at the pool's level reads the same without them
            tensors["calibration.levels"] = torch.from_numpy(levels)
    return tensors


def document_of(params: dict, fitted: Fitted) -> dict:
    """Everything but tensors; deterministic (no wall-clock figures), so equal runs give equal files."""
    import torch

    covariates = {} if fitted.covariates is None else {
        "covariates": {"columns": [c.to_dict() for c in fitted.covariates.columns], "scaler": fitted.train_config.scaler}}
    return {
        **covariates,
        "tsgate_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
        "params": params,
        "model": model_fields(fitted.members[0].config),
        "members": [member_fields(net.config, seed, fitted.members[0].config)
                    for net, seed in zip(fitted.members, fitted.member_seeds)],
        "calendar": list(fitted.cycles),
        "intervals": None if fitted.calibration is None else {"span": fitted.calibration.span},
        "train": fitted.train_config.to_dict(),
        "data": {
            "ids": fitted.ids,
            "targets": fitted.targets,
            "freq": fitted.freq,
            "time_col": fitted.time_col,
            "id_col": fitted.id_col,
            "last_timestamps": [stamp.isoformat() for stamp in fitted.last_timestamps],
            "skipped": [[key, why] for key, why in fitted.skipped],
        },
        "metrics": {k: v for k, v in fitted.metrics.items() if k not in TIMING_METRICS},
        "history": fitted.history,
    }


def member_fields(config: ModelConfig, seed: int, shared: ModelConfig) -> dict:
    """One member as the file lists it: its lookback and seed, and its anchor where it is not the
    shared one (a member too short for the season anchors on the last value)."""
    fields = {"lookback": config.lookback, "seed": seed}
    if config.anchor_season != shared.anchor_season:
        fields["anchor_season"] = config.anchor_season
    return fields


def model_fields(config: ModelConfig) -> dict:
    """The shared model config as the file stores it: `masked` and `scale_by_anchor` only where set,
    so that a fit without them writes the same file as before the fields existed."""
    fields = config.to_dict()
    for name in ("masked", "scale_by_anchor", "n_past", "n_future", "n_static"):
        if not fields[name]:
            del fields[name]
    return fields


def fitted_from(tensors: dict, meta: dict) -> Fitted:
    """The Fitted record of a loaded file; KeyError, ValueError and the like where its parts disagree."""
    import numpy as np
    import pandas as pd

    from tsgate.windows import Scaling

    shared = ModelConfig(**meta["model"])
    train_config = TrainConfig(**meta["train"])
    members = [load_member(tensors, k, replace(shared, lookback=int(member["lookback"]),
                                               anchor_season=int(member.get("anchor_season", shared.anchor_season))))
               for k, member in enumerate(meta["members"])]
    if not members or any(name.split(".")[1] not in map(str, range(len(members)))
                          for name in tensors if name.startswith("members.")):
        raise ValueError("the members listed do not match the weights stored")
    member_seeds = [int(member["seed"]) for member in meta["members"]]
    cycles, data = tuple(meta["calendar"]), meta["data"]
    scaling = Scaling(tensors["scaling.center"].numpy(), tensors["scaling.scale"].numpy())
    context = tensors["context"].numpy()
    ids, targets, freq, time_col, id_col = list(data["ids"]), list(data["targets"]), data["freq"], data["time_col"], data["id_col"]
    last_timestamps = pd.DatetimeIndex([pd.Timestamp(text) for text in data["last_timestamps"]]).as_unit("ns")
    skipped = [(str(key), str(why)) for key, why in data.get("skipped", [])]  # absent before 0.5
    constant = tensors.get("series.constant")
    constant = np.zeros(len(ids), dtype=bool) if constant is None else constant.numpy().astype(bool)
    if len(constant) != len(ids):
        raise ValueError("the constant-series flags do not match the series")
    history, metrics = meta["history"], dict(meta["metrics"])
    longest = max(network.config.lookback for network in members)
    expected = (len(ids), longest, shared.n_targets)
    if context.shape != expected or scaling.center.shape != expected[::2]:
        raise ValueError("tensor shapes do not match the metadata")
    fallback, points = (tensors.get(name) for name in ("series.fallback", "context.points"))  # absent before 0.6
    fallback = None if fallback is None else fallback.numpy().astype(bool)
    points = None if points is None else points.numpy().astype(np.int64)
    if any(flags is not None and flags.shape != (len(ids),) for flags in (fallback, points)) or (
            points is not None and ((points < 1) | (points > longest)).any()):
        raise ValueError("the fallback flags or context points do not match the series")
    if 2 * len(cycles) != shared.n_calendar:
        raise ValueError("the calendar inputs do not match the model configuration")
    calibration, interval_scale = load_calibration(tensors, meta.get("intervals"), (len(ids), shared.horizon, shared.n_targets))
    covariates = load_covariates(tensors, meta.get("covariates"), shared, context.shape[:2])
    return Fitted(backbone=shared.backbone, members=members, member_seeds=member_seeds, cycles=cycles,
                  calibration=calibration, interval_scale=interval_scale, scaling=scaling, constant=constant,
                  context=context, ids=ids, targets=targets, freq=freq, time_col=time_col, id_col=id_col,
                  last_timestamps=last_timestamps, skipped=skipped, history=history, metrics=metrics,
                  train_config=train_config, fallback=fallback, context_points=points, covariates=covariates)


def load_covariates(tensors: dict, settings: dict | None, shared: ModelConfig, context_shape: tuple[int, int]):
    """covariates.CovariateModel of a model file, or None for a file without covariates; ValueError
    where the columns, their tensors and the networks' input channels disagree."""
    from tsgate.covariates import Covariate, CovariateModel, CovariateScaling, dynamic_columns, widths

    if settings is None:
        if shared.n_covariates or any(name.startswith("covariates.") for name in tensors):
            raise ValueError("covariate inputs without their columns")
        return None
    columns = tuple(Covariate.from_dict(fields) for fields in settings["columns"])
    if len({c.name for c in columns}) < len(columns):
        raise ValueError("a covariate listed twice")
    found = widths(columns)
    if (found["past"], found["future"], found["static"]) != (shared.n_past, shared.n_future, shared.n_static):
        raise ValueError("the covariates do not match the networks' input channels")
    names = ("center", "scale", "static_center", "static_scale", "static", "context")
    center, scale, static_center, static_scale, static, context = (tensors[f"covariates.{n}"].numpy() for n in names)
    series, kd, ks = context_shape[0], len(dynamic_columns(columns)), len(columns) - len(dynamic_columns(columns))
    expected = [(series, kd), (series, kd), (ks,), (ks,), (series, ks), (*context_shape, kd)]
    if [a.shape for a in (center, scale, static_center, static_scale, static, context)] != expected:
        raise ValueError("the covariate tensors do not match the series")
    if (scale <= 0).any() or (static_scale <= 0).any():
        raise ValueError("a covariate scale is not positive")
    return CovariateModel(columns, CovariateScaling(center, scale, static_center, static_scale), static, context)


def load_member(tensors: dict, k: int, config: ModelConfig):
    """Member k's network from the tensors under "members.k.", its shapes checked before it is built."""
    from tsgate.models import RecurrentForecaster, state_shapes

    prefix = f"members.{k}."
    state = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
    if {name: tuple(value.shape) for name, value in state.items()} != state_shapes(config):
        raise ValueError(f"the weights of member {k} do not match the model configuration")
    network = RecurrentForecaster(config)
    network.load_state_dict(state, strict=True)
    return network.eval()


def load_calibration(tensors: dict, settings: dict | None, shape: tuple[int, int, int]):
    """(Calibration, recent scales (S, C)) from a model file, or (None, None) for a file without them."""
    from tsgate.intervals import Calibration

    if settings is None and "calibration.scores" not in tensors:
        return None, None  # written before intervals existed: points only
    scores, weights = tensors["calibration.scores"].numpy(), tensors["calibration.weights"].numpy()
    scale = tensors["calibration.scale"].numpy()
    series, horizon, targets = shape  # (S, H, C)
    if scores.ndim != 3 or scores.shape[1:] != (horizon, targets) or weights.shape != scores.shape[:1] or scale.shape != (series, targets):
        raise ValueError("the interval calibration does not match the model")
    levels = tensors.get("calibration.levels")  # absent up to 0.7.0, and where all are 1: the pool's level
    levels = None if levels is None else levels.numpy()
    if levels is not None and levels.shape != (series, targets):
        raise ValueError("the interval calibration does not match the model")
    if len(weights) == 0 or (weights <= 0).any() or (scores < 0).any() or (scale <= 0).any() or (
            levels is not None and (levels <= 0).any()):
        raise ValueError("the interval calibration holds impossible values")
    return Calibration(scores, weights, int(settings["span"]), levels), scale


def save(path, tensors: dict, meta: dict) -> None:
    """Write tensors and metadata to `path` atomically."""
    write_atomic(path, to_bytes(tensors, meta))


def to_bytes(tensors: dict, meta: dict) -> bytes:
    """Tensors and metadata as the bytes of a model file (safetensors, the document under `tsgate`)."""
    from safetensors.torch import save as safetensors_bytes

    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    return safetensors_bytes(
        {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()},
        metadata={"tsgate": json.dumps(document, sort_keys=True, allow_nan=False)},
    )


def load(path) -> tuple[dict, dict]:
    """(tensors, metadata) from a tsgate model file; ModelFileError for anything else."""
    raw = read_limited(Path(path))
    meta = parse_metadata(raw, path)
    from safetensors import SafetensorError
    from safetensors.torch import load as from_bytes

    try:
        tensors = from_bytes(raw)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is corrupt (its tensors cannot be read): retrain or restore it") from exc
    check_finite(tensors, path)
    if meta["format_version"] == 1:
        try:
            return upgrade_from_1(tensors, meta)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"{path} is a tsgate 0.1 model file with missing fields: retrain it") from exc
    return tensors, meta


def check_finite(tensors: dict, path) -> None:
    """Refuse NaN or infinity anywhere: such a model would forecast empty cells and seem to succeed."""
    import torch

    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"{path} holds NaN or infinite numbers (in {name}): it is corrupt; retrain or restore it")


def upgrade_from_1(tensors: dict, meta: dict) -> tuple[dict, dict]:
    """A format-1 file (one network, relative to the last value, MSE, no refit) as format 2."""
    model = dict(meta["model"])
    relative = bool(model.pop("relative", True))
    # 0.1 predicted "last value + change", which is format 2's last-value anchor without a window scale.
    model.update(norm="level" if relative else "none", anchor_season=1 if relative else 0, n_calendar=0, highway=False)
    old = meta["train"]
    train = {"steps": TrainConfig.steps, "epochs": old["epochs"], "batch_size": old["batch_size"],
             "lr": old["lr"], "patience": old["patience"], "clip": old["clip"], "val_fraction": old["val_fraction"],
             "scaler": old["scaler"], "loss": "mse", "refit": False, "ensemble": 1, "device": old["device"],
             "seed": old["seed"], "threads": old["threads"]}
    shape = {k: model[k] for k in ("backbone", "lookback", "horizon", "hidden", "layers", "dropout", "norm", "highway")}
    params = {**train, **shape, "anchor": "last" if relative else "none", "calendar": False}
    upgraded = {**meta, "format_version": 2, "model": model, "train": train, "params": params,
                "members": [{"lookback": model["lookback"], "seed": old["seed"]}], "calendar": [],
                "history": [meta.get("history", [])]}
    renamed = {("members.0." + name[len("model."):] if name.startswith("model.") else name): value
               for name, value in tensors.items()}
    return renamed, upgraded


def read_limited(path: Path) -> bytes:
    if not path.exists():
        raise ModelFileError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{path} is {size} bytes, larger than any tsgate model: refusing to load it")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def parse_metadata(raw: bytes, path) -> dict:
    not_ours = f"{path} is not a tsgate model file (train one with `tsgate train`)"
    if len(raw) < 8:
        raise ModelFileError(f"{not_ours}: it is only {len(raw)} bytes")
    (header_length,) = struct.unpack("<Q", raw[:8])
    if header_length > MAX_HEADER_BYTES or 8 + header_length > len(raw):
        hint = "truncated or" if 8 + header_length > len(raw) and header_length <= MAX_HEADER_BYTES else ""
        raise ModelFileError(f"{not_ours}: {hint} unrecognised header".replace(":  ", ": "))
    try:
        header = json.loads(raw[8:8 + header_length].decode("utf-8"))
        document = json.loads(header["__metadata__"]["tsgate"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ModelFileError(f"{not_ours}: no tsgate metadata in its header") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelFileError(f"{not_ours}: wrong format tag")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{not_ours}: no valid format version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, newer than this tsgate reads ({FORMAT_VERSION}): upgrade tsgate"
        )
    return document
