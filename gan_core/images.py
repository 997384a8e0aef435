"""Turning samples into pictures: image grids, 2-D point clouds, and progress GIFs (PIL only)."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (float) to uint8; uint8 passes through."""
    if images.dtype == torch.uint8:
        return images
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)




def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (0..255) to float in [-1, 1], as G draws them; floats pass through as float."""
    if images.dtype != torch.uint8:
        return images.float()
    return images.float().div_(127.5).sub_(1.0)


def grid_array(images: torch.Tensor, nrow: Optional[int] = None, pad: int = 2,
               scale: int = 1) -> np.ndarray:
    """(N, C, H, W) images -> one (H', W', 3) uint8 array, rows of `nrow`, padded in grey."""
    x = to_uint8(images.detach().cpu())
    n, c, h, w = x.shape
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 64, dtype=np.uint8)
    arr = x.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        out[top:top + h, left:left + w] = arr[i]
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return out


def grid_image(images: torch.Tensor, nrow: Optional[int] = None, scale: Optional[int] = None) -> Image.Image:
    """A PIL image of the grid; small images are enlarged (nearest) so that digits are visible."""
    h = images.shape[-1]
    scale = scale or max(1, 96 // h)
    return Image.fromarray(grid_array(images, nrow, scale=scale))


def points_image(points: torch.Tensor, real: Optional[torch.Tensor] = None, size: int = 320,
                 extent: float = 3.0) -> Image.Image:
    """A scatter plot of 2-D points on [-extent, extent]^2: real in grey, generated in orange."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    def to_px(p):
        return (p + extent) / (2 * extent) * (size - 1)
    draw.line([(size // 2, 0), (size // 2, size)], fill=(230, 230, 230))
    draw.line([(0, size // 2), (size, size // 2)], fill=(230, 230, 230))
    real_r = 5.0 if real is not None and len(real) <= 50 else 1.5   # a few mode centres: big
    for pts, colour, r in ((real, (150, 150, 150), real_r), (points, (230, 110, 0), 2.0)):
        if pts is None:
            continue
        px = to_px(pts.detach().cpu().float().numpy())
        for x, y in px:
            if np.isfinite(x) and np.isfinite(y):
                y = size - 1 - y
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return img


def snapshot_image(samples: torch.Tensor, real_points: Optional[torch.Tensor] = None) -> Image.Image:
    """The right picture for a trainer snapshot: a grid for images, a scatter for points."""
    if samples.dim() == 2:
        extent = 3.0 if real_points is None else float(real_points.abs().max()) * 1.2 + 0.5
        return points_image(samples, real_points, extent=extent)
    return grid_image(samples)


def save_png(image: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: Sequence[Image.Image], ms_per_frame: int = 250) -> bytes:
    """An animated GIF of the frames (the last one held longer)."""
    if not frames:
        raise ValueError("no frames to animate")
    buf = io.BytesIO()
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 6]
    frames[0].save(buf, format="GIF", save_all=True, append_images=list(frames[1:]),
                   duration=durations, loop=0)
    return buf.getvalue()
