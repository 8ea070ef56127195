"""The backbones and their shared head."""

import pytest
import torch
from torch import nn

from tsgate.errors import OptionError
from tsgate.models import (
    ANCHOR_ERROR_FLOOR,
    BACKBONES,
    ModelConfig,
    RecurrentForecaster,
    anchor_error,
    mean_step,
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


# ---- the scale a seasonal anchor's correction is counted in -------------------------------------------


def seasonal_windows(season=4, periods=6, amplitude=3.0, noise=0.3, seed=0):
    """(2, season * periods, 1): a strong season of `season` steps plus noise, and pure noise."""
    gen = torch.Generator().manual_seed(seed)
    steps = season * periods
    pattern = amplitude * torch.sin(2 * torch.pi * torch.arange(steps) / season)
    shocks = noise * torch.randn(2, steps, generator=gen)
    return torch.stack([pattern + shocks[0], shocks[1]]).unsqueeze(-1)


def test_the_anchor_error_is_the_change_over_one_season_and_the_one_step_change_without_a_season():
    x = seasonal_windows()
    seasonal = anchor_error(x, ModelConfig(lookback=24, horizon=4, anchor_season=4))
    assert torch.allclose(seasonal, (x[:, 4:] - x[:, :-4]).abs().mean(dim=1, keepdim=True))
    # On the strongly seasonal window the season-apart change is a fraction of the one-step change.
    assert seasonal[0, 0, 0] < 0.2 * mean_step(x, None)[0, 0, 0]
    assert torch.equal(anchor_error(x, ModelConfig(lookback=24, horizon=4, anchor_season=1)), mean_step(x, None))


def test_an_exactly_repeating_season_is_counted_at_the_floor_not_at_zero():
    x = seasonal_windows(noise=0.0)
    error = anchor_error(x[:1], ModelConfig(lookback=24, horizon=4, anchor_season=4))
    assert error[0, 0, 0] == pytest.approx(ANCHOR_ERROR_FLOOR * mean_step(x[:1], None)[0, 0, 0])


def test_a_masked_window_without_a_pair_a_season_apart_takes_the_one_step_change():
    x = seasonal_windows()
    mask = torch.ones(2, 24, 1)
    mask[0, :21] = 0  # three points of the series: no pair four steps apart
    error = anchor_error(x, ModelConfig(lookback=24, horizon=4, anchor_season=4, masked=True), mask)
    assert error[0] == mean_step(x, mask)[0].clamp_min(1e-3)
    assert error[1] == anchor_error(x[1:], ModelConfig(lookback=24, horizon=4, anchor_season=4))[0]


def test_scale_by_anchor_counts_the_correction_and_the_loss_in_the_anchor_error():
    x = seasonal_windows()
    plain = RecurrentForecaster(ModelConfig(lookback=24, horizon=4, hidden=4, anchor_season=4))
    counted = RecurrentForecaster(ModelConfig(lookback=24, horizon=4, hidden=4, anchor_season=4, scale_by_anchor=True))
    counted.load_state_dict(plain.state_dict())
    for layer in (plain.head, counted.head):
        nn.init.constant_(layer.bias, 1.0)  # a correction of one unit at every step
    (f_plain, s_plain), (f_counted, s_counted) = plain.forecast_and_scale(x), counted.forecast_and_scale(x)
    anchor = x[:, -4:]
    assert torch.allclose(s_plain, mean_step(x, None)) and torch.allclose(s_counted, anchor_error(x, counted.config))
    assert torch.allclose(f_plain - anchor, s_plain.expand(-1, 4, -1), atol=1e-5)
    assert torch.allclose(f_counted - anchor, s_counted.expand(-1, 4, -1), atol=1e-5)
