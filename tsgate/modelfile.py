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
Since tsgate 0.5, "series.constant" (S,) flags the series that were constant over their training
part (forecast as their last value); files without it have none.

Format 1 (tsgate 0.1: one network under "model.") is upgraded on loading.

Loading parses the header with size limits before handing the bytes to
safetensors, so a pickle, a zip (bomb or not), a truncated file or a giant
JSON document is refused without being executed or expanded; tensors holding
NaN or infinity are refused too.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tsgate.config import TrainConfig
from tsgate.errors import ModelFileError
from tsgate.io import write_atomic

FORMAT = "tsgate-model"
FORMAT_VERSION = 2
MAX_HEADER_BYTES = 16 * 1024 * 1024  # far above any real model's header; stops JSON bombs early
MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024


def save(path, tensors: dict, meta: dict) -> None:
    """Write tensors and metadata to `path` atomically."""
    from safetensors.torch import save as to_bytes

    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    payload = to_bytes(
        {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()},
        metadata={"tsgate": json.dumps(document, sort_keys=True, allow_nan=False)},
    )
    write_atomic(path, payload)


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
