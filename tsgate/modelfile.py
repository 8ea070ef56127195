"""The model file: safetensors tensors plus one JSON document, nothing executable.

Layout (see README "Model file"): a standard safetensors file. Its header's
`__metadata__` holds one key, "tsgate", whose value is a JSON document with the
format name and version, configs, column names, frequency, ids, last timestamps,
history and metrics. Tensors: the network's state dict under "model.", the
per-series scaler under "scaling.center"/"scaling.scale" (S, C) and the last
`lookback` raw points of each training series under "context" (S, L, C).

Loading parses the header with size limits before handing the bytes to
safetensors, so a pickle, a zip (bomb or not), a truncated file or a giant
JSON document is refused without being executed or expanded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tsgate.errors import ModelFileError
from tsgate.io import write_atomic

FORMAT = "tsgate-model"
FORMAT_VERSION = 1
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
    return tensors, meta


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
