"""`python -m tsgate ARGS` exactly, plus one probe that writes a line to file descriptor FD, once,
when training is under way, so that a test can signal mid-training without guessing at timings.

    python probed_tsgate.py FD WHEN ARGS...

WHEN is "step": this process starts its second optimizer step (the first one, and anything built
on the way, is done); or "progress": a worker's first progress message reaches this process.
"""

import os
import runpy
import sys

fd, when = int(sys.argv[1]), sys.argv[2]
sys.argv = ["tsgate", *sys.argv[3:]]


def under_way() -> None:
    global fd
    if fd is not None:
        os.write(fd, b"under way\n")
        os.close(fd)
        fd = None


if when == "step":
    import tsgate.train as training

    original_step = training.train_step
    steps_started = 0

    def train_step(*args, **kwargs):
        global steps_started
        steps_started += 1
        if steps_started == 2:
            under_way()
        return original_step(*args, **kwargs)

    training.train_step = train_step
elif when == "progress":
    import tsgate.parallel as parallel

    original_pass_on = parallel.pass_on_progress

    def pass_on_progress(messages, on_progress, wait=True):
        def seen(*message):
            under_way()
            if on_progress:
                on_progress(*message)

        return original_pass_on(messages, seen, wait)

    parallel.pass_on_progress = pass_on_progress
else:
    sys.exit(f"probed_tsgate.py: unknown WHEN {when!r}")

runpy.run_module("tsgate", run_name="__main__", alter_sys=True)
