"""The optimizer step: global-norm gradient clipping, then Adam, over one flat copy of the gradients.

Why not torch.optim.Adam and nn.utils.clip_grad_norm_ (the project writes by hand only
what no dependency does well; the arithmetic here is exactly theirs):

- cost per step: on CPU they loop over the parameter tensors in Python, about 0.6 ms
  per step for these small networks (Adam 0.5 ms, clipping 0.1 ms), while a whole
  RNN training step on a batch of 128 windows takes 2-4 ms. Here every update is
  one pass over one flat vector: 0.05-0.1 ms (benchmarks/README.md#every-epoch);
- start-up: torch.optim's step imports torch._dynamo on its first call, about
  1 s per process (benchmarks/README.md#whole-commands): a third of a short `train`.

tests/test_optim.py checks that a run of steps gives the same weights as
torch.optim.Adam after nn.utils.clip_grad_norm_.
"""

from __future__ import annotations

import math

import torch


class ClippedAdam:
    """Adam (torch's defaults: betas 0.9 and 0.999, eps 1e-8, no weight decay) after clipping the
    gradients' global 2-norm to `max_norm`. Every parameter must have a gradient at each step."""

    def __init__(self, parameters, max_norm: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.sizes = [p.numel() for p in self.parameters]
        first = self.parameters[0]
        total = sum(self.sizes)
        self.grad = first.new_empty(total)  # the flat gradient, refilled each step
        self.exp_avg = first.new_zeros(total)
        self.exp_avg_sq = first.new_zeros(total)
        self.max_norm, self.betas, self.eps, self.steps = max_norm, betas, eps, 0

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        """One update with learning rate `lr`, from the gradients backward() left on the parameters."""
        grad = self.gather_grad()
        # As clip_grad_norm_: a factor of at most 1, kept a tensor so a GPU need not wait for it.
        grad.mul_((self.max_norm / (torch.linalg.vector_norm(grad) + 1e-6)).clamp_(max=1.0))
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1 ** self.steps)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** self.steps)).add_(self.eps)
        update = torch.div(self.exp_avg, denom).mul_(-step_size)
        for parameter, change in zip(self.parameters, update.split(self.sizes)):
            parameter.add_(change.view_as(parameter))

    def gather_grad(self) -> torch.Tensor:
        missing = [i for i, p in enumerate(self.parameters) if p.grad is None]
        if missing:
            raise RuntimeError(f"parameter {missing[0]} got no gradient; ClippedAdam updates every parameter")
        return torch.cat([p.grad.reshape(-1) for p in self.parameters], out=self.grad)
