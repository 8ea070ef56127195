"""Network sizes and training costs: parameter counts, the hidden size that matches a count, and
the multiply-adds of an optimizer step.

A fair comparison of recurrent cells holds their size equal (Collins, Sohl-Dickstein and Sussillo,
"Capacity and trainability in recurrent neural networks", 2017, matched cells by parameter count):
at the same hidden size an LSTM has about four times the recurrent weights of a plain RNN. Counts
come from the network torch builds, on the meta device (shapes only, nothing allocated), so they
are what the `parameters` column reports and never a second formula that could drift from it.
"""

from __future__ import annotations

from dataclasses import replace

from tsgate.errors import OptionError

TRAINING_PASSES = 3  # a training step's multiply-adds: the forward pass and about twice it for the backward


def count_parameters(config) -> int:
    """Parameters of the whole network `config` describes (recurrent layers, head, highway)."""
    import torch

    from tsgate.models import RecurrentForecaster, parameter_count

    with torch.device("meta"):
        return parameter_count(RecurrentForecaster(config))


def hidden_for_parameters(config, target: int) -> int:
    """The hidden size whose network (the other fields of `config` as they are) has the parameter
    count nearest `target`; the smaller size on a tie. The count grows with the hidden size, so a
    doubling search and then a bisection find it in a few dozen builds."""
    if target < 1:
        raise OptionError(f"--params must be at least 1, got {target}")

    def count(hidden: int) -> int:
        return count_parameters(replace(config, hidden=hidden))

    smallest = count(1)
    if target < smallest:
        raise OptionError(f"--params {target} is below the smallest {config.backbone.upper()} on this data "
                          f"(hidden 1: {smallest:,} parameters): ask for more parameters")
    low, high = 1, 2
    while count(high) < target:  # count(low) < target throughout, until high reaches it
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    return low if target - count(low) <= count(high) - target else high


def first_member_config(forecaster, series, backbone: str):
    """The config of the first network `forecaster.fit(series)` would build for `backbone`: its
    lookback, inputs (targets and calendar) and horizon resolved from the data as the fit does."""
    from tsgate.covariates import config_fields
    from tsgate.freq import calendar_cycles
    from tsgate.prepare import plan_shape

    shape = plan_shape(series, lookback=forecaster.lookback, horizon=forecaster.horizon,
                       val_fraction=forecaster.val_fraction, members=forecaster.ensemble, scaler=forecaster.scaler)
    cycles = calendar_cycles(series.freq) if forecaster.calendar else ()
    return replace(forecaster.with_params(backbone=backbone).network_shape(), n_targets=len(series.targets),
                   lookback=shape.lookbacks[0], n_calendar=2 * len(cycles), masked=shape.masked,
                   **config_fields(series.covariates))


def forward_macs(config) -> int:
    """Multiply-adds of one window's forward pass: every layer's gate blocks at every step of the
    lookback, then the head and the highway."""
    from tsgate.models import GATE_BLOCKS

    blocks, hidden = GATE_BLOCKS[config.backbone], config.hidden
    macs = 0
    for layer in range(config.layers):
        inputs = config.n_inputs if layer == 0 else hidden
        macs += config.lookback * blocks * hidden * (inputs + hidden)
    outputs = config.horizon * config.n_targets
    macs += config.head_inputs * outputs  # the last state, and the horizon's future covariates
    if config.highway:
        macs += (config.lookback * config.n_targets + (config.exogenous_inputs if config.n_covariates else 0)) * outputs
    return macs


def training_macs_per_step(config, batch_size: int) -> int:
    """Multiply-adds of one optimizer step on a batch of `batch_size` windows."""
    return TRAINING_PASSES * batch_size * forward_macs(config)
