"""What one training step records, and the history table made of those records.

The trainer appends one record per step; the command line, the saved runs, the sweeps and the
Train page's download all write the same columns through `history_csv`.
"""
from __future__ import annotations

from typing import Any

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
