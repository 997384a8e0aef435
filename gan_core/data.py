"""Datasets: one contract, and the readers of files.

A dataset loads once into memory: images as a uint8 tensor (N, C, H, W), or for the 2-D toy sets
float32 points (N, 2); labels where it has them; class names; and a note saying what was found
(for example "only the test split"). `batches()` serves shuffled batches on the training device,
images normalised to [-1, 1], without any per-sample work in the loop.

Readers (which names exist, and `load_dataset`, are in gan_core.datasets):
  IDX files (mnist, fashion-mnist,  DATA_DIR/MNIST/raw (torchvision's layout) or DATA_DIR itself;
  kmnist)                           when none are there and `download` is on,
                                    gan_core.datasets fetches them (gan_core.fetch, checked)
  the FER-2013 CSV                  fer2013.csv, or torchvision's fer2013/train.csv
  folders (folder:PATH)             jpg/png images; subfolders become classes

Parts (`load_dataset(..., part=...)`): GANs train on the "train" part and are measured against
the "reference" part, so quality is never measured on images the generator trained on.
  IDX sets, both splits on disk   train = the train split, reference = the test split
  IDX sets, one split on disk     a fixed 2,000 of it (heldout_split: seed 0, at most a fifth)
                                  are the reference, the rest train; MNIST's test split alone
                                  gives 8,000 + 2,000
  every other set                 no held-out part: each part is the whole set
"all" is both parts together, as the judge classifier trains on it (gan_core.metrics).
"""
from __future__ import annotations

import csv
import gzip
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .images import from_uint8


class DatasetError(ValueError):
    """A dataset source is missing, empty, corrupt or of the wrong shape."""


@dataclass
class Dataset:
    name: str
    data: torch.Tensor                       # uint8 (N, C, H, W) images, or float32 (N, 2) points
    labels: Optional[torch.Tensor] = None    # int64 (N,)
    class_names: list[str] = field(default_factory=list)
    note: str = ""                           # what was loaded, in a sentence

    @property
    def is_points(self) -> bool:
        return self.data.dim() == 2

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.labels is not None else 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample: (C, H, W) or (2,)."""
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return self.data.shape[0]

    def subset(self, n: int, seed: int = 0) -> "Dataset":
        """Keep n samples, chosen at random but reproducibly."""
        if n > len(self):
            raise DatasetError(f"subset of {n} asked, but {self.name} has only {len(self)} samples")
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        idx = idx.sort().values
        labels = self.labels[idx] if self.labels is not None else None
        return Dataset(self.name, self.data[idx], labels, self.class_names,
                       f"{self.note} Subset of {n} kept.".strip())

    def to_image_shape(self, channels: int, size: int) -> "Dataset":
        """Resize and convert channels once, at load time (area resize for shrinking)."""
        if self.is_points:
            return self
        x = self.data
        if x.shape[1] != channels:
            if channels == 1:   # ITU-R 601 luma
                w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
                x = (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
            else:
                x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (size, size):
            out = []
            for chunk in x.split(4096):   # bounded memory for large sets
                mode = "area" if chunk.shape[-1] > size else "bilinear"
                kw = {} if mode == "area" else {"align_corners": False, "antialias": False}
                y = F.interpolate(chunk.float(), size=(size, size), mode=mode, **kw)
                out.append(y.round().clamp(0, 255).to(torch.uint8))
            x = torch.cat(out)
        return Dataset(self.name, x.contiguous(), self.labels, self.class_names, self.note)

    def batches(self, batch_size: int, device: torch.device, generator: torch.Generator,
                drop_last: bool = True) -> Iterator[tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """One epoch of shuffled batches on `device`: images in [-1, 1] float32, labels or None.

        The data is moved to the device once (cached), so each batch is an index and a cast.
        """
        data, labels = self._on(device)
        n = len(self)
        order = torch.randperm(n, generator=generator).to(device)
        stop = n - n % batch_size if (drop_last and n >= batch_size) else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            x = data[idx]
            x = from_uint8(x) if x.dtype == torch.uint8 else x
            yield x, (labels[idx] if labels is not None else None)

    def _on(self, device: torch.device):
        cache = self.__dict__.setdefault("_device_cache", {})
        key = str(device)
        if key not in cache:
            cache.clear()
            cache[key] = (self.data.to(device),
                          self.labels.to(device) if self.labels is not None else None)
        return cache[key]


# --- IDX (MNIST, Fashion-MNIST) --------------------------------------------------------------

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
IDX_SOURCES = {   # name -> (torchvision folder, torchvision class name, class names)
    "mnist": ("MNIST", "MNIST", MNIST_CLASSES),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST", FASHION_CLASSES),
    "kmnist": ("KMNIST", "KMNIST", KMNIST_CLASSES),
}
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally .gz); unsigned-byte data only, as MNIST uses."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{path} has a truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DatasetError(f"{path} is truncated or corrupt: header says {dims} "
                           f"({expected} bytes), file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def _idx_folders(data_dir: Path, tv_folder: str) -> list[Path]:
    return [data_dir / tv_folder / "raw", data_dir / tv_folder, data_dir / "raw", data_dir]


IDX_NOUNS = {"mnist": "digits", "fashion-mnist": "images", "kmnist": "characters"}

PARTS = ("train", "reference", "all")
HELDOUT_N = 2000       # images a lone split keeps out of GAN training, as the quality reference
HELDOUT_SEED = 0       # metrics.judge_split's seed too: the judge's unseen digits are among them


def heldout_split(n: int, holdout: int = HELDOUT_N,
                  seed: int = HELDOUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference indices, training indices), each in file order, of a lone split of n images:
    the first min(holdout, n // 5) of a permutation seeded with `seed` are held out of GAN
    training as the quality reference; the rest train. The same every call. It is the
    permutation metrics.judge_split draws (same seed), so the 1,000 digits the shipped judge
    never saw are half of MNIST's 2,000-digit reference."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = min(holdout, n // 5)
    return order[:k].sort().values, order[k:].sort().values


def _find_idx_files(name: str, data_dir: Path) -> tuple[dict, Path]:
    """({split: (images path, labels path or None)}, the folder they are in)."""
    tv_folder, _, _ = IDX_SOURCES[name]
    for folder in _idx_folders(data_dir, tv_folder):
        found = {split: (_find(folder, img), _find(folder, lab))
                 for split, (img, lab) in SPLITS.items()}
        found = {s: p for s, p in found.items() if p[0] is not None}
        if found:
            return found, folder
    raise DatasetError(
        f"{name}: no IDX files found under {data_dir} (looked in {data_dir / tv_folder / 'raw'}"
        f" and {data_dir}): get it with `./lab data fetch {name}`, or put "
        f"train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz (or the t10k-* test "
        f"files) in {data_dir / tv_folder / 'raw'}.")


def _read_split(img_path: Path, lab_path: Optional[Path],
                classes: list[str]) -> tuple[np.ndarray, Optional[np.ndarray]]:
    x = read_idx(img_path)
    if x.ndim != 3:
        raise DatasetError(f"{img_path} holds shape {x.shape}; expected (N, 28, 28) images")
    if lab_path is None:
        return x, None
    y = read_idx(lab_path)
    if y.shape != (x.shape[0],):
        raise DatasetError(f"{lab_path} holds {y.shape[0] if y.ndim else 0} labels for "
                           f"{x.shape[0]} images in {img_path.name}")
    if y.max(initial=0) >= len(classes):
        raise DatasetError(f"{lab_path} has label {y.max()}; expected 0-{len(classes)-1}")
    return x, y


def load_idx_dataset(name: str, data_dir: Path, part: str = "all") -> Dataset:
    """One part (module docstring, Parts) of an IDX set: "train", "reference" or "all", from
    the files on disk (gan_core.datasets fetches them first when a download is allowed)."""
    if part not in PARTS:
        raise DatasetError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
    _, _, classes = IDX_SOURCES[name]
    noun = IDX_NOUNS[name]
    found, folder = _find_idx_files(name, data_dir)
    splits = {s: _read_split(img, lab, classes) for s, (img, lab) in found.items()}
    if sum(len(x) for x, _ in splits.values()) == 0:
        raise DatasetError(f"{name}: the IDX files in {folder} hold no images")
    if set(splits) == {"train", "test"}:
        n_train, n_test = len(splits["train"][0]), len(splits["test"][0])
        picks = {"train": [("train", None)], "reference": [("test", None)],
                 "all": [("train", None), ("test", None)]}
        notes = {"train": f"{name}: the train split's {n_train:,} {noun} from {folder} train the "
                          f"GAN; the test split's {n_test:,} are the quality reference.",
                 "reference": f"{name}: the test split's {n_test:,} {noun} from {folder}, the "
                              f"quality reference (no GAN trains on them).",
                 "all": f"{name}: train and test splits, {n_train + n_test:,} images from "
                        f"{folder}."}
    else:
        only = next(iter(splits))
        n = len(splits[only][0])
        ref_idx, train_idx = heldout_split(n)
        if part == "reference" and len(ref_idx) == 0:
            raise DatasetError(f"{name}: the {only} split in {folder} holds {n} images, too "
                               f"few to keep a fifth of them out as the quality reference")
        picks = {"train": [(only, train_idx)], "reference": [(only, ref_idx)],
                 "all": [(only, None)]}
        notes = {"train": f"{name}: only the {only} split was found in {folder}, so "
                          f"{len(train_idx):,} {noun} train the GAN and {len(ref_idx):,} "
                          f"held-out {noun} are the quality reference.",
                 "reference": f"{name}: only the {only} split was found in {folder}; its "
                              f"{len(ref_idx):,} held-out {noun} (data.heldout_split) are the "
                              f"quality reference, and no GAN trains on them.",
                 "all": f"{name}: only the {only} split was found in {folder}: all {n:,} "
                        f"{noun}, the {len(ref_idx):,} that GANs leave out as their quality "
                        f"reference included."}
    images, labels = [], []
    for split, idx in picks[part]:
        x, y = splits[split]
        keep = slice(None) if idx is None else idx.numpy()
        images.append(x[keep])
        labels.append(None if y is None else y[keep])
    data = torch.from_numpy(np.concatenate(images)).unsqueeze(1).contiguous()
    lab = (torch.from_numpy(np.concatenate(labels)).long()
           if all(y is not None for y in labels) else None)
    return Dataset(name, data, lab, list(classes) if lab is not None else [], notes[part])


def idx_source_files(name: str, data_dir: Path) -> list[Path]:
    """The IDX files `load_idx_dataset` would read for `name` from `data_dir` without a
    download ([] when there are none): what the cache's key of the loaded set is made of."""
    try:
        found, _ = _find_idx_files(name, data_dir)
    except DatasetError:
        return []
    return sorted(p for pair in found.values() for p in pair if p is not None)


# --- FER-2013 --------------------------------------------------------------------------------

FER_CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
FER_URL = ("https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-"
           "recognition-challenge/data")


def fer_candidates(data_dir: Path) -> list[Path]:
    """Where the FER-2013 CSV is looked for, in order."""
    return [data_dir / "fer2013" / "fer2013.csv", data_dir / "fer2013.csv",
            data_dir / "fer2013" / "train.csv", data_dir / "fer2013" / "icml_face_data.csv"]


def fer_source_files(data_dir: Path) -> list[Path]:
    """The CSV `load_fer2013` would read ([] when there is none)."""
    return [p for p in fer_candidates(data_dir) if p.is_file()][:1]


def load_fer2013(data_dir: Path) -> Dataset:
    candidates = fer_candidates(data_dir)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DatasetError(
            f"fer2013 cannot be downloaded automatically. Download fer2013.csv from {FER_URL} "
            f"(a free Kaggle account is needed) and put it at {candidates[0]}.")
    images, labels = [], []
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f, skipinitialspace=True)
            cols = {c.strip(): c for c in (reader.fieldnames or [])}
            if "pixels" not in cols:
                raise DatasetError(f"{path} has no 'pixels' column; columns are "
                                   f"{list(cols) or 'none'} (expected emotion,pixels[,Usage])")
            for i, row in enumerate(reader, start=2):
                try:
                    px = np.array(row[cols["pixels"]].split(), dtype=np.float32)
                except (ValueError, AttributeError):
                    raise DatasetError(f"{path} line {i}: pixels are not numbers") from None
                if px.size != 48 * 48 or px.min() < 0 or px.max() > 255:
                    raise DatasetError(f"{path} line {i}: expected 2304 values in 0-255 "
                                       f"(48x48), got {px.size}")
                images.append(px.astype(np.uint8).reshape(48, 48))
                if "emotion" in cols and row[cols["emotion"]] not in (None, ""):
                    labels.append(int(row[cols["emotion"]]))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"cannot read {path}: {e}") from None
    if not images:
        raise DatasetError(f"{path} holds no images")
    data = torch.from_numpy(np.stack(images)).unsqueeze(1).contiguous()
    lab = None
    if len(labels) == len(images):
        lab = torch.tensor(labels, dtype=torch.long)
        if lab.min() < 0 or lab.max() >= len(FER_CLASSES):
            raise DatasetError(f"{path}: emotion labels must be 0-6")
    return Dataset("fer2013", data, lab, FER_CLASSES if lab is not None else [],
                   f"fer2013: {len(data)} faces from {path}.")


# --- image folders ---------------------------------------------------------------------------

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_FOLDER_FILES = 50_000
MAX_IMAGE_PIXELS = 40_000_000     # a 6000x6000 photo is fine; a decompression bomb is not


def load_folder(path: Path, size: int = 64, channels: int = 3) -> Dataset:
    """Images under `path`, resized to size x size. Subfolders of `path` name classes."""
    if not path.is_dir():
        raise DatasetError(f"folder {path} does not exist or is not a folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file())
    if not files:
        raise DatasetError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if len(files) > MAX_FOLDER_FILES:
        raise DatasetError(f"folder {path} holds {len(files)} images; at most "
                           f"{MAX_FOLDER_FILES} are loaded into memory. Use a smaller folder.")
    subdirs = sorted({f.relative_to(path).parts[0] for f in files if len(f.relative_to(path).parts) > 1})
    labelled = bool(subdirs) and all(len(f.relative_to(path).parts) > 1 for f in files)
    mode = "L" if channels == 1 else "RGB"
    images, labels, skipped = [], [], []
    for f in files:
        try:
            with Image.open(f) as im:
                if im.width * im.height > MAX_IMAGE_PIXELS:
                    skipped.append(f"{f.name} (too large: {im.width}x{im.height})")
                    continue
                im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            skipped.append(f"{f.name} ({type(e).__name__})")
            continue
        images.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        if labelled:
            labels.append(subdirs.index(f.relative_to(path).parts[0]))
    if not images:
        raise DatasetError(f"folder {path}: none of its {len(files)} image files could be read "
                           f"({'; '.join(skipped[:3])})")
    data = torch.from_numpy(np.stack(images)).contiguous()
    lab = torch.tensor(labels, dtype=torch.long) if labelled else None
    note = f"folder {path}: {len(data)} images at {size}x{size}."
    if skipped:
        note += f" Skipped {len(skipped)} unreadable: {'; '.join(skipped[:5])}."
    return Dataset(f"folder:{path}", data, lab, subdirs if labelled else [], note)


# --- where data is looked for ----------------------------------------------------------------

REPO_DIR = Path(__file__).resolve().parents[1]


def data_dir_candidates() -> list[Path]:
    """Where data is looked for, the one rule of the command line and the app: $GAN_DATA_DIR
    when it is set (and then only there); else ./data, the repository's data/, and
    ../shared/data beside the repository."""
    if os.environ.get("GAN_DATA_DIR"):
        return [Path(os.environ["GAN_DATA_DIR"])]
    return [Path("data"), REPO_DIR / "data", REPO_DIR.parent / "shared" / "data"]


def find_data_dir() -> Optional[Path]:
    """The first candidate folder that exists and is not empty; None when there is none."""
    for c in data_dir_candidates():
        try:
            if c.is_dir() and any(c.iterdir()):
                return c
        except OSError:
            continue
    return None


def default_data_dir() -> Path:
    """The data folder when none is given: find_data_dir(), else the first candidate (so a
    missing dataset's message names where it was looked for)."""
    return find_data_dir() or data_dir_candidates()[0]
