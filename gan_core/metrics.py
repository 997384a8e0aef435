"""Numbers that say whether a generator got better.

Image metrics use a *judge*: a small classifier trained by this project on the real data
(gan_core.judge; its names are re-exported here).

  confident_share     share of samples the judge classifies with confidence >= 0.9
  classes_covered     classes that receive at least 1% of the samples *with confidence >= 0.5*
                      (of num_classes): an unsure answer's argmax covers nothing
  class_kl            KL(class histogram || uniform): 0 for an even spread, log(K) for one class
  judge_fd            Frechet distance between held-out reference images and generated samples in
                      the judge's feature space: a FID for small images. It is NOT Inception
                      FID; its values are on another scale and only comparable with each other.
  memorisation        mean cosine distance from each sample to its nearest image among *all*
                      the training images, in the judge's feature space (small = copying)
  mifid               judge_fd times threshold / memorisation when memorisation is below the
                      threshold, MIFID_SHARE of the distance unseen real images sit at (a copy
                      penalty, after MiFID); else judge_fd
  precision, recall, density, coverage
                      fidelity and diversity apart, in the judge's features (gan_core.fidelity)
  class_accuracy      conditional models: share of samples the judge assigns to the asked class

Which real images: the reference the samples are compared with (judge_fd) is the dataset's
held-out part, which no GAN trains on (gan_core.data, Parts: MNIST's
test split alone gives 8,000 training digits and 2,000 reference digits). The memorisation
distance is measured to the training part instead, on purpose: a copy is a copy of a training
image, and its distance to an image the generator never saw tells nothing (held-out real digits
sit at about 0.05 from the training digits with the version-2 judge; a copy near 0).

2-D metrics follow the unrolled-GAN literature: a sample is *high quality* when it lies within
3 standard deviations of a mode; a mode is *covered* when it has at least 20 such samples per
2,500 drawn.

EVALUATOR_VERSION says which judge and which rules measured a figure; every evaluation carries
it (`evaluator_version`), and figures of different versions are not comparable:
  1  the plain judge trained on all 10,000 digits, reference included (figures before 2026-12-07,
     the shipped sweeps in experiments/ among them: their result.json has no version)
  2  the normalised judge with its defect head, trained on the training part alone
     (gan_core.judge; docs/judge-agreement.md says why)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from .data import Dataset
from .datasets import has_heldout_part, load_dataset, toy_modes, toy_std
from .fidelity import fidelity_diversity, knn_radii
from .images import from_uint8
from .judge import (JUDGE_HOLDOUT, JUDGE_SEED, JUDGE_SIZE, PRETRAINED_DIR,  # noqa: F401 (re-exported)
                    Judge, accuracy, fit_classifier, judge_outputs, judge_path, judge_split,
                    load_judge, save_judge, train_judge)
from .sampling import sample

EVALUATOR_VERSION = 2    # module docstring; bump it whenever the judge or a metric's rule changes
CONFIDENT = 0.9
COVER_CONFIDENT = 0.5    # a sample counts towards classes_covered only when this sure
MIFID_SHARE = 0.5        # MiFID's copy penalty starts below this share of unseen digits' distance


def heldout_confident_share(judge: Judge, dataset: Dataset, seed: int = JUDGE_SEED,
                            holdout: int = JUDGE_HOLDOUT) -> float:
    """Share of the images train_judge held out (same seed) that the judge answers with
    confidence >= CONFIDENT: the ceiling a generator's confident share is read against.
    `dataset` is the one the judge trained on: load_dataset(..., part="train") (a set with no
    held-out part: the whole set)."""
    probs, _ = judge_outputs(judge, dataset.data[judge_split(len(dataset), seed, holdout)[0]])
    return float((probs.max(1).values >= CONFIDENT).float().mean())


# --- image metrics ---------------------------------------------------------------------------

def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(s_a)
    root_a = (v * w.clamp(min=0).sqrt()) @ v.T
    middle = root_a @ s_b @ root_a
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * tr_sqrt)


def memorisation_distance(fake_feats: torch.Tensor, real_feats: torch.Tensor,
                          exclude_self: bool = False) -> float:
    """Mean over samples of the cosine distance to the nearest real feature vector.

    Features are centred on the real mean first: the judge's ReLU features are all positive,
    so raw cosines bunch near 1 and would call everything a copy. With `exclude_self`, row i
    of fake_feats is real_feats[i] itself (leave-one-out), so its own column is skipped.
    """
    centre = real_feats.float().mean(0, keepdim=True)
    f = F.normalize(fake_feats.float() - centre, dim=1)
    r = F.normalize(real_feats.float() - centre, dim=1)
    nearest, start = [], 0
    for chunk in f.split(500):
        sims = chunk @ r.T                                        # (chunk, N_real)
        if exclude_self:
            rows = torch.arange(len(chunk))
            sims[rows, rows + start] = -2.0
        nearest.append(sims.max(1).values)
        start += len(chunk)
    return float((1 - torch.cat(nearest)).mean())


def nearest_images(x: torch.Tensor, data: torch.Tensor,
                   chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image of x: (its RMS pixel distance, on the [-1, 1] scale, to the nearest image
    of data, that image's index). Images of one size, uint8 or float in [-1, 1]; data is read a
    chunk at a time, so a whole training set is never held as floats."""
    flat = from_uint8(x).flatten(1)
    best_d = torch.full((len(flat),), float("inf"))
    best_i = torch.zeros(len(flat), dtype=torch.long)
    for start in range(0, len(data), chunk):
        block = from_uint8(data[start:start + chunk]).flatten(1)
        dist, i = torch.cdist(flat, block).min(1)
        better = dist < best_d
        best_d[better], best_i[better] = dist[better], i[better] + start
    return best_d / math.sqrt(flat.shape[1]), best_i


def nearest_pixels(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nearest_images with both sets brought to the judge's 28x28 grey in [-1, 1] first."""
    return nearest_images(Judge.prepare(x), Judge.prepare(ref))


def copy_scores(samples: torch.Tensor, train: torch.Tensor,
                heldout: torch.Tensor) -> dict[str, float]:
    """Does a generator copy its training images? Each sample's nearest-neighbour distance to
    the training images against its distance to as many held-out images (never seen by the
    generator: the reference part). Pixel space, not the judge's features: the judge was
    trained on all the generator's training digits but on only half the held-out ones, so its
    features could favour one set; pixels favour neither.

      copy_share   share of samples nearer a training image than any held-out one (a tie
                   counts half): 0.5 for a generator that draws new digits, near 1 for copies
      copy_ratio   mean distance to the training set / mean distance to the held-out set
                   (below 1: closer to what it trained on)
    """
    if len(train) != len(heldout):
        raise ValueError(f"compare sets of equal size (a larger set is nearer by its size "
                         f"alone); got {len(train)} training and {len(heldout)} held-out images")
    d_train, _ = nearest_pixels(samples, train)
    d_held, _ = nearest_pixels(samples, heldout)
    closer = (d_train < d_held).float() + 0.5 * (d_train == d_held).float()
    return dict(copy_share=float(closer.mean()),
                copy_ratio=float(d_train.mean() / d_held.mean().clamp(min=1e-12)),
                train_distance=float(d_train.mean()), heldout_distance=float(d_held.mean()))


@dataclass
class RealStats:
    """What the metrics need of the real data, computed once per judge and dataset."""
    features: torch.Tensor          # (N, F) judge features of the reference images (FD)
    train_features: Optional[torch.Tensor] = None   # (M, F) of every training image, for the
                                    # memorisation distance; None: the reference's own (a set
                                    # with no held-out part is its own reference)
    radii: Optional[torch.Tensor] = None        # fidelity.knn_radii(features), filled once
    heldout_distance: Optional[float] = None    # memorisation distance of the reference images
                                    # themselves (unseen real digits): what a new digit scores


def heldout_distance(real: RealStats) -> float:
    """The memorisation distance of real images the generator never saw (kept on `real`)."""
    if real.heldout_distance is None:
        if real.train_features is None:         # its own reference: leave each image out
            real.heldout_distance = memorisation_distance(real.features, real.features, True)
        else:
            real.heldout_distance = memorisation_distance(real.features, real.train_features)
    return real.heldout_distance


def mifid(fd: float, memorisation: float, unseen: float) -> float:
    """FD with the copy penalty of MiFID (Bai et al. 2021): when the samples sit nearer the
    training images than MIFID_SHARE of the distance unseen real images sit at, FD is
    multiplied by threshold / memorisation (1 at the threshold, growing as samples approach
    copies); otherwise it is FD."""
    threshold = MIFID_SHARE * unseen
    return fd * threshold / max(memorisation, 1e-6) if memorisation < threshold else fd


def image_metrics(judge: Judge, samples: torch.Tensor, real: RealStats,
                  requested: Optional[torch.Tensor] = None) -> dict[str, float]:
    """The judge's verdict on generated images (N, C, H, W) in [-1, 1]."""
    probs, feats = judge_outputs(judge, samples)
    conf, pred = probs.max(1)
    k = judge.num_classes
    hist = torch.bincount(pred, minlength=k).double() / len(pred)
    nonzero = hist[hist > 0]
    kl = float((nonzero * (nonzero * k).log()).sum())
    # a class is covered by samples the judge is at least COVER_CONFIDENT sure of: a
    # near-uniform answer's argmax is no digit
    sure = torch.bincount(pred[conf >= COVER_CONFIDENT], minlength=k).double() / len(pred)
    fd = frechet_distance(real.features, feats)
    mem = memorisation_distance(feats, real.features if real.train_features is None
                                else real.train_features)
    if real.radii is None:
        real.radii = knn_radii(real.features)
    out = dict(confident_share=float((conf >= CONFIDENT).float().mean()),
               classes_covered=int((sure >= 0.01).sum()), num_classes=k, class_kl=kl,
               judge_fd=fd, memorisation=mem, mifid=mifid(fd, mem, heldout_distance(real)),
               class_histogram=[round(float(h), 4) for h in hist],
               **fidelity_diversity(real.features, feats, real.radii))
    if requested is not None:
        out["class_accuracy"] = float((pred == requested.to(pred.device)).float().mean())
    return out


# --- 2-D metrics -----------------------------------------------------------------------------

def points_metrics(points: torch.Tensor, toy: str) -> dict[str, float]:
    """Modes covered and share of high-quality samples for a 2-D set (ring, grid, ...)."""
    modes = toy_modes(toy)
    d = torch.cdist(points.float(), modes)               # (N, M)
    nearest, which = d.min(1)
    good = nearest <= 3 * toy_std(toy)
    per_mode = torch.bincount(which[good], minlength=len(modes))
    need = max(1, math.ceil(20 * len(points) / 2500))
    return dict(modes_covered=int((per_mode >= need).sum()), num_modes=len(modes),
                high_quality_share=float(good.float().mean()))


# --- the one evaluator ------------------------------------------------------------------------
# The trainer, `python -m gan_core evaluate`, the sweeps and the shipped models' figures all go
# through evaluate_generator, so their numbers can be compared with each other.

EVAL_N = 1000           # samples drawn, unless a caller asks for another count (the live curve)
EVAL_SEED = 0           # latent seed of those samples
REFERENCE_N = 5000      # at most this many real images behind the reference statistics (the
                        # held-out part: all 2,000 of MNIST's when only its test split is there)
MEMORISATION_N = 60_000     # the memorisation distance searches every training image up to this
                        # (all of MNIST's 60,000): a copy of an image left out would go unseen
REFERENCE_SEED = 0      # which ones: the first REFERENCE_N of a permutation with this seed

_REFERENCES: dict[tuple, RealStats] = {}     # per process: (dataset, dir, size, judge) -> stats


def reference_indices(n_data: int, n: int = REFERENCE_N, seed: int = REFERENCE_SEED) -> torch.Tensor:
    """The real images the reference statistics use (the rest are held out from them)."""
    return torch.randperm(n_data, generator=torch.Generator().manual_seed(seed))[:min(n, n_data)]


def reference_stats(judge: Judge, dataset_name: str, image_size: int, data: Optional[Dataset] = None,
                    data_dir=None, train_data: Optional[Dataset] = None) -> RealStats:
    """Judge features of up to REFERENCE_N reference images *at the generator's own size*, and
    of every training image (up to MEMORISATION_N) for the memorisation distance.

    data: the reference images; by default the held-out part of `dataset_name`
        (load_dataset(..., part="reference")), so no figure is measured on images a generator
        trained on. train_data: the images generators train on, for the memorisation distance;
        when `data` is not given either, the "train" part; when `data` is given without it,
        the distance is taken to `data` (as before the reference was held out).
    Real images are first brought to `image_size` (as the generator's training data was) and
    then go through the judge's own resize, exactly like the samples. Comparing 32x32 samples
    with native 28x28 digits instead would add the resize round trip (28 -> 32 -> 28 blurs) to
    the FD: about 88 on MNIST, against about 3 for held-out real digits.
    """
    if data is None:
        key = (dataset_name, str(data_dir), image_size, judge.channels, id(judge))
        if key not in _REFERENCES:
            def part(name: str) -> Dataset:
                return load_dataset(dataset_name, data_dir, image_size=image_size,
                                    channels=judge.channels, download=False, part=name)
            reference = part("reference")
            train = part("train") if has_heldout_part(dataset_name) else None
            _REFERENCES.clear()          # one at a time: a process evaluates one dataset
            _REFERENCES[key] = reference_stats(judge, dataset_name, image_size, reference,
                                               train_data=train)
        return _REFERENCES[key]
    return RealStats(_features_at(judge, data, image_size),
                     None if train_data is None
                     else _features_at(judge, train_data, image_size, MEMORISATION_N))


def _features_at(judge: Judge, data: Dataset, image_size: int,
                 n: int = REFERENCE_N) -> torch.Tensor:
    """Judge features of the reference_indices(n) images of `data`, brought to image_size."""
    if data.data.shape[-1] != image_size:
        data = data.to_image_shape(data.data.shape[1], image_size)
    return judge_outputs(judge, data.data[reference_indices(len(data), n)])[1]


def evaluate_generator(G, dataset_name: str, data: Optional[Dataset] = None, n: int = EVAL_N,
                       seed: int = EVAL_SEED, judge: Optional[Judge] = None,
                       reference: Optional[RealStats] = None, data_dir=None,
                       train_data: Optional[Dataset] = None) -> dict:
    """All quality metrics of generator G: the one evaluation used everywhere.

    G: a Generator (anything with `.spec` (ModelSpec) and `.latent_dim`).
    dataset_name: the dataset G learnt ("mnist", a ring or grid name, ...): picks the judge.
    data: the real images to take the reference from (default: the held-out "reference" part
        of `dataset_name`, which no GAN trains on); they are brought to G's own image size.
        Pass a whole part, not a training subset. train_data: the images the memorisation
        distance is measured to (default: the "train" part when `data` is not given; else
        `data` itself). Both: reference_stats.
    n, seed: samples drawn and their latent seed (conditional models ask for every class in
        turn). judge, reference: reuse already-loaded ones (the trainer does, every evaluation).
    Returns the metrics of image_metrics (images) or points_metrics (2-D sets), plus
    `eval_n`, `eval_seed`, `reference_n` and `evaluator_version`, so a figure says how it was
    measured.
    """
    if G.spec.model == "mlp":
        return dict(points_metrics(sample(G, n, seed), dataset_name), eval_n=n, eval_seed=seed,
                    evaluator_version=EVALUATOR_VERSION)
    judge = judge or load_judge(dataset_name)
    if reference is None:
        reference = reference_stats(judge, dataset_name, G.spec.image_size, data, data_dir,
                                    train_data)
    requested = torch.arange(n) % G.spec.num_classes if G.spec.num_classes else None
    out = image_metrics(judge, sample(G, n, seed, requested), reference, requested)
    out.update(eval_n=n, eval_seed=seed, reference_n=len(reference.features),
               evaluator_version=EVALUATOR_VERSION)
    return out
