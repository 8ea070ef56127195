"""Shared fixtures and option lists: small synthetic series (named as synthetic) written to real CSV
files, and a tiny model trained once on one of them."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import pytest
from helpers.cli import describe, invoke

# Small, fast settings for tests that train: a few epochs of a tiny network.
FAST = ["--hidden", "8", "--epochs", "3", "--lookback", "12", "--horizon", "4", "--quiet"]
# Smaller still, for tests that run many commands and read only whether and how they fail.
TINY = ["--hidden", "4", "--epochs", "1", "--lookback", "12", "--horizon", "4", "--quiet"]


def synthetic_sine(n=240, freq="h", noise=0.1, seed=0, start="2024-01-01"):
    """A synthetic noisy sine wave with a 24-step period."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + noise * rng.standard_normal(n)
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq), "load": values})


def synthetic_long(ids=("a", "b", "c"), n=120, seed=0):
    """Several synthetic series in long format (id, date, value), daily."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, key in enumerate(ids):
        t = np.arange(n)
        values = 50 * (k + 1) + 5 * np.sin(2 * np.pi * t / 7) + rng.standard_normal(n)
        frames.append(pd.DataFrame({"store": key, "date": pd.date_range("2023-01-01", periods=n, freq="D"), "sales": values}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def sine_csv(tmp_path):
    path = tmp_path / "sine.csv"
    synthetic_sine().to_csv(path, index=False)
    return path


@pytest.fixture
def long_csv(tmp_path):
    path = tmp_path / "stores.csv"
    synthetic_long().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_sine_csv(tmp_path_factory):
    """A synthetic sine of 120 hourly points, shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("tiny") / "sine.csv"
    synthetic_sine(n=120).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_sine_csv):
    """A model trained with TINY on tiny_sine_csv ('timestamp,load', lookback 12, horizon 4)."""
    path = tiny_sine_csv.with_name("tiny.tsgate")
    result = invoke("train", tiny_sine_csv, "-o", path, *TINY, "--jobs", "1")
    assert result.exit_code == 0, describe(result)
    return path


@pytest.fixture(autouse=True)
def one_job_by_default(monkeypatch):
    """Commands default to one worker per core; tests run in one process unless they pass --jobs,
    so that the suite does not start worker pools for every small command (test_parallel.py
    covers the default and the pools)."""
    monkeypatch.setattr("tsgate.parallel.usable_cores", lambda: 1)
