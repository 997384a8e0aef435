"""The README's picture of the shipped MNIST generators: docs/shipped_models.png.

    python scripts/shipped_pictures.py

One row of 16 samples (latent seed 0, the models' shown weights) per shipped model, labelled with
its confident share from pretrained/index.json (the one evaluator's figure).
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
from gan_core.sampling import sample  # noqa: E402

ROWS = [("best FLGAN (wide model, 24 epochs)", "mnist_best_flgan", "mnist_best_flgan.pt"),
        ("best DCGAN (wide model, 24 epochs)", "mnist_best_dcgan", "mnist_best_dcgan.pt"),
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


if __name__ == "__main__":
    main()
