"""Work kept between runs: a dataset's tensors, its k-means clusters and the judge's reference
statistics are computed once and kept, in memory (per process, so a warm worker keeps them from
one job to the next) and on disk (so a fresh worker or a restarted server finds them too).

    value = remember(kind, parts, compute, fits, code=(module.__file__, ...))

`value` is a dict of tensors and plain values (str, int, float, lists of them). The key is a
hash of `parts` (what the value is computed from: `file_fingerprint` of the files read,
`digest` of a tensor's bytes, the settings) and of `code_version(code)`, the source of the
modules that compute it with torch's version, so new data or new code computes afresh.

The disk is read as untrusted: a file goes through schema.check_archive and
torch.load(weights_only=True) (never a pickle of code), must carry its own key, and `fits`
must accept its value; anything else is ignored and written anew. Where:
$GAN_LAB_CACHE_DIR, else $XDG_CACHE_HOME/gan-lab, else ~/.cache/gan-lab; GAN_LAB_CACHE_DIR=off
keeps nothing on disk. GAN_LAB_CACHE_MEMORY_MB bounds what a process keeps in memory.
`counts[(kind, "computed" | "memory" | "disk")]` says how each value was found.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from .files import atomic_save, cache_dir
from .schema import check_archive

FORMAT = "gan_core.cache"
HASH_FILES_UP_TO = 64 * 2**20    # files up to this size are keyed by their content too; larger
                                 # ones (a 300 MB CSV) by path, size and modification time
MEMORY_MB = 256                  # default bound on what one process keeps in memory

counts: Counter = Counter()
_memory: OrderedDict[str, tuple[dict, int]] = OrderedDict()   # key -> (value, bytes)
_lock = threading.Lock()
_code: dict[tuple[str, ...], str] = {}


def memory_limit_bytes() -> int:
    try:
        return max(0, int(os.environ.get("GAN_LAB_CACHE_MEMORY_MB", MEMORY_MB))) * 2**20
    except ValueError:
        return MEMORY_MB * 2**20


def code_version(paths: Iterable[str]) -> str:
    """A hash of these source files and torch's version (read once per process)."""
    names = tuple(sorted(str(p) for p in paths))
    if names not in _code:
        h = hashlib.sha256(torch.__version__.encode())
        for name in names:
            h.update(Path(name).read_bytes())
        _code[names] = h.hexdigest()
    return _code[names]


def file_fingerprint(path: Path) -> tuple:
    """A file as a cache key sees it: resolved path, size, modification time and, up to
    HASH_FILES_UP_TO, a hash of its content (a rewrite within the clock's tick still shows)."""
    path = Path(path).resolve()
    st = path.stat()
    content = ""
    if st.st_size <= HASH_FILES_UP_TO:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
        content = h.hexdigest()
    return (str(path), st.st_size, st.st_mtime_ns, content)


def digest(t: Optional[torch.Tensor]) -> str:
    """A hash of a tensor's dtype, shape and bytes ("" for None)."""
    if t is None:
        return ""
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def make_key(kind: str, parts: Any, code: Iterable[str]) -> str:
    return hashlib.sha256(repr((kind, parts, code_version(code))).encode()).hexdigest()


def _nbytes(value: dict) -> int:
    return sum(v.numel() * v.element_size() for v in value.values() if torch.is_tensor(v))


def _clone(value: dict) -> dict:
    return {k: v.clone() if torch.is_tensor(v) else v for k, v in value.items()}


def remember(kind: str, parts: Any, compute: Callable[[], dict], fits: Callable[[dict], bool],
             code: Iterable[str] = (), copy: bool = True) -> dict:
    """The value of `compute()` for these parts: from memory, else from disk, else computed
    (and then kept in both). copy: hand out copies of its tensors, so a caller that changes
    one in place cannot change what the next caller gets."""
    key = make_key(kind, parts, code)
    with _lock:
        hit = _memory.get(key)
        if hit is not None:
            _memory.move_to_end(key)
    if hit is not None:
        counts[(kind, "memory")] += 1
        return _clone(hit[0]) if copy else hit[0]
    path = _path(kind, key)
    value = _read(path, key, fits) if path is not None else None
    if value is not None:
        counts[(kind, "disk")] += 1
    else:
        value = compute()
        counts[(kind, "computed")] += 1
        if path is not None:
            _write(path, key, kind, value)
    _keep(key, value)
    return _clone(value) if copy else value


def forget_memory() -> None:
    """Empty this process's memory of values (the disk keeps them)."""
    with _lock:
        _memory.clear()


def _keep(key: str, value: dict) -> None:
    size, limit = _nbytes(value), memory_limit_bytes()
    if size > limit:
        return
    with _lock:
        _memory[key] = (value, size)
        while sum(s for _, s in _memory.values()) > limit:
            _memory.popitem(last=False)


def _path(kind: str, key: str) -> Optional[Path]:
    folder = cache_dir()
    return None if folder is None else folder / f"{kind}-{key[:40]}.pt"


def _read(path: Path, key: str, fits: Callable[[dict], bool]) -> Optional[dict]:
    """The value kept in `path`, or None when there is none or it is not one of ours."""
    try:
        if not path.is_file():
            return None
        check_archive(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
        if (type(obj) is not dict or obj.get("format") != FORMAT or obj.get("key") != key
                or type(obj.get("value")) is not dict):
            return None
        value = obj["value"]
        return value if fits(value) else None
    except Exception:  # noqa: BLE001 - damaged, truncated, hostile: all mean "compute it again"
        return None


def _write(path: Path, key: str, kind: str, value: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save({"format": FORMAT, "kind": kind, "key": key, "value": value}, path)
    except OSError:
        pass                       # a read-only or full disk: the value stays in memory only


# --- what a kept value must look like ---------------------------------------------------------

def is_tensor(v: Any, dtype: torch.dtype, shape: tuple) -> bool:
    """A tensor of this dtype and shape (None in `shape`: any size there), all finite."""
    if not torch.is_tensor(v) or v.dtype != dtype or v.dim() != len(shape):
        return False
    if any(want is not None and got != want for got, want in zip(v.shape, shape)):
        return False
    return not v.is_floating_point() or bool(torch.isfinite(v).all())
