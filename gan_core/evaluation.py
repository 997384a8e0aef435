"""A run's quality measurements as a trainer callback: every `eval_every` steps the record of
that step gets the `m_` fields of gan_core.metrics.evaluate_generator (the one evaluation the
command line, the sweeps and the shipped figures use too).

The judge and the reference statistics are loaded once per run, on the training thread, the
first time they are needed; a dataset with no judge gives no metrics and a note that says why
(`trainer.eval_note`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from . import metrics
from .data import Dataset, DatasetError
from .datasets import has_heldout_part
from .shape import load_for

SKIPPED = ("num_classes", "num_modes", "eval_n", "eval_seed", "reference_n", "class_histogram",
           "evaluator_version")


class Evaluation:
    def __init__(self):
        self._judge = None        # (judge, reference stats) once loaded; False when none exists

    def on_step(self, trainer, record: dict[str, Any]) -> None:
        every = trainer.config.eval_every
        if every and trainer.step % every == 0:
            record.update(self.measure(trainer))

    def measure(self, trainer) -> dict[str, Any]:
        """Quality metrics now: eval_samples samples with the fixed seed, against reference
        statistics of the dataset's whole held-out part at G's own size (images G never trains
        on), and the memorisation distance to its whole training part. {} when no judge exists
        for the data."""
        config = trainer.config
        if self._judge is None and not trainer.dataset.is_points:
            try:
                judge = metrics.load_judge(config.dataset)
            except ValueError as e:
                self._judge, trainer.eval_note = False, str(e)
                return {}
            train, reference = whole_training_data(trainer), reference_data(config)
            if reference is None:            # no held-out part: the set is its own reference
                reference, train = train, None
            self._judge = (judge, metrics.reference_stats(judge, config.dataset,
                                                          trainer.spec.image_size, reference,
                                                          train_data=train))
        if self._judge is False:
            return {}
        judge, reference = self._judge if self._judge else (None, None)
        G = trainer.sample_G                 # what the run shows: the EMA of G when on
        was_training = G.training
        try:
            out = metrics.evaluate_generator(G, config.dataset, n=config.eval_samples,
                                             seed=metrics.EVAL_SEED, judge=judge,
                                             reference=reference)
        finally:
            G.train(was_training)
        return {f"m_{k}": v for k, v in out.items() if k not in SKIPPED}


def reference_data(config) -> Optional[Dataset]:
    """The images quality is measured against: the dataset's held-out part, which a run never
    trains on (MNIST's test split alone: its 2,000 held-out digits), whole even when training
    on a subset, so every run is measured alike. None for a dataset with no held-out part
    (fer2013, folders), and where the held-out part cannot be read from disk: the training data
    is then its own reference."""
    if not has_heldout_part(config.dataset):
        return None
    try:
        return load_for(replace(config, subset=None, download=False), part="reference")
    except (DatasetError, ValueError, OSError):
        return None


def whole_training_data(trainer) -> Dataset:
    """The whole training part, even when training on a subset (the memorisation distance is
    taken to it)."""
    if trainer.config.subset is None:
        return trainer.dataset
    try:
        return load_for(replace(trainer.config, subset=None))
    except (DatasetError, ValueError, OSError):
        return trainer.dataset
