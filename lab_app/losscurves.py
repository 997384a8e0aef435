"""The Loss lab's curves: each generator loss and its gradient against p = D(G(z)) (no Streamlit).

Everything is computed from the real loss functions in `gan_core.losses`, never from re-typed
formulas, so a new loss in the registry gets its curves for free. For each p on a grid in (0, 1)
the discriminator's score (logit) is l = log(p / (1 - p)), the generator's loss for one sample is
`Loss.g_terms(l)`, and torch autograd gives two gradients:

- `grad`: d(loss)/dp, the slope of the loss curve as drawn;
- `grad_score`: d(loss)/dl, the signal that actually flows back through D's score into G's
  weights (chain rule: d(loss)/dl = d(loss)/dp * p (1 - p)). This is the one that vanishes when
  the minimax loss saturates.

Hinge, Wasserstein and least-squares losses act on raw scores, not probabilities; they are put on
the same axis by reading the score as l = logit(p), i.e. p = sigmoid(score).
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Optional

import torch

from gan_core.losses import LOSSES, Loss, LossSpec, balance_point

P_MIN, P_MAX = 0.005, 0.995     # the open interval (0, 1), short of where logs blow up


class LossCurve(NamedTuple):
    """One loss on a grid of p = D(G(z)): the G loss per sample and its two gradients."""
    p: list[float]
    loss: list[float]
    grad: list[float]           # d(loss)/dp
    grad_score: list[float]     # d(loss)/d(score), score = logit(p)


def p_grid(n: int = 200, p_min: float = P_MIN, p_max: float = P_MAX) -> torch.Tensor:
    """n points evenly spaced in [p_min, p_max], float64 so the ends stay accurate."""
    return torch.linspace(p_min, p_max, n, dtype=torch.float64)


# Losses whose D outputs a raw score rather than a probability (no sigmoid in the loss). A new
# loss of that kind belongs here, so the Loss lab says how its x-axis is to be read.
RAW_SCORE_LOSSES = frozenset(k for k, v in LOSSES.items() if v.raw_scores)


def uses_raw_scores(name: str) -> bool:
    """True for losses that act on D's raw score rather than on a probability."""
    return name in RAW_SCORE_LOSSES


def g_loss_curve(spec: LossSpec, gamma: float = 2.0, n: int = 200) -> LossCurve:
    """The generator loss of `spec`, one sample at a time, and its gradients, on a p grid."""
    p = p_grid(n).requires_grad_(True)                       # (n,)
    score = torch.log(p) - torch.log1p(-p)                    # (n,) logit(p)
    score.retain_grad()
    loss = Loss(spec, {**spec.defaults(), "gamma": gamma} if spec.uses_gamma else spec.defaults())
    per_sample = loss.g_terms(score)                          # (n,) the loss of each sample
    # Each loss depends on its own p only, so the gradient of the sum is the per-sample gradient.
    per_sample.sum().backward()
    return LossCurve(p=p.detach().tolist(), loss=per_sample.detach().tolist(),
                     grad=p.grad.tolist(), grad_score=score.grad.tolist())


def g_loss_curves(gamma: float = 2.0, n: int = 200,
                  losses: Optional[Mapping[str, LossSpec]] = None) -> dict[str, LossCurve]:
    """{loss name: LossCurve} for every registered loss (or those in `losses`)."""
    specs = LOSSES if losses is None else losses
    return {name: g_loss_curve(spec, gamma=gamma, n=n) for name, spec in specs.items()}


def value_at(curve: LossCurve, p: float, what: str = "grad") -> float:
    """The value of `what` ('loss', 'grad' or 'grad_score') at the grid point nearest to p."""
    i = min(range(len(curve.p)), key=lambda j: abs(curve.p[j] - p))
    return getattr(curve, what)[i]


def coinciding(curves: Mapping[str, LossCurve], what: str = "loss",
               tol: float = 1e-9) -> list[tuple[str, str]]:
    """Pairs of losses whose `what` curves are the same (e.g. hinge and WGAN give G -score)."""
    names = list(curves)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ya, yb = getattr(curves[a], what), getattr(curves[b], what)
            if len(ya) == len(yb) and all(abs(u - v) <= tol * (1 + abs(u)) for u, v in zip(ya, yb)):
                pairs.append((a, b))
    return pairs


class ChartReading(NamedTuple):
    """How the Train page's charts read one loss: its balance line and what D(x) shows."""
    loss: str
    balance: Optional[float]    # log(L_G / L_D) at the equilibrium; None: undefined
    balance_why: str            # where that number comes from (the loss functions at D = 1/2)
    d_output: str               # what the D(x) / D(G(z)) chart draws for this loss


def chart_readings(gamma: float = 2.0) -> list[ChartReading]:
    """One row per registered loss, computed by gan_core.losses.balance_point."""
    rows = []
    for name, spec in LOSSES.items():
        b = balance_point(name, gamma)
        if spec.raw_scores:
            lines = ", ".join(text for _, text in spec.score_lines)
            what = f"D's mean raw score (not a probability); reference lines {lines}"
        else:
            what = "D's mean probability of real, sigmoid(logit); 0.5: D cannot tell"
        rows.append(ChartReading(name, b.log_ratio, b.why, what))
    return rows
