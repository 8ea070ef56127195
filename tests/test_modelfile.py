"""The model file: a safe round trip, and hostile or broken files refused without running anything."""

import json
import os
import pathlib
import pickle
import struct
import zipfile

import pytest
import torch

from tsgate import modelfile
from tsgate.errors import ModelFileError, OutputError

META = {
    "model": {"backbone": "gru", "hidden": 8, "lookback": 12},
    "data": {"ids": ["a", "b"], "targets": ["load"], "freq": "h", "last_timestamps": ["2024-01-10T23:00:00"]},
    "history": [[{"step": 0, "train_loss": None, "val_loss": 0.5}, {"step": 10, "train_loss": 0.5, "val_loss": 0.25}]],
    "note": "unicode survives: é ✓",
}


def tensors():
    generator = torch.Generator().manual_seed(0)
    return {
        "model.rnn.weight_ih_l0": torch.randn(24, 1, generator=generator),
        "model.head.bias": torch.randn(4, generator=generator),
        "scaling.center": torch.tensor([[1.0], [2.0]], dtype=torch.float64),
        "context": torch.randn(2, 12, 1, generator=generator).double(),
        "steps": torch.arange(5),
    }


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.tsgate"
    modelfile.save(path, tensors(), META)
    return path


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail loudly if loading a model file ever reaches a pickle loader."""

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle loader was called while loading a model file")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def refused(path, match=None) -> str:
    with pytest.raises(ModelFileError) as caught:
        modelfile.load(path)
    message = str(caught.value)
    assert message and "\n" not in message
    if match:
        assert match in message, message
    return message


def safetensors_file(path, document, tensors_=None):
    """A safetensors file whose header carries `document` as tsgate metadata."""
    from safetensors.torch import save_file

    metadata = None if document is None else {"tsgate": json.dumps(document)}
    save_file(tensors_ or {"w": torch.zeros(2)}, str(path), metadata=metadata)
    return path


def raw_file(path, header: bytes, declared=None, tail=b""):
    path.write_bytes(struct.pack("<Q", len(header) if declared is None else declared) + header + tail)
    return path


# ---- round trip ------------------------------------------------------------------------------------


def test_round_trip_tensors_and_metadata(saved, no_unpickling):
    loaded, meta = modelfile.load(saved)
    original = tensors()
    assert set(loaded) == set(original)
    for name, tensor in original.items():
        assert loaded[name].dtype == tensor.dtype, name
        assert torch.equal(loaded[name], tensor), name
    assert meta["format"] == modelfile.FORMAT
    assert meta["format_version"] == modelfile.FORMAT_VERSION
    for key, value in META.items():
        assert meta[key] == value


def test_path_given_as_string(saved):
    loaded, _ = modelfile.load(str(saved))
    assert torch.equal(loaded["steps"], torch.arange(5))


def test_non_contiguous_and_grad_tensors_are_saved(tmp_path):
    weight = torch.nn.Parameter(torch.arange(6.0).reshape(2, 3))
    path = tmp_path / "m.tsgate"
    modelfile.save(path, {"t": weight.t(), "p": weight}, {})
    loaded, _ = modelfile.load(path)
    assert torch.equal(loaded["t"], torch.arange(6.0).reshape(2, 3).t())
    assert not loaded["p"].requires_grad


def test_same_inputs_give_identical_bytes(tmp_path):
    first, second = tmp_path / "1.tsgate", tmp_path / "2.tsgate"
    modelfile.save(first, tensors(), META)
    modelfile.save(second, tensors(), dict(reversed(list(META.items()))))
    assert first.read_bytes() == second.read_bytes()


def test_save_replaces_atomically_and_leaves_no_temp(saved, tmp_path):
    modelfile.save(saved, {"only": torch.ones(3)}, {"second": True})
    loaded, meta = modelfile.load(saved)
    assert list(loaded) == ["only"] and meta["second"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["model.tsgate"]


def test_failed_save_keeps_the_previous_model(saved, tmp_path):
    before = saved.read_bytes()
    with pytest.raises(ValueError):
        modelfile.save(saved, tensors(), {"bad": float("nan")})  # not valid JSON
    assert saved.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.tsgate"]


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        modelfile.save(tmp_path / "nope" / "m.tsgate", tensors(), META)


# ---- missing and broken files ------------------------------------------------------------------------


def test_missing_file(tmp_path):
    refused(tmp_path / "absent.tsgate", "not found")


def test_folder(tmp_path):
    refused(tmp_path, "folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tsgate"
    path.write_bytes(b"")
    refused(path, "not a tsgate model file")


def test_random_bytes(tmp_path, no_unpickling):
    path = tmp_path / "noise.tsgate"
    path.write_bytes(os.urandom(4096))
    refused(path, "not a tsgate model file")


@pytest.mark.parametrize("keep", [3, 20, 0.5, -1])
def test_truncated_file(saved, keep, no_unpickling):
    raw = saved.read_bytes()
    cut = int(len(raw) * keep) if isinstance(keep, float) else keep if keep > 0 else len(raw) + keep
    saved.write_bytes(raw[:cut])
    message = refused(saved)
    assert "not a tsgate model" in message or "corrupt" in message


def test_truncated_inside_the_header_says_truncated(saved):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:40])
    refused(saved, "truncated")


def test_valid_safetensors_without_tsgate_metadata(tmp_path):
    refused(safetensors_file(tmp_path / "plain.safetensors", None), "no tsgate metadata")


def test_other_format_tag(tmp_path):
    path = safetensors_file(tmp_path / "other.tsgate", {"format": "someone-else", "format_version": 1})
    refused(path, "wrong format tag")


@pytest.mark.parametrize("version", [None, "1", True, 0, 1.5])
def test_missing_or_invalid_version(tmp_path, version):
    document = {"format": modelfile.FORMAT}
    if version is not None:
        document["format_version"] = version
    refused(safetensors_file(tmp_path / "v.tsgate", document), "format version")


def test_newer_format_version_says_upgrade(tmp_path):
    newer = modelfile.FORMAT_VERSION + 1
    path = safetensors_file(tmp_path / "new.tsgate", {"format": modelfile.FORMAT, "format_version": newer})
    message = refused(path, "upgrade")
    assert str(newer) in message


def test_metadata_fine_but_tensor_table_broken(tmp_path):
    document = {"format": modelfile.FORMAT, "format_version": modelfile.FORMAT_VERSION}
    header = json.dumps({
        "__metadata__": {"tsgate": json.dumps(document)},
        "w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]},  # data missing
    }).encode()
    refused(raw_file(tmp_path / "m.tsgate", header, tail=b"\0" * 8), "corrupt")


# ---- hostile files --------------------------------------------------------------------------------


class TouchOnLoad:
    """Unpickling this creates `marker`: what an attacker's payload would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class SystemOnLoad(TouchOnLoad):
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", [TouchOnLoad, SystemOnLoad])
def test_payload_really_runs_when_unpickled(tmp_path, payload):
    # The control: the same kind of payload does run under pickle, so the tests below prove something.
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("payload", [TouchOnLoad, SystemOnLoad])
def test_pickle_payload_is_refused_and_not_run(tmp_path, payload, no_unpickling):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.tsgate"
    path.write_bytes(pickle.dumps(payload(marker)))
    refused(path, "not a tsgate model file")
    assert not marker.exists()


@pytest.mark.parametrize("payload", [TouchOnLoad, SystemOnLoad])
def test_torch_save_payload_is_refused_and_not_run(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.tsgate"
    torch.save({"model": payload(marker), "w": torch.zeros(2)}, path)
    assert path.stat().st_size > 0 and not marker.exists()
    refused(path, "not a tsgate model file")
    assert not marker.exists()


def test_zip_bomb_is_refused_without_expanding(tmp_path, no_unpickling):
    path = tmp_path / "bomb.tsgate"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", bytes(30 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024  # highly compressed
    refused(path, "not a tsgate model file")


def test_deeply_nested_json_header(tmp_path):
    depth = 200_000
    refused(raw_file(tmp_path / "deep.tsgate", b"[" * depth + b"]" * depth), "no tsgate metadata")


def test_deeply_nested_json_inside_the_metadata(tmp_path):
    depth = 200_000
    header = json.dumps({"__metadata__": {"tsgate": "[" * depth + "]" * depth}}).encode()
    refused(raw_file(tmp_path / "deep.tsgate", header), "no tsgate metadata")


@pytest.mark.parametrize("declared", [2**64 - 1, 2**40, modelfile.MAX_HEADER_BYTES + 1])
def test_huge_header_length_field(tmp_path, declared):
    path = raw_file(tmp_path / "huge.tsgate", b'{"__metadata__": {}}', declared=declared)
    refused(path, "unrecognised header")


def test_header_not_json(tmp_path):
    refused(raw_file(tmp_path / "bad.tsgate", b"\xff\xfe not json at all"), "no tsgate metadata")


@pytest.mark.parametrize("header", [b"[]", b'"text"', b'{"__metadata__": "x"}', b'{"__metadata__": {"tsgate": 5}}'])
def test_header_of_the_wrong_shape(tmp_path, header):
    refused(raw_file(tmp_path / "odd.tsgate", header), "not a tsgate model file")


def test_oversized_file_is_refused_before_reading(saved, monkeypatch):
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", 100)
    refused(saved, "larger than any tsgate model")


def test_loading_never_unpickles_a_valid_file(saved, no_unpickling):
    # no_unpickling makes any pickle or torch.load call fail the test.
    loaded, _ = modelfile.load(saved)
    assert "context" in loaded


# ---- write and read: the Forecaster's parameters and Fitted record -----------------------------------

STORED = [pathlib.Path(__file__).parent / "data" / "v1-air-gru.tsgate",
          pathlib.Path(__file__).parent / "golden" / "pre-0.6-air-gru.tsgate"]


def without_versions(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in ("tsgate_version", "torch_version")}


def test_read_gives_the_parameters_and_the_learned_state(no_unpickling):
    params, fitted = modelfile.read(STORED[1])
    assert params["backbone"] == "gru" and fitted.backbone == "gru"
    assert fitted.ids == [""] and fitted.targets == ["passengers"] and fitted.freq == "MS"
    assert len(fitted.members) == len(fitted.member_seeds) == len(fitted.history)
    assert fitted.context.shape == (1, max(m.config.lookback for m in fitted.members), 1)
    assert fitted.calibration is not None and fitted.interval_scale.shape == (1, 1)
    assert "train_seconds" not in fitted.metrics  # wall-clock figures stay out of files


def test_a_stored_file_written_again_holds_the_same_tensors_and_document(tmp_path):
    params, fitted = modelfile.read(STORED[1])
    modelfile.write(tmp_path / "again.tsgate", params, fitted)
    first, meta = modelfile.load(STORED[1])
    again, meta_again = modelfile.load(tmp_path / "again.tsgate")
    assert sorted(again) == sorted(first)
    assert all(torch.equal(again[name], first[name]) and again[name].dtype == first[name].dtype for name in first)
    assert without_versions(meta_again) == without_versions(meta)


def test_a_format_1_file_is_written_as_format_2_and_reads_back_the_same(tmp_path):
    upgraded, again = tmp_path / "upgraded.tsgate", tmp_path / "again.tsgate"
    modelfile.write(upgraded, *modelfile.read(STORED[0]))
    modelfile.write(again, *modelfile.read(upgraded))
    assert again.read_bytes() == upgraded.read_bytes()
    tensors_, meta = modelfile.load(upgraded)
    assert meta["format_version"] == modelfile.FORMAT_VERSION and "members.0.head.bias" in tensors_
    assert not tensors_["series.constant"].any() and meta["intervals"] is None  # 0.1 had neither


def test_a_file_whose_parts_disagree_is_refused_as_inconsistent(tmp_path):
    tensors_, meta = modelfile.load(STORED[1])
    meta["calendar"] = ["year", "week"]  # the networks read one cycle's inputs
    modelfile.save(tmp_path / "odd.tsgate", tensors_, without_versions(meta))
    with pytest.raises(ModelFileError, match=r"inconsistent contents \(ValueError\): retrain it"):
        modelfile.read(tmp_path / "odd.tsgate")
