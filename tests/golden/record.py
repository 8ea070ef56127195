"""Golden outputs: what tsgate gives for a fixed set of commands, recorded to compare a refactor against.

    python tests/golden/record.py tests/golden/expected      # record (only when behaviour is meant to change)

tests/test_golden.py runs the same commands into a temporary folder and requires every file
to be byte-identical to the recorded one. The commands cover every backbone's forecast with
intervals, a panel, `--model auto`, compare's rows (without its timing columns), inspect's
statistics, the train summary (without its timing figures) and every tensor of every model
file. Each runs in this process with one job and one thread, so the outputs are deterministic
on CPU. `pre-0.6-air-gru.tsgate` is a model file written before the layout changed; its
forecast must not change either.

Floating-point results depend on the library versions too, so `environment.json` records the
versions the outputs were recorded under, and the check compares bytes only under those.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AIR = ROOT / "sample_data" / "air_passengers.csv"
PANEL = ROOT / "sample_data" / "us_unemployment_by_industry.csv"
STORED_MODEL = Path(__file__).resolve().parent / "pre-0.6-air-gru.tsgate"
ENVIRONMENT = Path(__file__).resolve().parent / "environment.json"

# Tiny networks and short budgets: the check is about equality, not accuracy.
SMALL = ["--hidden", "8", "--steps", "60", "--ensemble", "2", "--seed", "0", "--jobs", "1", "--threads", "1", "--quiet"]
TIMING = ("train_seconds", "seconds_per_step", "forecast_ms", "model_file")


def invoke(*args, input=None) -> str:
    from typer.testing import CliRunner

    from tsgate.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    if result.exit_code != 0:
        raise RuntimeError(f"tsgate {' '.join(map(str, args))} failed ({result.exit_code}): {result.stderr}")
    return result.stdout


def without_timing(value):
    """The document with every wall-clock figure (and version strings) removed, recursively."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items()
                if k not in TIMING and not k.endswith("_std_seconds") and k != "versions"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def dump(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


def tensor_digest(path: Path) -> str:
    """Every tensor's dtype, shape and SHA-256, and the model file's JSON without versions."""
    from safetensors import safe_open

    lines = []
    with safe_open(str(path), framework="pt") as handle:
        meta = json.loads(handle.metadata()["tsgate"])
        for name in sorted(handle.keys()):
            tensor = handle.get_tensor(name).contiguous()
            digest = hashlib.sha256(tensor.numpy().tobytes()).hexdigest()
            lines.append(f"{name} {tensor.dtype} {tuple(tensor.shape)} {digest}")
    for key in ("tsgate_version", "torch_version"):
        meta.pop(key, None)
    return "\n".join(lines) + "\n" + dump(meta)


def environment() -> dict:
    """The versions whose arithmetic the outputs depend on."""
    import importlib.metadata
    import platform

    versions = {name: importlib.metadata.version(name) for name in ("torch", "numpy", "pandas", "scikit-learn")}
    return {"python": ".".join(platform.python_version_tuple()[:2]), "machine": platform.machine(), **versions}


def record(out: Path) -> list[Path]:
    """Run every golden command, writing its outputs under `out`; returns the files written."""
    import torch

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        written = run_commands(Path(folder))
    paths = []
    for name, text in written.items():
        path = out / name
        path.write_text(text)
        paths.append(path)
    return paths


def run_commands(work: Path) -> dict[str, str]:
    """{file name: text} of every golden output; model files go to `work`."""
    written = {}
    for backbone in ("rnn", "gru", "lstm", "auto"):
        model = work / f"air-{backbone}.tsgate"
        summary = invoke("train", AIR, "--model", backbone, "-o", model, "--format", "json", *SMALL)
        written[f"train-air-{backbone}.json"] = dump(without_timing(json.loads(summary)))
        written[f"tensors-air-{backbone}.txt"] = tensor_digest(model)
        written[f"forecast-air-{backbone}.csv"] = invoke("forecast", model, "--level", "80", "--level", "95",
                                                        "--format", "csv")
        written[f"forecast-air-{backbone}-data.json"] = invoke("forecast", model, AIR, "--level", "95", "--format", "json")
        if backbone != "auto":
            written[f"inspect-air-{backbone}.json"] = invoke("inspect", model, AIR, "--windows", "64", "--format", "json")
    panel = work / "panel-gru.tsgate"
    summary = invoke("train", PANEL, "--id-col", "industry", "--horizon", "6", "-o", panel, "--format", "json", *SMALL)
    written["train-panel-gru.json"] = dump(without_timing(json.loads(summary)))
    written["tensors-panel-gru.txt"] = tensor_digest(panel)
    written["forecast-panel-gru.csv"] = invoke("forecast", panel, PANEL, "--level", "90", "--format", "csv")
    written["inspect-panel-gru.json"] = invoke("inspect", panel, PANEL, "--windows", "32", "--format", "json")
    comparison = invoke("compare", AIR, "--models", "rnn,gru,lstm", "--seeds", "2", "--folds", "2", "--level", "95",
                        "--format", "json", *SMALL)
    written["compare-air.json"] = dump(without_timing(json.loads(comparison)))
    written["compare-air.csv"] = strip_csv_timing(invoke("compare", AIR, "--models", "gru", "--format", "csv", *SMALL))
    if STORED_MODEL.exists():
        written["forecast-stored-model.csv"] = invoke("forecast", STORED_MODEL, AIR, "--level", "95", "--format", "csv")
    return written


def strip_csv_timing(text: str) -> str:
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return frame.drop(columns=[c for c in frame.columns if c in TIMING]).to_csv(index=False)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "expected"
    for path in record(target):
        print(path)
    ENVIRONMENT.write_text(dump(environment()))
    print(ENVIRONMENT)
