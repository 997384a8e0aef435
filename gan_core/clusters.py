"""Clusters of the training images, for cluster conditioning (no labels needed).

An unconditional G maps one connected latent space onto digits that come in separate kinds, so
some of its samples fall between kinds: a 4 half way to a 9. Telling G and D which cluster of
the training images a sample belongs to lets G draw each kind from its own part of the latent
space (the idea of Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs", which
clusters D's features; we cluster blurred pixels, once, before training).

    centroids = kmeans(images, k, seed)      # (K, C*H*W), in the space of `features`
    labels = nearest(images, centroids)      # (N,) int64

Images are compared blurred and scaled to unit length (`features`): in raw pixels a thin, faint
digit is nearest the almost empty image whatever digit it is, and k-means made one cluster of
all such digits (20% of one label on MNIST), which G learnt as a blob; blurred and normalised,
strokes of one shape overlap and every cluster is mostly one digit (87-88% of each cluster's
digits share a label, against 81-84% in raw pixels; the worst cluster 50-58% against 20-21%).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

ITERATIONS = 30            # Lloyd steps; MNIST's 10,000 digits settle well within them
FIT_ON = 10_000            # centroids are fitted on at most this many images (a few seconds)
IMAGES_PER_CLUSTER = 160   # fewer clusters on smaller sets: K = 100 (100 digits each) lost to
                           # K = 50 (200 each) in 60 s MNIST runs (docs/classroom-recipe.md);
                           # 160 since GANs train on 8,000 of MNIST's 10,000 test digits (the
                           # rest are the held-out reference, docs/heldout.md), so that they
                           # still get the recipe's 50 clusters, not 8,000 // 200 = 40
MIN_LATENT = 8             # a smaller latent trains without clusters: the collapse lessons
                           # (latent 1 and 2) are about G having only its latent numbers


def clusters_for(requested: Optional[int], n_images: int, latent_dim: int) -> int:
    """How many clusters a run uses: the requested number, at most one per IMAGES_PER_CLUSTER
    images, and 0 (off) for latents below MIN_LATENT or when fewer than 2 would remain."""
    if not requested or latent_dim < MIN_LATENT:
        return 0
    k = min(int(requested), n_images // IMAGES_PER_CLUSTER)
    return k if k >= 2 else 0


BLUR_SIGMA = 1.5           # pixels, for 28x28 digits; scaled with the image size


def features(x: torch.Tensor) -> torch.Tensor:
    """What k-means compares: images (N, C, H, W) in [-1, 1] as intensities in [0, 1],
    Gaussian-blurred, flattened and scaled to unit length: (N, C*H*W) float32."""
    u = (x.float() + 1) / 2
    if u.dim() == 4:
        sigma = BLUR_SIGMA * u.shape[-1] / 28
        r = max(1, int(round(2 * sigma)))
        k = torch.exp(-torch.arange(-r, r + 1, device=u.device).float() ** 2 / (2 * sigma ** 2))
        k = (k / k.sum()).view(1, 1, 1, -1).repeat(u.shape[1], 1, 1, 1)      # (C, 1, 1, K)
        u = F.conv2d(u, k, padding=(0, r), groups=u.shape[1])                # along rows
        u = F.conv2d(u, k.transpose(2, 3), padding=(r, 0), groups=u.shape[1])
    flat = u.reshape(len(u), -1)
    return flat / flat.norm(dim=1, keepdim=True).clamp(min=1e-6)


def nearest(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Index of each image's nearest centroid: images x (N, C, H, W) -> (N,) int64."""
    flat = features(x)
    c = centroids.float()
    return _nearest_rows(flat, c, chunk)


def _nearest_rows(flat: torch.Tensor, c: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    parts = [torch.cdist(flat[i:i + chunk], c).argmin(1) for i in range(0, len(flat), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=flat.device)


def kmeans(x: torch.Tensor, k: int, seed: int = 0, iterations: int = ITERATIONS) -> torch.Tensor:
    """k-means (Lloyd) on the `features` of images x (N, C, H, W): centroids (k, C*H*W), fitted
    on at most FIT_ON of them. Starts from k-means++ picks drawn with `seed` (each next centre
    an image drawn with probability by its squared distance to the nearest centre so far, so
    that two starting centres rarely share one kind); an empty cluster keeps its centre."""
    g = torch.Generator().manual_seed(seed)
    if len(x) > FIT_ON:
        x = x[torch.randperm(len(x), generator=g)[:FIT_ON]]
    flat = features(x)
    if not 1 <= k <= len(flat):
        raise ValueError(f"k-means needs 1 to {len(flat)} clusters; got {k}")
    centroids = _plus_plus(flat, k, g)                                        # (k, P)
    for _ in range(iterations):
        assign = _nearest_rows(flat, centroids)                               # (n,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, flat)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).float()     # (k, 1)
        moved = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(moved, centroids):
            break
        centroids = moved
    return centroids


def _plus_plus(flat: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k starting centres by k-means++ (Arthur & Vassilvitskii 2007): (k, P)."""
    picks = [int(torch.randint(len(flat), (1,), generator=g))]
    d2 = ((flat - flat[picks[0]]) ** 2).sum(1)                                # (n,)
    for _ in range(k - 1):
        weights = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)          # all identical
        picks.append(int(torch.multinomial(weights, 1, generator=g)))
        d2 = torch.minimum(d2, ((flat - flat[picks[-1]]) ** 2).sum(1))
    return flat[picks].clone()


def shares(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Each cluster's share of the images: (k,) float32 summing to 1."""
    counts = torch.bincount(labels, minlength=k).float()
    return counts / counts.sum()
