"""A run as the pages see it while it trains in a worker: `RunView`, a Trainer's read side
(step, history, snapshots, markers, config, dataset facts) filled from the worker's events by
gan_core.jobs, with `update_settings`, `history_since` and `checkpoint_bytes`; `JobStatus`, the
job's one-line state; `DatasetInfo`, what the pages need of a dataset without its images.
"""
from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .checkpoint import load_checkpoint
from .config import LIVE_FIELDS, TrainConfig
from .shape import steps_per_epoch, total_steps
from .trainer import Snapshot
from .workers import Command


@dataclass
class JobStatus:
    state: str          # queued, running, paused, finished, stopped, failed
    message: str
    step: int
    total_steps: int
    seconds_left: Optional[float]
    images_per_s: Optional[float]
    queue_position: Optional[int] = None
    next_eval: Optional[int] = None     # the step of the next quality check, while training


@dataclass
class DatasetInfo:
    """What the pages need of a dataset, without its images (the worker has those)."""
    name: str
    note: str
    is_points: bool
    size: int
    class_names: list[str] = field(default_factory=list)
    num_classes: int = 0
    data: torch.Tensor = field(default_factory=lambda: torch.empty(0))   # 2-D sets: (<=1000, 2)

    def __len__(self) -> int:
        return self.size


class RunView:
    """One trainer of a job, as streamed back from its worker: a Trainer's read side."""

    def __init__(self, job: Any, side: int, config: TrainConfig, spec, dataset: DatasetInfo,
                 extent: float):
        self._job, self.side = weakref.ref(job), side
        self.config, self.spec, self.dataset, self.points_extent = config, spec, dataset, extent
        self.step = self.epoch = self.g_updates = self.d_updates = 0
        self.elapsed = 0.0
        self.state, self.reason, self.eval_note = "ready", "", ""
        self.next_eval: Optional[int] = None     # step of the next evaluation (the worker's plan)
        self.eval_share = self.views_share = 0.0     # their time over the training time
        self.history: list[dict[str, Any]] = []
        self.snapshots: list[Snapshot] = []
        self.markers: list[dict[str, Any]] = []
        self.checkpoint_step = 0                 # step of the last checkpoint the worker wrote
        self.checkpoint_path: Optional[Path] = None   # its copy on this machine
        self._generator: Optional[tuple[int, torch.nn.Module]] = None

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.dataset), self.config)

    @property
    def total_steps(self) -> int:
        return total_steps(len(self.dataset), self.config)

    def seconds_left(self) -> Optional[float]:
        if not self.step:
            return None
        return self.elapsed / self.step * max(self.total_steps - self.step, 0)

    def history_since(self, step: int) -> list[dict[str, Any]]:
        """Records of the steps after `step` (the history is in step order)."""
        keys = [r["step"] for r in self.history]
        return self.history[bisect.bisect_right(keys, step):]

    def update_settings(self, **changes) -> None:
        """Check live changes here (ValueError at once), then send them to the worker."""
        bad = sorted(set(changes) - set(LIVE_FIELDS))
        if bad:
            raise ValueError(f"cannot change {', '.join(bad)} while training; "
                             f"live settings are {', '.join(LIVE_FIELDS)}")
        self.config.with_updates(**changes)            # validates the combination
        job = self._job()
        if job is not None:
            job.send(Command.SETTINGS, self.side, changes)

    def checkpoint_bytes(self) -> Optional[bytes]:
        """The last checkpoint the worker wrote (None before the first)."""
        try:
            return self.checkpoint_path.read_bytes() if self.checkpoint_path else None
        except OSError:
            return None

    def generator(self) -> Optional[torch.nn.Module]:
        """G of the last checkpoint, on the CPU in eval mode (loaded once per checkpoint)."""
        if self.checkpoint_path is None:
            return None
        if self._generator is None or self._generator[0] != self.checkpoint_step:
            try:
                G = load_checkpoint(self.checkpoint_path, with_discriminator=False).G
            except (ValueError, OSError):
                return None
            self._generator = (self.checkpoint_step, G)
        return self._generator[1]

    @property
    def G(self) -> Optional[torch.nn.Module]:
        return self.generator()


def dataset_info(dataset) -> DatasetInfo:
    return DatasetInfo(dataset.name, dataset.note, dataset.is_points, len(dataset),
                       list(dataset.class_names), dataset.num_classes or 0,
                       dataset.data[:1000].clone() if dataset.is_points else torch.empty(0))
