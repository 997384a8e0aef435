"""Finished runs kept on disk, so a browser refresh or a server restart loses nothing.

Each browser has a private owner key (a random cookie, see ui.owner_key); its runs are written
under RUNS_DIR/<sha256 of the key>/ and only that key lists them again. A run is written by the
job's thread when it ends (finished, stopped, failed, or its worker lost), whether or not the
page is open; the checkpoint is the last one its worker wrote:

    RUNS_DIR/OWNER/20261122-101500-run-3-j17/
        checkpoint.pt   history.csv   samples.png   meta.json  (written last: the run is complete)

No Streamlit here: the job's thread calls `persist`, the pages call `list_saved`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

from gan_core.checkpoint import atomic_write_text, save_checkpoint, write_csv
from gan_core.images import save_png, snapshot_image
from gan_core.trainer import history_columns

ROOT = Path(__file__).resolve().parents[1]
MAX_SAVED = 20          # per owner; the oldest are removed beyond this
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def runs_dir() -> Path:
    return Path(os.environ.get("GAN_LAB_RUNS_DIR") or ROOT / "runs" / "app")


def valid_token(token: Optional[str]) -> bool:
    return bool(token) and bool(_TOKEN.match(token))


def owner_folder(token: str) -> Path:
    """The owner's folder: named by a hash, so folder names never reveal a key."""
    if not valid_token(token):
        raise ValueError("not a valid owner key")
    return runs_dir() / hashlib.sha256(token.encode()).hexdigest()[:24]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:30] or "run"


def persist(trainer, token: str, name: str, label: str = "") -> Optional[Path]:
    """Write a run that has ended; never raises (a full disk must not kill the worker)."""
    if trainer.step == 0:
        return None
    try:
        folder = owner_folder(token) / (f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
                                        f"-{_slug(label) + '-' if label else ''}{id(trainer) % 10**6}")
        folder.mkdir(parents=True, exist_ok=True)
        if hasattr(trainer, "checkpoint_bytes"):     # a job's view: its worker's last file
            data = trainer.checkpoint_bytes()
            if data:
                tmp = folder / ".checkpoint.pt.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, folder / "checkpoint.pt")
        else:
            save_checkpoint(trainer, folder / "checkpoint.pt")
        write_csv(folder / "history.csv", trainer.history, history_columns(trainer.history))
        if trainer.snapshots:
            real = trainer.dataset.data[:1000] if trainer.dataset.is_points else None
            save_png(snapshot_image(trainer.snapshots[-1].samples, real), folder / "samples.png")
        cfg = trainer.config
        meta = dict(name=name, label=label, state=trainer.state, reason=trainer.reason,
                    step=trainer.step, epoch=trainer.epoch, seconds=round(trainer.elapsed, 1),
                    dataset=cfg.dataset, model=cfg.model, loss=cfg.loss, latent_dim=cfg.latent_dim,
                    saved=time.strftime("%Y-%m-%d %H:%M:%S"))
        atomic_write_text(folder / "meta.json", json.dumps(meta, indent=1))
        _prune(folder.parent)
        return folder
    except Exception as e:  # noqa: BLE001 - reported, and the run stays in the session
        print(f"gan-lab: could not save run {name}: {type(e).__name__}: {e}", file=sys.stderr)
        trainer.eval_note = f"could not save this run on the server: {e}"
        return None


def list_saved(token: str) -> list[dict]:
    """The owner's complete saved runs, newest first, each with its folder as `path`."""
    if not valid_token(token):
        return []
    folder = owner_folder(token)
    out = []
    for meta_path in folder.glob("*/meta.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        meta["path"] = meta_path.parent
        out.append(meta)
    return sorted(out, key=lambda m: m["path"].name, reverse=True)


def _prune(folder: Path) -> None:
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    for old in runs[:-MAX_SAVED]:
        shutil.rmtree(old, ignore_errors=True)


# --- uploaded image folders --------------------------------------------------------------------

def uploads_dir() -> Path:
    return Path(os.environ.get("GAN_LAB_UPLOAD_DIR") or ROOT / "runs" / "uploads")


def new_upload_folder(token: str) -> Path:
    """A fresh folder for one upload of this owner; the owner keeps the last 3 uploads."""
    base = uploads_dir() / owner_folder(token).name
    base.mkdir(parents=True, exist_ok=True)
    old = sorted(p for p in base.iterdir() if p.is_dir())
    for p in old[:-2]:
        shutil.rmtree(p, ignore_errors=True)
    return base / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(4).hex()}"


def folder_allowed(dataset: str) -> bool:
    """Whether the app may open a `folder:` dataset: only uploads made here, or folders the
    teacher lists in GAN_LAB_IMAGE_DIRS (separated by the OS path separator). A link cannot
    make the server read any other folder."""
    if not dataset.startswith("folder:"):
        return True
    try:
        path = Path(dataset[len("folder:"):].strip()).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    roots = [uploads_dir()] + [Path(p) for p in
                               os.environ.get("GAN_LAB_IMAGE_DIRS", "").split(os.pathsep) if p]
    for root in roots:
        try:
            path.relative_to(root.expanduser().resolve())
            return True
        except (ValueError, OSError, RuntimeError):
            continue
    return False
