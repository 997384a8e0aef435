"""A run on disk: the one way a finished (or stopped) training run is written to a folder.

    FOLDER/checkpoint.pt   the full state (gan_core.checkpoint), resumable; or with
                           generator_only, G alone (to sample and explore, not to resume)
    FOLDER/history.csv     one row per step (gan_core.records.history_csv)
    FOLDER/samples.png     the last grid of samples from the fixed noise (or the 2-D cloud)

The command line writes its --out folder with it and the app its saved runs.
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint import save_checkpoint, strip_to_generator, write_history
from .files import atomic_write_bytes
from .images import save_png, snapshot_image


def save_run(trainer, folder: str | Path, samples_name: str = "samples.png",
             generator_only: bool = False) -> Path:
    """Write `trainer`'s checkpoint, history and last samples into `folder`.

    `trainer` is a Trainer, or a job's view of one trained in a worker (anything with
    `checkpoint_bytes()`: the worker's last checkpoint is copied, not rebuilt here).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hasattr(trainer, "checkpoint_bytes"):
        data = trainer.checkpoint_bytes()
        if data:
            atomic_write_bytes(folder / "checkpoint.pt", data)
            if generator_only:
                strip_to_generator(folder / "checkpoint.pt")
    else:
        save_checkpoint(trainer, folder / "checkpoint.pt", generator_only=generator_only)
    write_history(trainer, folder / "history.csv")
    if trainer.snapshots:
        real = trainer.dataset.data[:1000] if trainer.dataset.is_points else None
        save_png(snapshot_image(trainer.snapshots[-1].samples, real), folder / samples_name)
    return folder
