"""The models shipped in pretrained/ and their card (index.json), for the pages. No Streamlit."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from gan_core.config import TrainConfig, recipe_of
from lab_app import recipes

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


# --- which recipe made each model: its card line and the pictures' captions ------------------

LOSS_NAMES = {"flgan": "FLGAN loss", "dcgan": "DCGAN loss"}


def find_checkpoint(file_stem: str, folder: Path = PRETRAINED) -> Optional[tuple[dict, dict]]:
    """(model entry, checkpoint entry) of the shipped file FILE_STEM.pt, or None."""
    for entry in index(folder).get("models", {}).values():
        for ck in entry.get("checkpoints", []):
            if ck.get("path") == f"{file_stem}.pt":
                return entry, ck
    return None


def entry_config(entry: dict) -> Optional[TrainConfig]:
    """A model's config from its card; fields the file predates (EMA, clusters) read as off."""
    try:
        return recipes.config_of_record(entry.get("config") or {})
    except (TypeError, ValueError):
        return None


def recipe_text(entry: dict) -> str:
    """The recipe that made this model, named: 'Fast classroom recipe (50 clusters + an EMA of
    G), but batch 64 (not 32)', 'Plain DCGAN, as in the papers (...), on the FLGAN authors' own
    model (fp32)' and so on."""
    cfg = entry_config(entry)
    if cfg is None:
        return "an unknown recipe"
    text = recipes.describe(cfg.to_dict(), cfg.model == "mlp")
    if cfg.model == "paper":
        text += ", on the FLGAN authors' own model (fp32)"
    return text


def model_card(name: str, folder: Path = PRETRAINED) -> Optional[dict]:
    """A shipped model's card for the pages: the entry, its recipe's key (None: a mix) and the
    recipe named in words."""
    entry = index(folder).get("models", {}).get(name)
    if not entry:
        return None
    cfg = entry_config(entry)
    return dict(name=name, entry=entry, recipe=recipe_of(cfg) if cfg is not None else None,
                recipe_text=recipe_text(entry), line=f"{name}: {recipe_text(entry)}")


def pair_recipe(model: str, folder: Path = PRETRAINED) -> str:
    """One sentence on the recipe both sides of a shipped FLGAN/DCGAN pair share."""
    models = index(folder).get("models", {})
    entries = [models[f"mnist_{model}_{p}"] for p in ("flgan", "dcgan")
               if f"mnist_{model}_{p}" in models]
    if not entries:
        return ""
    texts = {recipe_text(e) for e in entries}
    if len(texts) != 1:
        return "The two sides were not made with the same recipe: " + "; ".join(
            f"{e['name']}: {recipe_text(e)}" for e in entries) + "."
    return (f"Both sides: {texts.pop()}, the same for FLGAN and DCGAN; they differ only in "
            f"the loss and the clipping.")


def picture_caption(file_stem: str, folder: Path = PRETRAINED) -> Optional[str]:
    """The Home page's caption for a shipped picture: what it shows, which recipe made it and
    what the judge (or the mode count) says; for an FLGAN or DCGAN model also the other loss
    with the same recipe, so the loss is not credited with what the recipe does."""
    found = find_checkpoint(file_stem, folder)
    if found is None:
        return None
    entry, ck = found
    m, cfg = ck.get("metrics", {}), entry_config(entry)
    if cfg is None:
        return file_stem
    if cfg.model == "mlp":
        text = (f"The 2-D {cfg.dataset}, G:D {cfg.g_steps_per_d_step}:{cfg.d_steps_per_g_step}, "
                f"{recipes.POINTS_WHAT.get(recipe_of(cfg), 'its own recipe')}")
        if "modes_covered" in m:
            text += f": {m['modes_covered']} of {m['num_modes']} modes covered"
        return text + "."
    seen = ck.get("images_seen", ck.get("step", 0) * cfg.batch_size)
    preset = entry.get("preset")
    text = (f"{recipe_text(entry)}; {LOSS_NAMES.get(preset, cfg.loss + ' loss')}, after "
            f"{seen:,} images")
    if "confident_share" in m:
        text += f": {m['confident_share']:.0%} confident digits"
    other = {"flgan": "dcgan", "dcgan": "flgan"}.get(preset)
    twin = index(folder).get("models", {}).get(entry["name"].replace(f"_{preset}", f"_{other}")) \
        if other else None
    twin_ck = next((c for c in (twin or {}).get("checkpoints", [])
                    if c.get("epoch") == ck.get("epoch")), None)
    if twin_ck and "confident_share" in twin_ck.get("metrics", {}) \
            and recipe_text(twin) == recipe_text(entry):
        text += (f" (the {LOSS_NAMES[other]} with the same recipe: "
                 f"{twin_ck['metrics']['confident_share']:.0%})")
    return text + "."


def quality_text(m: dict) -> str:
    """The judge's verdict in a line: FD, and fidelity and diversity apart
    (precision / recall, density / coverage: gan_core.fidelity). `m` is a card's metrics or a
    run's evaluated record (its keys start with m_)."""
    def get(key: str):
        return m.get(key, m.get(f"m_{key}"))
    parts = [f"judge FD {get('judge_fd'):.1f}"]
    if get("precision") is not None:
        parts.append(f"precision {get('precision'):.2f} / recall {get('recall'):.2f}")
    if get("density") is not None:
        parts.append(f"density {get('density'):.2f} / coverage {get('coverage'):.2f}")
    return ", ".join(parts)
