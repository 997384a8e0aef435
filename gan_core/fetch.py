"""Download a dataset of gan_core.sources into its on-disk form, safely.

    fetch(name, data_dir)      download (resuming a partial file), check the official MD5,
                               and only then unpack; returns what it did, in a sentence

Each file downloads to `NAME.part` in the set's own folder, with an HTTP Range request when a
`.part` is already there (a resumed download), and is renamed to its name only once its MD5 is
the official one. An archive is opened only after that check, unpacked member by member into a
hidden staging folder (regular files only: no links, no absolute or `..` paths, a size cap
against bombs), and moved into place at the end. CIFAR-10's pickled batches are read once, by
an unpickler that builds nothing but numpy arrays, lists and dicts, and converted to uint8
`.npy` files, which is all the lab reads afterwards (`np.load(allow_pickle=False)`).

A failed fetch raises FetchError with one line, and leaves nothing behind: no staging folder,
no folder it created (empty MNIST/raw included), no `.part` that failed its check. Only the
`.part` of a download cut off by the network or Ctrl-C stays, so the same command resumes it;
the message says so. A file put in the folder by hand under its own name (for example from a
browser, when a site needs a login) is checked and unpacked like a download.
"""
from __future__ import annotations

import http.client
import json
import os
import pickle
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, ClassVar

import numpy as np

from .data import DatasetError
from .emoji import build_emoji
from .sources import (
    MANIFEST,
    RemoteFile,
    Source,
    check,
    files_here,
    get,
    how_to_get,
    md5_of,
    megabytes,
    sha256_of,
)

CHUNK = 1 << 16
TIMEOUT_S = 30
UNPACK_RATIO = 4          # an archive may unpack to at most this many times its size (+ 10 MB)


class FetchError(Exception):
    """A fetch that did not complete; str() is the one line to show."""


class Resumable(FetchError):
    """Cut off by the network or the user: the `.part` stays for the next try."""


# --- progress --------------------------------------------------------------------------------

class Progress:
    """A bar on a terminal (redrawn in place), plain lines every 10 seconds or 25% otherwise."""

    def __init__(self, stream: IO | None = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label, self.total, self.done, self.start = "", 0, 0, 0.0
        self.last_t, self.last_quarter = 0.0, -1

    def begin(self, label: str, total: int, already: int = 0) -> None:
        self.label, self.total, self.done = label, total, already
        self.start = self.last_t = time.monotonic()
        self.last_quarter = -1
        if already:
            self.line(f"{label}: resuming at {megabytes(already)}")
        self.update(0)

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        frac = self.done / self.total if self.total else 0.0
        rate = (self.done / max(now - self.start, 1e-6)) if self.done else 0.0
        text = (f"{self.label}: {frac:4.0%} {megabytes(self.done)} of {megabytes(self.total)}"
                f" ({megabytes(int(rate))}/s)")
        if self.tty:
            if now - self.last_t >= 0.1 or frac >= 1:
                width = 24
                bar = "#" * int(width * min(frac, 1)) + "-" * (width - int(width * min(frac, 1)))
                self.stream.write(f"\r[{bar}] {text}   ")
                self.stream.flush()
                self.last_t = now
        elif int(frac * 4) > self.last_quarter or now - self.last_t >= 10:
            self.last_quarter, self.last_t = int(frac * 4), now
            self.line(text)

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


# --- downloading -----------------------------------------------------------------------------

def download(url: str, part: Path, size: int, progress: Progress) -> None:
    """Append `url` to `part` from its current length (a Range request), until the server has
    no more. A server that ignores Range starts the file over. Network failures raise
    Resumable, a refusal (HTTP error, a web page instead of the file) FetchError; the disk's
    own errors (OSError) pass through."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gan-teaching-lab"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:      # nothing after what we have: it is complete
            return
        raise FetchError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise Resumable(f"{url}: {getattr(e, 'reason', None) or e}") from None
    with response:
        if (response.headers.get("Content-Type") or "").startswith("text/html"):
            raise FetchError(f"{url} sent a web page, not the file (the site may want a "
                             f"login or a confirmation)")
        resumed = bool(have) and response.status == 206
        length = int(response.headers.get("Content-Length") or 0)
        start = have if resumed else 0
        progress.begin(part.name[:-len(".part")], start + length if length else size, start)
        with open(part, "ab" if resumed else "wb") as out:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise Resumable(f"{url}: the connection broke ({type(e).__name__})") from None
                if not block:
                    break
                out.write(block)
                progress.update(len(block))
            written = out.tell()
        progress.end()
        if length and written < start + length:
            raise Resumable(f"{url}: the connection closed early")


def download_any(f: RemoteFile, part: Path, progress: Progress) -> None:
    """Try each mirror in turn: Resumable when the last failure was the network's."""
    if not f.urls:
        raise FetchError(f"{f.name} has no download address")
    error: FetchError | None = None
    for url in f.urls:
        try:
            download(url, part, f.size, progress)
            return
        except FetchError as e:
            error = e
    if isinstance(error, Resumable):
        raise error
    raise FetchError(f"{error}; to get it by hand, download {f.urls[0]} into {part.parent} "
                     f"and run the same command again")


# --- unpacking -------------------------------------------------------------------------------

def _safe_parts(name: str) -> tuple[str, ...] | None:
    """A member's path as parts, or None when it is absolute or climbs out with '..'."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(x in ("..", "") for x in p.parts) \
            or ":" in p.parts[0]:
        return None
    return tuple(x for x in p.parts if x != ".")


def members(archive: Path, kind: str) -> Iterator[tuple[tuple[str, ...], IO[bytes]]]:
    """(path parts, readable) of each regular file of a tar.gz or zip; refuses links, devices,
    escaping paths and more than UNPACK_RATIO times the archive's size."""
    budget = UNPACK_RATIO * archive.stat().st_size + 10_000_000
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise FetchError(f"{archive.name} holds a link ({info.filename}); "
                                         f"refused")
                    budget -= info.file_size
                    yield _checked(archive, info.filename, budget), z.open(info)
        else:
            with tarfile.open(archive, "r:gz") as t:
                for m in t:
                    if m.isdir():
                        continue
                    if not m.isfile():
                        raise FetchError(f"{archive.name} holds {m.name}, which is not a "
                                         f"plain file; refused")
                    budget -= m.size
                    yield _checked(archive, m.name, budget), t.extractfile(m)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise FetchError(f"{archive.name} is corrupt ({type(e).__name__}: {e})") from None


def _checked(archive: Path, name: str, budget: int) -> tuple[str, ...]:
    parts = _safe_parts(name)
    if parts is None:
        raise FetchError(f"{archive.name} holds a path outside its folder ({name!r}); refused")
    if budget < 0:
        raise FetchError(f"{archive.name} unpacks to more than {UNPACK_RATIO}x its size; "
                         f"refused")
    return parts


def unpack(src: Source, archive: Path, staging: Path) -> dict[str, str]:
    """Unpack `archive` into `staging` in the set's on-disk form; {relative path: SHA-256}."""
    kind = "zip" if src.unpack == "zip" else "tar"
    root = ("cifar-10-batches-py",) if src.unpack == "cifar10" else ()
    for parts, reader in members(archive, kind):
        if root and parts[:len(root)] == root:
            parts = parts[len(root):]
        if not parts:
            continue
        out = staging.joinpath(*parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        with reader, open(out, "wb") as f:
            try:
                shutil.copyfileobj(reader, f, CHUNK)
            except (zlib.error, EOFError, tarfile.TarError, zipfile.BadZipFile) as e:
                raise FetchError(f"{archive.name} is corrupt ({type(e).__name__})") from None
    if src.unpack == "cifar10":
        cifar_to_npy(staging)
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    if not files:
        raise FetchError(f"{archive.name} holds no files")
    return {p.relative_to(staging).as_posix(): sha256_of(p) for p in files}


class ArrayUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, numbers and numpy arrays; any other class is refused, so a
    pickle cannot run code through this reader."""
    ALLOWED: ClassVar[frozenset] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")})

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels uint8 (N,)) of one CIFAR-10 python batch."""
    try:
        with open(path, "rb") as f:
            d = ArrayUnpickler(f, encoding="latin1").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        x = np.asarray(d["data"], dtype=np.uint8)
        y = np.asarray(d["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, AttributeError, TypeError,
            ValueError) as e:
        raise FetchError(f"{path.name} is not a CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or y.shape != (len(x),) \
            or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise FetchError(f"{path.name} is not a CIFAR-10 batch (shape {x.shape})")
    return x.reshape(-1, 3, 32, 32), y.astype(np.uint8)


def cifar_to_npy(folder: Path) -> None:
    """The batches in `folder` as train_/test_images.npy and _labels.npy."""
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]),
                         ("test", ["test_batch"])):
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise FetchError(f"the CIFAR-10 archive is incomplete or corrupt: it has no "
                             f"{missing[0]}")
        xs, ys = zip(*(read_cifar_batch(folder / n) for n in names))
        np.save(folder / f"{split}_images.npy", np.concatenate(xs))
        np.save(folder / f"{split}_labels.npy", np.concatenate(ys))


# --- the whole fetch -------------------------------------------------------------------------

@dataclass
class Cleanup:
    """What a fetch created, so a failure can take it back."""
    dirs: list[Path] = field(default_factory=list)      # created, outermost first
    parts: list[Path] = field(default_factory=list)
    staging: Path | None = None

    def makedirs(self, folder: Path) -> None:
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir()
            self.dirs.append(d)

    def undo(self, keep_parts: bool) -> list[Path]:
        """Remove what was made; returns the .part files kept (non-empty, when resumable)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        kept = []
        for p in self.parts:
            if keep_parts and p.exists() and p.stat().st_size:
                kept.append(p)
            else:
                p.unlink(missing_ok=True)
        for d in reversed(self.dirs):
            try:
                d.rmdir()           # only when empty: a kept .part keeps its folder
            except OSError:
                pass
        return kept


def check_folder(data_dir: Path, create: bool, cleanup: Cleanup) -> None:
    if data_dir.exists():
        if not data_dir.is_dir():
            raise FetchError(f"the data folder {data_dir} is a file, not a folder")
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise FetchError(f"cannot write to the data folder {data_dir}; choose another "
                             f"with --data-dir")
    elif create:
        cleanup.makedirs(data_dir)
    else:
        raise FetchError(f"the data folder {data_dir} does not exist; create it first, or "
                         f"leave --data-dir out to use the lab's own data/")


def fetch(name: str, data_dir: Path, *, create: bool = False,
          progress: Progress | None = None) -> str:
    """Put `name` into `data_dir` in its on-disk form; a sentence saying what was done.
    create: make `data_dir` if it is missing (the lab's default folder; never a typed one)."""
    try:
        src = get(name)
    except KeyError as e:
        raise FetchError(e.args[0]) from None
    progress = progress or Progress()
    here = files_here(name, data_dir) if data_dir.is_dir() else []
    if here and (src.unpack != "none" or len(here) == len(src.files)):
        bad = [row for row in check(name, data_dir) if row[1] in ("BAD", "missing")]
        if bad:
            raise FetchError(f"{name} is in {here[0].parent} but {bad[0][0]} fails its check "
                             f"({bad[0][2]}); delete it and fetch again")
        return f"{name} is already here: {here[0].parent} (checked)"
    if src.manual:
        raise FetchError(f"{name}: {how_to_get(name, data_dir)}")
    if src.unpack == "build":
        try:
            return f"{name}: built into {build_emoji(data_dir)}"
        except (DatasetError, OSError) as e:
            raise FetchError(str(e) if str(e).startswith(name) else f"{name}: {e}") from None
    cleanup = Cleanup()
    try:
        check_folder(data_dir, create, cleanup)
        target = src.where(data_dir)
        cleanup.makedirs(target)
        wanted = [f for f in src.files if not (target / f.name).exists()
                  or src.unpack != "none"]
        ready = [_get_file(f, target, cleanup, progress) for f in wanted]
        if src.unpack == "none":
            for f, part in zip(wanted, ready):
                part.replace(target / f.name)
            for f in src.files:     # the ones that were already there (put by hand) too
                if md5_of(target / f.name) != f.md5:
                    raise FetchError(f"{target / f.name} is not the official file (its MD5 is "
                                     f"not {f.md5}); delete it and fetch again")
        else:
            _unpack_into(src, ready[0], target, cleanup)
    except KeyboardInterrupt:
        kept = cleanup.undo(keep_parts=True)
        raise Resumable(_resume_note(f"{name}: interrupted", kept)) from None
    except Resumable as e:
        kept = cleanup.undo(keep_parts=True)
        urls = " ".join(f.urls[0] for f in src.files if f.urls)
        raise Resumable(_resume_note(f"{name}: download failed ({e}); to get it by hand, "
                                     f"download {urls} into {src.where(data_dir)}", kept)) from None
    except FetchError as e:
        cleanup.undo(keep_parts=False)
        raise FetchError(f"{name}: {e}") from None
    except OSError as e:
        cleanup.undo(keep_parts=False)
        raise FetchError(f"{name}: cannot write {e.filename or data_dir}: "
                         f"{e.strerror or e}") from None
    return f"{name}: {megabytes(src.size)} fetched and checked into {target}"


def _resume_note(text: str, kept: list[Path]) -> str:
    if not kept:
        return text + "; nothing was left behind"
    return (text + f"; the partial download {kept[0]} is kept: run the same command again "
                   f"to resume it (or delete it)")


def _get_file(f: RemoteFile, target: Path, cleanup: Cleanup, progress: Progress) -> Path:
    """The file downloaded (or put there by hand) and matching its official MD5."""
    final, part = target / f.name, target / (f.name + ".part")
    if final.exists():          # put here by hand: check it like a download
        progress.line(f"{f.name}: found in {target}, checking it")
        if md5_of(final) != f.md5:
            raise FetchError(f"{final} is not the official file (MD5 {md5_of(final)}, "
                             f"expected {f.md5}); delete it and fetch again")
        return final
    cleanup.parts.append(part)
    download_any(f, part, progress)
    got = md5_of(part)
    if got != f.md5:
        raise FetchError(f"{f.name} failed its checksum (MD5 {got}, official {f.md5}); the "
                         f"download was deleted and nothing was unpacked")
    return part


def _unpack_into(src: Source, archive: Path, target: Path, cleanup: Cleanup) -> None:
    staging = target / f".unpack-{src.name}"
    shutil.rmtree(staging, ignore_errors=True)
    cleanup.staging = staging
    staging.mkdir()
    digests = unpack(src, archive, staging)
    for entry in sorted(staging.iterdir()):
        dest = target / entry.name
        if dest.is_dir():
            shutil.rmtree(dest)
        entry.replace(dest)
    (target / MANIFEST).write_text(json.dumps({"source": src.files[0].urls[0] if src.files[0].urls
                                               else src.name, "md5": src.files[0].md5,
                                               "files": digests}, indent=0))
    staging.rmdir()
    cleanup.staging = None
    archive.unlink()

