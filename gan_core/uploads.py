"""Untrusted image uploads (loose files or zips) turned into a `folder:` dataset, safely.

Every file is decoded with Pillow and written back as a fresh PNG under a name this module
picks, so nothing of the upload's own paths or bytes reaches the disk as it came:

  - zip entries whose path is absolute, climbs out with `..`, or is a link are skipped
  - a zip that would unpack to more than `max_total_bytes`, or one entry that would unpack to
    more than `max_file_bytes`, or an entry compressed more than `max_ratio` times, is refused
    (the sizes a zip declares are not trusted: reading stops at the limit)
  - more than `max_files` entries: refused
  - two entries of the same name, entries whose data overlap (so one small stretch of bytes
    is unpacked again and again), or whose local header disagrees with the zip's central
    directory: the whole zip is refused (Python's zipfile accepts all three)
  - more than `max_total_pixels` decoded, or more than `max_seconds` spent decoding: refused
  - non-images and truncated images are skipped and listed; images over `max_pixels` are
    refused before they are decoded (Pillow's decompression-bomb guard is on as well)

Subfolders become classes, as for `folder:`: a zip of happy/*.png and sad/*.png is labelled.

The app calls `save_uploads_isolated`, which does all of this in a separate process with a
memory cap and a time limit (gan_core/sandbox.py): no upload can stall the server.
"""
from __future__ import annotations

import io
import shutil
import stat
import struct
import tempfile
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from PIL import Image, UnidentifiedImageError

from .data import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS
from .files import copy_to_file
from .sandbox import SandboxError, run_isolated


class UploadError(ValueError):
    """The whole upload is refused; the message says why and what to change."""


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 5000                  # entries per upload (loose files plus zip entries)
    max_total_bytes: int = 300 * 2**20     # everything unpacked
    max_file_bytes: int = 25 * 2**20       # one image, unpacked
    max_ratio: float = 100.0               # unpacked / packed size of one zip entry
    max_pixels: int = MAX_IMAGE_PIXELS
    max_side: int = 256                    # images are stored at most this big (models use <= 64)
    max_total_pixels: int = 250_000_000    # decoded, over the whole upload (5,000 images of
                                           # 220x220, or six 6000x6000 photos)
    max_seconds: float = 60.0              # decoding, over the whole upload


@dataclass
class UploadReport:
    folder: Path
    saved: int = 0
    classes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)      # "name: reason"

    @property
    def summary(self) -> str:
        text = f"{self.saved} images saved"
        if self.classes:
            text += f" in {len(self.classes)} classes ({', '.join(self.classes[:10])})"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped: " + "; ".join(self.skipped[:5])
            if len(self.skipped) > 5:
                text += f"; and {len(self.skipped) - 5} more"
        return text + "."


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path inside an upload as safe parts, or None when it would leave the folder."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = PurePosixPath(name).parts
    if any(p in ("..", "") for p in parts):
        return None
    return tuple(p for p in parts if p != ".")


def _class_of(parts: tuple[str, ...]) -> str:
    """The folder an image sits in, cleaned to a safe name ('' for the top level)."""
    if len(parts) < 2:
        return ""
    keep = "".join(c if c.isalnum() or c in "-_ " else "_" for c in parts[-2]).strip()
    return keep[:40] or "class"


class _Writer:
    def __init__(self, folder: Path, limits: UploadLimits):
        self.folder, self.limits = folder, limits
        self.report = UploadReport(folder)
        self.entries = 0
        self.total = 0
        self.counter = 0
        self.pixels = 0
        self.start = time.monotonic()

    def count(self, n: int = 1) -> None:
        self.entries += n
        if self.entries > self.limits.max_files:
            raise UploadError(f"the upload holds more than {self.limits.max_files} files; "
                              f"upload at most {self.limits.max_files} images")

    def add_bytes(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise UploadError(f"the upload unpacks to more than "
                              f"{self.limits.max_total_bytes // 2**20} MB; upload fewer or "
                              f"smaller images")

    def image(self, name: str, parts: tuple[str, ...], data: bytes) -> None:
        lim = self.limits
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            self.report.skipped.append(f"{name}: not an image file "
                                       f"({', '.join(sorted(IMAGE_SUFFIXES))})")
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as im:
                    if im.width * im.height > lim.max_pixels:
                        self.report.skipped.append(
                            f"{name}: {im.width}x{im.height} pixels, more than the limit of "
                            f"{lim.max_pixels:,}")
                        return
                    self._spend(im.width * im.height)
                    im.load()                         # truncated files fail here
                    im = im.convert("RGB")
                    im.thumbnail((lim.max_side, lim.max_side))
        except UploadError:                  # a limit of the whole upload (a ValueError)
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            self.report.skipped.append(f"{name}: more pixels than the limit of "
                                       f"{lim.max_pixels:,} (a decompression bomb?)")
            return
        except UnidentifiedImageError:
            self.report.skipped.append(f"{name}: not a readable image")
            return
        except (OSError, ValueError, SyntaxError) as e:
            self.report.skipped.append(f"{name}: damaged or truncated ({e})")
            return
        cls = _class_of(parts)
        target = self.folder / cls if cls else self.folder
        target.mkdir(parents=True, exist_ok=True)
        self.counter += 1
        im.save(target / f"img_{self.counter:05d}.png")
        self.report.saved += 1

    def _spend(self, pixels: int) -> None:
        """Count decoded pixels and decoding time against the upload's limits."""
        lim = self.limits
        self.pixels += pixels
        if self.pixels > lim.max_total_pixels:
            raise UploadError(f"the upload decodes to more than {lim.max_total_pixels:,} "
                              f"pixels; upload fewer or smaller images")
        if time.monotonic() - self.start > lim.max_seconds:
            raise UploadError(f"decoding the upload took more than {lim.max_seconds:.0f} s; "
                              f"upload fewer or smaller images")

    def loose(self, name: str, data: bytes) -> None:
        self.count()
        if len(data) > self.limits.max_file_bytes:
            self.report.skipped.append(f"{name}: {len(data) // 2**20} MB, more than the "
                                       f"{self.limits.max_file_bytes // 2**20} MB limit")
            return
        self.add_bytes(len(data))
        self.image(PurePosixPath(name.replace("\\", "/")).name, (name,), data)

    def zip(self, name: str, data: bytes) -> None:
        lim = self.limits
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise UploadError(f"{name} is not a readable zip file ({e})") from None
        with archive:
            check_zip_layout(archive, data, name)
            infos = [i for i in archive.infolist() if not i.is_dir()]
            self.count(len(infos))
            declared = sum(i.file_size for i in infos)
            if declared + self.total > lim.max_total_bytes:
                raise UploadError(f"{name} would unpack to {declared // 2**20} MB, more than "
                                  f"the {lim.max_total_bytes // 2**20} MB limit; upload fewer "
                                  f"or smaller images")
            for info in infos:
                entry = f"{name}:{info.filename}"
                parts = _safe_parts(info.filename)
                if parts is None:
                    self.report.skipped.append(f"{entry}: path leaves the upload folder")
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    self.report.skipped.append(f"{entry}: a link, not a file")
                    continue
                if parts[0] == "__MACOSX" or parts[-1].startswith("."):
                    continue                          # Finder's resource forks and dot files
                if info.file_size > lim.max_file_bytes or (
                        info.compress_size and info.file_size / info.compress_size > lim.max_ratio
                        and info.file_size > 2**20):
                    raise UploadError(f"{entry} unpacks to {info.file_size // 2**20} MB from "
                                      f"{max(info.compress_size, 1) // 1024} KB: a zip bomb, "
                                      f"or an image too large for this lab")
                data = self._read(archive, info, entry)
                if data is not None:
                    self.image(entry, parts, data)

    def _read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: str) -> bytes | None:
        """Read at most max_file_bytes, whatever the header says."""
        cap = self.limits.max_file_bytes
        chunks, n = [], 0
        try:
            with archive.open(info) as f:
                while True:
                    chunk = f.read(min(1 << 20, cap + 1 - n))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    n += len(chunk)
                    self.add_bytes(len(chunk))
                    if n > cap:
                        raise UploadError(f"{entry} unpacks to more than {cap // 2**20} MB "
                                          f"although its header says {info.file_size} bytes")
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError,
                RuntimeError) as e:      # damaged data, bad CRC, encrypted entries
            self.report.skipped.append(f"{entry}: cannot be unpacked ({e})")
            return None
        return b"".join(chunks)


_LOCAL = struct.Struct("<4sHHHHHIIIHH")     # a zip local file header, 30 bytes


def check_zip_layout(archive: zipfile.ZipFile, data: bytes, name: str) -> None:
    """Refuse a zip whose entries share a name or bytes, or whose local headers disagree with
    the central directory. Each such trick makes one stretch of compressed bytes count as
    many entries (one 27 s decode turned into 40 from a small file)."""
    infos = archive.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UploadError(f"{name} holds two entries named {dup[:80]!r}; a zip made by a "
                          f"normal tool never does")
    spans = []
    for i in infos:
        at = i.header_offset
        if at < 0 or at + _LOCAL.size > len(data):
            raise UploadError(f"{name}: entry {i.filename[:80]!r} points outside the file")
        sig, _, flags, method, _, _, crc, csize, usize, n_name, n_extra = \
            _LOCAL.unpack_from(data, at)
        raw_name = data[at + _LOCAL.size:at + _LOCAL.size + n_name]
        encoding = "utf-8" if flags & 0x800 else "cp437"
        same = sig == b"PK\x03\x04" and method == i.compress_type and \
            raw_name.decode(encoding, "replace") == i.orig_filename
        if same and not flags & 0x08:          # sizes are in the header, not after the data
            same = (crc, csize, usize) == (i.CRC, i.compress_size, i.file_size)
        if not same:
            raise UploadError(f"{name}: the local header of {i.filename[:80]!r} disagrees with "
                              f"the zip's directory; the file is damaged or crafted")
        spans.append((at, at + _LOCAL.size + n_name + n_extra + i.compress_size, i.filename))
    spans.sort()
    end_of_entries = getattr(archive, "start_dir", len(data))
    for (a0, a1, a_name), (b0, _, b_name) in zip(spans, spans[1:] + [(end_of_entries, 0, "")]):
        if a1 > b0:
            what = f"{b_name[:80]!r}" if b_name else "the zip's directory"
            raise UploadError(f"{name}: the entries {a_name[:80]!r} and {what} overlap (the "
                              f"same bytes would be unpacked twice); the file is crafted")


def save_uploads(files: Iterable[tuple[str, bytes]], folder: str | Path,
                 limits: UploadLimits = UploadLimits()) -> UploadReport:
    """Check and store uploaded images and zips in `folder` (created; must be empty).

    Raises UploadError when the upload as a whole is refused (nothing is kept then) or when
    no image in it could be read.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise UploadError(f"{folder} is not empty; uploads go into a fresh folder")
    folder.mkdir(parents=True, exist_ok=True)
    w = _Writer(folder, limits)
    try:
        for name, data in files:
            if PurePosixPath(name).suffix.lower() == ".zip":
                w.zip(name, data)
            else:
                w.loose(name, data)
        if not w.report.saved:
            why = "; ".join(w.report.skipped[:3]) or "it was empty"
            raise UploadError(f"no image in the upload could be used ({why})")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    w.report.classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    top_level = [p for p in folder.iterdir() if p.is_file()]
    if w.report.classes and top_level:       # mixed: no labels, as load_folder would decide
        w.report.skipped.append(f"{len(top_level)} images outside any class folder, so the "
                                f"set is treated as unlabelled")
        w.report.classes = []
    return w.report


def _save_uploads_plain(files: list[tuple[str, str]], folder: str, limits: dict) -> dict:
    """Run in the sandbox: save_uploads of files handed over as paths (name, path), each read
    only when its turn comes, with a plain-data answer."""
    r = save_uploads(((name, Path(path).read_bytes()) for name, path in files), folder,
                     UploadLimits(**limits))
    return {"saved": r.saved, "classes": r.classes, "skipped": r.skipped}


def _size(data) -> int:
    """The size of bytes or of an open file (Streamlit's UploadedFile has `.size`), unread."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    size = getattr(data, "size", None)
    if isinstance(size, int):
        return size
    here = data.tell()
    end = data.seek(0, io.SEEK_END)
    data.seek(here)
    return end


def check_upload_sizes(sizes: Iterable[tuple[str, int]],
                       limits: UploadLimits = UploadLimits()) -> list[str]:
    """The upload judged by its files' sizes alone, before any of their bytes are read.

    Returns the names of loose images over `max_file_bytes` with the reason (save_uploads
    would skip them; here they are never read); raises UploadError when the other files
    together are more than `max_total_bytes` (a zip is at most about as large as what it
    unpacks to) or when nothing is left. Three 150 MB images grew the server by 900 MB, copied and sent
    to the reader, before each was refused for size.
    """
    skipped, total, left = [], 0, 0
    for name, size in sizes:
        if PurePosixPath(name).suffix.lower() != ".zip" and size > limits.max_file_bytes:
            skipped.append(f"{name}: {size // 2**20} MB, more than the "
                           f"{limits.max_file_bytes // 2**20} MB limit")
            continue
        left += 1
        total += size
        if total > limits.max_total_bytes:
            raise UploadError(f"the upload is more than {limits.max_total_bytes // 2**20} MB; "
                              f"upload fewer or smaller images")
    if not left:
        why = "; ".join(skipped[:3]) or "it was empty"
        raise UploadError(f"no image in the upload could be used ({why})")
    return skipped


def save_uploads_isolated(files: Iterable[tuple[str, object]], folder: str | Path,
                          limits: UploadLimits = UploadLimits(), timeout_s: float = 120.0,
                          memory_mb: int = 1024) -> UploadReport:
    """save_uploads in a separate process with a memory cap (on top of the largest file) and
    a time limit; a refused, stopped or failed upload is an UploadError and leaves nothing.

    `files` are (name, bytes or an open binary file such as Streamlit's UploadedFile). Sizes
    are checked first, without reading (check_upload_sizes); then each file is copied in
    chunks to a private temporary folder and the reader gets the paths, not copies of the
    bytes in memory."""
    files = [(str(n), d, _size(d)) for n, d in files]
    try:
        skipped = check_upload_sizes([(n, size) for n, _, size in files], limits)
    except UploadError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    with tempfile.TemporaryDirectory(prefix="gan-lab-upload-") as tmp:
        paths, largest = [], 0
        for i, (name, data, size) in enumerate(files):
            if PurePosixPath(name).suffix.lower() != ".zip" and size > limits.max_file_bytes:
                continue                    # skipped above, never read
            path = copy_to_file(data, Path(tmp) / f"{i}.bin")
            largest = max(largest, path.stat().st_size)
            paths.append((name, str(path)))
        try:
            r = run_isolated(_save_uploads_plain, paths, str(folder), asdict(limits),
                             timeout_s=timeout_s, memory_mb=memory_mb + 2 * (largest // 2**20),
                             errors=(UploadError,))
        except SandboxError as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise UploadError(f"the upload was stopped: {e}") from None
    return UploadReport(Path(folder), r["saved"], list(r["classes"]),
                        skipped + list(r["skipped"]))
