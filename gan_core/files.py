"""Writing files so that a reader (or a crash) sees the old file or the new one, never half.

A leaf module: it imports nothing from gan_core, so the checkpoint, the metrics' judge files,
the sweeps and the app's saved runs all write through it without importing each other. It also
says where the lab's cache folder is (`cache_dir`), for gan_core.cache and for the data sets
built from packages (gan_core.emoji), which the cache's own imports would make a circle.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import torch


def cache_dir() -> Optional[Path]:
    """Where the lab keeps what it computes (gan_core.cache) or builds on disk: $GAN_LAB_CACHE_DIR,
    else $XDG_CACHE_HOME/gan-lab, else ~/.cache/gan-lab; None when GAN_LAB_CACHE_DIR is "off"."""
    chosen = os.environ.get("GAN_LAB_CACHE_DIR", "").strip()
    if chosen.lower() in ("off", "none", "0"):
        return None
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gan-lab"


def atomic_save(obj: dict, path: str | Path) -> Path:
    """torch.save `obj` to a temporary file beside `path`, flushed to disk, then renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600; a saved model is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write then rename: a reader (or a crash) sees the old file or the new one, never half
    (e.g. a checkpoint a worker already wrote, copied elsewhere)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """atomic_write_bytes for text, as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def copy_to_file(data, path: str | Path) -> Path:
    """Write an upload to `path`: its bytes, or an open binary file copied from its start in
    1 MB chunks (never read whole into memory)."""
    path = Path(path)
    with path.open("wb") as out:
        if isinstance(data, (bytes, bytearray, memoryview)):
            out.write(data)
        else:
            data.seek(0)
            shutil.copyfileobj(data, out, 2**20)
    return path


def csv_text(rows: list[dict], columns: Optional[Sequence[str]] = None) -> str:
    """Rows as CSV text, floats to 6 significant digits. `columns`: the columns (other keys are
    left out); default: every key, in the order they first appear."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_csv(path: str | Path, rows: list[dict], columns: Optional[Sequence[str]] = None) -> Path:
    """csv_text(rows, columns), written atomically."""
    return atomic_write_text(path, csv_text(rows, columns))
