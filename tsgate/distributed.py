"""Data-parallel training under torchrun: one model, every epoch's windows shared out among processes.

`torchrun --nproc-per-node N -m tsgate train DATA ...` starts N copies of the same command with
torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Each copy reads
the data, draws the same shuffled batches from the shared seed and trains on its own share of
each batch; PyTorch's DistributedDataParallel averages the gradients, so every process holds the
same weights after every step. Rank 0 alone checks the validation loss (and tells the others
whether to stop), shows progress and writes the model file. Without torchrun, or with a world of
one, nothing here is active and training is exactly the single-process one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from tsgate.errors import OptionError, TrainingError

# How long a process waits for the others at the rendezvous and at each collective step: long
# enough for a slow machine to load a big file, short enough that a lost peer is not a silent hang.
TIMEOUT = timedelta(minutes=10)
NEEDED = ("RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    size: int
    rank: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


_world: World | None = None  # set by start(); None: a single process


def requested(environ=os.environ) -> World | None:
    """The world torchrun describes in `environ`, or None for a single process (no WORLD_SIZE, or 1)."""
    try:
        size = int(environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise OptionError(f"WORLD_SIZE={environ['WORLD_SIZE']!r} is not a number: start tsgate with torchrun") from None
    if size <= 1:
        return None
    missing = [name for name in NEEDED if not environ.get(name)]
    if missing:
        raise OptionError(f"WORLD_SIZE is {size} but {', '.join(missing)} is not set: start the processes with "
                          "torchrun (e.g. torchrun --nproc-per-node 2 -m tsgate train DATA), which sets them all")
    try:
        return World(size, int(environ["RANK"]), int(environ.get("LOCAL_RANK", environ["RANK"])))
    except ValueError:
        raise OptionError("RANK or LOCAL_RANK is not a number: start the processes with torchrun") from None


def start(device_type: str) -> World | None:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA); None without torchrun."""
    global _world
    world = requested()
    if world is None or _world is not None:
        return _world
    import torch
    import torch.distributed as dist

    if device_type == "mps":
        raise OptionError("torchrun training runs on CPU (gloo) or CUDA GPUs (nccl), not on MPS: pass --device cpu")
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)  # "cuda" means this process's own GPU from here on
    try:
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=TIMEOUT)
    except (RuntimeError, ValueError, OSError) as exc:
        raise TrainingError(f"cannot join the torchrun process group at {os.environ['MASTER_ADDR']}:"
                            f"{os.environ['MASTER_PORT']} ({first_line(exc)})") from exc
    _world = world
    return world


def current() -> World | None:
    return _world


def is_main() -> bool:
    """True in a single process and on rank 0: the process that validates, prints and writes."""
    return _world is None or _world.main


def stop() -> None:
    global _world
    if _world is not None:
        import torch.distributed as dist

        dist.destroy_process_group()
        _world = None


@contextmanager
def failures_as_errors():
    """A collective that fails because another process died is one TrainingError line, not a traceback."""
    try:
        yield
    except RuntimeError as exc:
        if _world is None:
            raise
        raise TrainingError(f"training stopped on rank {_world.rank} of {_world.size}: another torchrun process failed "
                            f"or was lost ({first_line(exc)})") from exc


def share(batch):
    """This process's share of a global batch of window starts: every size-th one from its rank on.
    A share can be empty at the end of an epoch; then it is one window that counts zero."""
    if _world is None:
        return batch, 1.0
    mine = batch[_world.rank::_world.size].contiguous()
    if len(mine) == 0:
        return batch[:1], 0.0
    # DDP averages gradients over processes; scaling by size * n / N makes the average the
    # gradient of the global batch's mean loss, as one process would compute it.
    return mine, _world.size * len(mine) / len(batch)


def wrap(module):
    """`module` as DistributedDataParallel in a torchrun world, else itself."""
    if _world is None:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def from_main(value: float, device) -> float:
    """Rank 0's `value` on every process (the others pass anything)."""
    if _world is None:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def total(value: float, device) -> float:
    """The sum of `value` over all processes."""
    if _world is None:
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def first_line(exc: BaseException) -> str:
    """The first sentence of an error (gloo's run on over several, with advice for its own developers)."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(exc).__name__
