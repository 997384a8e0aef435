"""The README's pictures of the shipped MNIST generators: docs/shipped_models.png and
docs/latent_models.png; and docs/before_after_60s.png, the 60 s grids of the last
`./lab bench --sections quality` run (benchmarks/results/latest_classroom_*.png).

    python scripts/shipped_pictures.py            # all three
    python scripts/shipped_pictures.py --bench    # only before_after_60s.png

shipped_models.png: one row of 16 samples (latent seed 0, the models' shown weights) per shipped
model, labelled with its confident share from pretrained/index.json (the one evaluator's figure).
latent_models.png: everything the two collapse-lesson models can draw, as the Latent explorer
shows it: the latent-1 model along its one number, the latent-2 model over a grid of its plane.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402
from gan_core.checkpoint import load_checkpoint  # noqa: E402
from gan_core.sampling import generate, sample  # noqa: E402
from lab_app import explore  # noqa: E402

ROWS = [("best FLGAN (classroom, 50 clusters,\nepoch 8, seed 1)", "mnist_best_flgan",
         "mnist_best_flgan.pt"),
        ("best DCGAN (classroom, 50 clusters,\nepoch 8, seed 1)", "mnist_best_dcgan",
         "mnist_best_dcgan.pt"),
        ("paper FLGAN, epoch 8", "mnist_paper_flgan", "mnist_paper_flgan_e8.pt"),
        ("paper DCGAN, epoch 8", "mnist_paper_dcgan", "mnist_paper_dcgan_e8.pt"),
        ("classroom FLGAN, epoch 8", "mnist_classroom_flgan", "mnist_classroom_flgan_e8.pt"),
        ("CGAN, digits 0-9 asked", "mnist_cgan", "mnist_cgan.pt")]
N = 16


def main(out: Path = ROOT / "docs" / "shipped_models.png") -> None:
    index = json.loads((ROOT / "pretrained" / "index.json").read_text())["models"]
    fig, axes = plt.subplots(len(ROWS), 1, figsize=(12, 1.05 * len(ROWS)))
    for ax, (label, name, path) in zip(axes, ROWS):
        G = load_checkpoint(ROOT / "pretrained" / path, with_discriminator=False).G
        labels = torch.arange(N) % G.spec.num_classes if G.spec.num_classes else None
        x = sample(G, N, 0, labels)
        if x.shape[-1] != 28:       # the paper model draws 32x32: show every row at one size
            x = torch.nn.functional.interpolate(x, size=28, mode="bilinear", antialias=True)
        grid = make_grid(x, nrow=N, normalize=True, value_range=(-1, 1), pad_value=0.3)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ck = next(c for c in index[name]["checkpoints"] if c["path"] == path)
        share = ck["metrics"]["confident_share"]
        ax.set_ylabel(f"{label}\n{share:.0%} confident", rotation=0, ha="right", va="center",
                      fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Shipped MNIST generators, latent seed 0 (real digits: 91% confident)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def latent_models(out: Path = ROOT / "docs" / "latent_models.png", span: float = 2.5) -> None:
    """The latent-1 model at 16 points of z in [-span, span] (one row), and the latent-2 model
    at a 16 x 16 grid of the same square; z ~ N(0, 1), so about 98% of samples lie inside."""
    index = json.loads((ROOT / "pretrained" / "index.json").read_text())["models"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 8.2), height_ratios=(1, 16))
    # The Latent explorer's own strip and map (z[0] left to right, z[1] bottom to top).
    for ax, name, z in ((top, "mnist_latent1", explore.line(N, -span, span)),
                        (bottom, "mnist_latent2", explore.plane(N, span))):
        G = load_checkpoint(ROOT / "pretrained" / f"{name}.pt", with_discriminator=False).G
        x = generate(G, z)
        grid = make_grid(x, nrow=N, normalize=True, value_range=(-1, 1), pad_value=0.3)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        cfg, ck = index[name]["config"], index[name]["checkpoints"][-1]
        ax.set_title(f"latent {cfg['latent_dim']} ({cfg['model']} model, {ck['step']:,} steps): "
                     f"{ck['metrics']['confident_share']:.0%} confident, "
                     f"{ck['metrics']['classes_covered']} digits", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    top.set_xlabel(f"z from {-span} to {span}", fontsize=8)
    bottom.set_xlabel(f"z[0] from {-span} (left) to {span} (right), z[1] from {-span} (bottom) "
                      f"to {span} (top), as on the Latent explorer's map", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


BENCH_ROWS = [("old", "before issue 16:\nAdam 2e-4, fp32,\nsamples from G"),
              ("batch64", "lr 5e-4, bf16,\nEMA of G,\nbatch 64"),
              ("batch32", "the same at\nbatch 32"),
              ("new", "classroom recipe now:\nthe same with\n50 clusters")]


def before_after_60s(out: Path = ROOT / "docs" / "before_after_60s.png") -> None:
    """The bench's 64 samples (latent seed 0) after 60 s of training, one row per recipe, one
    column per preset, each labelled with the bench's confident share."""
    results = ROOT / "benchmarks" / "results"
    quality = json.loads((results / "quality.json").read_text())["quality"]
    share = {(q["preset"], q["recipe"]): q["final"] for q in quality}
    rows = [(r, label) for r, label in BENCH_ROWS if ("dcgan", r) in share]   # those measured
    fig, axes = plt.subplots(len(rows), 2, figsize=(9.6, 3.8 * len(rows)), squeeze=False)
    for row, (recipe, label) in zip(axes, rows):
        for ax, p in zip(row, ("dcgan", "flgan")):
            ax.imshow(plt.imread(results / f"latest_classroom_{p}_{recipe}.png"),
                      cmap="gray", interpolation="nearest")
            f = share[(p, recipe)]
            ax.set_title(f"{p.upper()}: {f['confident_share']:.0%} confident, "
                         f"{f['classes_covered']} digits, {f['step']:,} steps", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("60 s of training on 2 CPU cores (./lab bench --sections quality)", fontsize=10)
    fig.tight_layout(w_pad=2.0)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true", help="draw only docs/before_after_60s.png")
    if not ap.parse_args().bench:
        main()
        latent_models()
    before_after_60s()
