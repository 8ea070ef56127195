"""config.py: what ModelConfig and TrainConfig refuse and say, their defaults, their dictionaries,
and the option tuples the CLI builds its choices from."""

import dataclasses
import math
import re

import pytest
from helpers.cli import invoke

from tsgate import config
from tsgate.config import ModelConfig, TrainConfig
from tsgate.errors import OptionError

# (field, bad value, what the message must say: the option and the value as given)
MODEL_ERRORS = [
    ("backbone", "transformer", r"unknown model 'transformer': use one of rnn, gru, lstm"),
    ("backbone", "GRU", r"unknown model 'GRU'"),
    ("n_targets", 0, r"--n_targets must be at least 1, got 0"),
    ("lookback", 0, r"--lookback must be at least 1, got 0"),
    ("horizon", -1, r"--horizon must be at least 1, got -1"),
    ("hidden", 0, r"--hidden must be at least 1, got 0"),
    ("layers", -3, r"--layers must be at least 1, got -3"),
    ("dropout", 1.0, r"--dropout must be in \[0, 1\), got 1.0"),
    ("dropout", -0.1, r"--dropout must be in \[0, 1\), got -0.1"),
    ("dropout", math.nan, r"--dropout must be in \[0, 1\), got nan"),
    ("norm", "bogus", r"unknown --norm 'bogus': use one of window, level, none"),
    ("anchor_season", 49, r"the anchor's season 49 must lie between 0 and the lookback 48"),
    ("anchor_season", -1, r"the anchor's season -1 must lie between 0 and the lookback 48"),
    ("n_calendar", -2, r"n_calendar must be 0 or more, got -2"),
]

TRAIN_ERRORS = [
    ("steps", 0, r"--steps must be at least 1, got 0"),
    ("epochs", 0, r"--epochs must be at least 1, got 0"),
    ("batch_size", -1, r"--batch-size must be at least 1, got -1"),
    ("threads", 0, r"--threads must be at least 1, got 0"),
    ("ensemble", 0, r"--ensemble must be at least 1, got 0"),
    ("patience", -1, r"--patience must be 0 or more, got -1"),
    ("lr", 0.0, r"--lr must be a positive number, got 0.0"),
    ("lr", -1e-3, r"--lr must be a positive number, got -0.001"),
    ("lr", math.nan, r"--lr must be a positive number, got nan"),
    ("lr", math.inf, r"--lr must be a positive number, got inf"),
    ("val_fraction", 0.0, r"--val-fraction must be between 0 and 1, got 0.0"),
    ("val_fraction", 1.0, r"--val-fraction must be between 0 and 1, got 1.0"),
    ("scaler", "bogus", r"unknown --scaler 'bogus': use one of standard, minmax, robust, none"),
    ("loss", "l2", r"unknown --loss 'l2': use one of mae, huber, mse"),
    ("device", "tpu", r"unknown --device 'tpu': use one of auto, cpu, cuda, mps"),
]


def refused(cls, field, value) -> str:
    with pytest.raises(OptionError) as caught:
        cls(**{field: value})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("field, value, pattern", MODEL_ERRORS, ids=[f"{f}={v}" for f, v, _ in MODEL_ERRORS])
def test_each_model_config_error_names_the_option_and_the_value(field, value, pattern):
    assert re.search(pattern, refused(ModelConfig, field, value))


@pytest.mark.parametrize("field, value, pattern", TRAIN_ERRORS, ids=[f"{f}={v}" for f, v, _ in TRAIN_ERRORS])
def test_each_train_config_error_names_the_option_and_the_value(field, value, pattern):
    assert re.search(pattern, refused(TrainConfig, field, value))


def test_no_anchor_needs_unnormalised_windows():
    message = refused(ModelConfig, "anchor_season", 0)
    assert message.startswith("--anchor none needs --norm none (--norm window ")
    assert message.endswith("use --anchor last, or --norm none")
    assert ModelConfig(anchor_season=0, norm="none").anchor_season == 0


@pytest.mark.parametrize("cls, values", [
    (ModelConfig, {"dropout": 0.0}), (ModelConfig, {"dropout": 0.999}), (ModelConfig, {"anchor_season": 48}),
    (ModelConfig, {"lookback": 1, "anchor_season": 1}), (ModelConfig, {"n_calendar": 0}),
    (TrainConfig, {"patience": 0}), (TrainConfig, {"epochs": None}), (TrainConfig, {"epochs": 1}),
    (TrainConfig, {"val_fraction": 1e-9}), (TrainConfig, {"val_fraction": 0.999}), (TrainConfig, {"lr": 1e-12}),
], ids=lambda item: ",".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict) else item.__name__)
def test_the_edges_of_each_range_are_accepted(cls, values):
    made = cls(**values)
    assert all(getattr(made, name) == value for name, value in values.items())


@pytest.mark.parametrize("made", [
    ModelConfig(),
    ModelConfig("lstm", 2, 24, 6, 16, 3, 0.25, "level", 12, 4, False),
    TrainConfig(),
    TrainConfig(steps=7, epochs=2, batch_size=3, lr=1e-4, patience=0, clip=5.0, val_fraction=0.5, scaler="robust",
                loss="huber", refit=False, ensemble=1, device="cpu", seed=9, threads=2),
], ids=["model-defaults", "model", "train-defaults", "train"])
def test_to_dict_round_trips_through_the_constructor(made):
    document = made.to_dict()
    assert set(document) == {field.name for field in dataclasses.fields(made)}
    assert type(made)(**document) == made
    assert document == type(made)(**document).to_dict()


def test_configs_are_frozen_and_count_their_inputs():
    model = ModelConfig(n_targets=2, n_calendar=4)
    assert model.n_inputs == 6 and ModelConfig().n_inputs == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.hidden = 8
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0


def test_the_choice_tuples():
    assert config.BACKBONE_NAMES == ("rnn", "gru", "lstm")
    assert config.MODEL_CHOICES == ("rnn", "gru", "lstm", "auto")
    assert config.DEVICES == ("auto", "cpu", "cuda", "mps")
    assert config.SCALERS == ("standard", "minmax", "robust", "none")
    assert config.NORMS == ("window", "level", "none")
    assert config.ANCHORS == ("auto", "seasonal", "last", "none")
    assert config.LOSSES == ("mae", "huber", "mse")


def test_each_default_is_one_of_its_choices():
    model, train = ModelConfig(), TrainConfig()
    assert model.backbone in config.BACKBONE_NAMES and model.norm in config.NORMS
    assert train.scaler in config.SCALERS and train.loss in config.LOSSES and train.device in config.DEVICES
    assert config.DEFAULT_ANCHOR in config.ANCHORS


@pytest.mark.parametrize("cls, field, choices", [
    (ModelConfig, "backbone", config.BACKBONE_NAMES), (ModelConfig, "norm", config.NORMS),
    (TrainConfig, "scaler", config.SCALERS), (TrainConfig, "loss", config.LOSSES),
    (TrainConfig, "device", config.DEVICES),
])
def test_every_choice_is_accepted_and_listed_when_refused(cls, field, choices):
    for value in choices:
        assert getattr(cls(**{field: value}), field) == value
    assert refused(cls, field, "none-of-these").endswith("use one of " + ", ".join(choices))


def test_auto_is_a_model_choice_but_not_a_backbone():
    """auto trains each backbone and keeps one: a network's config always names a real backbone."""
    assert refused(ModelConfig, "backbone", "auto").startswith("unknown model 'auto'")


CLI_CHOICES = [("--model", config.MODEL_CHOICES), ("--loss", config.LOSSES), ("--anchor", config.ANCHORS),
               ("--norm", config.NORMS), ("--scaler", config.SCALERS), ("--device", config.DEVICES)]


@pytest.mark.parametrize("command, option, choices", [
    (command, option, choices) for command in ("train", "compare") for option, choices in CLI_CHOICES
    if (command, option) != ("compare", "--model")  # compare takes --models, a comma-separated list
], ids=lambda item: item if isinstance(item, str) else None)
def test_the_cli_offers_exactly_the_config_choices(tmp_path, command, option, choices):
    result = invoke(command, tmp_path / "unread.csv", option, "none-of-these")
    listed = ", ".join(repr(value) for value in choices)
    assert result.exit_code == 2 and f"'none-of-these' is not one of {listed}." in result.stderr, result.stderr
