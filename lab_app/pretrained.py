"""The models shipped in pretrained/ and their card (index.json), for the pages. No Streamlit."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "pretrained"


def index(folder: Path = PRETRAINED) -> dict:
    """The model card as data; {} when nothing is shipped (the pages then say so)."""
    path = folder / "index.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def timeline(model: str, folder: Path = PRETRAINED) -> dict[str, dict[int, dict]]:
    """{preset: {epoch: checkpoint entry (path, step, metrics)}} for the FLGAN/DCGAN pair."""
    models = index(folder).get("models", {})
    out = {}
    for preset in ("flgan", "dcgan"):
        entry = models.get(f"mnist_{model}_{preset}")
        if not entry:
            continue
        cks = {c["epoch"]: dict(c, path=str(folder / c["path"])) for c in entry["checkpoints"]
               if (folder / c["path"]).is_file()}
        if cks:
            out[preset] = cks
    return out


def model_path(name: str, folder: Path = PRETRAINED) -> Optional[Path]:
    p = folder / f"{name}.pt"
    return p if p.is_file() else None
