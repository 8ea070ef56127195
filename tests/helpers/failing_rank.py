"""`tsgate` as torchrun runs it, except that rank 1's training steps fail: how one lost process looks."""

import os

from tsgate import train
from tsgate.cli import main
from tsgate.errors import TrainingError

if os.environ.get("RANK") == "1":
    def fail(*args, **kwargs):
        raise TrainingError("rank 1 failed on purpose")

    train.train_step = fail

main()
