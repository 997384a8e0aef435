"""A per-run budget: how big a model and how long a run a shared server allows.

One slow run must not hold a training slot for hours. A `RunBudget` says, as pure functions
that a job calls (gan_core.jobs), whether a run may start (`check_size`: G and D's parameters,
counted with their initialisers skipped, so no weight is filled) and whether a running one must stop
(`verdict`): past its training time, or, after a warm-up, so slow that it would need far more
than its time to finish. Each refusal says what to change. The app sets the numbers from the
server's settings (lab_app.limits); the command line has no budget.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch.overrides import TorchFunctionMode

from .models import ModelSpec, build_models, count_parameters

SMALLER = "fewer epochs, a smaller depth or latent size, or the classroom model"


# What a model's constructor calls to fill its weights. The count skips them: the weights stay
# as torch.empty left them, on the CPU, and their memory is never touched (a 28-million-parameter
# model counts in 2 ms without growing the process). The meta device was used before; there torch
# runs normal_, and a division on the cluster path, through Python references that import
# torch._dynamo first: 1.3 CPU s that the server paid on its first Start, between the click and
# the worker's first step. (Spectral norm's power iteration still runs on the empty weights.)
_INITIALISERS = frozenset(
    [getattr(torch.nn.init, name) for name in dir(torch.nn.init)
     if name.endswith("_") and not name.startswith("_")]
    + [getattr(torch.Tensor, name) for name in (
        "normal_", "uniform_", "zero_", "fill_", "bernoulli_", "exponential_",
        "geometric_", "log_normal_", "cauchy_", "random_") if hasattr(torch.Tensor, name)])


class _SkipInit(TorchFunctionMode):
    """Leaves tensors as they are instead of filling them: only their shapes are counted."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _INITIALISERS:                   # torch.nn.init passes the tensor by name
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


def parameter_count(spec: ModelSpec) -> int:
    """G's and D's parameters together, without filling their weights."""
    with _SkipInit():
        G, D = build_models(spec)
    return count_parameters(G) + count_parameters(D)


@dataclass(frozen=True)
class RunBudget:
    max_seconds: Optional[float] = 30 * 60    # training time of one run (None: no limit)
    max_params: Optional[int] = 8_000_000      # G + D parameters of one side (None: no limit)
    warmup_s: float = 30.0                     # speed is judged after this much training
    slack: float = 1.5                         # a run may be this much slower than its budget

    def check_size(self, specs: Sequence[ModelSpec]) -> Optional[str]:
        """Why these models are too large for this server, or None."""
        if self.max_params is None:
            return None
        for spec in specs:
            n = parameter_count(spec)
            if n > self.max_params:
                return (f"This model has {n / 1e6:.1f} million parameters; this server trains "
                        f"at most {self.max_params / 1e6:g} million per run (a checkpoint of "
                        f"about {n * 16 / 2**20:,.0f} MB). Choose a smaller depth or latent "
                        f"size, or the classroom model")
        return None

    def verdict(self, elapsed: float, step: int, total_steps: int,
                batch_size: int) -> Optional[str]:
        """Why a run with these numbers must stop now, or None to let it go on."""
        if self.max_seconds is None:
            return None
        minutes = f"{self.max_seconds / 60:g} minutes"
        if elapsed >= self.max_seconds:
            return (f"it reached this server's limit of {minutes} of training per run; its "
                    f"last checkpoint is kept. For a longer run, train from the command line")
        if elapsed < self.warmup_s or step <= 0:
            return None
        need = elapsed / step * total_steps              # seconds for the whole run
        if need <= self.slack * self.max_seconds:
            return None
        rate = step * batch_size / elapsed
        floor = total_steps * batch_size / (self.slack * self.max_seconds)
        return (f"at {rate:,.1f} images/s it would need about {need / 60:,.0f} minutes, and "
                f"this server allows {minutes} per run (it needs at least {floor:,.1f} "
                f"images/s); try {SMALLER}")
