"""ClippedAdam against torch.optim.Adam after nn.utils.clip_grad_norm_ (synthetic data only)."""

import pytest
import torch

from tsgate.config import ModelConfig
from tsgate.models import RecurrentForecaster
from tsgate.optim import ClippedAdam
from tsgate.train import cosine_factor, window_loss


def network(seed: int, backbone: str) -> RecurrentForecaster:
    torch.manual_seed(seed)
    net = RecurrentForecaster(ModelConfig(backbone, 1, 16, 4, 8, anchor_season=0, norm="none"))
    for parameter in net.parameters():  # the head starts at zero; give every weight a gradient
        torch.nn.init.normal_(parameter, std=0.3)
    return net


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("max_norm", [0.05, 100.0])  # clipping at every step, and never
def test_steps_equal_torch_adam_with_clipping(backbone, max_norm):
    ours, reference = network(0, backbone), network(0, backbone)
    optimizer = ClippedAdam(ours.parameters(), max_norm)
    torch_adam = torch.optim.Adam(reference.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(1)
    for step in range(30):
        x = torch.randn(32, 16, 1, generator=generator)
        y = torch.randn(32, 4, 1, generator=generator)
        lr = 3e-3 * cosine_factor(step, 30)
        optimizer.zero_grad()
        window_loss(ours, x, y, "mse").backward()
        optimizer.step(lr)

        torch_adam.zero_grad()
        window_loss(reference, x, y, "mse").backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), max_norm)
        for group in torch_adam.param_groups:
            group["lr"] = lr
        torch_adam.step()
    moved = [(a - b).abs().max() for a, b in zip(ours.parameters(), network(0, backbone).parameters())]
    assert min(moved) > 1e-3  # the weights did move, so the comparison below means something
    for mine, theirs in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_a_parameter_without_gradient_is_refused():
    net = network(0, "gru")
    optimizer = ClippedAdam(net.parameters(), 1.0)
    with pytest.raises(RuntimeError, match="got no gradient"):
        optimizer.step(1e-3)
