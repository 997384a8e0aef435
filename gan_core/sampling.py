"""Drawing from a trained generator: seeded samples and latent interpolation."""
from __future__ import annotations

from typing import Optional

import torch

from .models import Generator


def latent(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """n standard-normal latent vectors, the same for the same seed on every machine."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def generate(G: Generator, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Samples in eval mode: images in [-1, 1] (N, C, H, W) or points (N, 2), on the CPU."""
    was_training = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        if G.spec.num_classes and labels is None:
            labels = torch.arange(z.shape[0]) % G.spec.num_classes
        out = G(z.to(device), labels.to(device) if labels is not None else None)
    finally:
        G.train(was_training)
    return out.float().cpu()


def sample(G: Generator, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None):
    return generate(G, latent(n, G.latent_dim, seed), labels)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016): stays on the shell where Gaussian samples live."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:        # (anti)parallel: fall back to a straight line
        return lerp(a, b, t)
    return torch.sin((1 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, spherical: bool = False):
    """`steps` latent points from a to b (both (D,)) inclusive: (steps, D)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    fn = slerp if spherical and a.numel() > 1 else lerp
    return fn(a.unsqueeze(0), b.unsqueeze(0), t)


@torch.inference_mode()
def discriminator_map(D, extent: float, resolution: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """D's belief that a 2-D point is real, on a square grid: (axis (R,), probs (R, R)[y, x])."""
    was_training = D.training
    D.eval()
    try:
        axis = torch.linspace(-extent, extent, resolution)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        pts = torch.stack([xx.flatten(), yy.flatten()], 1)
        device = next(D.parameters()).device
        probs = torch.sigmoid(D(pts.to(device)).float()).cpu().view(resolution, resolution)
    finally:
        D.train(was_training)
    return axis, probs
