"""Parameter counts, the hidden size that matches a count, and a training step's multiply-adds."""

from dataclasses import replace

import pandas as pd
import pytest
from conftest import synthetic_long, synthetic_sine

from tsgate import Forecaster
from tsgate.data import DataOptions, load_series
from tsgate.errors import OptionError
from tsgate.models import ModelConfig
from tsgate.sizes import count_parameters, first_member_config, forward_macs, hidden_for_parameters, training_macs_per_step


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("target", [300, 1_000, 5_000, 20_000, 150_000])
@pytest.mark.parametrize("layers", [1, 2])
def test_the_matched_hidden_size_has_the_count_nearest_the_target(backbone, target, layers):
    config = ModelConfig(backbone, lookback=24, horizon=6, hidden=1, layers=layers, n_calendar=2)
    if target < count_parameters(config):
        pytest.skip("below the smallest network of this shape")
    hidden = hidden_for_parameters(config, target)
    gap = abs(count_parameters(replace(config, hidden=hidden)) - target)
    for neighbour in (hidden - 1, hidden + 1):
        if neighbour >= 1:
            assert gap <= abs(count_parameters(replace(config, hidden=neighbour)) - target)


def test_matching_gives_cells_with_more_gates_a_smaller_state():
    hidden = {name: hidden_for_parameters(ModelConfig(name, lookback=24, horizon=6), 20_000) for name in ("rnn", "gru", "lstm")}
    assert hidden["rnn"] > hidden["gru"] > hidden["lstm"]


def test_a_target_below_the_smallest_network_is_refused_with_its_size():
    config = ModelConfig("lstm", lookback=24, horizon=6)
    with pytest.raises(OptionError, match="--params 10 is below the smallest LSTM .*hidden 1: .* parameters"):
        hidden_for_parameters(config, 10)


def panel_with_a_short_series():
    frame = synthetic_long(n=90)
    short = synthetic_long(ids=("d",), n=90).iloc[-20:]  # 20 points: shorter than the panel's lookback
    return pd.concat([frame, short], ignore_index=True)


@pytest.mark.parametrize("frame,options,fit", [
    (panel_with_a_short_series(), DataOptions(id_col="store"), dict(lookback="auto", horizon=7)),
    (synthetic_sine(n=200), DataOptions(), dict(lookback="auto", horizon=6)),
    (synthetic_sine(n=200), DataOptions(), dict(lookback=16, horizon=4, calendar=False)),
    (synthetic_long(n=90), DataOptions(id_col="store"), dict(lookback="auto", horizon=7)),
])
def test_the_first_member_config_is_what_the_fit_builds(frame, options, fit):
    series = load_series(frame, options)
    forecaster = Forecaster(backbone="lstm", hidden=6, epochs=1, ensemble=2, **fit)
    predicted = first_member_config(forecaster, series, "lstm")
    built = forecaster.fit(series).first_network().config
    assert (predicted.lookback, predicted.n_inputs, predicted.horizon, predicted.hidden, predicted.masked) == \
        (built.lookback, built.n_inputs, built.horizon, built.hidden, built.masked)
    assert count_parameters(predicted) == forecaster.metrics_["parameters"]


def test_a_step_costs_in_proportion_to_the_batch_and_to_the_gate_blocks():
    configs = {name: ModelConfig(name, lookback=30, horizon=1, hidden=32, highway=False) for name in ("rnn", "gru", "lstm")}
    head = 32  # hidden x one output
    recurrent = {name: forward_macs(config) - head for name, config in configs.items()}
    assert recurrent["gru"] == 3 * recurrent["rnn"] and recurrent["lstm"] == 4 * recurrent["rnn"]
    assert training_macs_per_step(configs["gru"], 64) == 2 * training_macs_per_step(configs["gru"], 32)
