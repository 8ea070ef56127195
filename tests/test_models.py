"""The backbones and their shared head."""

import pytest
import torch
from torch import nn

from tsgate.errors import OptionError
from tsgate.models import (
    BACKBONES,
    ModelConfig,
    RecurrentForecaster,
    parameter_count,
)
from tsgate.sizes import count_parameters


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers,n_targets,hidden", [(1, 1, 16), (2, 3, 8), (3, 2, 5)])
def test_counting_a_config_on_the_meta_device_matches_a_real_network(backbone, layers, n_targets, hidden):
    config = ModelConfig(backbone, n_targets=n_targets, lookback=10, horizon=4, hidden=hidden, layers=layers)
    counted = count_parameters(config)
    model = RecurrentForecaster(config)
    assert all(p.device.type == "cpu" for p in model.parameters())  # the meta device stays inside the count
    assert parameter_count(model) == counted


def test_counting_allocates_nothing_even_for_a_huge_network():
    config = ModelConfig("lstm", hidden=2 ** 20, layers=2)  # three (4H, H) weight matrices, H = 2**20
    assert count_parameters(config) > 12 * 2 ** 40  # 53 TB as float32


def test_parameter_counts_by_hand_for_one_gru_layer():
    # GRU, I=1, H=4: 3 * (4*(1+4) + 2*4) = 84, head 4*6 + 6 = 30.
    plain = ModelConfig("gru", n_targets=1, lookback=5, horizon=6, hidden=4, layers=1, highway=False)
    assert count_parameters(plain) == 84 + 30
    assert parameter_count(RecurrentForecaster(plain)) == 84 + 30
    # The highway (on by default) maps the lookback to the horizon: 5*6 weights + 6 biases = 36.
    config = ModelConfig("gru", n_targets=1, lookback=5, horizon=6, hidden=4, layers=1)
    assert config.highway
    assert count_parameters(config) == 84 + 30 + 36
    assert parameter_count(RecurrentForecaster(config)) == 84 + 30 + 36
    # Two calendar inputs widen only the GRU's input, I = 1 + 2: 3 * (4*(3+4) + 2*4) = 108.
    dated = ModelConfig("gru", n_targets=1, lookback=5, horizon=6, hidden=4, layers=1, n_calendar=2)
    assert count_parameters(dated) == 108 + 30 + 36
    assert parameter_count(RecurrentForecaster(dated)) == 108 + 30 + 36


def test_gru_has_three_quarters_of_lstm_recurrent_weights():
    def recurrent(backbone):
        return sum(p.numel() for p in RecurrentForecaster(ModelConfig(backbone, hidden=32)).rnn.parameters())

    assert recurrent("gru") * 4 == recurrent("lstm") * 3
    assert recurrent("rnn") * 4 == recurrent("lstm")


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_forward_shape_and_stock_module(backbone):
    config = ModelConfig(backbone, n_targets=2, lookback=7, horizon=3, hidden=6)
    model = RecurrentForecaster(config)
    assert type(model.rnn) is BACKBONES[backbone]
    out = model(torch.randn(5, 7, 2))
    assert out.shape == (5, 3, 2)


@pytest.mark.parametrize("norm", ["window", "level"])
def test_a_level_shift_moves_the_forecast_by_the_same_amount(norm):
    config = ModelConfig("gru", lookback=6, horizon=2, hidden=4, norm=norm)
    model = RecurrentForecaster(config)
    torch.manual_seed(0)
    with torch.no_grad():  # the head and highway start at zero (the anchor alone): give them weights
        for layer in (model.head, model.highway):
            for p in layer.parameters():
                p.normal_()
    x = torch.randn(3, 6, 1)
    shifted = x + 5.0  # a level shift moves the forecast by the same amount
    with torch.no_grad():
        assert not torch.allclose(model(x), x[:, -1:].expand(-1, 2, -1), atol=1e-3)  # not just the anchor
        assert torch.allclose(model(shifted), model(x) + 5.0, atol=1e-4)
        if norm == "window":  # and the window's scale scales it
            assert torch.allclose(model(3.0 * x + 5.0), 3.0 * model(x) + 5.0, atol=1e-4)


def test_state_dict_loads_into_stock_module():
    model = RecurrentForecaster(ModelConfig("gru", hidden=8, layers=2))
    stock = nn.GRU(1, 8, num_layers=2, batch_first=True)
    stock.load_state_dict(model.rnn.state_dict())
    x = torch.randn(4, 48, 1)
    with torch.no_grad():
        assert torch.allclose(stock(x)[0][:, -1], model.rnn(x)[0][:, -1])


@pytest.mark.parametrize("field,value", [("backbone", "transformer"), ("horizon", 0), ("lookback", -3), ("hidden", 0), ("dropout", 1.5)])
def test_bad_config_is_an_option_error(field, value):
    with pytest.raises(OptionError, match=field if field != "backbone" else "unknown model"):
        ModelConfig(**{field: value})


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
def test_state_shapes_match_a_built_model(backbone):
    from tsgate.models import state_shapes

    config = ModelConfig(backbone, n_targets=2, lookback=9, horizon=3, hidden=7, layers=2)
    built = {name: tuple(t.shape) for name, t in RecurrentForecaster(config).state_dict().items()}
    assert state_shapes(config) == built
