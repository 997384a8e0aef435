"""What the "inside the game" views show, computed from G and D (no drawing, no Streamlit).

GAN Lab's views, for 2-D runs and, where they make sense, for image runs:

    latent_grid / manifold   G applied to a regular grid of latent points: the mesh that shows
                             G folding the plane (latent 1: a curve; latent > 2: the 2-D slice
                             through z = 0 spanned by the first two latent axes)
    sample_gradients         d(G's loss)/d(sample) for each generated sample, and D's output:
                             the arrows on 2-D points, the pixel heat map on an image
    arrows                   those gradients as arrows, thinned and scaled to stay readable
    rank_by_d                the samples D finds most and least real
    mode_counts              the judge classifier's class for each sample, counted
    nearest_real             the training image closest to each sample, and how close

`snapshot_probe(trainer, samples)` bundles what one snapshot needs into a `Probe`. `attach(trainer)`
makes it a "snapshot" callback: whoever draws the views (the app's workers) attaches it, and then
every snapshot carries its probe and, for the 2-D sets, D's map (taken on the training thread,
from the fixed noise), so the Train page, its replay and the Compare page all read the same
data. Runs nobody watches (the command line, sweeps) do not pay for them. With a cadence
(gan_core.cadence; the workers give one) only the snapshots whose views fit the views' share
of the training time get them, and the run's last always does.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import torch

from .cadence import Cadence
from .images import from_uint8
from .losses import loss_of
from .metrics import judge_outputs, nearest_images
from .records import d_output_kind
from .sampling import discriminator_map

MESH_RES = 21          # latent grid points per side: 21 x 21 = 441 vertices
CURVE_RES = 121        # latent-1 runs: points along the curve
MESH_SPAN = 2.5        # the grid covers [-2.5, 2.5] per latent axis (98.8% of N(0, 1))
GRAD_IMAGES = 8        # image runs keep the pixel gradients of the first row of the grid
MAX_ARROWS = 64        # arrows drawn at most (one every k-th sample)


@dataclass
class Probe:
    """What a snapshot adds to its samples for the views (all on the CPU).

    grads:  d(G's loss)/d(sample) per sample: (N, 2) for points; (K, C, H, W) float16 for the
            first K images. The sign is the gradient's: G's update moves a sample along -grads.
    d_out:  D's output per sample (N,): a probability, or a raw score for hinge/WGAN/LSGAN.
    mesh:   G of the latent grid: (R, R, 2) [row: latent axis 2, column: latent axis 1], or
            (R, 2) for latent 1; None for images.
    """
    grads: torch.Tensor
    d_out: torch.Tensor
    d_kind: str = "probability"     # or "score"
    g_loss: float = float("nan")    # G's loss on these samples (mean)
    mesh: Optional[torch.Tensor] = None
    mesh_span: float = MESH_SPAN
    latent_dim: int = 2


def latent_grid(latent_dim: int, resolution: Optional[int] = None,
                span: float = MESH_SPAN) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Latent points on a regular grid and the grid's shape.

    latent 1: (R, 1), shape (R,); otherwise (R*R, latent_dim) in row-major order with the first
    latent axis along a row and the second down the columns, every other axis 0 (a 2-D slice).
    """
    if not isinstance(latent_dim, int) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a whole number of at least 1; got {latent_dim!r}")
    if latent_dim == 1:
        r = resolution or CURVE_RES
        return torch.linspace(-span, span, r).unsqueeze(1), (r,)
    r = resolution or MESH_RES
    axis = torch.linspace(-span, span, r)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    z = torch.zeros(r * r, latent_dim)
    z[:, 0], z[:, 1] = xx.flatten(), yy.flatten()
    return z, (r, r)


@torch.no_grad()
def manifold(G, latent_dim: int, resolution: Optional[int] = None,
             span: float = MESH_SPAN) -> torch.Tensor:
    """G applied to `latent_grid`: (R, R, 2) or (R, 2) points, eval mode, on the CPU."""
    z, shape = latent_grid(latent_dim, resolution, span)
    device = next(G.parameters()).device
    labels = (torch.zeros(len(z), dtype=torch.long, device=device)
              if getattr(G, "spec", None) is not None and G.spec.num_classes else None)
    was = G.training
    G.eval()
    try:
        out = G(z.to(device), labels).float().cpu()
    finally:
        G.train(was)
    return out.view(*shape, -1)


def sample_gradients(D, loss, samples: torch.Tensor,
                     labels: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(d l_i / d x_i per sample, D's logits (N,)) where l_i is G's loss on sample i alone.

    G's loss is a mean over the batch, so its gradient is scaled by N to give each sample's own.
    D runs in eval mode and only the samples take gradients (D's .grad is left alone).
    """
    was = D.training
    D.eval()
    try:
        x = samples.detach().float().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = D(x, labels).float()
            g_loss = loss.g(logits) * x.shape[0]
            (grad,) = torch.autograd.grad(g_loss, x)
    finally:
        D.train(was)
    return grad.detach(), logits.detach()


def snapshot_probe(trainer, samples: torch.Tensor) -> Probe:
    """The views' data for one snapshot of `trainer`: on its training thread, between steps.

    `samples` are the snapshot's own (points, or uint8 images as the student sees them)."""
    points = trainer.dataset.is_points
    x = samples.float() if points else from_uint8(samples)
    device = trainer.device
    labels = trainer.fixed_labels
    # The config's loss, built here: the probe never calls the trainer's own loss object, so
    # it cannot disturb anything that wraps or counts it.
    loss = loss_of(trainer.config)
    grads, logits = sample_gradients(trainer.D, loss, x.to(device),
                                     labels[:len(x)] if labels is not None else None)
    mesh = None
    if points:
        mesh = manifold(trainer.sample_G, trainer.config.latent_dim)
    else:
        grads = grads[:GRAD_IMAGES].half()
    return Probe(grads=grads.cpu(), d_out=loss.shown(logits).cpu(),
                 d_kind=d_output_kind(loss.name),
                 g_loss=float(loss.g(logits)), mesh=mesh,
                 latent_dim=trainer.config.latent_dim)


def attach(trainer, cadence: Optional[Cadence] = None) -> None:
    """Every later snapshot of `trainer` gets its views (`add_views`); with a `cadence`, those
    it allows, the ones taken once the run has ended, and at the end its last snapshot (the
    others keep probe None)."""
    def views(tr, snap) -> None:
        t0 = time.perf_counter()
        add_views(tr, snap)
        if cadence is not None:
            cadence.spent(time.perf_counter() - t0, snap.step, 1, tr.elapsed, side=id(tr))

    def on_snapshot(tr, snap) -> None:
        last = tr.state != "running" or tr.epoch >= tr.config.epochs
        if cadence is None or last or cadence.due(snap.step, 1, tr.elapsed, side=id(tr)):
            views(tr, snap)

    def on_end(tr, reason) -> None:
        if tr.snapshots and tr.snapshots[-1].probe is None:
            views(tr, tr.snapshots[-1])
    trainer.add_callback("snapshot", on_snapshot)
    if cadence is not None:
        trainer.add_callback("end", on_end)


def add_views(trainer, snap) -> None:
    """A snapshot's Probe, and D's map on the 2-D sets (on the training thread)."""
    if trainer.dataset.is_points:
        snap.d_map = discriminator_map(trainer.D, trainer.points_extent)
    snap.probe = snapshot_probe(trainer, snap.samples)


def arrows(points: torch.Tensor, grads: torch.Tensor, max_arrows: int = MAX_ARROWS,
           max_len: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(starts (M, 2), ends (M, 2), indices (M,)): where G's loss pushes the samples.

    Every k-th sample (so at most `max_arrows`); each arrow points along -gradient and its
    length is max_len * |gradient| / (the largest |gradient| shown), so the strongest push is
    max_len long. Samples with no gradient get no arrow.
    """
    if points.shape != grads.shape or points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(f"points and gradients must both be (N, 2); got {tuple(points.shape)} "
                         f"and {tuple(grads.shape)}")
    n = points.shape[0]
    if n == 0 or max_arrows < 1:
        empty = torch.empty(0, 2)
        return empty, empty, torch.empty(0, dtype=torch.long)
    k = max(1, math.ceil(n / max_arrows))
    idx = torch.arange(0, n, k)
    g = grads[idx].float()
    norm = g.norm(dim=1)
    keep = torch.isfinite(norm) & (norm > 1e-12)
    idx, g, norm = idx[keep], g[keep], norm[keep]
    if len(idx) == 0:
        empty = torch.empty(0, 2)
        return empty, empty, idx
    length = max_len * norm / norm.max()
    starts = points[idx].float()
    ends = starts - g / norm.unsqueeze(1) * length.unsqueeze(1)
    return starts, ends, idx


def rank_by_d(d_out: torch.Tensor, k: int = 8) -> tuple[list[int], list[int]]:
    """(indices of the k samples D finds most real, highest first; the k least real, lowest
    first). With fewer than 2k samples the two lists overlap."""
    k = min(k, len(d_out))
    order = torch.argsort(d_out.float(), descending=True, stable=True).tolist()
    return order[:k], order[::-1][:k]


@torch.no_grad()
def judge_classes(judge, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class (N,), confidence (N,)) the judge classifier gives each image."""
    probs, _ = judge_outputs(judge, samples)
    conf, cls = probs.max(1)
    return cls, conf


def mode_counts(classes: torch.Tensor, num_classes: int) -> list[int]:
    """How many samples fell in each class: a list of num_classes counts summing to N."""
    if num_classes < 1:
        raise ValueError("num_classes must be at least 1")
    return torch.bincount(classes.long().flatten(), minlength=num_classes)[:num_classes].tolist()


@torch.no_grad()
def nearest_real(samples: torch.Tensor, data: torch.Tensor,
                 chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(index into data (N,), distance (N,)) of the training image closest to each sample.

    Floats in [-1, 1] or uint8 (converted); the distance is the root-mean-square pixel
    difference on a 0..1 scale: 0 is an exact copy, about 0.3 two different MNIST digits.
    """
    x = from_uint8(samples)
    if data.dim() != x.dim() or tuple(data.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"samples {tuple(x.shape[1:])} and training images "
                         f"{tuple(data.shape[1:])} differ in size")
    if len(data) == 0:
        raise ValueError("there are no training images to compare with")
    dist, idx = nearest_images(x, data, chunk)
    rms = dist / 2                                         # [-1, 1] -> 0..1 scale
    return idx, rms
