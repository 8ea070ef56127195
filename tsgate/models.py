"""The recurrent forecaster: a stock torch backbone (RNN, GRU or LSTM) and one shared head.

Every backbone gets the same normalisation, anchor and head, so a comparison
between them measures the backbone alone. The parameters live in the stock
module, so a saved state dict loads into plain `nn.RNN` / `nn.GRU` / `nn.LSTM`;
`kernels.recurrent_last_state` only chooses how the passes are computed.

A forecast is `anchor + scale * correction`:
- the anchor is a simple forecast read off the window (its last value, or its
  last season repeated), so a network that outputs zero already forecasts as
  well as that baseline, and the head starts at zero;
- the scale is the window's mean absolute step, so the network reads and
  predicts scale-free numbers whatever the size of the series (RevIN-style),
  and the training loss in those units is the per-window analogue of MASE.
  With a seasonal anchor (`scale_by_anchor`), the correction is counted in the
  anchor's own in-window error instead, mean |x(t) - x(t - m)|: on a strongly
  seasonal series the one-step change is many times the seasonal anchor's
  error, and a correction in one-step units would swamp the anchor it corrects.
  The loss is then the per-window analogue of seasonal MASE. The inputs keep the
  one-step scale, which stays of order one on every series.
"""

from __future__ import annotations

import torch
from torch import nn

from tsgate.config import MIN_SCALE, ModelConfig

BACKBONES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
ANCHOR_ERROR_FLOOR = 0.1  # the seasonal anchor error counted, as a share of the one-step change at least
GATE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per layer: candidate only / 2 gates + candidate / 3 gates + cell


class RecurrentForecaster(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.rnn = BACKBONES[config.backbone](
            input_size=config.n_inputs,
            hidden_size=config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.head_inputs, config.horizon * config.n_targets)
        # LSTNet's autoregressive highway: a linear map from the normalised window to the horizon,
        # beside the recurrent path, so linear structure (trends, stable seasons) costs it nothing.
        self.highway = nn.Linear(config.lookback * config.n_targets, config.horizon * config.n_targets) if config.highway else None
        # With covariates the highway has a second part, a linear map from them to the forecast (an ARX
        # model with the first). It acts in the series' scaled units, outside the window's scale: a
        # covariate's effect does not grow with how much the target happened to move in the window.
        self.exogenous = nn.Linear(config.exogenous_inputs, config.horizon * config.n_targets) \
            if config.highway and config.n_covariates else None
        if config.anchor_season:
            # Start exactly at the anchor forecast: the network learns only what improves on it.
            for layer in (self.head, self.highway, self.exogenous):
                if layer is not None:
                    nn.init.zeros_(layer.weight)
                    nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, stock: bool = False) -> torch.Tensor:
        """Forecasts (B, H, C) from windows (B, L, I) (targets, calendar, covariates, mask), in the
        windows' units and dtype; with future covariates, (B, L + H, I), the last H rows holding the
        horizon's future covariates (windows.CovariateWindows.with_horizon).
        `stock` runs the recurrent layers through the stock torch module rather than the fastest
        path, so that gradients reach the windows themselves (gates.memory_profile needs them)."""
        return self.forecast_and_scale(x, stock)[0]

    def forecast_and_scale(self, x: torch.Tensor, stock: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(forecasts (B, H, C), window scales (B, 1, C)); the loss divides errors by the scale."""
        ahead = None
        if self.config.n_future:  # the horizon's rows: their future covariates only
            first = self.config.first_covariate + self.config.n_past
            x, ahead = x[:, :-self.config.horizon], x[:, -self.config.horizon:, first:first + self.config.n_future]
        mask = x[..., -1:] if self.config.masked else None  # (B, L, 1): 1 on the series, 0 on padding
        targets = x[..., :self.config.n_targets]
        anchor, level, scale = window_stats(targets, self.config, mask)
        counted_in = anchor_error(targets, self.config, mask) if self.config.scale_by_anchor else scale
        inputs = normalise(x, level, scale, mask)
        forecast = anchor + counted_in * self.correction(inputs, stock, ahead)
        if self.exogenous is not None:  # (B, exogenous inputs) -> (B, H, C), in the series' units
            forecast = forecast + self.exogenous(self.exogenous_inputs(inputs, ahead)).view(forecast.shape)
        return forecast, counted_in

    def correction(self, inputs: torch.Tensor, stock: bool = False, ahead: torch.Tensor | None = None) -> torch.Tensor:
        """The network proper: normalised windows (B, L, I), and the horizon's future covariates
        (B, H, Wf) where the network reads them -> scale-free corrections (B, H, C)."""
        from tsgate.kernels import recurrent_last_state

        inputs = inputs.to(self.head.weight.dtype)
        state = recurrent_last_state(self.rnn, inputs, stock)  # (B, L, I) -> (B, hidden)
        if ahead is not None:
            ahead = ahead.to(inputs.dtype).flatten(1)  # (B, H * Wf)
            state = torch.cat([state, ahead], dim=1)
        out = self.head(state)  # (B, H * C)
        if self.highway is not None:
            out = out + self.highway(inputs[..., :self.config.n_targets].flatten(1))  # (B, L * C) -> (B, H * C)
        return out.view(len(inputs), self.config.horizon, self.config.n_targets)

    def exogenous_inputs(self, inputs: torch.Tensor, ahead: torch.Tensor | None) -> torch.Tensor:
        """What the highway's covariate part reads: the past and future covariates along the lookback,
        the static ones once and the horizon's future ones, (B, exogenous inputs)."""
        config = self.config
        first, dynamic = config.first_covariate, config.n_past + config.n_future
        inputs = inputs.to(self.exogenous.weight.dtype)
        parts = [inputs[..., first:first + dynamic].flatten(1), inputs[:, -1, first + dynamic:first + dynamic + config.n_static]]
        return torch.cat(parts + ([ahead.to(inputs.dtype).flatten(1)] if ahead is not None else []), dim=1)


def window_stats(x: torch.Tensor, config: ModelConfig, mask: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchor (B, H, C), level (B, 1, C), scale (B, 1, C)) of target windows x (B, L, C). With `mask`
    (B, L, 1), the scale averages only the steps between two points of the series, never padding."""
    level = x[:, -1:]
    anchor = anchor_forecast(x, config.anchor_season, config.horizon, mask)
    if config.norm == "window":
        scale = mean_step(x, mask).clamp_min(MIN_SCALE)
    else:
        scale = torch.ones_like(level)
    if config.norm == "none":
        level = torch.zeros_like(level)
    return anchor, level, scale


def mean_step(x: torch.Tensor, mask: torch.Tensor | None, lag: int = 1) -> torch.Tensor:
    """Mean absolute change over `lag` steps (B, 1, C) of windows x (B, L, C), over the pairs `mask` keeps."""
    if x.shape[1] <= lag:
        return torch.zeros_like(x[:, -1:])
    steps = (x[:, lag:] - x[:, :-lag]).abs()
    if mask is None:
        return steps.mean(dim=1, keepdim=True)
    inside = mask[:, lag:] * mask[:, :-lag]  # both ends of the change lie on the series
    return (steps * inside).sum(dim=1, keepdim=True) / inside.sum(dim=1, keepdim=True).clamp_min(1)


def anchor_error(x: torch.Tensor, config: ModelConfig, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The seasonal anchor's in-window error (B, 1, C): the mean absolute change over one season,
    at least ANCHOR_ERROR_FLOOR of the one-step change, so that a season the window repeats almost
    exactly does not give its every deviation an outsized weight in the loss. A window the anchor
    reads as too short for its season (anchor_forecast) takes the one-step change, as its anchor
    falls back to the last value."""
    season = config.anchor_season
    one_step = mean_step(x, mask).clamp_min(MIN_SCALE)
    if season <= 1 or x.shape[1] <= season:
        return one_step
    seasonal = torch.maximum(mean_step(x, mask, season), ANCHOR_ERROR_FLOOR * one_step)
    if mask is None:
        return seasonal
    short = mask.sum(dim=1, keepdim=True) <= season  # (B, 1, 1): not one whole pair a season apart
    return torch.where(short, one_step, seasonal)


def anchor_forecast(x: torch.Tensor, season: int, horizon: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Zero (season 0), the last value repeated (1), or the last `season` steps repeated: (B, L, C) -> (B, H, C).
    A window whose `mask` holds fewer than `season` points of the series repeats its last value instead."""
    if season == 0:
        return x.new_zeros(x.shape[0], horizon, x.shape[2])
    lookback = x.shape[1]
    steps = lookback - season + torch.arange(horizon, device=x.device) % season  # (H,)
    anchor = x[:, steps]
    if mask is None or season == 1:
        return anchor
    short = mask.sum(dim=1, keepdim=True) < season  # (B, 1, 1)
    return torch.where(short, x[:, -1:], anchor)


def normalise(x: torch.Tensor, level: torch.Tensor, scale: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Targets relative to the window's level, in units of its scale (0 on padding); other inputs as they are."""
    targets = (x[..., :level.shape[-1]] - level) / scale
    if mask is not None:
        targets = targets * mask
    return torch.cat([targets, x[..., level.shape[-1]:]], dim=-1) if x.shape[-1] > level.shape[-1] else targets


def state_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's tensor shapes, derived from the config without building anything.

    Loading checks a file's tensors against these first, so a hostile config
    (hidden = 2**20, say) is refused before it can allocate anything. A closed form rather
    than a network built on the meta device: building one costs time quadratic in the layers
    (10,000 layers take about 40 s), which a file could claim. test_models.py checks these
    shapes against a built network's.
    """
    rows, hidden, shapes = GATE_BLOCKS[config.backbone] * config.hidden, config.hidden, {}
    for layer in range(config.layers):
        inputs = config.n_inputs if layer == 0 else hidden
        shapes.update({f"rnn.weight_ih_l{layer}": (rows, inputs), f"rnn.weight_hh_l{layer}": (rows, hidden),
                       f"rnn.bias_ih_l{layer}": (rows,), f"rnn.bias_hh_l{layer}": (rows,)})
    outputs = config.horizon * config.n_targets
    shapes.update({"head.weight": (outputs, config.head_inputs), "head.bias": (outputs,)})
    if config.highway:
        shapes.update({"highway.weight": (outputs, config.lookback * config.n_targets), "highway.bias": (outputs,)})
    if config.highway and config.n_covariates:
        shapes.update({"exogenous.weight": (outputs, config.exogenous_inputs), "exogenous.bias": (outputs,)})
    return shapes


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
