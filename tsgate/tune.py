"""Tuning: N trials of a hyperparameter search per backbone, on the validation part only.

Each trial draws a configuration from the search space (space.py), fits ONE network with it
through the same Forecaster a user calls (ensemble 1, no refit: the validation score is made
before any refit, and one network is a third of the cost of an ensemble), and is scored by that
network's validation MAE in the data's units (`metrics_["val_mae"]`): unlike the training loss,
which is in the units of each trial's own loss and window scale, it compares trials of any loss
and lookback. The caller then trains the best configuration as it would an untuned one.

Optuna does the searching: a seeded TPE sampler, a median pruner fed with each trial's validation
checks, and a storage every process can open. Trials run on the --jobs worker pool
(parallel.run_tasks: forkserver workers that imported torch once), each task opening the study,
asking one trial, fitting and telling. Without --storage the study lives in a temporary journal
file; with one (an Optuna RDB URL such as sqlite:///study.db, or a journal file path), every
process started with the same --study shares it: each keeps asking until the study holds N
finished (complete or pruned) trials, counting the running trials of processes that are alive,
so trials are neither lost nor repeated, and a process killed mid-trial loses only that trial.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from tsgate.errors import OptionError, TrainingError
from tsgate.studies import (
    check_storage,
    counted,
    create_study,
    fail_stale,
    fingerprint,
    finished_states,
    heartbeat,
    open_study,
    owner,
    quiet_optuna,
    sampler,
    shown_url,
    storage_for,
    trials_of,
)

WAIT_SECONDS = 1.0  # how often a process with nothing left to ask looks at other processes' trials


@dataclass(frozen=True)
class Search:
    """What every trial of one backbone's study needs (it crosses to worker processes)."""

    storage: str  # an Optuna RDB URL or a journal file path
    study: str  # the study's name in the storage
    trials: int  # finished trials the study ends with
    space: dict  # option -> space.Dimension
    params: dict  # the trials' Forecaster arguments before the drawn ones
    series: object  # SeriesSet the trials fit on
    base_lookback: int  # what a lookback multiple of 1 gives
    max_lookback: int  # the longest lookback every series of `series` holds
    match: str  # hidden: the space draws hidden sizes; params: parameter targets
    seed: int
    time_limit: float | None = None  # seconds of each trial's watched run (compare --budget seconds:S)

    @property
    def backbone(self) -> str:
        return self.params["backbone"]


@dataclass
class TuningResult:
    """One backbone's search, as data: the best configuration and how the trials went."""

    backbone: str
    study: str
    best: dict  # the Forecaster arguments of the best trial (hidden, layers, dropout, lr, lookback, batch_size, loss)
    best_value: float  # its validation MAE
    trials: int  # completed
    pruned: int
    lost: int  # failed: lost with their process, or surplus asks of processes that raced
    val_loss_median: float | None  # over the completed trials' validation MAE
    val_loss_iqr: float | None
    seconds: float  # the trials' fitting time, summed over every process that ran them
    records: list = field(default_factory=list)  # per finished trial: number, state, value, config, seconds

    def summary(self) -> dict:
        """What a compare row's `tuning` object and a model's metrics hold."""
        return {"trials": self.trials, "pruned": self.pruned, "best": self.best, "val_loss_median": self.val_loss_median,
                "val_loss_iqr": self.val_loss_iqr, "seconds": self.seconds, "study": self.study}


def check_trials(trials) -> int:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise OptionError(f"--tune must be at least 1 trial per backbone, got {trials!r}: pass --tune 20, or leave it out")
    return trials


# ---- one trial ------------------------------------------------------------------------------------


def trial_config(search: Search, choices: dict) -> dict:
    """The Forecaster arguments a trial's raw choices give: the lookback from its multiple, and with
    --match params the hidden size whose network has the drawn parameter count."""
    layers = int(choices["layers"])
    config = {"layers": layers, "dropout": float(choices.get("dropout", 0.0)) if layers > 1 else 0.0,
              "lr": float(choices["lr"]), "batch_size": int(choices["batch_size"]), "loss": choices["loss"],
              "lookback": trial_lookback(search, choices["lookback"])}
    if "hidden" in choices:
        return {"hidden": int(choices["hidden"]), **config}
    from tsgate import sizes
    from tsgate.forecaster import Forecaster

    shape = sizes.first_member_config(Forecaster(**{**search.params, **config}), search.series, search.backbone)
    target = int(choices["params"])
    if target <= sizes.count_parameters(replace(shape, hidden=1)):  # a long highway can outweigh the drawn count
        return {"hidden": 1, **config}
    return {"hidden": sizes.hidden_for_parameters(shape, target), **config}


def trial_lookback(search: Search, multiple: float) -> int | str:
    """The lookback a drawn multiple gives. A multiple of 1 under --lookback auto stays "auto": a trial
    (one network) reads the same steps either way, but the winner's ensemble then keeps the members'
    spread of lookbacks, so a search whose best is the untuned setup trains exactly the untuned model."""
    if multiple == 1 and search.params["lookback"] == "auto":
        return "auto"
    return int(min(max(1, round(multiple * search.base_lookback)), search.max_lookback))


def run_trial(search: Search, report) -> dict | None:
    """A worker task: ask the study for one trial, fit it, tell the result. None when the study
    already had its N trials (another process got there first)."""
    from optuna.trial import TrialState

    quiet_optuna()
    study = open_study(search.storage, search.study, search.seed)
    fail_stale(study)
    if counted(study) >= search.trials:
        return None
    trial = study.ask()
    study.sampler = sampler(search.seed, trial.number)  # read at each suggest, after ask gave the number
    trial.set_user_attr("owner", owner())
    if counted(study, before=trial.number) >= search.trials:  # processes raced: the trials before this one fill the study
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    from tsgate.space import draw

    try:
        config = trial_config(search, draw(search.space, trial))
    except BaseException:  # a size no network has (--match params), say: the command fails, the trial with it
        tell_quietly(study, trial, TrialState.FAIL)
        raise
    trial.set_user_attr("config", config)
    state, value, seconds = fit_trial(search, study, trial, config)
    report(search.backbone, trial.number, state.name.lower(), value, len(trials_of(study, *finished_states())))
    return {"number": trial.number, "state": state.name.lower(), "value": value, "config": config, "seconds": seconds}


def fit_trial(search: Search, study, trial, config: dict):
    """(state, validation MAE or None, seconds) of one trial's fit, told to the study."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    from tsgate.ensemble import run_fits
    from tsgate.forecaster import Forecaster

    def check(done, total, train_loss, val_loss):
        trial.report(val_loss, done)
        if trial.should_prune():
            raise optuna.TrialPruned()

    started = time.perf_counter()
    state, value = TrialState.COMPLETE, None
    with heartbeat(study._storage, trial._trial_id):
        try:
            forecaster = Forecaster(**{**search.params, **config})
            run_fits([forecaster.fitting(search.series, search.time_limit)], 1, check)
            value = float(forecaster.metrics_["val_mae"])
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except TrainingError:  # diverged: a configuration that cannot be trained, as hopeless as a pruned one
            state = TrialState.PRUNED
            trial.set_user_attr("diverged", True)
        except BaseException:
            tell_quietly(study, trial, TrialState.FAIL)
            raise
    seconds = time.perf_counter() - started
    try:
        trial.set_user_attr("seconds", seconds)
        study.tell(trial, value, state=state)
    except UpdateFinishedTrialError:  # taken as lost by another process (a silent heartbeat) and asked again
        return TrialState.FAIL, None, seconds
    return state, value, seconds


def tell_quietly(study, trial, state) -> None:
    try:
        study.tell(trial, state=state)
    except Exception:  # noqa: BLE001 - the error being raised matters more than the trial's record
        pass


# ---- the search -----------------------------------------------------------------------------------


def searches_for(series, templates: dict, trials: int, space: dict, storage: str, study: str | None, match: str,
                 time_limit: float | None) -> list[Search]:
    """One Search per backbone of `templates`: the trials fit one network, without refit, on the series every lookback holds."""
    from tsgate.auto import MAX_AUTO_LOOKBACK
    from tsgate.prepare import train_lengths, usable_series

    first = next(iter(templates.values()))
    for template in templates.values():
        template.check_options()
    usable, base, _, fallback = usable_series(series, first.lookback, first.horizon, first.val_fraction)
    room = int(train_lengths(usable, first.horizon, first.val_fraction)[~fallback].min()) - first.horizon
    longest = max(1, min(room, max(base, MAX_AUTO_LOOKBACK)))
    return [Search(storage, f"{study or 'tsgate'}-{backbone}", trials, space,
                   {**template.get_params(), "backbone": backbone, "ensemble": 1, "refit": False}, usable, base, longest,
                   match, template.seed, time_limit)
            for backbone, template in templates.items()]


def tune(series, templates: dict, trials: int, space: dict | None = None, storage: str | None = None,
         study: str | None = None, jobs: int = 1, on_trial=None, match: str = "hidden",
         time_limit: float | None = None) -> dict[str, TuningResult]:
    """Tune each backbone of `templates` ({backbone: its unfitted Forecaster, whose options the space
    leaves alone}) with `trials` finished trials, on `series` (for compare, the data before its first
    test period: the search never sees what is scored). `on_trial(backbone, number, state, value,
    finished)` hears of each trial this process finishes; `finished` counts the study's, from every
    process. `time_limit`: seconds per trial's watched run (compare --budget seconds:S)."""
    from tsgate.parallel import run_tasks
    from tsgate.space import default_space, first_trial

    check_trials(trials)
    space = default_space(match) if space is None else space
    with storage_for(storage) as url:
        searches = searches_for(series, templates, trials, space, url, study, match, time_limit)
        for search in searches:
            create_study(search.storage, search.study, search.seed, fingerprint(series, search.params, space, match),
                         first_trial(space, search.params))
        while True:
            todo, waiting = [], False
            for search in searches:
                current = open_study(search.storage, search.study, search.seed)
                fail_stale(current)
                left = search.trials - counted(current)
                todo.append([search] * max(left, 0))
                waiting |= left <= 0 and len(trials_of(current, *finished_states())) < search.trials
            if any(todo):
                run_tasks(run_trial, interleave(todo), jobs, on_trial and (lambda index, *event: on_trial(*event)))
            elif waiting:  # other processes run the last trials: their results decide the winner
                time.sleep(WAIT_SECONDS)
            else:
                return {search.backbone: result_of(search) for search in searches}


def interleave(lists: list[list]) -> list:
    """Round robin over the lists, so each backbone's trials are spread over the run."""
    return [item for row in zip(*[lst + [None] * (max(map(len, lists)) - len(lst)) for lst in lists])
            for item in row if item is not None]


def result_of(search: Search) -> TuningResult:
    from optuna.trial import TrialState

    study = open_study(search.storage, search.study, search.seed)
    done = sorted(trials_of(study, *finished_states()), key=lambda trial: trial.number)
    complete = [trial for trial in done if trial.state == TrialState.COMPLETE]
    if not complete:
        raise TrainingError(f"every one of the {len(done)} {search.backbone} trials was pruned or diverged: widen the "
                            "search space (--space), lower its learning rates, or give more --tune trials")
    best = min(complete, key=lambda trial: (trial.value, trial.number))
    values = np.array([trial.value for trial in complete])
    low, median, high = np.percentile(values, [25, 50, 75])
    records = [{"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
                "config": trial.user_attrs.get("config"), "seconds": trial.user_attrs.get("seconds")} for trial in done]
    return TuningResult(search.backbone, search.study, dict(best.user_attrs["config"]), float(best.value), len(complete),
                        len(done) - len(complete), len(trials_of(study, TrialState.FAIL)), float(median),
                        float(high - low), float(sum(record["seconds"] or 0.0 for record in records)), records)


def tuned_templates(templates: dict, results: dict[str, TuningResult]) -> dict:
    """{backbone: its template with the best trial's configuration}."""
    return {backbone: templates[backbone].with_params(**result.best) for backbone, result in results.items()}


# ---- what the commands ask for ----------------------------------------------------------------------


@dataclass(frozen=True)
class TuningRequest:
    """--tune, --space, --storage and --study, checked before any data is read."""

    trials: int
    space: dict
    storage: str | None
    study: str | None
    match: str = "hidden"

    def settings(self) -> dict:
        """The search as a comparison's settings record it (the storage without its password)."""
        from tsgate.space import describe_space

        return {"trials": self.trials, "space": describe_space(self.space), "match": self.match,
                "storage": self.storage and shown_url(self.storage), "study": self.study, "scored_by": "val_mae"}


def tuning_request(trials, space_file=None, storage=None, study=None, match: str = "hidden") -> TuningRequest | None:
    """The search the options ask for, or None without --tune (refusing the other options alone)."""
    from tsgate.space import read_space

    if trials is None:
        given = [name for name, value in (("--space", space_file), ("--storage", storage), ("--study", study))
                 if value is not None]
        if given:
            raise OptionError(f"{given[0]} belongs to a hyperparameter search: add --tune N (trials per backbone)")
        return None
    check_trials(trials)
    space = read_space(space_file, match)
    check_storage(storage, study)
    return TuningRequest(trials, space, storage, study, match)


def tune_forecaster(series, template, request: TuningRequest, jobs: int = 1, on_trial=None,
                    time_limit: float | None = None):
    """(an unfitted Forecaster with the best configuration, the search's summary) for train --tune.
    With backbone auto, every backbone is tuned and the one whose best trial validated best wins.
    `template` is sized as train's controls say; `time_limit` is --budget seconds:S, for each trial too."""
    from tsgate.config import BACKBONE_NAMES

    backbones = BACKBONE_NAMES if template.backbone == "auto" else (template.backbone,)
    results = tune(series, {name: template.with_params(backbone=name) for name in backbones}, request.trials,
                   request.space, request.storage, request.study, jobs, on_trial, request.match, time_limit)
    winner = min(results.values(), key=lambda result: result.best_value)
    summary = winner.summary()
    if len(results) > 1:
        summary["best_val_mae"] = {backbone: result.best_value for backbone, result in results.items()}
    return template.with_params(backbone=winner.backbone, **winner.best), summary


def tune_comparison(series, template, options, request: TuningRequest, jobs: int = 1, on_trial=None):
    """({backbone: its tuned Forecaster} for run_comparison's templates, {backbone: TuningResult}) for
    compare --tune. The search sees only the data before every fold's test period, and each backbone's
    trials start from the template the size and budget controls give it."""
    from tsgate.compare import check_folds
    from tsgate.controls import backbone_templates, parse_budget

    if "auto" in options.models:
        raise OptionError("--tune tunes each backbone on its own: leave auto out of --models (rnn,gru,lstm)")
    check_folds(series, template, options.folds)
    data = series.drop_last(options.folds * template.horizon)
    budget = parse_budget(options.budget)
    templates, _ = backbone_templates(data, template, options.models, options.match, options.params, budget)
    results = tune(data, templates, request.trials, request.space, request.storage, request.study, jobs, on_trial,
                   request.match, budget.seconds)
    return tuned_templates(templates, results), results
