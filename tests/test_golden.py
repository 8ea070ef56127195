"""The golden check: a fixed set of commands gives byte-identical outputs to the ones recorded in
tests/golden/expected (see tests/golden/record.py for what they cover and how to re-record)."""

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

from record import ENVIRONMENT, environment, record  # noqa: E402


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    recorded = json.loads(ENVIRONMENT.read_text())
    if environment() != recorded:
        pytest.skip(f"the golden outputs were recorded under {recorded}, this is {environment()}: floating-point "
                    "results may differ in the last bit; re-record them under these versions on the code before a change")
    return {path.name: path for path in record(tmp_path_factory.mktemp("golden"))}


def expected_names() -> list[str]:
    return sorted(path.name for path in (GOLDEN / "expected").iterdir())


def test_every_recorded_output_is_produced(outputs):
    assert sorted(outputs) == expected_names()


@pytest.mark.parametrize("name", expected_names())
def test_output_is_byte_identical(outputs, name):
    assert outputs[name].read_bytes() == (GOLDEN / "expected" / name).read_bytes(), (
        f"{name} differs from tests/golden/expected/{name}: the change altered what tsgate computes")
