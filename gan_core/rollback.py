"""Undoing a training step that diverged, so the run keeps the weights of its last good step.

D is updated before G, so a G loss that turns NaN would otherwise leave D one update ahead;
forward passes in train mode also move batch-norm statistics. `save(trainer)` copies, before a
step: D and its optimiser, G's buffers, G with its optimiser when G takes several updates a step,
the EMA of G and the update counters; `restore(trainer, saved)` puts them back.
"""
from __future__ import annotations

from typing import Any

import torch


def _clone(state: dict) -> dict:
    return {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in state.items()}


def _clone_optimiser(opt: torch.optim.Optimizer) -> dict:
    state = opt.state_dict()
    return {"state": {i: _clone(s) for i, s in state["state"].items()},
            "param_groups": state["param_groups"]}


def save(trainer) -> dict[str, Any]:
    saved = dict(D=_clone(trainer.D.state_dict()), opt_d=_clone_optimiser(trainer.opt_d),
                 G_buffers=_clone(dict(trainer.G.named_buffers())),
                 counters=(trainer.g_updates, trainer.d_updates, trainer.last_g))
    if trainer.config.g_steps_per_d_step > 1:
        saved.update(G=_clone(trainer.G.state_dict()), opt_g=_clone_optimiser(trainer.opt_g))
    if trainer.G_ema is not None:
        saved.update(G_ema=_clone(trainer.G_ema.state_dict()))
    return saved


def restore(trainer, saved: dict[str, Any]) -> None:
    trainer.D.load_state_dict(saved["D"])
    trainer.opt_d.load_state_dict(saved["opt_d"])
    if "G" in saved:
        trainer.G.load_state_dict(saved["G"])
        trainer.opt_g.load_state_dict(saved["opt_g"])
    else:
        trainer.G.load_state_dict(saved["G_buffers"], strict=False)
    if "G_ema" in saved:
        trainer.G_ema.load_state_dict(saved["G_ema"])
    trainer.g_updates, trainer.d_updates, trainer.last_g = saved["counters"]
