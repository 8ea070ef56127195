"""Independent tasks on worker processes, one torch thread each, with progress and a clean interrupt.

compare's fits and an ensemble's members train independently; on a machine with
several cores they run side by side (`--jobs`). Each task runs the same code with
the same seeds as in the main process, so results do not depend on `--jobs`.

Workers come from a fork server that has imported torch once (spawn where there is
no fork server), so each costs a fork, not a second of imports. They ignore Ctrl-C:
the main process takes it, terminates them and exits; nothing is written by a worker.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence

from tsgate.errors import OptionError, TrainingError

# What the fork server imports once, so that workers start with torch and tsgate's
# training code loaded.
PRELOAD = ["tsgate.ensemble"]
POLL_SECONDS = 0.1  # how often the main process looks at progress messages and results
ORPHAN_CHECK_SECONDS = 1.0  # how often a worker checks that its parent is still there

_progress_queue = None  # in a worker: where `report` sends progress messages


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_jobs(jobs: int | None) -> int:
    """The number of worker processes asked for; None means one per usable core."""
    if jobs is None:
        return usable_cores()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs!r}")
    return jobs


def run_tasks(function: Callable, tasks: Sequence, jobs: int, on_progress: Callable | None = None) -> list:
    """[function(task, report) for task in tasks], on up to `jobs` worker processes.

    `function` must be importable by name (workers look it up) and `report(*payload)` may
    be called by it any number of times: the main process passes each call on as
    on_progress(task_index, *payload). Results come back in task order; the first task
    that raises ends the whole run with its exception.
    """
    if jobs <= 1 or len(tasks) <= 1:
        return [function(task, forwarder(on_progress, index)) for index, task in enumerate(tasks)]
    context = worker_context()
    messages = context.Queue()
    pool = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context, initializer=start_worker,
                               initargs=(messages, os.getpid()))
    finished = False
    try:
        pending = [pool.submit(run_one, function, index, task) for index, task in enumerate(tasks)]
        while not all(future.done() for future in pending):
            pass_on_progress(messages, on_progress)
            failed = next((f for f in pending if f.done() and f.exception() is not None), None)
            if failed is not None:
                failed.result()  # raise the first error now, not after the other tasks
        pass_on_progress(messages, on_progress, wait=False)
        results = [future.result() for future in pending]
        finished = True
        return results
    except BrokenProcessPool as exc:
        raise TrainingError("a worker process died (out of memory, or killed): rerun with --jobs 1 to see why") from exc
    finally:
        if not finished:  # an error or Ctrl-C: stop the workers now rather than after their tasks
            stop_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        messages.close()


def stop_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor gained terminate_workers() in Python 3.14; before, its processes are
    # only reachable through the private _processes mapping.
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def start_early(jobs: int) -> None:
    """Start the fork server now (when there will be workers), so that its imports run on another
    core while this process reads the data, not after."""
    if jobs > 1 and worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def worker_context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def start_worker(messages, main_pid: int) -> None:
    """A worker's set-up: Ctrl-C is the main process's to handle; one torch thread; exit when orphaned."""
    global _progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _progress_queue = messages
    if os.name == "posix":  # signal 0 probes a process on POSIX only
        threading.Thread(target=exit_when_orphaned, args=(main_pid,), daemon=True).start()
    from tsgate.train import configure_torch

    configure_torch(1)


def exit_when_orphaned(main_pid: int) -> None:
    """A main process killed outright (SIGKILL) cannot stop its workers, and the fork server
    outlives it while they run; so each worker checks that the main process is still there."""
    while True:
        time.sleep(ORPHAN_CHECK_SECONDS)
        try:
            os.kill(main_pid, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its number reused by someone else's
            os._exit(1)


def run_one(function: Callable, index: int, task):
    return function(task, lambda *payload: _progress_queue.put((index, *payload)))


def forwarder(on_progress: Callable | None, index: int) -> Callable:
    return (lambda *payload: on_progress(index, *payload)) if on_progress else (lambda *payload: None)


def pass_on_progress(messages, on_progress: Callable | None, wait: bool = True) -> None:
    """Hand every queued progress message to on_progress; wait up to POLL_SECONDS for the first."""
    try:
        message = messages.get(timeout=POLL_SECONDS) if wait else messages.get_nowait()
        while True:
            if on_progress:
                on_progress(*message)
            message = messages.get_nowait()
    except queue.Empty:
        return
