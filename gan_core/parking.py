"""A paused run's exact place within its epoch: what a checkpoint lacks to go on mid-epoch as if
it had never stopped.

A checkpoint (gan_core.checkpoint) holds the weights, optimisers, EMA, counters and records;
every random stream is reseeded at each epoch, so a run resumed from a checkpoint taken at the
end of an epoch continues exactly. A run paused mid-epoch has consumed part of its epoch: the
batches already trained, and some of each random stream. When a class server parks a paused
run (gan_core.jobs: its worker is ended to free the memory) it keeps, beside the checkpoint,
its `rest_state`: how many batches of the epoch are done, the global torch generator's state
(dropout, labels) and each of the epoch's streams (noise, flips, penalty, augment). A trainer
built from the checkpoint with `resume_point` set to it skips those batches and restores those
states when its loop enters the epoch (`epoch_batches`), so the weights after park and resume
are those of the run without the pause, step for step.

The state is plain data (tensors of bytes and ints), read back with torch.load(weights_only).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import torch


def rest_state(trainer) -> dict[str, Any]:
    """Where a trainer that rests between two steps (paused) is within its epoch."""
    streams = getattr(trainer, "epoch_streams", None)
    if streams is None:
        raise ValueError("the trainer has not entered an epoch yet")
    return {"step": trainer.step, "epoch": trainer.epoch,
            "batch": trainer.step - trainer.epoch_start,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if trainer.device.type == "cuda" else [],
            "streams": {k: g.get_state() for k, g in streams.items()}}


def epoch_batches(trainer, order: torch.Generator,
                  streams: dict[str, torch.Generator]) -> Iterator:
    """The batches of the epoch the trainer's loop enters, from where a parked run rested.

    Called once per epoch by Trainer.run, after it has seeded the epoch's randomness: without a
    `resume_point` (or past its epoch) these are all the epoch's batches; with one, the trained
    ones are skipped and the random states restored as they were at the rest."""
    trainer.epoch_streams = streams
    point: dict | None = trainer.resume_point
    trainer.resume_point = None
    skip = 0
    if point is not None:
        if (int(point["step"]), int(point["epoch"])) != (trainer.step, trainer.epoch):
            raise ValueError(f"the parked state is of step {point['step']}, epoch "
                             f"{point['epoch']}, but the checkpoint of step {trainer.step}, "
                             f"epoch {trainer.epoch}")
        skip = int(point["batch"])
        torch.set_rng_state(point["rng"])
        if point["cuda_rng"]:
            torch.cuda.set_rng_state_all(point["cuda_rng"])
        for name, state in point["streams"].items():
            streams[name].set_state(state)
    trainer.epoch_start = trainer.step - skip
    batches = trainer.dataset.batches(trainer.config.batch_size, trainer.device, order)
    return itertools.islice(batches, skip, None)


def epoch_streams(seed: int, epoch: int, device) -> dict[str, torch.Generator]:
    """One random generator per use, reseeded every epoch (so resuming is exact).

    Separate streams keep paired runs paired: switching label flipping on (or a gradient
    penalty) draws from its own stream, so every z of the run is the same as without it.
    """
    def make(s: int) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(s)
    return dict(noise=make(seed + 31 * epoch),                      # z and fake labels
                flips=make(seed * 1_000_033 + 7 * epoch + 17),      # label flipping
                penalty=make(seed * 999_983 + 13 * epoch + 29),     # WGAN-GP's mixing
                augment=make(seed * 999_979 + 11 * epoch + 41))     # DiffAugment
