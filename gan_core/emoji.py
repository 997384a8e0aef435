"""The `emoji` set: real colour images that a machine with no internet but a package registry
can still get. Google's Noto emoji (images under the Apache License 2.0), as the npm package
`emoji-datasource-google` ships them: one 64x64 PNG per emoji, skin tones included, with a
category per emoji in its emoji.json (metadata under the MIT licence, emoji-data by Cal
Henderson).

    build_emoji(data_dir, source=None)   the package -> DATA_DIR/emoji/: images-64.npy (uint8
                                         (N, 3, 64, 64), composited on white), labels.npy,
                                         emoji.json (names, groups, source) and LICENSE.txt
    load_emoji(data_dir, download)       the built set as a Dataset (builds it first when it is
                                         missing and `download` is on)
    emoji_source_files(data_dir)         the files load_emoji reads ([] when not built)

The package is fetched with npm (`npm pack`, version and sha512 pinned below) once; the build
takes a few seconds and nothing is downloaded after it. Where the data folder cannot be written
(a shared read-only one), the set is built in the lab's cache folder (gan_core.cache) and
looked for there as well. The emoji are grouped by their Unicode category into GROUPS, the
class labels; the Component category (skin-tone swatches, hair parts) is left out, and so are
exact duplicates (the same picture under an old and a new name).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .data import Dataset, DatasetError
from .files import cache_dir

PACKAGE = "emoji-datasource-google"
VERSION = "16.0.0"
# the tarball's digest, as `npm view emoji-datasource-google@16.0.0 dist.integrity` prints it
INTEGRITY = ("sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJC"
             "oT8DlPhfQ3A==")
IMAGES = "img/google/64/"           # inside the package
SIZE = 64
FOLDER = "emoji"                    # under the data folder
FILES = ("images-64.npy", "labels.npy", "emoji.json")
FORMAT = 1                          # emoji.json's "format": a new one means build again
LICENCE_TEXT = Path(__file__).with_name("licences") / "Apache-2.0.txt"
CREDIT = ("Emoji images: Noto Emoji by Google (https://github.com/googlefonts/noto-emoji), "
          "Apache License 2.0, as packaged in the npm package emoji-datasource-google "
          f"{VERSION} by Cal Henderson (emoji-data, MIT licence).")

# The class labels: Unicode's emoji categories, faces split from the rest of Smileys & Emotion
# and plants from animals, so each group is one kind of picture.
GROUPS = ("faces", "people", "animals", "plants", "food", "travel", "activities", "objects",
          "symbols", "flags")
CATEGORIES = {"People & Body": "people", "Food & Drink": "food", "Travel & Places": "travel",
              "Activities": "activities", "Objects": "objects", "Symbols": "symbols",
              "Flags": "flags"}
MAX_JSON_BYTES = 32 * 2**20
MAX_PNG_BYTES = 2**20
MAX_IMAGES = 20_000                 # the pinned package has 3,786 PNGs; a tarball given by hand
                                    # with far more is refused before its memory runs out


def group_of(category: str, subcategory: str) -> str | None:
    """The group of an emoji from its category and subcategory; None: left out."""
    if category == "Smileys & Emotion":   # faces; hearts and the rest (100, anger) are symbols
        face = subcategory.startswith("face-") or subcategory in ("cat-face", "monkey-face")
        return "faces" if face else "symbols"
    if category == "Animals & Nature":
        return "plants" if subcategory.startswith("plant-") else "animals"
    return CATEGORIES.get(category)       # Component and anything new: None


# --- reading the package -----------------------------------------------------------------------

def _read_tarball(path: Path) -> tuple[bytes, dict[str, bytes], str]:
    """(emoji.json, {png name: bytes}, the package's LICENSE) from an npm tarball (package/...
    inside), in one pass over it."""
    meta, pngs, licence = None, {}, ""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                name = m.name.split("/", 1)[1] if "/" in m.name else m.name
                if name == "emoji.json" and m.size <= MAX_JSON_BYTES:
                    meta = tar.extractfile(m).read()
                elif name == "LICENSE" and m.size <= 65536:
                    licence = tar.extractfile(m).read().decode(errors="replace")
                elif (name.startswith(IMAGES) and name.endswith(".png") and "/" not in
                      name[len(IMAGES):] and m.size <= MAX_PNG_BYTES):
                    if len(pngs) >= MAX_IMAGES:
                        raise DatasetError(f"{path} holds over {MAX_IMAGES:,} emoji PNGs; is it "
                                           f"{PACKAGE}'s npm tarball?")
                    pngs[name[len(IMAGES):]] = tar.extractfile(m).read()
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DatasetError(f"cannot read the emoji package {path}: {e}") from None
    if meta is None:
        raise DatasetError(f"{path} holds no emoji.json: is it {PACKAGE}'s npm tarball?")
    return meta, pngs, licence


def _read_folder(path: Path) -> tuple[bytes, dict[str, bytes], str]:
    """The same from an unpacked package (node_modules/emoji-datasource-google, or a folder
    with package/ in it)."""
    root = path / "package" if (path / "package" / "emoji.json").is_file() else path
    meta_file, img_dir = root / "emoji.json", root / IMAGES
    if not meta_file.is_file() or meta_file.stat().st_size > MAX_JSON_BYTES:
        raise DatasetError(f"{path} holds no emoji.json: is it {PACKAGE}'s package folder?")
    files = sorted(img_dir.glob("*.png")) if img_dir.is_dir() else []
    if len(files) > MAX_IMAGES:
        raise DatasetError(f"{img_dir} holds {len(files):,} PNGs, over {MAX_IMAGES:,}; is it "
                           f"{PACKAGE}'s package folder?")
    pngs = {p.name: p.read_bytes() for p in files
            if p.is_file() and p.stat().st_size <= MAX_PNG_BYTES}
    lic = root / "LICENSE"
    licence = lic.read_text(errors="replace")[:65536] if lic.is_file() else ""
    return meta_file.read_bytes(), pngs, licence


def _entries(meta: bytes, source: Path) -> list[dict]:
    """One dict per picture (skin tones are pictures of their own): image, name, group,
    skin_tone (the variation's code, "" for the base emoji)."""
    try:
        items = json.loads(meta)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{source}: emoji.json is not JSON ({e})") from None
    if not isinstance(items, list):
        raise DatasetError(f"{source}: emoji.json should be a list of emoji")
    out = []
    for e in items:
        if not isinstance(e, dict):
            continue
        group = group_of(str(e.get("category", "")), str(e.get("subcategory", "")))
        if group is None or not isinstance(e.get("image"), str):
            continue
        name = str(e.get("short_name", ""))[:80]
        out.append({"image": e["image"], "name": name, "group": group, "skin_tone": ""})
        variations = e.get("skin_variations")
        for tone, v in (variations.items() if isinstance(variations, dict) else []):
            if isinstance(v, dict) and isinstance(v.get("image"), str):
                out.append({"image": v["image"], "name": name, "group": group,
                            "skin_tone": str(tone)[:40]})
    return out


def on_white(png: bytes) -> np.ndarray:
    """One PNG as (3, SIZE, SIZE) uint8: transparent parts become white, other sizes are
    resized (the package's are all 64x64)."""
    with Image.open(io.BytesIO(png)) as im:
        if im.width * im.height > 1024 * 1024:
            raise ValueError(f"{im.width}x{im.height} is too large")
        rgba = im.convert("RGBA")
    if rgba.size != (SIZE, SIZE):
        rgba = rgba.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    white.alpha_composite(rgba)
    return np.asarray(white.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)


# --- fetching and building -----------------------------------------------------------------------

def sha512_integrity(path: Path) -> str:
    """npm's form of a file's digest: sha512-<base64>."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def fetch_package(dest: Path, npm: str | None = None) -> Path:
    """The pinned tarball, fetched by `npm pack` into `dest` and checked against INTEGRITY."""
    npm = npm or shutil.which("npm")
    if not npm:
        raise DatasetError(
            f"emoji: npm is not installed, and the set is built from the npm package {PACKAGE}"
            f"@{VERSION}. Install Node.js and npm (Debian: apt-get install npm), or run "
            f"`npm pack {PACKAGE}@{VERSION}` on a machine that has it and build from the file "
            f"with `python -m gan_core emoji build --from FILE.tgz`.")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination",
                               str(dest), "--silent"], capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DatasetError(f"emoji: `npm pack {PACKAGE}@{VERSION}` failed: {e}") from None
    tarball = dest / f"{PACKAGE}-{VERSION}.tgz"
    if done.returncode != 0 or not tarball.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DatasetError(f"emoji: `npm pack {PACKAGE}@{VERSION}` failed (exit "
                           f"{done.returncode}): {' '.join(tail) or 'no message'}")
    got = sha512_integrity(tarball)
    if got != INTEGRITY:
        tarball.unlink()
        raise DatasetError(f"emoji: the fetched {tarball.name} is not the pinned one "
                           f"(sha512 {got[:24]}..., expected {INTEGRITY[:24]}...)")
    return tarball


def emoji_dirs(data_dir: Path) -> list[Path]:
    """Where the built set is looked for: DATA_DIR/emoji, then the lab's cache folder."""
    folder = cache_dir()
    return [Path(data_dir) / FOLDER] + ([folder / FOLDER] if folder is not None else [])


def _has_write_bits(folder: Path) -> bool:
    """Whether the folder, or the nearest one above it that exists, has any write bit: a shared
    folder laid read-only stays unwritten even by root, whom the bits do not stop."""
    for f in [folder, *folder.parents]:
        if f.exists():
            return f.is_dir() and bool(f.stat().st_mode & 0o222)
    return False


def _writable_dir(data_dir: Path) -> Path:
    for d in emoji_dirs(data_dir):
        if not _has_write_bits(d):
            continue
        try:
            d.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=d):
                return d
        except OSError:
            continue
    raise DatasetError(f"emoji: cannot write to {' or '.join(map(str, emoji_dirs(data_dir)))}; "
                       f"give a data folder you can write to (--data-dir, GAN_DATA_DIR)")


def _licence(package_licence: str) -> str:
    about = ("The images (images-64.npy here) are under the Apache License 2.0, below; the "
             "names and categories in emoji.json come from the package's metadata, under the "
             "MIT licence, the package's LICENSE after it.")
    text = [CREDIT, "", about, "", "=" * 72, LICENCE_TEXT.read_text(), "=" * 72,
            f"{PACKAGE}'s LICENSE:", "", package_licence or "(not found in the package)"]
    return "\n".join(text) + "\n"


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
    os.replace(tmp, path)


def build_emoji(data_dir: str | Path, source: str | Path | None = None) -> Path:
    """Build the set from `source` (the npm tarball or an unpacked package folder; None: fetch
    the pinned tarball with npm) into DATA_DIR/emoji (or the cache folder when the data folder
    cannot be written). Returns the folder."""
    out = _writable_dir(Path(data_dir))
    fetched = None
    if source is None:
        fetched = fetch_package(out)
        source = fetched
    source = Path(source)
    if source.is_dir():
        meta, pngs, package_licence = _read_folder(source)
    elif source.is_file():
        meta, pngs, package_licence = _read_tarball(source)
    else:
        raise DatasetError(f"emoji: {source} is neither the package's tarball nor its folder")
    images, items, seen, skipped = [], [], set(), []
    for e in _entries(meta, source):
        png = pngs.get(e["image"])
        if png is None:
            skipped.append(f"{e['image']} (missing)")
            continue
        try:
            img = on_white(png)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            skipped.append(f"{e['image']} ({type(err).__name__})")
            continue
        digest = hashlib.sha1(img.tobytes()).digest()
        if digest in seen:            # the same picture under an old name: keep it once
            continue
        seen.add(digest)
        images.append(img)
        items.append(e)
    if not images:
        raise DatasetError(f"emoji: no images could be read from {source} "
                           f"({'; '.join(skipped[:3]) or 'emoji.json lists none'})")
    labels = np.array([GROUPS.index(e["group"]) for e in items], dtype=np.int64)
    _save_npy(out / FILES[0], np.stack(images))
    _save_npy(out / FILES[1], labels)
    info = {"format": FORMAT, "package": PACKAGE, "version": VERSION, "credit": CREDIT,
            "groups": list(GROUPS), "skipped": skipped[:50], "items": items}
    (out / FILES[2]).write_text(json.dumps(info, ensure_ascii=False))
    (out / "LICENSE.txt").write_text(_licence(package_licence))
    if fetched is not None:
        fetched.unlink()              # npm keeps its own copy in its cache
    return out


# --- loading ----------------------------------------------------------------------------------

def _built_dir(data_dir: Path) -> Path | None:
    return next((d for d in emoji_dirs(data_dir) if all((d / f).is_file() for f in FILES)), None)


def emoji_source_files(data_dir: Path) -> list[Path]:
    """The files load_emoji reads ([] when the set is not built)."""
    folder = _built_dir(Path(data_dir))
    return [folder / f for f in FILES] if folder else []


def load_emoji(data_dir: str | Path, download: bool = True) -> Dataset:
    """The whole set, (N, 3, 64, 64) uint8 with a group label each; built first (npm) when it
    is missing and `download` is on."""
    data_dir = Path(data_dir)
    folder = _built_dir(data_dir)
    if folder is None:
        if not download:
            raise DatasetError(
                f"emoji is not built in {data_dir / FOLDER}: run `python -m gan_core emoji "
                f"build` (fetches the npm package {PACKAGE}@{VERSION} once)")
        folder = build_emoji(data_dir)
    try:
        info = json.loads((folder / FILES[2]).read_text())
        images = np.load(folder / FILES[0], allow_pickle=False)
        labels = np.load(folder / FILES[1], allow_pickle=False)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"emoji: cannot read the set in {folder} ({e}); build it again with "
                           f"`python -m gan_core emoji build`") from None
    ok = (isinstance(info, dict) and info.get("format") == FORMAT
          and info.get("groups") == list(GROUPS) and images.dtype == np.uint8
          and images.ndim == 4 and images.shape[1:] == (3, SIZE, SIZE) and labels.ndim == 1
          and labels.dtype == np.int64 and len(labels) == len(images) > 0
          and 0 <= labels.min() and labels.max() < len(GROUPS))
    if not ok:
        raise DatasetError(f"emoji: the files in {folder} are not a set this version built "
                           f"(shapes {images.shape}, {labels.shape}); build it again with "
                           f"`python -m gan_core emoji build`")
    counts = np.bincount(labels, minlength=len(GROUPS))
    groups = ", ".join(f"{g} {c}" for g, c in zip(GROUPS, counts))
    return Dataset("emoji", torch.from_numpy(images), torch.from_numpy(labels), list(GROUPS),
                   f"emoji: {len(images):,} Noto emoji at 64x64 from {folder} ({groups}). "
                   f"Images: Google, Apache License 2.0.")
