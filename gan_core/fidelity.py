"""Fidelity and diversity as two numbers, in the judge's feature space.

A Frechet distance mixes two faults into one figure: samples that do not look real, and real
variety the generator never draws. The k-nearest-neighbour measures keep them apart:

  precision   share of samples inside the real images' manifold: within the distance of some
              real image to its k-th nearest real neighbour (Kynkaanniemi et al. 2019). Fidelity.
  recall      share of real images inside the samples' manifold (the same rule, roles swapped).
              Diversity.
  density     how many real neighbourhoods hold each sample, over k (Naeem et al. 2020): about
              1 for samples spread like real images, more where they crowd typical digits,
              less for outliers. Fidelity, less upset by a few real outliers than precision.
  coverage    share of real images whose neighbourhood holds at least one sample (Naeem et al.
              2020). Diversity: a generator that draws three digits covers about 0.3.

k = 5, as both papers recommend for these sample sizes. Distances are Euclidean on the judge's
features; the real images' radii are computed once per reference and kept with it.
"""
from __future__ import annotations

import torch

NEAREST_K = 5


def knn_radii(feats: torch.Tensor, k: int = NEAREST_K, chunk: int = 1000) -> torch.Tensor:
    """Each row's distance to its k-th nearest *other* row: (N,)."""
    feats = feats.float()
    out = []
    for start in range(0, len(feats), chunk):
        d = torch.cdist(feats[start:start + chunk], feats)            # (chunk, N)
        # the k+1 smallest include the row itself at distance 0
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
            chunk: int = 1000) -> torch.Tensor:
    """(len(points), len(centres)) bool: point i lies within centre j's radius."""
    rows = [torch.cdist(p, centres) <= radii.unsqueeze(0) for p in points.float().split(chunk)]
    return torch.cat(rows)


def fidelity_diversity(real: torch.Tensor, fake: torch.Tensor,
                       real_radii: torch.Tensor | None = None,
                       k: int = NEAREST_K) -> dict[str, float]:
    """precision, recall, density and coverage of samples `fake` (M, F) against `real` (N, F).
    real_radii: knn_radii(real, k), when already known (the reference keeps them)."""
    real, fake = real.float(), fake.float()
    if len(real) <= k or len(fake) <= k:
        raise ValueError(f"precision and recall need more than k = {k} real and generated "
                         f"samples; got {len(real)} and {len(fake)}")
    r_radii = knn_radii(real, k) if real_radii is None else real_radii
    near = _inside(fake, real, r_radii)                                 # (M, N)
    f_radii = knn_radii(fake, k)
    recall = _inside(real, fake, f_radii).any(1).float().mean()
    return dict(precision=float(near.any(1).float().mean()), recall=float(recall),
                density=float(near.sum() / (k * len(fake))),
                coverage=float(near.any(0).float().mean()))
