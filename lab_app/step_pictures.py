"""Pictures for step by step on images (no Streamlit): framed samples with D's number under each,
and the difference a G update made, as red (ink added) and blue (ink removed) on white.

The frames use the same colours as the D's-verdict tab (lab_app.views.verdict_colour: red =
fake to D, yellow = unsure, green = real to D). Raw scores (hinge, WGAN-GP, LSGAN) are coloured
on one scale shared by the pictures being compared, so a colour means the same score before and
after an update.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from gan_core.images import to_uint8

from .views import verdict_colour

GREY = (150, 150, 150)
TEXT = (30, 30, 30)


def shared_scale(values: Sequence[torch.Tensor], d_kind: str):
    """A function from D's outputs to 0..1 for colouring: probabilities as they are; raw scores
    min-max over all of `values` (the pictures compared side by side)."""
    if d_kind == "probability":
        return lambda d: d.float().clamp(0, 1)
    allv = torch.cat([v.float().flatten() for v in values])
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        return lambda d: torch.full_like(d.float(), 0.5)
    return lambda d: (d.float() - lo) / (hi - lo)


def number_text(value: float, d_kind: str = "probability") -> str:
    return f"{value:.2f}" if d_kind == "probability" else f"{value:+.2f}"


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:       # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def numbered_tiles(images: torch.Tensor, numbers: Sequence[str],
                   colours: Optional[Sequence[tuple]] = None, nrow: int = 8, scale: int = 1,
                   border: int = 2, text_h: int = 14, gap: int = 3,
                   max_side: Optional[int] = None) -> Image.Image:
    """Images (N, C, H, W, uint8) in rows of `nrow`, each in a coloured frame with its number
    written under it; `max_side` shrinks larger images (64x64 faces) so the numbers stay
    readable beside them."""
    x = to_uint8(images)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h0, w0 = x.shape
    h, w = h0 * scale, w0 * scale
    if max_side is not None and max(h, w) > max_side:
        h, w = round(h * max_side / max(h, w)), round(w * max_side / max(h, w))
    tw, th = w + 2 * border, h + 2 * border
    cols = min(nrow, n)
    rows = -(-n // cols)
    canvas = Image.new("RGB", (cols * (tw + gap) + gap, rows * (th + text_h + gap) + gap),
                       "white")
    draw, font = ImageDraw.Draw(canvas), _font(max(text_h - 2, 8))
    for i in range(n):
        r, c = divmod(i, cols)
        x0, y0 = gap + c * (tw + gap), gap + r * (th + text_h + gap)
        colour = colours[i] if colours is not None else GREY
        draw.rectangle([x0, y0, x0 + tw - 1, y0 + th - 1], fill=tuple(colour))
        tile = Image.fromarray(x[i].permute(1, 2, 0).numpy())
        tile = tile.resize((w, h), Image.NEAREST if w >= w0 else Image.BILINEAR)
        canvas.paste(tile, (x0 + border, y0 + border))
        draw.text((x0 + tw / 2, y0 + th + 1), numbers[i], fill=TEXT, font=font, anchor="mt")
    return canvas


def verdict_tiles(images: torch.Tensor, d_out: torch.Tensor, d_kind: str, scale_fn,
                  nrow: int = 8) -> Image.Image:
    """Samples framed in the colour of D's verdict, D's number under each."""
    colours = [verdict_colour(v) for v in scale_fn(d_out).tolist()]
    return numbered_tiles(images, [number_text(v, d_kind) for v in d_out.tolist()], colours,
                          nrow=nrow, max_side=32)


def difference_tiles(delta: torch.Tensor, largest: Optional[float] = None, nrow: int = 8,
                     scale: int = 2, gap: int = 4, border: int = 1) -> Image.Image:
    """What a G update changed in each sample: white = unchanged, red = brighter (ink added),
    blue = darker (ink removed); full colour = the largest change in `delta` (N, H, W) or
    `largest` (on delta's scale) if given, and the colour grows with the square root of the
    change, so that a change a quarter of the largest shows at half strength."""
    top = float(delta.abs().max()) if largest is None else largest
    d = (delta / top).clamp(-1, 1) if top > 0 else torch.zeros_like(delta)
    d = d.sign() * d.abs().sqrt()       # small changes stay visible; the sign is kept
    white = torch.full((*d.shape, 3), 255.0)
    red, blue = torch.tensor([214.0, 39.0, 40.0]), torch.tensor([31.0, 119.0, 180.0])
    pos, neg = d.clamp(min=0).unsqueeze(-1), (-d).clamp(min=0).unsqueeze(-1)
    rgb = white + pos * (red - white) + neg * (blue - white)        # (N, H, W, 3)
    images = rgb.round().to(torch.uint8).permute(0, 3, 1, 2)
    return numbered_tiles(images, [""] * len(images), nrow=nrow, scale=scale, border=border,
                          text_h=0, gap=gap, max_side=56)
