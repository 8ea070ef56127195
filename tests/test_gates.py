"""tsgate.gates: gate traces equal the stock modules, the memory profile finds a known lag, the report is JSON."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from tsgate import gates, wording
from tsgate.config import ModelConfig
from tsgate.data import SeriesSet
from tsgate.forecaster import Forecaster
from tsgate.models import RecurrentForecaster, normalise, window_stats


def small_network(backbone, layers, lookback=10, n_calendar=2, seed=0, **fields):
    torch.manual_seed(seed)
    config = ModelConfig(backbone=backbone, lookback=lookback, horizon=3, hidden=6, layers=layers,
                         n_calendar=n_calendar, **fields)
    network = RecurrentForecaster(config).eval()
    for parameter in network.parameters():  # the head starts at zero: give it weights so gradients flow
        torch.nn.init.normal_(parameter, std=0.4)
    return network


def stock_run(network, inputs):
    """What the stock module outputs on the normalised windows, as RecurrentForecaster.correction feeds it."""
    _, level, scale = window_stats(inputs[..., :network.config.n_targets], network.config)
    normalised = normalise(inputs, level, scale).to(torch.float32)
    with torch.no_grad():
        return normalised, network.rnn(normalised)


def random_inputs(n=7, lookback=10, channels=3, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, lookback, channels)))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_trace_matches_the_stock_module(backbone, layers):
    network, inputs = small_network(backbone, layers), random_inputs()
    trace = gates.trace_gates(network, inputs)
    _, (output, state) = stock_run(network, inputs)
    h_n, c_n = state if backbone == "lstm" else (state, None)

    assert len(trace) == layers
    expected = {"rnn": {"hidden"}, "gru": {"update", "reset", "candidate", "hidden"},
                "lstm": {"input", "forget", "cell_candidate", "output", "cell", "hidden"}}[backbone]
    assert all(set(layer) == expected for layer in trace)
    assert trace[-1]["hidden"].shape == (7, 10, 6)
    np.testing.assert_allclose(trace[-1]["hidden"], output.numpy(), atol=1e-5)
    for k in range(layers):
        np.testing.assert_allclose(trace[k]["hidden"][:, -1], h_n[k].numpy(), atol=1e-5)
        if backbone == "lstm":
            np.testing.assert_allclose(trace[k]["cell"][:, -1], c_n[k].numpy(), atol=1e-5)


def test_gru_update_gate_rederived_from_weight_slices():
    network, inputs = small_network("gru", 1), random_inputs()
    trace = gates.trace_gates(network, inputs)
    normalised, (output, _) = stock_run(network, inputs)
    rnn, hidden = network.rnn, 6
    w_iz, w_hz = rnn.weight_ih_l0[hidden:2 * hidden], rnn.weight_hh_l0[hidden:2 * hidden]  # torch's order: r, z, n
    b_iz, b_hz = rnn.bias_ih_l0[hidden:2 * hidden], rnn.bias_hh_l0[hidden:2 * hidden]
    previous = torch.cat([torch.zeros(7, 1, hidden), output[:, :-1]], dim=1)  # h_{t-1}, zero before the first step
    with torch.no_grad():
        z = torch.sigmoid(normalised @ w_iz.T + b_iz + previous @ w_hz.T + b_hz)
    np.testing.assert_allclose(trace[0]["update"], z.numpy(), atol=1e-5)
    assert not np.allclose(trace[0]["update"], trace[0]["reset"])


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_memory_profile_is_a_distribution_over_steps(backbone):
    network, inputs = small_network(backbone, 2, lookback=9), random_inputs(lookback=9)
    profile = gates.memory_profile(network, inputs)
    assert profile.shape == (9,)
    assert (profile >= 0).all()
    assert profile.sum() == pytest.approx(1.0)
    assert network.training is False


def test_memory_profile_of_a_constant_forecast_is_zero():
    network = small_network("gru", 1, n_calendar=0, anchor_season=0, norm="none", highway=False)
    torch.nn.init.zeros_(network.head.weight)
    profile = gates.memory_profile(network, random_inputs(channels=1))
    assert profile.shape == (10,) and not profile.any()
    assert gates.effective_memory(profile) == 10


@pytest.mark.parametrize("backbone", ["gru", "lstm"])
def test_memory_profile_finds_the_lag_the_target_copies(backbone):
    lookback, lag = 12, 5  # the target is the input 5 steps back from the window's end
    torch.manual_seed(0)
    config = ModelConfig(backbone=backbone, lookback=lookback, horizon=1, hidden=16, norm="none",
                         anchor_season=0, highway=False)
    network = RecurrentForecaster(config)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(4000)).float()
    windows = x.unfold(0, lookback, 1).unsqueeze(-1)  # (N, L, 1) white noise
    targets = windows[:, lookback - lag]  # (N, 1)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    for _ in range(300):
        batch = torch.randint(len(windows), (128,))
        loss = (network(windows[batch])[:, 0] - targets[batch]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    assert loss.item() < 0.2  # it learned the copy (white noise of variance 1 otherwise)

    profile = gates.memory_profile(network, windows[:512])
    assert int(np.argmax(profile)) == lookback - lag
    assert profile[lookback - lag] > 0.5
    assert gates.effective_memory(profile) >= lag


@pytest.mark.parametrize("profile, expected", [
    ([0, 0, 0, 0, 1], 1),
    ([1, 0, 0, 0, 0], 5),
    ([0.05, 0.05, 0.9, 0, 0], 3),
    ([0.2, 0.2, 0.2, 0.2, 0.2], 5),
    ([0.1] * 10, 9),
    ([1 / 30] * 30, math.ceil(0.9 * 30)),
])
def test_effective_memory_of_hand_made_profiles(profile, expected):
    assert gates.effective_memory(np.array(profile)) == expected


def test_effective_memory_other_shares():
    assert gates.effective_memory(np.full(20, 0.05), share=0.5) == 10
    assert gates.effective_memory(np.full(20, 0.05), share=1.0) == 20


def test_gate_summary_saturation_and_per_step_lists():
    update = np.full((2, 4, 3), 0.5)
    update[:, -1] = 0.99  # the last step saturated: a quarter of the values
    hidden = np.zeros((2, 4, 3))
    hidden[0] = 0.97  # half the values
    cell = np.ones((2, 4, 3))
    cell[1] = 10.0  # half at the largest size
    trace = [{"update": update, "hidden": hidden, "cell": cell}]
    (layer,) = gates.gate_summary(trace, "gru")
    assert layer["layer"] == 1  # counted from 1
    summary = layer["gates"]
    assert summary["update"]["saturated"] == pytest.approx(0.25)
    assert summary["update"]["mean_per_step"] == pytest.approx([0.5, 0.5, 0.5, 0.99])
    assert summary["update"]["std_per_step"] == pytest.approx([0, 0, 0, 0])
    assert summary["hidden"]["saturated"] == pytest.approx(0.5)
    assert summary["cell"]["saturated"] == pytest.approx(0.5)


# ---- on a fitted Forecaster ------------------------------------------------------------------


def hourly_series(n=300, seed=0, ids=("a", "b")):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = [(10 + 3 * k + 3 * np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(n))[:, None] for k in range(len(ids))]
    index = [pd.date_range("2024-01-01", periods=n, freq="h")] * len(ids)
    return SeriesSet.from_arrays(list(ids), values, index, targets=["load"], freq="h", time_col="timestamp", id_col="id")


@pytest.fixture(scope="module")
def fitted():
    series = hourly_series()
    model = Forecaster(backbone="lstm", lookback=16, horizon=4, hidden=8, steps=30, ensemble=1, calendar=True, seed=0)
    return model.fit(series), series


def test_model_inputs_without_series_are_the_members_forecast_inputs(fitted):
    model, _ = fitted
    inputs = model.first_network_inputs()
    assert inputs.dtype == torch.float64
    assert inputs.shape == (2, 16, 1 + 2 * len(model.cycles_))
    assert len(model.cycles_) == 2
    with torch.no_grad():
        scaled = model.members_[0](inputs).numpy()
    forecasts = model.member_forecasts(np.arange(2), model.context_, model.last_timestamps_)[0]
    np.testing.assert_allclose(model.scaling_.inverse(np.arange(2), scaled), forecasts, rtol=1e-6)


def test_model_inputs_over_the_history(fitted):
    model, series = fitted
    everything = model.first_network_inputs(series, max_windows=10_000)
    assert everything.shape == (2 * (300 - 16 + 1), 16, 5)
    thinned = model.first_network_inputs(series, max_windows=50)
    assert thinned.shape == (50, 16, 5)
    # Evenly thinned, first and last windows kept: the last is where the stored context ends.
    np.testing.assert_allclose(thinned[-1].numpy(), model.first_network_inputs()[-1].numpy(), atol=1e-12)
    np.testing.assert_allclose(thinned[0].numpy(), everything[0].numpy())


def test_model_inputs_skip_unknown_and_short_series(fitted):
    model, _ = fitted
    series = hourly_series(ids=("a", "zzz"))
    inputs = model.first_network_inputs(series, max_windows=10_000)
    assert len(inputs) == 300 - 16 + 1
    short = hourly_series(n=10, ids=("a",))
    with pytest.raises(Exception, match="at least 16 points"):
        model.first_network_inputs(short)


def test_inspect_forecaster_is_json_and_reads_its_numbers(fitted):
    model, series = fitted
    report = gates.inspect_forecaster(model, series, max_windows=64)
    text = json.dumps(report)
    assert json.loads(text)["backbone"] == "lstm"
    assert report["lookback"] == 16 and report["windows"] == 64
    gate_stats = report["layers"][0]["gates"]
    assert set(gate_stats) == {"input", "forget", "cell_candidate", "output", "cell", "hidden"}
    assert all(len(stats["mean_per_step"]) == 16 and len(stats["std_per_step"]) == 16 for stats in gate_stats.values())
    memory = report["memory"]
    assert len(memory["profile"]) == 16 and sum(memory["profile"]) == pytest.approx(1.0)
    assert 1 <= memory["effective"] <= 16
    reading = " ".join(wording.reading(report))
    assert f"mean f = {gate_stats['forget']['mean']:.2f}" in reading
    assert f"the last {memory['effective']} of its 16 steps" in reading

    default = gates.inspect_forecaster(model)
    assert default["windows"] == 2
