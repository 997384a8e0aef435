"""Step-by-step mode for image runs (MNIST and every image set): the trainer's own updates, one
at a time (no Streamlit here).

    s = ImageStepper(config)            # a Trainer of its own, on the CPU
    s.next_update                       # "D" or "G": what the trainer's recipe does next
    report = s.step()                   # that one update: ImageReport(before, after, numbers)
    s.fast_forward(50)                  # 50 more training steps without pictures

Every update is Trainer.d_update or Trainer.g_update, called in the order Trainer.run calls
them (D, then its G updates when due: d_steps_per_g_step, g_steps_per_d_step), on the batches
and random streams Trainer.run would use: the same optimisers, clipping, EMA, clusters,
augmentation, label tricks and penalties. So n clicks give exactly the weights of the training
steps they make up (tests/test_image_stepper.py checks it parameter by parameter).

A `Picture` is what the page shows at one moment: G's samples from the fixed noise and a fixed
row of real images, each with D's verdict. They are taken with G and D in evaluation mode and
with the global random state put back, so looking never changes the run. G itself is shown,
not its EMA, so a G step visibly moves the samples.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field, replace
from typing import Optional

import torch

from .checkpoint import load_trainer_state
from .config import TrainConfig
from .data import Dataset
from .datasets import in_words, is_points_dataset, point_sets
from .images import from_uint8, to_uint8
from .records import DTurn
from .stepper import d_formula, g_formula
from .trainer import Trainer

N_REAL = 8          # real images in the row under the samples
N_BATCH = 8         # images of the update's own batch shown with their loss terms


@dataclass
class Picture:
    label: str                          # e.g. "before D update 3"
    samples: torch.Tensor               # (N, C, H, W) uint8: G on the fixed noise
    d_fake: torch.Tensor                # (N,) D's verdict on each (probability or raw score)
    real: torch.Tensor                  # (N_REAL, C, H, W) uint8: fixed real images
    d_real: torch.Tensor                # (N_REAL,)
    g_terms: torch.Tensor               # (N,) G's loss term of each sample as D sees it now


@dataclass
class ImageReport:
    who: str                            # "D" or "G"
    number: int                         # 1st, 2nd, ... update of that player in this mode
    before: Picture
    after: Picture
    latex: str                          # the loss of this update with its batch's numbers
    value: float
    batch: int
    batch_images: dict = field(default_factory=dict)    # "real"/"fake": (N_BATCH, C, H, W) uint8
    batch_terms: dict = field(default_factory=dict)     # the same images' loss terms
    term_latex: dict = field(default_factory=dict)      # each term's formula, per sample
    d_kind: str = "probability"


def _d_kind(loss) -> str:
    return "score" if loss.spec.raw_scores else "probability"


class ImageStepper:
    """An image GAN that moves only when told, through its own Trainer's update functions.

    generator: a state dict for G (a shipped model, whose file holds G only): G and its EMA
    start from it, D and both optimisers start fresh, as in any new run.
    state: a run's full checkpoint (gan_core.checkpoint.read_checkpoint of a paused or finished
    run's file): G, D, EMA, both optimisers and the counters go on from it, as a resumed run
    does; the batches start again at the beginning of its epoch (a checkpoint does not keep the
    place within an epoch).
    """

    def __init__(self, config: TrainConfig, dataset: Optional[Dataset] = None,
                 generator: Optional[dict] = None, state: Optional[dict] = None):
        if is_points_dataset(config.dataset):
            raise ValueError(f"{config.dataset!r} is a 2-D set: gan_core.stepper.Stepper steps "
                             f"it (image step by step is for the image sets, not "
                             f"{in_words(point_sets())})")
        # the CPU: the page process must not hold a GPU, and the models are small
        self.config = replace(config, device="cpu").validate()
        outer = torch.get_rng_state()
        try:
            self.trainer = Trainer(self.config, dataset)
            if generator is not None:
                self.trainer.G.load_state_dict(generator)
                if self.trainer.G_ema is not None:
                    self.trainer.G_ema.load_state_dict(generator)
            if state is not None:
                load_trainer_state(self.trainer, state, "the run's checkpoint")
            self.start_step = self.trainer.step
            self._batches, self._streams = self.trainer.enter_epoch()
            self._rng = torch.get_rng_state()       # the run's own dropout/label randomness
        finally:
            torch.set_rng_state(outer)
        self._turn: Optional[DTurn] = None
        self._g_left = 0                            # G updates still due in this step
        self.d_steps = self.g_steps = 0
        tr = self.trainer
        self.z, self.z_labels = tr.fixed_noise, tr.fixed_labels
        self.real_idx = _real_row(tr.dataset)
        self.real_labels = (tr.dataset.labels[self.real_idx] if self.config.conditional
                            and tr.dataset.labels is not None else None)

    @property
    def next_update(self) -> str:
        return "G" if self._g_left else "D"

    @property
    def steps(self) -> int:
        """Complete training steps (D and the G updates due after it) so far."""
        return self.trainer.step

    # -- the updates: the trainer's own ------------------------------------------------------
    @contextlib.contextmanager
    def _own_rng(self):
        """The run's global random state (dropout, labels) swapped in around an update, so
        whatever else this process draws between two clicks does not change the run."""
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng)
        try:
            yield
        finally:
            self._rng = torch.get_rng_state()
            torch.set_rng_state(outer)

    def _next_batch(self):
        tr = self.trainer
        for _ in range(2):
            batch = next(self._batches, None)
            if batch is not None:
                return batch
            tr.epoch += 1                           # Trainer.run: one pass is an epoch
            self._batches, self._streams = tr.enter_epoch()
        raise ValueError("the dataset gives no batch")

    def _d(self) -> DTurn:
        tr, cfg = self.trainer, self.config
        g_due = (tr.d_updates + 1) % cfg.d_steps_per_g_step == 0
        real, labels = self._next_batch()
        self._turn = tr.d_update(real, labels, self._streams, keep_graph=g_due)
        self.d_steps += 1
        self._g_left = cfg.g_steps_per_d_step if g_due else 0
        if not self._g_left:
            tr.step += 1
        return self._turn

    def _g(self) -> DTurn:
        tr, cfg = self.trainer, self.config
        i = cfg.g_steps_per_d_step - self._g_left
        tr.g_update(self._turn, i)
        self.g_steps += 1
        self._g_left -= 1
        if not self._g_left:
            tr.step += 1
        return self._turn

    def update(self) -> DTurn:
        """The next update in the trainer's order, without pictures."""
        with self._own_rng():
            return self._d() if self.next_update == "D" else self._g()

    def fast_forward(self, steps: int) -> None:
        """`steps` whole training steps (the one under way finished first), without pictures."""
        if not 1 <= steps <= 10_000:
            raise ValueError(f"steps must be from 1 to 10000; got {steps}")
        target = self.steps + steps
        while self.steps < target:
            self.update()

    # -- what the page shows ------------------------------------------------------------------
    @torch.no_grad()
    def picture(self, label: str = "") -> Picture:
        """G's fixed-noise samples and the real row, with D's verdicts: both players as they
        train (batch norm on these very images), their buffers put back and dropout masks
        fixed afterwards, so a picture depends on the weights alone and changes nothing."""
        tr = self.trainer
        loss = tr.loss
        with _looking(tr.G, tr.D) as (G, D):
            samples = G(self.z, self.z_labels).float()
            real = from_uint8(tr.dataset.data[self.real_idx]).to(tr.device)
            real_labels = self.real_labels
            if real_labels is None and tr.spec.clusters:
                real_labels = D.cluster_of(real)
            fake_logits = D(samples, self.z_labels).float()
            real_logits = D(real, real_labels).float()
        return Picture(label, to_uint8(samples.cpu()), loss.shown(fake_logits).cpu(),
                       tr.dataset.data[self.real_idx], loss.shown(real_logits).cpu(),
                       loss.g_terms(fake_logits).cpu())

    def step(self) -> ImageReport:
        """The next update (D or G, in the trainer's order), with pictures before and after."""
        who = self.next_update
        n = (self.d_steps if who == "D" else self.g_steps) + 1
        before = self.picture(f"before {who} update {n}")
        turn = self.update()
        after = self.picture(f"after {who} update {n}")
        tr, cfg, k = self.trainer, self.config, N_BATCH
        if who == "D":
            pen = turn.penalties
            latex, value = d_formula(
                tr.loss, turn.real_logits, turn.fake_logits,
                float(pen["gp"]) if "gp" in pen else None, cfg.gp_weight, turn.target,
                float(pen["r1"]) if "r1" in pen else None, cfg.r1_gamma or 0.0)
            target = turn.target[:k] if torch.is_tensor(turn.target) else turn.target
            real_t, fake_t = tr.loss.d_terms(turn.real_logits[:k], turn.fake_logits[:k], target)
            images = dict(real=to_uint8(turn.real[:k].detach().float().cpu()),
                          fake=to_uint8(turn.fake[:k].detach().float().cpu()))
            terms = dict(real=real_t.cpu(), fake=fake_t.cpu())
            formulas = dict(real=term_latex(tr.loss, tr.loss.spec.mean_d[0]),
                            fake=term_latex(tr.loss, tr.loss.spec.mean_d[1]))
        else:
            latex, value = g_formula(tr.loss, turn.g_logits)
            images = dict(fake=to_uint8(turn.fake[:k].detach().float().cpu()))
            terms = dict(fake=tr.loss.g_terms(turn.g_logits[:k]).cpu())
            formulas = dict(fake=term_latex(tr.loss, tr.loss.spec.mean_g))
        return ImageReport(who, n, before, after, latex, value, len(turn.real), images, terms,
                           formulas, _d_kind(tr.loss))


@contextlib.contextmanager
def _looking(*modules: torch.nn.Module):
    """Copies of the modules in train mode, for forward passes that leave no trace on the run:
    batch-norm statistics and spectral norm's vectors move in the copies only (the originals'
    may be saved for G's pending backward), and dropout draws from a seeded, restored state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield tuple(copy.deepcopy(m).train() for m in modules)


def term_latex(loss, mean_text: str) -> str:
    """One sample's term from a batch mean as LossSpec writes it: the overline (the mean over
    the batch) taken off, the loss's parameters filled in: -\\overline{\\log D(x)} -> -\\log D(x)."""
    out, i, mark = "", 0, r"\overline{"
    while (j := mean_text.find(mark, i)) >= 0:
        depth, k = 1, j + len(mark)
        while depth and k < len(mean_text):
            depth += {"{": 1, "}": -1}.get(mean_text[k], 0)
            k += 1
        out += mean_text[i:j] + mean_text[j + len(mark):k - 1]
        i = k
    return loss.latex(out + mean_text[i:])


def _real_row(dataset: Dataset) -> torch.Tensor:
    """Indices of N_REAL real images: one of each of the first classes when labelled."""
    labels = dataset.labels
    if labels is None:
        return torch.arange(min(N_REAL, len(dataset)))
    picked = [int((labels == c).nonzero()[0]) for c in labels.unique().tolist()[:N_REAL]]
    rest = [i for i in range(len(dataset)) if i not in picked][:N_REAL - len(picked)]
    return torch.tensor(sorted(picked) + rest)


def difference(before: torch.Tensor, after: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(after - before per pixel, averaged over colour channels, in [-1, 1]; the largest
    change in grey levels of 255): positive where a sample got brighter (ink added on MNIST's
    black background), negative where it got darker."""
    delta = (after.float() - before.float()).mean(1) / 255.0          # (N, H, W)
    return delta, float(delta.abs().max()) * 255.0
