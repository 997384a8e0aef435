"""What one training step records, and the history table made of those records.

The trainer appends one record per step; the command line, the saved runs, the sweeps and the
Train page's download all write the same columns through `history_csv`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from .files import csv_text
from .losses import LOSSES

# d_real and d_fake are D's mean output on real and fake samples: a probability for losses on
# logits, a raw score for losses on raw scores (d_output_kind says which for a record's loss).
# d_loss is the game's loss alone; d_penalty the gradient or R1 penalty added to it for D's
# update (0 without one), so that log_lg_ld = log(g_loss / d_loss) reads the game.
HISTORY_FIELDS = ("step", "epoch", "time_s", "images_per_s", "d_loss", "g_loss", "d_real",
                  "d_fake", "log_lg_ld", "d_grad_norm", "g_grad_norm", "loss",
                  "g_steps_per_d_step", "d_steps_per_g_step", "lr_g", "lr_d", "d_penalty",
                  "label_smoothing")
# Present in the records of steps where the trainer evaluated (eval_every).
METRIC_FIELDS = ("m_confident_share", "m_classes_covered", "m_class_kl", "m_judge_fd",
                 "m_memorisation", "m_mifid", "m_class_accuracy", "m_modes_covered",
                 "m_high_quality_share")


def d_output_kind(loss: str) -> str:
    """What d_real/d_fake hold for a loss: 'probability' (sigmoid of a logit) or 'score'."""
    return "score" if LOSSES[loss].raw_scores else "probability"


def history_columns(history: list[dict[str, Any]]) -> tuple[str, ...]:
    """The columns of a history table: every step's fields, then the metrics that were measured."""
    return HISTORY_FIELDS + tuple(k for k in METRIC_FIELDS if any(k in r for r in history))


def history_csv(history: list[dict[str, Any]]) -> str:
    """A training history as CSV: every step's fields, then the quality metrics measured."""
    return csv_text(history, history_columns(history))


@dataclass
class DTurn:
    """One update of D as Trainer.d_update made it, and what G's updates after it reuse."""
    real: torch.Tensor
    labels: Optional[torch.Tensor]          # the real batch's classes or clusters, if any
    target: Any                             # the real target: 1, smoothed, or flipped per sample
    real_logits: torch.Tensor               # D's outputs before its update (detached, fp32)
    fake_logits: torch.Tensor
    d_loss: torch.Tensor
    d_penalty: torch.Tensor
    d_norm: torch.Tensor
    fake: torch.Tensor                      # G(z), with its graph when G is updated next
    fake_y: Optional[torch.Tensor]
    new_fakes: Callable                     # fresh (z, labels) from the step's noise stream
    aug: Callable                           # the step's augmentation
    penalties: dict = field(default_factory=dict)   # "gp", "r1": unweighted, detached
    g_logits: Optional[torch.Tensor] = None     # D's outputs in G's last update


def step_record(cfg, loss, turn: DTurn, last_g: tuple) -> dict[str, Any]:
    """The history record of one step: its D update and G's last (loss, gradient norm).

    d_real/d_fake: D's mean probability of "real" for losses on logits; for losses on raw
    scores (hinge, WGAN-GP, LSGAN) the sigmoid of a score is no probability, so the mean raw
    score is recorded instead (see d_output_kind). One host sync for the whole record."""
    g_loss_v, g_norm_v = last_g
    dev = turn.d_loss.device
    values = torch.stack([turn.d_loss, loss.shown(turn.real_logits).mean(),
                          loss.shown(turn.fake_logits).mean(), turn.d_norm,
                          torch.as_tensor(g_loss_v, device=dev).float(), turn.d_penalty,
                          torch.as_tensor(g_norm_v, device=dev).float()]).tolist()
    d_l, d_real, d_fake, d_n, g_l, d_pen, g_n = values
    return dict(d_loss=d_l, d_penalty=d_pen, g_loss=g_l, d_real=d_real, d_fake=d_fake,
                log_lg_ld=math.log(g_l / d_l) if g_l > 0 and d_l > 0 else float("nan"),
                d_grad_norm=d_n, g_grad_norm=g_n, loss=cfg.loss,
                g_steps_per_d_step=cfg.g_steps_per_d_step, label_smoothing=cfg.label_smoothing,
                d_steps_per_g_step=cfg.d_steps_per_g_step, lr_g=cfg.lr_g, lr_d=cfg.lr_d)
