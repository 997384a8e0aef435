"""Differentiable augmentation for the discriminator's inputs (Zhao et al. 2020, "DiffAugment").

With few training images D memorises them and stops teaching G. DiffAugment shows D every image,
real and generated alike, randomly translated and with a square cut out; since the same
differentiable operations are applied to G's samples, G's gradient flows through them and G is
not taught to draw the augmentations. Written for this lab from the paper's description.

    augment(x, "translation,cutout", generator)    # (B, C, H, W) -> (B, C, H, W)
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout")


def parse_policy(policy: Optional[str]) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); '' or None -> (); unknown names raise."""
    names = tuple(p.strip() for p in (policy or "").split(",") if p.strip())
    bad = [n for n in names if n not in POLICIES]
    if bad:
        raise ValueError(f"augment must be a comma-separated list of {', '.join(POLICIES)}; "
                         f"got {policy!r}")
    return names


def translation(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio x its size in x and y, filling with the background (-1)."""
    b, _, h, w = x.shape                                                   # (B, C, H, W)
    sh, sw = max(int(h * ratio + 0.5), 1), max(int(w * ratio + 0.5), 1)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device, generator=generator)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device, generator=generator)
    # out[i, j] = x[i - dy, j - dx]; sources outside the image read the -1 border of a padded
    # copy. A gather, so the gradient flows back to the pixels that moved.
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy              # (B, H, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx              # (B, 1, W)
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)                             # (B, C, H+2, W+2)
    r = (rows.clamp(-1, h) + 1).expand(b, h, w)
    c = (cols.clamp(-1, w) + 1).expand(b, h, w)
    flat = (r * (w + 2) + c).reshape(b, 1, h * w).expand(-1, x.shape[1], -1)   # (B, C, HW)
    return padded.flatten(2).gather(2, flat).view_as(x)


def cutout(x: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Set a square of ratio x the image size, at a random place, to the background (-1)."""
    b, _, h, w = x.shape
    ch, cw = max(int(h * ratio + 0.5), 1), max(int(w * ratio + 0.5), 1)
    # The square's centre may sit anywhere, so near an edge only part of it is inside.
    top = torch.randint(0, h, (b, 1, 1), device=x.device, generator=generator) - ch // 2
    left = torch.randint(0, w, (b, 1, 1), device=x.device, generator=generator) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # (B, H, W)
    return torch.where(hole.unsqueeze(1), torch.full_like(x, -1.0), x)


OPS = {"translation": translation, "cutout": cutout}


def augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply each named op in turn; images only (2-D points pass through unchanged)."""
    if not policy or x.dim() != 4:
        return x
    for name in policy:
        x = OPS[name](x, generator)
    return x
