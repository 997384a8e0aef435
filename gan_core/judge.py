"""The judge: a small classifier trained by this project on the real data, whose features the
image metrics (gan_core.metrics) are measured in; its training and its file.

Two recipes share the `Judge` network:

  judge (normalised=True)   what pretrained/judge_*.pt is: batch norm after each layer, dropout
                            before the digit head, outlier exposure (junk gets a flat answer) and
                            a second head, `defect`, trained to tell clean real digits from the
                            same digits with broken strokes, grain, specks, smudges, wobble and
                            fading (gan_core.defects). Without it a classifier's features ignore
                            what does not change a digit's name, and its FD scored the FLGAN
                            paper model's broken digits like the classroom model's clean ones
                            (docs/judge-agreement.md).
  plain (normalised=False)  the sweeps' classifiers (fit_classifier's default) and judge files
                            written before EVALUATOR_VERSION 2, which load as they were trained.

Which digits: `python -m gan_core judge` trains on the training part (never on the reference
that FD is measured against) minus judge_split's 1,000, on which its accuracy is measured.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .data import Dataset
from .defects import corrupt
from .files import atomic_save
from .images import from_uint8
from .schema import (MAX_CLASSES, CheckpointError, check_archive, check_state, is_int, is_number,
                     is_text)
from .shortrepr import short_repr

JUDGE_SIZE = 28          # the judge sees 28x28 grey images, whatever the generator draws
JUDGE_SEED, JUDGE_HOLDOUT = 0, 1000      # train_judge's seed and its unseen images
DROPOUT = 0.3            # on the features, before the digit head, while a judge trains
DEFECT_WEIGHT = 1.0      # the clean-or-defective loss beside the digit loss
# A normalised judge's features have this length (Judge.distance_features). FD grows with its
# square; 25 puts the FD of the shipped MNIST generators on about the scale of the judge before
# (median ratio 0.93 over them, 2026-12-07), so thresholds such as the lessons' FD 200 keep
# about their meaning (docs/judge-agreement.md).
FEATURE_SCALE = 25.0


class Judge(nn.Module):
    """A small CNN classifier; `features` gives the 128-d embedding distances are measured on,
    `head` the class logits from the body's output; `defect` (normalised judges) the logit of
    "not a clean digit"."""

    def __init__(self, num_classes: int = 10, channels: int = 1, normalised: bool = True):
        super().__init__()
        self.num_classes, self.channels, self.normalised = num_classes, channels, normalised

        def norm(n: int, kind=nn.BatchNorm2d) -> list:
            return [kind(n)] if normalised else []
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), *norm(32), nn.ReLU(True), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(32, 64, 3, 1, 1), *norm(64), nn.ReLU(True), nn.MaxPool2d(2),        # 7x7
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), *norm(128, nn.BatchNorm1d), nn.ReLU(True))
        self.head = nn.Linear(128, num_classes)
        self.defect = nn.Linear(128, 1) if normalised else None

    @staticmethod
    def prepare(x: torch.Tensor, channels: int = 1) -> torch.Tensor:
        """Any (N, C, H, W) in [-1, 1] (or uint8) to the judge's (N, channels, 28, 28)."""
        if x.dtype == torch.uint8:
            x = from_uint8(x)
        if x.shape[1] != channels:
            x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
        if x.shape[-1] != JUDGE_SIZE:
            mode = "area" if x.shape[-1] > JUDGE_SIZE else "bilinear"
            x = F.interpolate(x, size=(JUDGE_SIZE, JUDGE_SIZE), mode=mode)
        return x

    def distance_features(self, raw: torch.Tensor) -> torch.Tensor:
        """What distances are measured on, from the body's output (N, 128): a normalised
        judge's features scaled to length FEATURE_SCALE (only their direction counts: ReLU
        features grow with the judge's confidence, and an over-confident generator then
        looked farther from real digits than a broken one); a plain judge's as they are."""
        return FEATURE_SCALE * F.normalize(raw, dim=1) if self.normalised else raw

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.distance_features(self.body(self.prepare(x, self.channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.prepare(x, self.channels)))


def judge_split(n: int, seed: int = JUDGE_SEED, holdout: int = JUDGE_HOLDOUT,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out indices, training indices) of train_judge on a dataset of n images: the one
    rule for which images a judge never saw. `generator` (seeded with `seed`) is consumed as
    train_judge consumes it, so that its later draws stay the same."""
    g = generator or torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    holdout = min(holdout, n // 5)
    return order[:holdout], order[holdout:]


def train_judge(dataset: Dataset, epochs: int = 3, seed: int = JUDGE_SEED,
                holdout: int = JUDGE_HOLDOUT,
                batch_size: int = 128, progress=None) -> tuple[Judge, float]:
    """Train a judge (the normalised recipe) on a labelled image dataset; returns (judge,
    accuracy on the judge_split images it held out). `python -m gan_core judge` passes the
    training part, so the reference FD is measured against stays unseen."""
    if dataset.labels is None or dataset.is_points:
        raise ValueError(f"a judge needs labelled images; {dataset.name} has none")
    test_idx, train_idx = judge_split(len(dataset), seed, holdout)
    x_all = Judge.prepare(dataset.data, 1 if dataset.data.shape[1] == 1 else 3)
    y_all = dataset.labels
    judge = fit_classifier(x_all[train_idx], y_all[train_idx], dataset.num_classes, epochs,
                           seed, batch_size, outlier_exposure=True, as_judge=True,
                           progress=progress)
    return judge, accuracy(judge, x_all[test_idx], y_all[test_idx])


def fit_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int = 3,
                   seed: int = 0, batch_size: int = 128, outlier_exposure: bool = False,
                   as_judge: bool = False, progress=None,
                   generator: torch.Generator | None = None) -> Judge:
    """Train a Judge-shaped CNN on prepared images x (N, C, 28, 28) in [-1, 1] with labels y:
    the plain network, or with `as_judge` the normalised one with its defect head (module
    docstring)."""
    torch.manual_seed(seed)
    g = generator or torch.Generator().manual_seed(seed)
    judge = Judge(num_classes, x.shape[1], normalised=as_judge)
    opt = torch.optim.Adam(judge.parameters(), lr=1e-3)
    judge.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            xb = x[idx]
            # light augmentation: shifts of up to 2 pixels, so it judges shapes, not positions
            dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = _batch_loss(judge, xb, y[idx], outlier_exposure, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if progress:
            progress(epoch + 1, epochs)
    return judge.eval()


def _batch_loss(judge: Judge, xb: torch.Tensor, yb: torch.Tensor, outlier_exposure: bool,
                g: torch.Generator) -> torch.Tensor:
    """The digit loss; with outlier exposure (Hendrycks et al. 2019) junk images should get a
    flat answer, or "confident" would reward a generator that draws noise; a normalised judge
    also learns clean (0) against defective (1) copies of the same digits. One forward pass
    over all of them, so batch norm sees clean, defective and junk images together."""
    parts = [xb]
    if judge.defect is not None:
        parts.append(corrupt(xb, g))
    if outlier_exposure:
        parts.append(_junk_like(xb, g))
    feats = judge.body(torch.cat(parts)).split([len(p) for p in parts])
    clean = F.dropout(feats[0], DROPOUT) if judge.normalised else feats[0]
    loss = F.cross_entropy(judge.head(clean), yb)
    if outlier_exposure:
        loss = loss - 0.5 * torch.log_softmax(judge.head(feats[-1]), 1).mean()
    if judge.defect is not None:
        logits = judge.defect(torch.cat([feats[0], feats[1]])).squeeze(1)
        target = torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))])
        loss = loss + DEFECT_WEIGHT * F.binary_cross_entropy_with_logits(logits, target)
    return loss


@torch.inference_mode()
def accuracy(judge: Judge, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of prepared images x the classifier labels as y."""
    if len(x) == 0:
        return float("nan")
    judge.eval()
    pred = torch.cat([judge.head(judge.body(chunk)).argmax(1) for chunk in x.split(1000)])
    return float((pred == y).float().mean())


def _junk_like(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Images that are not digits: noise, blurred noise, and real images with shuffled pixels."""
    n = x.shape[0]
    third = n // 3
    noise = torch.rand(third, *x.shape[1:], generator=g) * 2 - 1
    blur = F.avg_pool2d(torch.rand(third, *x.shape[1:], generator=g) * 2 - 1, 5, 1, 2) * 3
    rest = x[: n - 2 * third].flatten(1)
    shuffled = rest[:, torch.randperm(rest.shape[1], generator=g)].view(-1, *x.shape[1:])
    return torch.cat([noise, blur.clamp(-1, 1), shuffled])


@torch.inference_mode()
def judge_outputs(judge: Judge, images: torch.Tensor, batch: int = 500):
    """(probabilities (N, K), distance features (N, 128)) for images in [-1, 1] or uint8."""
    judge.eval()
    probs, feats = [], []
    for chunk in images.split(batch):
        chunk = chunk.float() if chunk.dtype != torch.uint8 else chunk
        raw = judge.body(judge.prepare(chunk, judge.channels))
        feats.append(judge.distance_features(raw))
        probs.append(torch.softmax(judge.head(raw), 1))
    return torch.cat(probs), torch.cat(feats)


# --- judges on disk ----------------------------------------------------------------------------

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
JUDGE_KEYS = {"format", "num_classes", "channels", "accuracy", "note", "weights", "normalised"}


def judge_path(dataset: str):
    return PRETRAINED_DIR / f"judge_{dataset.replace(':', '_').replace('/', '_')}.pt"


def save_judge(judge: Judge, path, accuracy: float, note: str = "") -> None:
    atomic_save({"format": "gan_core.judge", "num_classes": judge.num_classes,
                 "channels": judge.channels, "normalised": judge.normalised,
                 "accuracy": accuracy, "note": note,
                 "weights": {k: v.detach().cpu() for k, v in judge.state_dict().items()}},
                Path(path))


def load_judge(dataset: str, path=None) -> Judge:
    """The shipped (or cached) judge of a dataset; a clear error when there is none.

    A judge file given on the command line is as untrusted as a checkpoint: it goes through the
    same archive check and a schema of its own before anything is built from it. A file with no
    `normalised` entry is a plain judge (written before EVALUATOR_VERSION 2)."""
    path = Path(path) if path else judge_path(dataset)
    if not path.is_file():
        raise ValueError(f"no judge classifier for {dataset} at {path}; train one with "
                         f"python -m gan_core judge --dataset {dataset} --out {path}")
    try:
        check_archive(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError as e:
        raise ValueError(f"judge file {e}") from None
    except Exception:  # noqa: BLE001 - refused pickles, corrupt zips: all "not a judge file"
        raise ValueError(f"{path.name} is not a judge file (nothing from it was run)") from None
    if type(obj) is not dict or obj.get("format") != "gan_core.judge" or not set(obj) <= JUDGE_KEYS:
        raise ValueError(f"{path.name} is not a judge file")
    n, c, normalised = obj.get("num_classes"), obj.get("channels"), obj.get("normalised", False)
    if not is_int(n, 2, MAX_CLASSES) or c not in (1, 3) or type(c) is not int \
            or type(normalised) is not bool:
        raise ValueError(f"judge file {path.name}: num_classes {short_repr(n)} and channels "
                         f"{short_repr(c)} must be 2 to {MAX_CLASSES}, and 1 or 3, and "
                         f"normalised true or false")
    if not is_number(obj.get("accuracy", 0.0), 0, 1) or not is_text(obj.get("note", ""), 2000):
        raise ValueError(f"judge file {path.name}: accuracy must be a number from 0 to 1 and "
                         f"the note a short text")
    judge = Judge(n, c, normalised)         # small: num_classes is bounded above
    try:
        check_state(obj.get("weights"), judge, "judge")
    except CheckpointError as e:
        raise ValueError(f"judge file {path.name}: {e}") from None
    judge.load_state_dict(obj["weights"])
    judge.accuracy = float(obj.get("accuracy", float("nan")))
    return judge.eval()
