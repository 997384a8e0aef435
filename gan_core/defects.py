"""Real digits made to look like a struggling generator's: what the judge learns to notice.

A classifier trained only to name digits learns to ignore what does not change the name: a gap
in a stroke, grain, a stray speck. Its features then score broken digits like clean ones (the
FLGAN paper model at epoch 8 against the classroom model: docs/judge-agreement.md). The judge
therefore also learns to tell clean real digits from these copies of them (gan_core.judge), so
that its features, and the Frechet distance taken on them, move when strokes break.

  grain     noise on the strokes and, fainter, on the background (the paper model's speckle)
  breaks    small squares of stroke erased (gaps, broken loops)
  specks    small bright dots near the digit (stray blobs)
  smudge    a blur mixed into the strokes (smudged loops)
  wobble    a fine random displacement of the pixels (jagged, wavering strokes)
  fade      the ink's brightness varied across the digit (uneven, faded strokes)

Each image gets at least one defect, at a random strength; images are (N, 1, H, W) in [-1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, 1, 1, 1, generator=g)


def grain(x: torch.Tensor, g: torch.Generator, strength: tuple = (0.1, 0.35)) -> torch.Tensor:
    ink = (x + 1) / 2                                             # (N, 1, H, W) in [0, 1]
    amp = _uniform(len(x), *strength, g)
    noise = torch.randn(x.shape, generator=g) * amp * (0.25 + ink)
    return (x + 2 * noise).clamp(-1, 1)


def _square_masks(centres: torch.Tensor, size: torch.Tensor, keep: torch.Tensor, h: int,
                  w: int) -> torch.Tensor:
    """(N, K) centre indices (flat, into h*w), half-sizes and which to draw -> (N, 1, h, w)."""
    ys, xs = centres // w, centres % w                            # (N, K)
    row = torch.arange(h).view(1, 1, h, 1)
    col = torch.arange(w).view(1, 1, 1, w)
    ys, xs, size, keep = (t.view(*t.shape, 1, 1) for t in (ys, xs, size, keep))  # (N, K, 1, 1)
    inside = ((row - ys).abs() <= size) & ((col - xs).abs() <= size) & keep  # (N, K, h, w)
    return inside.any(1, keepdim=True)


def _pick(weights: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k flat pixel indices per image, drawn in proportion to weights (N, H*W)."""
    return torch.multinomial(weights + 1e-6, k, replacement=True, generator=g)


def breaks(x: torch.Tensor, g: torch.Generator, k: int = 3) -> torch.Tensor:
    n, _, h, w = x.shape
    ink = ((x + 1) / 2).flatten(1)
    centres = _pick(ink ** 2, k, g)
    size = torch.randint(0, 2, (n, k), generator=g)               # 1x1 to 3x3 squares
    keep = torch.rand(n, k, generator=g) < 0.7                    # 1 to k gaps
    keep[:, 0] = True
    mask = _square_masks(centres, size, keep, h, w)
    return torch.where(mask, torch.full_like(x, -1.0), x)


def specks(x: torch.Tensor, g: torch.Generator, k: int = 4) -> torch.Tensor:
    n, _, h, w = x.shape
    near = F.max_pool2d((x + 1) / 2, 7, 1, 3).flatten(1)           # around the digit
    centres = _pick(near, k, g)
    size = torch.zeros(n, k, dtype=torch.long)                    # single pixels
    keep = torch.rand(n, k, generator=g) < 0.6
    mask = _square_masks(centres, size, keep, h, w)
    level = _uniform(n, 0.0, 1.0, g)
    return torch.where(mask, torch.maximum(x, level.expand_as(x)), x)


def smudge(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    mix = _uniform(len(x), 0.4, 1.0, g)
    return mix * blurred + (1 - mix) * x


def _smooth_field(n: int, h: int, w: int, g: torch.Generator, cells: int) -> torch.Tensor:
    """(n, 1, h, w) noise in about [-1, 1] that varies over a cells x cells grid."""
    coarse = torch.rand(n, 1, cells, cells, generator=g) * 2 - 1
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)


def wobble(x: torch.Tensor, g: torch.Generator, pixels: tuple = (0.6, 1.4)) -> torch.Tensor:
    n, _, h, w = x.shape
    shift = torch.cat([_smooth_field(n, h, w, g, 9) for _ in range(2)], 1)   # (N, 2, H, W)
    shift = shift * _uniform(n, *pixels, g) * 2 / torch.tensor([w, h]).view(1, 2, 1, 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    grid = torch.stack([xs, ys], -1).unsqueeze(0) + shift.permute(0, 2, 3, 1)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def fade(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    level = 0.65 + 0.35 * _smooth_field(n, h, w, g, 4)                     # about 0.3 to 1
    return (x + 1) * level.clamp(0.2, 1) - 1


DEFECTS = (wobble, fade, grain, breaks, specks, smudge)


def corrupt(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Each image with a random non-empty set of DEFECTS, applied in a fixed order."""
    x = x.float()
    n = len(x)
    chosen = torch.rand(n, len(DEFECTS), generator=g) < 0.35
    none = ~chosen.any(1)
    chosen[none, torch.randint(0, len(DEFECTS), (int(none.sum()),), generator=g)] = True
    for i, defect in enumerate(DEFECTS):
        on = chosen[:, i].view(n, 1, 1, 1)
        x = torch.where(on, defect(x, g), x)
    return x
