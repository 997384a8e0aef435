"""A run's quality measurements as a trainer callback: every `eval_every` steps the record of
that step gets the `m_` fields of gan_core.metrics.evaluate_generator (the one evaluation the
command line, the sweeps and the shipped figures use too).

The judge is loaded once per run, on the training thread, the first time it is needed; the
reference statistics once per judge, data and code version (gan_core.kept: in the
worker's memory and on disk). A dataset with no judge gives no metrics and a note that says why
(`trainer.eval_note`). With a `cadence` (gan_core.cadence: the app's workers give one) an
evaluation due every `eval_every` steps is put off while the evaluations' time would pass its
share of the training time; without one (the command line, the sweeps) none is skipped.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Optional

from . import kept, metrics
from .cadence import Cadence
from .data import Dataset, DatasetError
from .datasets import has_heldout_part
from .shape import load_for

SKIPPED = ("num_classes", "num_modes", "eval_n", "eval_seed", "reference_n", "class_histogram",
           "evaluator_version")


class Evaluation:
    def __init__(self, cadence: Optional[Cadence] = None):
        self._judge = None        # (judge, reference stats) once loaded; False when none exists
        self.cadence = cadence

    def on_step(self, trainer, record: dict[str, Any]) -> None:
        every, step = trainer.config.eval_every, trainer.step
        if not every:
            return
        if self.cadence is None:
            if step % every == 0:
                record.update(self.measure(trainer))
            return
        if self.cadence.due(step, every, trainer.elapsed, side=id(trainer)):
            t0 = time.perf_counter()
            record.update(self.measure(trainer))
            self.cadence.spent(time.perf_counter() - t0, step, every, trainer.elapsed,
                               side=id(trainer))

    def next_step(self, trainer) -> Optional[int]:
        """The step of the next evaluation as planned now; None when there is none to come."""
        every = trainer.config.eval_every
        if not every or self._judge is False:
            return None
        if self.cadence is None:
            return trainer.step - trainer.step % every + every
        return self.cadence.planned(trainer.step, every)

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
            self._judge = (judge, kept.reference_stats(judge, config.dataset,
                                                       trainer.spec.image_size, reference, train))
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
