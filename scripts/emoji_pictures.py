"""docs/emoji.png: the emoji set beside what a short run drew from it.

    python scripts/emoji_pictures.py RUN_FOLDER [RUN_FOLDER ...]

Left, 8 real emoji of each group (one row per group, drawn with seed 0); then, for each run
folder (written by `python -m gan_core train --out`), its samples_last.png, scaled to the same
height, in 256 colours to keep the file small. The set must be built (`python -m gan_core emoji build`).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import torch
from PIL import Image

from gan_core.datasets import load_dataset
from gan_core.images import from_uint8, grid_image

OUT = ROOT / "docs" / "emoji.png"


def real_grid(per_group: int = 8) -> Image.Image:
    ds = load_dataset("emoji", image_size=64, download=False)
    g = torch.Generator().manual_seed(0)
    rows = []
    for k in range(len(ds.class_names)):
        idx = (ds.labels == k).nonzero().flatten()
        rows.append(idx[torch.randperm(len(idx), generator=g)[:per_group]])
    return grid_image(from_uint8(ds.data[torch.cat(rows)]), nrow=per_group, scale=1)


def main(runs: list[str]) -> None:
    panels = [real_grid()]
    h = panels[0].height
    for run in runs:
        im = Image.open(Path(run) / "samples_last.png").convert("RGB")
        panels.append(im.resize((round(im.width * h / im.height), h), Image.Resampling.LANCZOS))
    gap = 16
    out = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), h), "white")
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    out.quantize(256, dither=Image.Dither.NONE).save(OUT, optimize=True)   # a few hundred KB
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(sys.argv[1:])
