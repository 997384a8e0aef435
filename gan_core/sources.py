"""Where each dataset of the papers comes from: one registry, `SOURCES`, of the files to
download (URLs, official checksums, sizes), the licence, and the form the set takes on disk.

    on_disk(name, data_dir)       whether the set's files are here (what its loader reads)
    status(name, data_dir)        on disk or not, where, how big, how to get it (`data list`)
    check(name, data_dir)         each file on disk against its official checksum (`data check`)
    missing_line(name, data_dir)  one line for a page or an error: what is missing, and the one
                                  command (or, for FER-2013, the steps) that gets it

The checksums are the MD5s torchvision's dataset classes carry (torchvision/datasets/mnist.py,
cifar.py, celeba.py, oxford_iiit_pet.py, fer2013.py), which are the publishers' files as they
are served. Sets that arrive as an archive are unpacked once by gan_core.fetch, which writes a
manifest (`.lab-manifest.json`: the SHA-256 of every file it unpacked, taken after the archive's
official MD5 matched), so `check` can still vouch for them when the archive is gone.
Downloading and unpacking: gan_core.fetch. Names and loaders of the sets: gan_core.datasets.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .data import default_data_dir, fer_candidates, fer_source_files, idx_source_files
from .emoji import PACKAGE as EMOJI_PACKAGE
from .emoji import VERSION as EMOJI_VERSION
from .emoji import emoji_source_files

MANIFEST = ".lab-manifest.json"
FETCH = "./lab data fetch"          # the one command (python -m gan_core data fetch, too)


@dataclass(frozen=True)
class RemoteFile:
    """One file as its publisher serves it."""
    name: str                   # its name on disk, in the set's folder
    urls: tuple[str, ...]       # mirrors, tried in order
    md5: str                    # the official checksum (torchvision's value)
    size: int                   # bytes, for the size column and the progress bar (a server's
                                # Content-Length wins); FER-2013's and KMNIST's t10k-* are
                                # from memory, the others checked against published logs


@dataclass(frozen=True)
class Source:
    """One dataset: what to download, under which licence, and where it lands."""
    name: str                   # the name gan_core.datasets knows it by
    title: str
    homepage: str
    licence: str                # as its publisher states it (read it before teaching with it)
    folder: str                 # under DATA_DIR: where the files go (torchvision's layout)
    files: tuple[RemoteFile, ...] = ()
    unpack: str = "none"        # "none": used as downloaded; "tar", "zip": an archive, unpacked
                                # into `folder` and then deleted; "cifar10": the tar, its pickled
                                # batches converted once to uint8 .npy (gan_core.fetch); "build":
                                # made by its own builder (emoji: gan_core.emoji.build_emoji)
    ready: tuple[str, ...] = () # paths under `folder` whose presence means "on disk"
    manual: str = ""            # not "": no automatic download; these are the steps

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def where(self, data_dir: Path) -> Path:
        return data_dir / self.folder


def _idx_files(base: str | tuple[str, ...], md5s: tuple[str, str, str, str],
               sizes: tuple[int, int, int, int]) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    bases = (base,) if isinstance(base, str) else base
    return tuple(RemoteFile(n, tuple(b + n for b in bases), m, s)
                 for n, m, s in zip(names, md5s, sizes))


MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "http://yann.lecun.com/exdb/mnist/")
CELEBA_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="
FER_PAGE = ("https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-"
            "recognition-challenge/data")

SOURCES: dict[str, Source] = {s.name: s for s in [
    Source("mnist", "MNIST handwritten digits", "http://yann.lecun.com/exdb/mnist/",
           "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)", "MNIST/raw",
           _idx_files(MNIST_MIRRORS,
                      ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                       "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
                      (9_912_422, 28_881, 1_648_877, 4_542))),
    Source("fashion-mnist", "Fashion-MNIST (Zalando)",
           "https://github.com/zalandoresearch/fashion-mnist", "MIT", "FashionMNIST/raw",
           _idx_files("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                      ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                       "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                      (26_421_880, 29_515, 4_422_102, 5_148))),
    Source("kmnist", "Kuzushiji-MNIST (cursive Japanese)", "https://github.com/rois-codh/kmnist",
           "CC BY-SA 4.0 (ROIS-DS CODH)", "KMNIST/raw",
           _idx_files("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                      ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                       "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
                      (18_165_135, 29_497, 3_041_136, 5_120))),
    Source("cifar10", "CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar.html",
           "no licence stated; free to use, cite Krizhevsky (2009)", "cifar-10-batches-py",
           (RemoteFile("cifar-10-python.tar.gz",
                       ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                       "c58f30108f718f92721af3b95e74349a", 170_498_071),),
           unpack="cifar10", ready=("train_images.npy", "test_images.npy")),
    Source("celeba", "CelebA, aligned and cropped faces (cropped to 64x64 on use)",
           "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
           "non-commercial research and education only (CelebA's agreement)", "celeba",
           (RemoteFile("img_align_celeba.zip", (CELEBA_DRIVE + "0B7EVK8r0v71pZjFTYXZWM3FlRnM",),
                       "00d2c5bc6d35e252742224ab0c1e8fcb", 1_443_490_838),),
           unpack="zip", ready=("img_align_celeba",)),
    Source("pets", "Oxford-IIIT Pets (its 25 dog breeds, the SAGAN report's dogs)",
           "https://www.robots.ox.ac.uk/~vgg/data/pets/", "CC BY-SA 4.0", "oxford-iiit-pet",
           (RemoteFile("images.tar.gz",
                       ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",),
                       "5c4f3ee8e5d25df40f4fd59a7f44e54c", 791_918_971),),
           unpack="tar", ready=("images",)),
    Source("emoji", f"Noto emoji, from the npm package {EMOJI_PACKAGE} {EMOJI_VERSION}",
           "https://github.com/googlefonts/noto-emoji", "Apache 2.0 (images), MIT (metadata)",
           "emoji", unpack="build"),
    Source("fer2013", "FER-2013 facial expressions", FER_PAGE,
           "Kaggle competition data: research use under the competition's rules", "fer2013",
           (RemoteFile("fer2013.csv", (), "f8428a1edbd21e88f42c73edd2a14f95", 301_072_766),),
           manual=(f"no automatic download (Kaggle needs a login): sign in at {FER_PAGE}, "
                   "download fer2013.tar.gz, unpack it and put fer2013.csv at "
                   "{path}, then run ./lab data check fer2013")),
]}


def get(name: str) -> Source:
    if name not in SOURCES:
        raise KeyError(f"no dataset {name!r} to fetch; the lab fetches "
                       f"{', '.join(SOURCES)}")
    return SOURCES[name]


def size_text(src: Source) -> str:
    return megabytes(src.size) if src.files else "npm pkg"


def megabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{max(n / 1e6, 0.1):.0f} MB" if n >= 1e6 \
        else f"{n / 1e3:.0f} kB"


def files_here(name: str, data_dir: Path) -> list[Path]:
    """The files of `name` that its loader reads from `data_dir` ([] when there are none)."""
    src = SOURCES[name]
    if name in ("mnist", "fashion-mnist", "kmnist"):
        return idx_source_files(name, data_dir)
    if name == "fer2013":
        return fer_source_files(data_dir)
    if name == "emoji":
        return emoji_source_files(data_dir)
    folder = src.where(data_dir)
    found = [folder / r for r in src.ready if (folder / r).exists()]
    return found if len(found) == len(src.ready) else []


def on_disk(name: str, data_dir: Path | None = None) -> bool:
    """Whether `name`'s files are in `data_dir` (default: the one the lab reads)."""
    return name in SOURCES and bool(files_here(name, Path(data_dir or default_data_dir())))


def how_to_get(name: str, data_dir: Path | None = None) -> str:
    """The one command, or for a set without a download the steps by hand."""
    src = SOURCES[name]
    if src.manual:
        return src.manual.format(path=fer_candidates(Path(data_dir or default_data_dir()))[0])
    return f"{FETCH} {name}"


def missing_line(name: str, data_dir: Path | None = None) -> str | None:
    """One line saying `name` is not here and how to get it; None when it is here (or when it
    is not a set with files: the 2-D toys, folders)."""
    if name not in SOURCES:
        return None
    folder = Path(data_dir or default_data_dir())
    if files_here(name, folder):
        return None
    src = SOURCES[name]
    if src.manual:
        return f"{name} is not in {folder}: {how_to_get(name, folder)}."
    return (f"{name} is not in {folder}: get it with {how_to_get(name)} "
            f"({size_text(src)} download), or set GAN_DATA_DIR to a folder that has it.")


def status(name: str, data_dir: Path) -> dict:
    """One row of `data list`: name, on disk (yes / partly / no), where, size, how to get it."""
    src = SOURCES[name]
    here = files_here(name, data_dir)
    state = "no"
    if here:
        state = "yes"
        if src.unpack == "none" and not src.manual and len(here) < len(src.files):
            state = "partly"      # e.g. MNIST's test split alone, as the classroom machines
    where = here[0].parent if here else src.where(data_dir)
    return {"name": name, "on_disk": state, "where": str(where),
            "size": size_text(src), "licence": src.licence,
            "get": "here" if state == "yes" else how_to_get(name, data_dir)}


def md5_of(path: Path, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.md5(usedforsecurity=False), chunk)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.sha256(), chunk)


def _digest(path: Path, h, chunk: int) -> str:
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check(name: str, data_dir: Path) -> list[tuple[str, str, str]]:
    """Each file of `name` on disk against its checksum: [(path, "ok" | "BAD" | "missing" | "absent",
    what it was checked against)]. Downloaded files against the official MD5; what was
    unpacked from an archive against the manifest written when the archive's MD5 matched.
    "absent" is a file not downloaded (MNIST's train split, where only the test split is)."""
    src = SOURCES[name]
    rows = []
    if src.unpack == "build":       # its package's sha512 was checked when it was built
        how = f"from {EMOJI_PACKAGE} {EMOJI_VERSION}, its sha512 checked at build"
        return [(str(p), "built", how) for p in files_here(name, data_dir)]
    if src.unpack == "none":
        here = {p.name: p for p in files_here(name, data_dir)}
        for f in src.files:
            p = here.get(f.name) or (here.get(f.name[:-3]) if f.name.endswith(".gz") else None)
            if p is None:
                rows.append((str(src.where(data_dir) / f.name), "absent", "not downloaded"))
            elif p.suffix != Path(f.name).suffix:
                rows.append((str(p), "unchecked", "unpacked copy: the official MD5 is of the .gz"))
            else:
                rows.append((str(p), "ok" if md5_of(p) == f.md5 else "BAD", "official MD5"))
        return rows
    folder = src.where(data_dir)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        entries = manifest.get("files") if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        entries = None
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        return [(str(folder / MANIFEST), "missing", "manifest of the unpacked archive")]
    bad = [rel for rel, digest in sorted(entries.items())
           if ".." in Path(rel).parts or Path(rel).is_absolute()    # not a path fetch writes
           or not (folder / rel).is_file() or sha256_of(folder / rel) != digest]
    label = f"{len(entries)} files unpacked from {src.files[0].name}"
    rows.append((str(folder), "ok" if not bad else "BAD",
                 label if not bad else f"{label}; changed or missing: {', '.join(bad[:3])}"))
    return rows
