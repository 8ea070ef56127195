"""Real `python -m tsgate` processes: their environment, starting one that says when training is
under way, and waiting on conditions with a deadline rather than for a length of time."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probed_tsgate.py")
# How often wait_until looks at its condition. The deadline bounds a wait, and only a failing test
# reaches it; a passing one waits as long as the condition takes to become true.
POLL_SECONDS = 0.05


def subprocess_env(**extra: str) -> dict:
    """This process's environment, with this checkout's tsgate first on the path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path]), "PYTHONUNBUFFERED": "1", **extra}


def default_sigint() -> None:
    """Run a child as a terminal would: background jobs of a non-interactive shell inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_probed(when: str, args, cwd) -> tuple[subprocess.Popen, int]:
    """`python -m tsgate ARGS` with tests/helpers/probed_tsgate.py's probe `when` ("step" or
    "progress"); returns the process and the pipe end to hand to wait_until_under_way."""
    read, write = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, str(PROBE), str(write), when, *map(str, args)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(),
                                 cwd=cwd, pass_fds=(write,), preexec_fn=default_sigint)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)  # the child holds the only write end: its exit ends the pipe
    return child, read


def wait_until_under_way(child: subprocess.Popen, read: int, seconds: float = 180) -> None:
    """Block until the probe says training is under way; fail clearly when the process ends first
    or the deadline passes (generous: a first C++ kernel build may take a while)."""
    try:
        ready, _, _ = select.select([read], [], [], seconds)
        said = os.read(read, 64) if ready else None
    finally:
        os.close(read)
    if said is None:
        pytest.fail(f"training was not under way within {seconds} s")
    if not said:
        _, stderr = child.communicate(timeout=60)
        pytest.fail(f"the process ended before training was under way: exit {child.returncode}\n{stderr}")


def wait_until(condition: Callable[[], bool], seconds: float, failure: str) -> None:
    """Return as soon as condition() is true; fail with `failure` if it is still false after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{failure} (waited {seconds} s)")
        time.sleep(POLL_SECONDS)


def stop(child: subprocess.Popen) -> None:
    """Kill `child` if it still runs, and reap it (for a test's `finally`)."""
    if child.poll() is None:
        child.kill()
        child.communicate()
