"""The recurrent forecaster: a stock torch backbone (RNN, GRU or LSTM) and one shared head.

Every backbone gets the same head, so a comparison between them measures the
backbone alone. The parameters live in the stock module, so a saved state dict
loads into plain `nn.RNN` / `nn.GRU` / `nn.LSTM`; `kernels.recurrent_last_state`
only chooses how the forward and backward passes are computed.
"""

from __future__ import annotations

import torch
from torch import nn

from tsgate.config import ModelConfig

BACKBONES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
GATE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: candidate only / 2 gates + candidate / 3 gates + cell


class RecurrentForecaster(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.rnn = BACKBONES[config.backbone](
            input_size=config.n_targets,
            hidden_size=config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.hidden, config.horizon * config.n_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from tsgate.kernels import recurrent_last_state

        level = x[:, -1:, :] if self.config.relative else torch.zeros_like(x[:, -1:, :])  # (B, 1, C)
        last = recurrent_last_state(self.rnn, x - level)  # (B, L, C) -> (B, hidden)
        change = self.head(last).view(x.shape[0], self.config.horizon, self.config.n_targets)  # (B, H, C)
        return change + level


def state_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's tensor shapes, derived from the config without building anything.

    Loading checks a file's tensors against these first, so a hostile config
    (hidden = 2**20, say) is refused before it can allocate anything.
    """
    rows, hidden, shapes = GATE_BLOCKS[config.backbone] * config.hidden, config.hidden, {}
    for layer in range(config.layers):
        inputs = config.n_targets if layer == 0 else hidden
        shapes.update({f"rnn.weight_ih_l{layer}": (rows, inputs), f"rnn.weight_hh_l{layer}": (rows, hidden),
                       f"rnn.bias_ih_l{layer}": (rows,), f"rnn.bias_hh_l{layer}": (rows,)})
    outputs = config.horizon * config.n_targets
    shapes.update({"head.weight": (outputs, hidden), "head.bias": (outputs,)})
    return shapes


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_parameter_count(config: ModelConfig) -> int:
    """Closed form: each layer has G blocks of H*(I+H) weights and 2H biases, plus the linear head."""
    blocks, hidden = GATE_BLOCKS[config.backbone], config.hidden
    total = 0
    for layer in range(config.layers):
        inputs = config.n_targets if layer == 0 else hidden
        total += blocks * (hidden * (inputs + hidden) + 2 * hidden)
    outputs = config.horizon * config.n_targets
    return total + hidden * outputs + outputs
