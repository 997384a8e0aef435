"""Does the lab's judge FD rank the shipped MNIST generators as independent judges do?

    .venv/bin/python scripts/judge_agreement.py --data-dir ../shared/data
    .venv/bin/python scripts/judge_agreement.py --data-dir ../shared/data --judge old=FILE

For every shipped MNIST generator (1,000 samples, latent seed 0, as the cards) and for 1,000 real
digits no judge trained on, the Frechet distance to the 2,000 held-out reference digits (brought
to the generator's size, as gan_core.metrics does) in the feature space of:

  lab judges      the shipped pretrained/judge_mnist.pt, and any --judge NAME=FILE
  cnn5            an independent classifier: 5x5 and 3x3 convolutions, batch norm, dropout,
                  256-d features, random crops, seed 123; trained on half A of the judge's
                  training digits
  strided         another: stride-2 convolutions without pooling, GELU, group norm, a 96-d
                  global average; seed 7; trained on half B
  autoencoder     a convolutional autoencoder's 32-d code (pixels, no labels); all of them

None of the independent judges saw a corrupted digit (gan_core.defects) or the reference. Then
the Spearman rank correlation of each measure with each independent judge over the generators,
and the rows a reader checks by eye: the paper model's epoch 8 against the classroom model's.
The independent judges and the samples are cached in --cache (made once, a few CPU minutes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gan_core.datasets import load_dataset
from gan_core.metrics import (PRETRAINED_DIR, Judge, frechet_distance, judge_outputs,
                              judge_split, load_judge)

WATCHED = ("mnist_paper_flgan_e8", "mnist_paper_dcgan_e8", "mnist_classroom_flgan_e8",
           "mnist_classroom_dcgan_e8")
REAL = "real digits (unseen)"


class Cnn5(nn.Module):
    def __init__(self):
        super().__init__()
        def block(cin, cout, k):
            return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU()]
        self.body = nn.Sequential(
            *block(1, 32, 5), *block(32, 32, 5), nn.MaxPool2d(2), nn.Dropout(0.25),   # 14x14
            *block(32, 64, 3), *block(64, 64, 3), nn.MaxPool2d(2), nn.Dropout(0.25),  # 7x7
            nn.Flatten(), nn.Linear(64 * 49, 256), nn.BatchNorm1d(256), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(256, 10))


class Strided(nn.Module):
    def __init__(self):
        super().__init__()
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 4, 2, 1), nn.GroupNorm(8, cout), nn.GELU()]
        self.body = nn.Sequential(*block(1, 48), *block(48, 96), *block(96, 96),   # 3x3
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(96, 10)


class AutoEncoder(nn.Module):
    def __init__(self, code: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1),
            nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 49, code))
        self.decode = nn.Sequential(
            nn.Linear(code, 64 * 49), nn.LeakyReLU(0.2), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh())


def fit(model: nn.Module, x: torch.Tensor, y, epochs: int, seed: int) -> nn.Module:
    """Classifiers: cross-entropy with random 4-pixel crops; the autoencoder: pixel MSE."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 100):
            idx = perm[i:i + 100]
            xb = F.pad(x[idx], (2, 2, 2, 2), value=-1)
            ox, oy = torch.randint(0, 5, (2,), generator=g).tolist()
            xb = xb[:, :, oy:oy + 28, ox:ox + 28]
            if y is None:
                loss = F.mse_loss(model.decode(model.body(xb)), xb)
            else:
                loss = F.cross_entropy(model.head(model.body(xb)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def digits(data_dir: str) -> dict:
    """The reference at 28 and 32 pixels; the judge's training digits (as train_judge draws
    them from the training part) and its 1,000 unseen ones, at both sizes."""
    out = {}
    for size in (28, 32):
        ref = load_dataset("mnist", data_dir, image_size=size, download=False, part="reference")
        train = load_dataset("mnist", data_dir, image_size=size, download=False, part="train")
        unseen, seen = judge_split(len(train))
        out[size] = dict(reference=ref.data, unseen=train.data[unseen], seen=train.data[seen],
                         labels=train.labels[seen])
    return out


def independent_judges(real: dict, cache: Path) -> dict[str, nn.Module]:
    x, y = Judge.prepare(real[28]["seen"]), real[28]["labels"]
    half = len(x) // 2
    recipes = {"cnn5": (Cnn5, slice(0, half), True, 8, 123),
               "strided": (Strided, slice(half, None), True, 8, 7),
               "autoencoder": (AutoEncoder, slice(None), False, 8, 11)}
    judges = {}
    for name, (cls, part, labelled, epochs, seed) in recipes.items():
        path = cache / f"{name}.pt"
        model = cls()
        if path.is_file():
            model.load_state_dict(torch.load(path, weights_only=True))
        else:
            print(f"training the independent judge {name} ...", flush=True)
            fit(model, x[part], y[part] if labelled else None, epochs, seed)
            torch.save(model.state_dict(), path)
        judges[name] = model.eval()
    return judges


def shipped_samples(cache: Path) -> dict[str, tuple[torch.Tensor, int]]:
    """{checkpoint name: (1,000 samples with seed 0, image size)} of every shipped MNIST model."""
    path = cache / "samples.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    from gan_core.checkpoint import load_checkpoint
    from gan_core.metrics import EVAL_N, EVAL_SEED
    from gan_core.sampling import sample
    index = json.loads((PRETRAINED_DIR / "index.json").read_text())
    out = {}
    for entry in index["models"].values():
        if entry["config"]["dataset"] != "mnist":
            continue
        for ck in entry["checkpoints"]:
            G = load_checkpoint(PRETRAINED_DIR / ck["path"], with_discriminator=False).G
            asked = torch.arange(EVAL_N) % G.spec.num_classes if G.spec.num_classes else None
            x = sample(G, EVAL_N, EVAL_SEED, asked).float().cpu()
            out[ck["path"].removesuffix(".pt")] = (x, G.spec.image_size)
    torch.save(out, path)
    return out


@torch.inference_mode()
def features_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(model, Judge):
        return judge_outputs(model, x)[1]
    return torch.cat([model.body(Judge.prepare(c)) for c in x.split(500)])


def distances(model: nn.Module, samples: dict, real: dict) -> dict[str, float]:
    ref = {s: features_of(model, real[s]["reference"]) for s in (28, 32)}
    out = {name: frechet_distance(ref[size], features_of(model, x))
           for name, (x, size) in samples.items()}
    out[REAL] = frechet_distance(ref[28], features_of(model, real[28]["unseen"]))
    out[REAL + " 32"] = frechet_distance(ref[32], features_of(model, real[32]["unseen"]))
    return out


def spearman(a: dict, b: dict, names) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr([a[n] for n in names], [b[n] for n in names]).statistic)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--judge", action="append", default=[], metavar="NAME=FILE",
                   help="another judge file to measure beside the shipped one")
    p.add_argument("--cache", default=str(ROOT / "runs" / "judge-agreement"))
    p.add_argument("--json", help="write every figure here")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    real = digits(a.data_dir)
    samples = shipped_samples(cache)
    judges = dict(independent_judges(real, cache))
    lab = {"lab (shipped)": load_judge("mnist")}
    for spec in a.judge:
        name, _, path = spec.partition("=")
        lab[f"lab ({name})"] = load_judge("mnist", path)
    fds = {name: distances(m, samples, real) for name, m in {**lab, **judges}.items()}
    gens = sorted(samples, key=lambda n: fds["cnn5"][n])
    cols = list(fds)
    print("| generator (sorted by cnn5) | " + " | ".join(cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for n in [REAL, REAL + " 32"] + gens:
        print(f"| {n} | " + " | ".join(f"{fds[c][n]:.2f}" for c in cols) + " |")
    print("\nSpearman over the generators, each measure against each independent judge:")
    print("| measure | " + " | ".join(judges) + " |\n| --- |" + " ---: |" * len(judges))
    for c in cols:
        print(f"| {c} | " + " | ".join(f"{spearman(fds[c], fds[i], gens):.2f}"
                                        for i in judges) + " |")
    print("\nEpoch 8, paper model / classroom model (mean of FLGAN and DCGAN), and whether real "
          "unseen digits score best:")
    for c in cols:
        f = fds[c]
        ratio = (f[WATCHED[0]] + f[WATCHED[1]]) / (f[WATCHED[2]] + f[WATCHED[3]])
        best = all(f[REAL] < f[n] for n in gens) and all(f[REAL + " 32"] < f[n] for n in gens)
        print(f"  {c}: paper / classroom {ratio:.2f}, real digits best: {best}")
    if a.json:
        Path(a.json).write_text(json.dumps(fds, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
