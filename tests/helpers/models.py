"""Parameter counts from the network torch builds, for tests that check the counts tsgate reports."""

import torch

from tsgate.models import RecurrentForecaster, parameter_count


def config_parameter_count(config) -> int:
    """parameter_count of the network `config` describes, built on the meta device: torch lays out
    every tensor's shape and allocates none, so even a huge configuration is counted at once."""
    with torch.device("meta"):
        return parameter_count(RecurrentForecaster(config))
