"""Finished runs kept on disk, so a browser refresh or a server restart loses nothing.

Each browser has a private owner key (a random cookie, see ui.owner_key); its runs are written
under RUNS_DIR/<sha256 of the key>/ and only that key lists them again. A run is written by the
job's thread when it ends (finished, stopped, failed, or its worker lost), whether or not the
page is open; the checkpoint is the last one its worker wrote:

    RUNS_DIR/OWNER/20261122-101500-run-3-j17/
        checkpoint.pt   history.csv   samples.png   meta.json  (written last: the run is complete)

The checkpoint kept is G alone (no D, no optimisers: about a quarter of the size), since the
app never resumes a saved run; GAN_LAB_KEEP_FULL_CHECKPOINTS=1 keeps the full, resumable one.
The runs and uploads of everyone together stay under GAN_LAB_DISK_QUOTA_MB (lab_app.limits):
past it, the oldest saved runs of whoever uses the most space are removed first (`make_room`),
and a new upload is refused while uploads alone fill it.

Private by default: nothing under the runs or uploads folders is listed or opened for anyone
but its owner (`may_open`; the Latent explorer lists `own_checkpoints` and shipped models).

No Streamlit here: the job's thread calls `persist`, the pages call `list_saved`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

from gan_core.files import atomic_write_text
from gan_core.runs import save_run

from . import limits

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
        # a job's view: its worker's last checkpoint, G alone unless the server keeps all
        save_run(trainer, folder, generator_only=not limits.keep_full_checkpoints())
        cfg = trainer.config
        meta = dict(name=name, label=label, state=trainer.state, reason=trainer.reason,
                    step=trainer.step, epoch=trainer.epoch, seconds=round(trainer.elapsed, 1),
                    dataset=cfg.dataset, model=cfg.model, loss=cfg.loss, latent_dim=cfg.latent_dim,
                    saved=time.strftime("%Y-%m-%d %H:%M:%S"))
        atomic_write_text(folder / "meta.json", json.dumps(meta, indent=1))
        _prune(folder.parent)
        make_room(keep=folder)
        if not (folder / "meta.json").is_file():
            trainer.eval_note = ("this run was not kept on the server: the disk space for saved "
                                 "runs is full. Download its checkpoint instead")
            return None
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


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def usage() -> dict[str, int]:
    """Bytes used per owner folder name, saved runs and uploads together."""
    out: dict[str, int] = {}
    for base in (runs_dir(), uploads_dir()):
        if base.is_dir():
            for owner in base.iterdir():
                if owner.is_dir():
                    out[owner.name] = out.get(owner.name, 0) + _size(owner)
    return out


def make_room(keep: Optional[Path] = None, extra: int = 0) -> bool:
    """Bring saved runs and uploads (plus `extra` bytes to come) under the disk quota by
    removing the oldest saved runs of whoever uses the most space; `keep` (the run just
    written) goes last of all. True if everything now fits."""
    quota = limits.disk_quota_bytes()
    if quota is None:
        return True
    used = usage()
    gone: set[Path] = set()          # tried already (a folder that cannot be removed stays)
    while sum(used.values()) + extra > quota:
        removable = {o: sorted(p for p in (runs_dir() / o).glob("*")
                               if p.is_dir() and p != keep and p not in gone)
                     for o in used if (runs_dir() / o).is_dir()}
        removable = {o: r for o, r in removable.items() if r}
        if not removable:
            if keep is not None and keep.is_dir():       # nothing else left: not even this one
                used[keep.parent.name] -= _size(keep)
                shutil.rmtree(keep, ignore_errors=True)
                keep = None
                continue
            return False
        heaviest = max(removable, key=lambda o: used[o])
        oldest = removable[heaviest][0]
        used[heaviest] -= _size(oldest)
        gone.add(oldest)
        shutil.rmtree(oldest, ignore_errors=True)
    return True


class DiskFull(ValueError):
    """The server's disk quota leaves no room for this upload."""


def _prune(folder: Path) -> None:
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    for old in runs[:-MAX_SAVED]:
        shutil.rmtree(old, ignore_errors=True)


# --- uploaded image folders --------------------------------------------------------------------

def uploads_dir() -> Path:
    return Path(os.environ.get("GAN_LAB_UPLOAD_DIR") or ROOT / "runs" / "uploads")


UPLOAD_PREFIX = "upload:"        # how a page and a URL name an upload: upload:<opaque id>
_UPLOAD_ID = re.compile(r"^[0-9a-f]{16}$")
KEEP_UPLOADS = 3                  # per owner; older uploads are removed


def new_upload(token: str) -> tuple[str, Path]:
    """(opaque id, fresh folder) for one upload of this owner; the owner keeps the last 3.

    The id is random and says nothing of the path; only the owner's key finds the folder
    again (upload_folder), so a link with someone else's id opens nothing."""
    base = uploads_dir() / owner_folder(token).name
    if not make_room():
        raise DiskFull("The server's disk space for uploads and saved runs is full; ask your "
                       "teacher to make room (GAN_LAB_DISK_QUOTA_MB)")
    base.mkdir(parents=True, exist_ok=True)
    old = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for p in old[:-(KEEP_UPLOADS - 1)]:
        shutil.rmtree(p, ignore_errors=True)
    upload_id = secrets.token_hex(8)
    return upload_id, base / upload_id


def upload_folder(token: str, upload_id: str) -> Optional[Path]:
    """This owner's upload of that id, or None (not theirs, removed, or not an id)."""
    if not valid_token(token) or not _UPLOAD_ID.match(upload_id or ""):
        return None
    folder = uploads_dir() / owner_folder(token).name / upload_id
    return folder if folder.is_dir() else None


def resolve_dataset(dataset: str, token: str) -> tuple[str, Optional[str]]:
    """(dataset for TrainConfig, error): `upload:<id>` becomes its folder for its owner only;
    a `folder:` path must be one the teacher listed (folder_allowed); others pass through."""
    if dataset.startswith(UPLOAD_PREFIX):
        folder = upload_folder(token, dataset[len(UPLOAD_PREFIX):])
        if folder is None:
            return dataset, ("That upload is not on this server for this browser (uploads are "
                             "private to the browser that made them, and only the last "
                             f"{KEEP_UPLOADS} are kept). Upload the images again.")
        return f"folder:{folder}", None
    if dataset.startswith("folder:") and not folder_allowed(dataset):
        return dataset, ("This server only trains on images uploaded here (or folders the "
                         "teacher lists in GAN_LAB_IMAGE_DIRS); it does not open "
                         f"{dataset[7:][:200]}. Upload the images instead.")
    return dataset, None


def folder_allowed(dataset: str) -> bool:
    """Whether a `folder:` dataset named by a link may be opened: only folders the teacher
    lists in GAN_LAB_IMAGE_DIRS (separated by the OS path separator), and never anything in
    the uploads folder (uploads are reached by id, for their owner only: resolve_dataset)."""
    if not dataset.startswith("folder:"):
        return True
    try:
        path = Path(dataset[len("folder:"):].strip()).expanduser().resolve()
        uploads = uploads_dir().expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    if path == uploads or uploads in path.parents or path in uploads.parents:
        return False                 # the uploads root, one upload, or a folder holding them
    roots = [Path(p) for p in os.environ.get("GAN_LAB_IMAGE_DIRS", "").split(os.pathsep) if p]
    for root in roots:
        try:
            path.relative_to(root.expanduser().resolve())
            return True
        except (ValueError, OSError, RuntimeError):
            continue
    return False


# --- who may see what -----------------------------------------------------------------------

def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def may_open(path: str | Path, token: Optional[str]) -> bool:
    """Whether this owner may list or open this file: nothing under the runs or uploads
    folders but the owner's own (symbolic links and `..` resolved first)."""
    try:
        p = Path(path).expanduser().resolve()
        private = [runs_dir().expanduser().resolve(), uploads_dir().expanduser().resolve()]
    except (OSError, RuntimeError, ValueError):
        return False
    for base in private:
        if p == base or _inside(p, base):
            if not valid_token(token):
                return False
            mine = base / owner_folder(token).name
            return _inside(p, mine) and p != mine
    return True


def own_checkpoints(token: Optional[str]) -> list[tuple[str, Path]]:
    """(title, checkpoint) of this owner's saved runs, newest first."""
    out = []
    for m in list_saved(token) if token else []:
        ck = m["path"] / "checkpoint.pt"
        if ck.is_file():
            label = f": {m['label']}" if m.get("label") else ""
            out.append((f"{m['name']}{label} · saved {m['saved']}", ck))
    return out
