"""Step-by-step mode for 2-D runs: one D update or one G update at a time (no Streamlit here).

    s = Stepper(config)          # a Trainer of its own, on this thread, for the ring or grid
    report = s.d_step()          # one update of D: StepReport(before, after, numbers, latex)
    report = s.g_step()          # one update of G, on the very points the student sees
    s.fast_forward(100)          # 100 (D, G) pairs without pictures

A `Frame` is what the 2-D view shows at one moment: the generated points (from the same fixed
noise every time), D's map, G's mesh and the gradient of G's loss at each point. A D step moves
only D's weights (the map changes, the points stay); a G step moves only G's (the points move,
roughly along their arrows). The report carries the loss of that update with its numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import torch

from .config import TrainConfig
from .datasets import in_words, is_points_dataset, point_sets
from .losses import Loss, gradient_penalty
from .probes import manifold, sample_gradients
from .sampling import discriminator_map
from .trainer import Trainer

N_SHOWN = 256           # generated points in the picture, and G's batch in a G step
MAP_RES = 60


@dataclass
class Frame:
    label: str                          # e.g. "before D step 3"
    samples: torch.Tensor               # (N, 2)
    d_map: tuple[torch.Tensor, torch.Tensor]
    mesh: torch.Tensor
    grads: torch.Tensor                 # (N, 2) d(G's loss)/d(sample)
    d_out: torch.Tensor                 # (N,) D's output on each point


@dataclass
class StepReport:
    who: str                            # "D" or "G"
    number: int                         # 1st, 2nd, ... update of that player in this mode
    before: Frame
    after: Frame
    numbers: dict = field(default_factory=dict)
    latex: str = ""                     # the loss of this update with its numbers filled in
    latex_after: str = ""


def _f(x: float) -> str:
    return f"{x:.3f}"


def _signed(text: str) -> str:
    """A term joined to what comes before it: `+ x`, or `- x` for a term that starts with -."""
    return f"- {text[1:]}" if text.startswith("-") else f"+ {text}"


def _num(x: float, first: bool = False) -> str:
    return _f(x) if first else (f"- {_f(-x)}" if x < 0 else f"+ {_f(x)}")


def d_formula(loss: Loss, real: torch.Tensor, fake: torch.Tensor,
              penalty: Optional[float] = None, weight: float = 0.0, target=1.0,
              r1: Optional[float] = None, r1_gamma: float = 0.0) -> tuple[str, float]:
    """(LaTeX of D's loss on this batch with its numbers, its value): the loss's own batch-mean
    terms (LossSpec.mean_d) with the means of its own per-sample terms (Loss.d_terms), against
    the real target the trainer used, plus the R1 penalty when the recipe has one."""
    spec = loss.spec
    r, f = (t.mean().item() for t in loss.d_terms(real, fake, target))
    head = f"L_D = {spec.mean_d[0]} {_signed(spec.mean_d[1])}"
    body = f"= {_num(r, True)} {_num(f)}"
    total = r + f
    if spec.gradient_penalty:
        gp = penalty if penalty is not None else 0.0
        head += r" + \lambda\,GP"
        body += rf" + {weight:g} \times {_f(gp)}"
        total += weight * gp
    head = loss.latex(head)     # the loss's own symbols (gamma) filled in, not R1's
    if r1 is not None:
        head += r" + \gamma_{R1}\,R_1"
        body += rf" + {r1_gamma:g} \times {_f(r1)}"
        total += r1_gamma * r1
    return rf"{head} {body} = \mathbf{{{_f(total)}}}", total


def g_formula(loss: Loss, fake: torch.Tensor) -> tuple[str, float]:
    """(LaTeX of G's loss on these samples with its value, the value)."""
    value = float(loss.g(fake))
    return rf"{loss.latex('L_G = ' + loss.spec.mean_g)} = \mathbf{{{_f(value)}}}", value


class Stepper:
    """A 2-D GAN that moves only when told: one D update or one G update per call.

    It trains its own Trainer built from `config` (batch norm is not in the 2-D MLP; the EMA is
    switched off so the picture shows G itself, and so is the R1 penalty, which the formulas on
    screen do not have). The real batch of each D step is drawn from a seeded stream; G steps use
    the N_SHOWN points on screen as their batch.
    """

    def __init__(self, config: TrainConfig, n_shown: int = N_SHOWN):
        if not is_points_dataset(config.dataset):
            raise ValueError(f"step-by-step mode is for the 2-D sets {in_words(point_sets())}; "
                             f"{config.dataset!r} is an image dataset")
        # the CPU: a 2-D MLP is tiny, and the page process must not hold a GPU
        self.config = replace(config, ema_decay=None, label_flip=0.0, r1_gamma=None,
                              device="cpu").validate()
        self.trainer = Trainer(self.config)
        tr = self.trainer
        self.z = tr.fixed_noise[:n_shown]
        self._batches = torch.Generator().manual_seed(self.config.seed * 7 + 11)
        self._penalty = torch.Generator().manual_seed(self.config.seed * 7 + 13)
        self.d_steps = self.g_steps = 0
        self.extent = tr.points_extent
        self.real_shown = tr.dataset.data[:1000]

    @property
    def G(self):
        return self.trainer.G

    @property
    def D(self):
        return self.trainer.D

    def frame(self, label: str = "") -> Frame:
        tr = self.trainer
        with torch.no_grad():
            samples = self.G(self.z).float()
        grads, logits = sample_gradients(self.D, tr.loss, samples)
        return Frame(label, samples, discriminator_map(self.D, self.extent, MAP_RES),
                     manifold(self.G, self.config.latent_dim), grads, tr.loss.shown(logits))

    def _real(self) -> torch.Tensor:
        data = self.trainer.dataset.data
        idx = torch.randint(len(data), (self.config.batch_size,), generator=self._batches)
        return data[idx].float()

    def _d_update(self, real: torch.Tensor, fake: torch.Tensor):
        tr, cfg = self.trainer, self.config
        real_logits, fake_logits = self.D(real).float(), self.D(fake).float()
        loss = tr.loss.d(real_logits, fake_logits, 1.0 - cfg.label_smoothing)
        penalty = None
        if tr.loss.spec.gradient_penalty:
            penalty = gradient_penalty(self.D, real, fake, generator=self._penalty)
            loss = loss + cfg.gp_weight * penalty
        tr.apply_update(loss, self.D.parameters(), tr.opt_d, "D")
        return real_logits.detach(), fake_logits.detach(), penalty

    def _g_update(self, z: torch.Tensor):
        tr = self.trainer
        self.D.requires_grad_(False)
        try:
            logits = self.D(self.G(z)).float()
            tr.apply_update(tr.loss.g(logits), self.G.parameters(), tr.opt_g, "G")
        finally:
            self.D.requires_grad_(True)
        return logits.detach()

    def d_step(self) -> StepReport:
        """One update of D on a real batch and the generated points on screen."""
        cfg, tr = self.config, self.trainer
        before = self.frame(f"before D step {self.d_steps + 1}")
        real, fake = self._real(), before.samples[:cfg.batch_size]
        real_l, fake_l, penalty = self._d_update(real, fake)
        self.d_steps += 1
        after = self.frame(f"after D step {self.d_steps}")
        with torch.no_grad():
            real_a, fake_a = self.D(real).float(), self.D(fake).float()
        gp = float(penalty.detach()) if penalty is not None else None
        latex, value = d_formula(tr.loss, real_l, fake_l, gp, cfg.gp_weight)
        latex_a, value_a = d_formula(tr.loss, real_a, fake_a, gp, cfg.gp_weight)
        numbers = dict(d_real=tr.loss.shown(real_l).mean().item(),
                       d_fake=tr.loss.shown(fake_l).mean().item(),
                       loss_before=value, loss_after=value_a, batch=len(real))
        return StepReport("D", self.d_steps, before, after, numbers, latex, latex_a)

    def g_step(self) -> StepReport:
        """One update of G, with the points on screen as its batch."""
        tr = self.trainer
        before = self.frame(f"before G step {self.g_steps + 1}")
        logits = self._g_update(self.z)
        self.g_steps += 1
        after = self.frame(f"after G step {self.g_steps}")
        with torch.no_grad():
            logits_a = self.D(self.G(self.z)).float()
        latex, value = g_formula(tr.loss, logits)
        latex_a, value_a = g_formula(tr.loss, logits_a)
        numbers = dict(d_fake=tr.loss.shown(logits).mean().item(), loss_before=value, loss_after=value_a,
                       batch=len(self.z),
                       moved=(after.samples - before.samples).norm(dim=1).mean().item())
        return StepReport("G", self.g_steps, before, after, numbers, latex, latex_a)

    def fast_forward(self, pairs: int) -> None:
        """`pairs` D updates each followed by a G update, without pictures."""
        if not 1 <= pairs <= 10_000:
            raise ValueError(f"pairs must be from 1 to 10000; got {pairs}")
        for _ in range(pairs):
            with torch.no_grad():
                fake = self.G(self.z[:self.config.batch_size]).float()
            self._d_update(self._real(), fake)
            self._g_update(self.z)
            self.d_steps += 1
            self.g_steps += 1
