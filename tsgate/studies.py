"""Optuna studies as tsgate keeps them: storages every process can open, a fingerprint of what a
study was made for, which running trials are alive, and the pruner.

A storage is an Optuna RDB URL (sqlite:///study.db, postgresql://...) or a journal file path; without
--storage, a temporary journal file, so that worker processes can open the study too. Optuna's own
heartbeat covers RDB storages inside study.optimize only, so liveness is kept here for every storage:
each running trial records its owner (host and process) and a heartbeat; a trial whose process is
gone (known at once on the same host) or silent for STALE_SECONDS is marked failed and asked again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager

import numpy as np

from tsgate.errors import OptionError

HEARTBEAT_SECONDS = 10  # how often a running trial says it is alive
# A running trial of another machine not heard from for this long is taken as lost and run again
# (on this machine, a trial whose process is gone is known to be lost at once).
STALE_SECONDS = 120
STARTUP_TRIALS = 5  # completed trials of the same loss before the pruner stops any trial
HOST = socket.gethostname()
# Options that do not change a trial: the trials fit one network without refit on any device.
NOT_IN_FINGERPRINT = ("ensemble", "refit", "device", "threads")


# ---- storage --------------------------------------------------------------------------------------


def is_database_url(url: str) -> bool:
    return "://" in url


def shown_url(url: str) -> str:
    """The URL without a password, for messages and settings."""
    import re

    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


@functools.lru_cache(maxsize=4)
def open_storage(url: str):
    """The Optuna storage at `url`, opened once per process (a journal file is replayed on opening)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    quiet_optuna()
    try:
        if is_database_url(url):
            return database_storage(url)
        return JournalStorage(JournalFileBackend(url))
    except Exception as exc:  # noqa: BLE001 - drivers, sockets and files fail in many ways, each one line here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"--storage {shown_url(url)} cannot be opened ({type(exc).__name__}: {reason}): give "
                          "sqlite:///FILE.db, a reachable postgresql:// URL, or a journal file in an existing folder") from None


def database_storage(url: str, attempts: int = 3):
    """RDBStorage(url), tried again after a moment: processes started together all create the tables,
    and all but the first then fail on the ones it made."""
    import optuna

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except Exception:  # noqa: BLE001 - the last attempt's error is the one reported
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


def check_storage(url: str | None, study: str | None) -> None:
    """Open --storage now (before any data is read), and refuse --study without it."""
    if study is not None and url is None:
        raise OptionError("--study names a study in --storage: give --storage too (sqlite:///study.db or a journal file)")
    if study is not None and not study.strip():
        raise OptionError("--study is empty: give the study a name, such as --study air")
    if url is not None:
        open_storage(url)


@contextmanager
def storage_for(url: str | None):
    """`url`, or a temporary journal file (removed afterwards) that worker processes can open."""
    if url is not None:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="tsgate-tune-")
    try:
        yield os.path.join(folder, "journal.log")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def quiet_optuna() -> None:
    """Optuna logs every trial on stderr; only the CLI speaks to people."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


# ---- studies --------------------------------------------------------------------------------------


def fingerprint(series, params: dict, space: dict, match: str) -> str:
    """A hash of the data (values, ids, timestamps, columns) and of every option that changes a trial."""
    from tsgate.space import describe_space

    digest = hashlib.sha256()
    for part in (np.ascontiguousarray(series.flat, dtype=np.float64), np.asarray(series.offsets, dtype=np.int64),
                 np.asarray(series.first.asi8, dtype=np.int64)):
        digest.update(part.tobytes())
    options = {key: value for key, value in params.items() if key not in NOT_IN_FINGERPRINT}
    described = {"ids": list(series.ids), "targets": list(series.targets), "freq": series.freq, "options": options,
                 "space": describe_space(space), "match": match}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def sampler(seed: int, number: int | None = None):
    """A TPE sampler whose draws depend on (seed, trial number) alone, so that processes started at
    once do not all propose the same trials, and trial k of every backbone starts from the same draw."""
    import optuna

    entropy = [seed % 2**32] + ([] if number is None else [number])
    return optuna.samplers.TPESampler(seed=int(np.random.SeedSequence(entropy).generate_state(1)[0]),
                                      multivariate=True)


def open_study(url: str, name: str, seed: int):
    """The study `name` in the storage at `url`, with the pruner and a sampler seeded by `seed`."""
    import optuna

    return optuna.load_study(study_name=name, storage=open_storage(url), sampler=sampler(seed),
                             pruner=SameLossMedianPruner())


def create_study(url: str, name: str, seed: int, mark: str, first: dict | None = None) -> None:
    """Create the study, its first trial to be `first` (params), or join it when its fingerprint is
    `mark`; refuse one made for other data or options."""
    import optuna

    storage = open_storage(url)
    try:  # joining writes nothing: a process that finds the study complete leaves the storage as it was
        storage.get_study_id_from_name(name)
        study = open_study(url, name, seed)
    except KeyError:
        study = optuna.create_study(study_name=name, storage=storage, direction="minimize", load_if_exists=True)
        if first is not None:  # skipped when a process that created it at the same moment enqueued it already
            study.enqueue_trial(first, skip_if_exists=True)
    if "fingerprint" not in study.user_attrs:
        study.set_user_attr("fingerprint", mark)
    if study.user_attrs["fingerprint"] != mark:
        raise OptionError(f"the study {name} in --storage {shown_url(url)} was tuned on other data or "
                          "other options: give another --study name, or the data and options it was made with")


def trials_of(study, *states):
    return [trial for trial in study.get_trials(deepcopy=False) if not states or trial.state in states]


def counted(study, before: int | None = None) -> int:
    """Trials that count towards N: finished, or running in a live process (numbered below `before`)."""
    from optuna.trial import TrialState

    return sum(1 for trial in trials_of(study, TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
               if (before is None or trial.number < before) and not (trial.state == TrialState.RUNNING and is_stale(trial)))


# ---- liveness -------------------------------------------------------------------------------------


def owner() -> str:
    return f"{HOST}:{os.getpid()}"


def is_stale(trial) -> bool:
    """Whether a running trial's process is gone: known at once on this machine, else by a silent heartbeat."""
    host, _, pid = str(trial.user_attrs.get("owner", "")).rpartition(":")
    if host == HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, and someone else's
            return False
        return False
    last = trial.user_attrs.get("heartbeat") or trial.datetime_start.timestamp()
    return time.time() - last > STALE_SECONDS


def fail_stale(study) -> None:
    """Mark the running trials of dead processes failed, so that their places are asked again."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    for trial in trials_of(study, TrialState.RUNNING):
        if is_stale(trial):
            try:
                study._storage.set_trial_user_attr(trial._trial_id, "lost", "its process stopped")
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:  # another process got there first
                pass


@contextmanager
def heartbeat(storage, trial_id: int):
    """Record that this trial is alive every HEARTBEAT_SECONDS while the block runs."""
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                storage.set_trial_user_attr(trial_id, "heartbeat", time.time())
            except Exception:  # noqa: BLE001 - finished by another process that took it as lost: stop beating
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# ---- the pruner -----------------------------------------------------------------------------------


class SameLossMedianPruner:
    """Stop a trial whose best validation loss so far is worse than the median of what the completed
    trials trained on the same loss had reached by the same step. Validation losses are in the units
    of their loss (MAE, Huber, MSE), so only trials of one loss are comparable; and trials check at
    steps that depend on their batch size, so each is compared at its best up to that step."""

    def prune(self, study, trial) -> bool:
        from optuna.trial import TrialState

        step, values = trial.last_step, trial.intermediate_values
        if step is None or len(values) < 2:  # never at the first check
            return False
        loss = trial.params.get("loss")
        reached = [min((v for s, v in other.intermediate_values.items() if s <= step), default=None)
                   for other in trials_of(study, TrialState.COMPLETE) if other.params.get("loss") == loss]
        reached = [value for value in reached if value is not None]
        if len(reached) < STARTUP_TRIALS:
            return False
        return min(values.values()) > float(np.median(reached))


def finished_states():
    from optuna.trial import TrialState

    return TrialState.COMPLETE, TrialState.PRUNED
