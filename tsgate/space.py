"""The tuning search space as plain data: its documented defaults, and --space FILE.

A space maps each tuned option to a Dimension: a range (whole or real numbers, on a log scale
where the option spans orders of magnitude), a choice among values, or one fixed value. The
defaults follow the ranges NeuralForecast's Auto* recurrent models search; `--space FILE` (TOML
or JSON) replaces any of them:

    hidden = [16, 64]      # two numbers: a range
    loss = ["mae"]         # any other list: a choice
    layers = 1             # one value: fixed

Only config.py is imported here: the CLI reads a space file before any data is read.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from tsgate.config import LOSSES, MATCHES
from tsgate.errors import OptionError



@dataclass(frozen=True)
class Dimension:
    """One tuned option: kind "int" or "float" (a range from low to high), "choice" or "fixed"."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False  # draw the range evenly on a log scale
    choices: tuple = ()
    value: object = None  # the fixed value

    def suggest(self, trial, name: str):
        """The value Optuna's `trial` draws for option `name`."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def contains(self, value) -> bool:
        """Whether Optuna could draw `value` (a fixed dimension draws nothing)."""
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "fixed" or isinstance(value, (bool, str)):
            return False
        return self.low <= value <= self.high and (self.kind == "float" or value == int(value))

    def describe(self) -> dict:
        """The dimension as JSON-ready data (for settings, the study's fingerprint and the README)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
                if value not in (None, ()) and not (key == "log" and not value)}


def whole(low, high, log=False) -> Dimension:
    return Dimension("int", low, high, log)


def real(low, high, log=False) -> Dimension:
    return Dimension("float", low, high, log)


# The default space. hidden is searched with --match hidden; params (a whole-network parameter
# target from which each backbone's hidden size is solved) with --match params.
DEFAULT_SPACE = {
    "hidden": whole(8, 256, log=True),  # recurrent state size
    "params": whole(1_000, 100_000, log=True),  # parameters of the whole network, with --match params
    "layers": whole(1, 3),  # stacked recurrent layers
    "lr": real(3e-4, 1e-2, log=True),  # peak Adam learning rate
    "dropout": real(0.0, 0.5),  # between stacked layers: drawn only when layers > 1
    "lookback": real(0.5, 2.0),  # a multiple of the lookback the options give (auto: the automatic one)
    "batch_size": Dimension("choice", choices=(32, 64, 128, 256)),  # windows per optimizer step
    "loss": Dimension("choice", choices=LOSSES),  # training loss
}
WHOLE = {"hidden", "params", "layers", "batch_size"}  # options that take whole numbers
SIZE_KEY = {"hidden": "hidden", "params": "params"}  # --match -> the key that sizes the network


def check_value(key: str, value) -> str | None:
    """Why `value` cannot be option `key`'s (None when it can)."""
    if key == "loss":
        return None if value in LOSSES else f"must be one of {', '.join(LOSSES)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "must be a number"
    if key in WHOLE and (value != int(value) or value < 1):
        return "must be a whole number of at least 1"
    if key == "dropout" and not 0 <= value < 1:
        return "must lie in [0, 1)"
    if key not in WHOLE and key != "dropout" and value <= 0:
        return "must be above 0"
    return None


def default_space(match: str = "hidden") -> dict[str, Dimension]:
    """The default space for --match `match`: hidden sizes, or parameter targets."""
    if match not in MATCHES:
        raise OptionError(f"unknown --match {match!r}: use one of {', '.join(MATCHES)}")
    other = "params" if match == "hidden" else "hidden"
    return {key: dimension for key, dimension in DEFAULT_SPACE.items() if key != other}


def read_space(path, match: str = "hidden") -> dict[str, Dimension]:
    """The default space with the dimensions --space FILE (.toml or .json) gives replacing their defaults."""
    space = default_space(match)
    if path is None:
        return space
    for key, given in read_space_file(Path(path)).items():
        if key not in DEFAULT_SPACE:
            raise OptionError(f"--space {path}: unknown key {key!r}; the space's keys are {', '.join(DEFAULT_SPACE)}")
        if key not in space:
            raise OptionError(f"--space {path}: {key!r} sizes the network only with --match {key}: "
                              f"give {SIZE_KEY[match]!r} instead, or pass --match {key}")
        space[key] = parse_dimension(key, given, DEFAULT_SPACE[key], path)
    return space


def read_space_file(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise OptionError(f"--space {path}: give a .toml or .json file (the suffix says which), not {suffix or 'no suffix'}")
    try:
        if suffix == ".json":
            content = json.loads(path.read_text(encoding="utf-8"))
        else:
            content = toml_module().loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionError(f"--space {path} cannot be read ({exc.strerror or exc}): give a readable file") from None
    except ValueError as exc:  # json's and tomllib's decoding errors, and bad UTF-8
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"--space {path} is not valid {suffix[1:].upper()} ({first})") from None
    if not isinstance(content, dict):
        raise OptionError(f"--space {path} must hold a table of keys (such as {{\"lr\": [1e-4, 1e-2]}}), not a {type(content).__name__}")
    return content


def toml_module():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli package
        import tomli as tomllib
    return tomllib


def parse_dimension(key: str, given, default: Dimension, path) -> Dimension:
    """A file's entry for `key`: two numbers a range (on the default's scale), another list a choice, else fixed."""
    where = f"--space {path}: {key}"
    if isinstance(given, list):
        if not given:
            raise OptionError(f"{where} is an empty list: give two numbers for a range, or the values to choose from")
        for value in given:
            if (why := check_value(key, value)) is not None:
                raise OptionError(f"{where} holds {value!r}, which {why}")
        if len(given) == 2 and key != "loss":
            low, high = given
            if low > high:
                raise OptionError(f"{where} = [{low}, {high}] is an empty range: put the lower end first")
            if key in WHOLE:
                return whole(int(low), int(high), log=default.log or key == "batch_size")
            return real(float(low), float(high), log=default.log)
        return Dimension("choice", choices=tuple(dict.fromkeys(given)))
    if isinstance(given, dict):
        raise OptionError(f"{where} must be a number, a list or a value, not a table")
    if (why := check_value(key, given)) is not None:
        raise OptionError(f"{where} = {given!r} {why}")
    return Dimension("fixed", value=int(given) if key in WHOLE else given)


def describe_space(space: dict[str, Dimension]) -> dict:
    return {key: dimension.describe() for key, dimension in space.items()}


def first_trial(space: dict[str, Dimension], options: dict) -> dict:
    """The drawn values that reproduce `options` (Forecaster arguments; the lookback as given, a multiple
    of 1) where the space holds them: a search's first trial, so that it starts from the untuned setup."""
    wanted = {key: options[key] for key in ("hidden", "layers", "lr", "batch_size", "loss") if key in options}
    wanted["lookback"] = 1.0
    if options.get("layers", 1) > 1:
        wanted["dropout"] = options.get("dropout", 0.0)
    return {key: value for key, value in wanted.items() if key in space and space[key].contains(value)}


def draw(space: dict[str, Dimension], trial) -> dict:
    """One trial's raw choices (lookback as a multiple; hidden or a parameter target). dropout only
    matters between stacked layers, so a one-layer trial does not draw it."""
    choices = {}
    for key, dimension in space.items():
        if key == "dropout" and choices.get("layers", 1) < 2:
            continue
        choices[key] = dimension.suggest(trial, key)
    return choices
