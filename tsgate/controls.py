"""The controls of a fair comparison: what compare holds equal between backbones.

Size (`--match`): every backbone at the same hidden size, or each at the hidden size whose
network has the same parameter count (by default the GRU's at --hidden, or `--params N`).
Compute (`--budget`): the same optimizer steps, the same training multiply-adds (a cheaper cell
takes more steps), or the same seconds of training per network.

The controls turn one template Forecaster into one per backbone, before anything trains; the
comparison then fits those as it fits any Forecaster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from tsgate.config import MATCHES
from tsgate.errors import OptionError

REFERENCE = "gru"  # the backbone whose size and cost at --hidden set the targets: the product's default


@dataclass(frozen=True)
class Budget:
    """What every backbone gets the same amount of in training."""

    kind: str  # steps | flops | seconds
    seconds: float | None = None  # the wall-clock per network, for kind seconds

    @property
    def reproducible(self) -> bool:
        """Whether the same seed gives the same result: a time limit depends on the machine's speed."""
        return self.kind != "seconds"

    def __str__(self) -> str:
        return f"seconds:{self.seconds:g}" if self.kind == "seconds" else self.kind


def parse_budget(text: str) -> Budget:
    """`steps`, `flops` or `seconds:S` (S > 0) as a Budget."""
    kind, _, amount = text.strip().lower().partition(":")
    if kind in ("steps", "flops") and not amount:
        return Budget(kind)
    if kind == "seconds":
        try:
            seconds = float(amount)
        except ValueError:
            seconds = math.nan
        if seconds > 0 and math.isfinite(seconds):
            return Budget("seconds", seconds)
        raise OptionError(f"--budget seconds:S needs a positive number of seconds per network, got {text!r} (e.g. seconds:30)")
    raise OptionError(f"unknown --budget {text!r}: use steps, flops or seconds:S (S seconds per network)")


@dataclass(frozen=True)
class Sizing:
    """How the controls set each backbone up, for the comparison's settings."""

    match: str
    params_target: int | None  # the parameter count matched, with match params
    budget: Budget
    steps: dict  # {backbone: most optimizer steps per network}
    hidden: dict  # {backbone: hidden size}
    training_macs: dict  # {backbone: multiply-adds of one optimizer step}

    def settings(self) -> dict:
        return {"match": self.match, "params_target": self.params_target, "budget": str(self.budget),
                "reproducible": self.budget.reproducible, "hidden_by_model": self.hidden, "steps_by_model": self.steps,
                "training_macs_per_step": self.training_macs}


def backbone_templates(train_set, template, models, match: str = "hidden", params: int | None = None,
                       budget: Budget = Budget("steps")) -> tuple[dict, Sizing]:
    """({backbone: its unfitted Forecaster}, the Sizing) for the backbones `models` on `train_set`
    (the data the first fold trains on). `auto` keeps the template's hidden size and steps: it picks
    among all three backbones at one size, as train --model auto does."""
    from tsgate.sizes import count_parameters, first_member_config, hidden_for_parameters, training_macs_per_step

    if match not in MATCHES:
        raise OptionError(f"unknown --match {match!r}: use hidden or params")
    if params is not None and match != "params":
        raise OptionError("--params sets the parameter count of --match params: add --match params, or leave --params out")
    reference = first_member_config(template, train_set, REFERENCE)
    target = (params or count_parameters(reference)) if match == "params" else None
    named = [name for name in models if name != "auto"]
    configs = {name: first_member_config(template, train_set, name) for name in named}
    if target is not None:
        configs = {name: replace(config, hidden=hidden_for_parameters(config, target)) for name, config in configs.items()}
    macs = {name: training_macs_per_step(config, template.batch_size) for name, config in configs.items()}
    steps = {name: template.steps for name in named}
    if budget.kind == "flops":  # the reference's multiply-adds over --steps, shared out at each backbone's cost
        total = training_macs_per_step(reference, template.batch_size) * template.steps
        steps = {name: max(1, round(total / macs[name])) for name in named}
    templates = {name: template.with_params(backbone=name, hidden=configs[name].hidden, steps=steps[name])
                 for name in named}
    if "auto" in models:
        templates["auto"] = template.with_params(backbone="auto")
    hidden = {name: forecaster.hidden for name, forecaster in templates.items()}
    return templates, Sizing(match, target, budget, {n: f.steps for n, f in templates.items()}, hidden, macs)


def sized_forecaster(series, forecaster, match: str = "hidden", params: int | None = None,
                     budget: Budget = Budget("steps")):
    """`forecaster` (one backbone, or auto) with the hidden size and steps the controls give it on
    `series`: train's --match, --params and --budget, as compare sets up each of its backbones."""
    if match == "hidden" and params is None and budget.kind == "steps":
        return forecaster
    if forecaster.backbone == "auto" and match == "params":
        raise OptionError("--model auto tries every backbone at one hidden size: --match params needs a backbone (rnn, gru or lstm)")
    templates, _ = backbone_templates(series, forecaster, [forecaster.backbone], match, params, budget)
    return templates[forecaster.backbone]
