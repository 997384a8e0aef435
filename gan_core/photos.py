"""Readers of the colour photo sets, in the on-disk form gan_core.fetch leaves them in.

  cifar10  DATA_DIR/cifar-10-batches-py/{train,test}_{images,labels}.npy: uint8 arrays made
           once from the pickled batches (np.load(allow_pickle=False): nothing is unpickled
           here); train = the 50,000, reference = the 10,000 of the test batch
  celeba   DATA_DIR/celeba/img_align_celeba/*.jpg (178x218, aligned): the first 50,000 in
           file order, each cropped to its central 108x108 face (as DCGAN's CelebA code does)
           and resized to 64x64 as it is read
  pets     DATA_DIR/oxford-iiit-pet/images/*.jpg: the dog breeds only (file names in lower
           case; cats are capitalised), the SAGAN report's dogs, centre square at 64x64
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .data import Dataset, DatasetError
from .sources import MANIFEST

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
CIFAR_FOLDER = "cifar-10-batches-py"
CELEBA_FOLDER = "celeba/img_align_celeba"
PETS_FOLDER = "oxford-iiit-pet/images"
CELEBA_MAX = 50_000          # 64x64x3 bytes each: 600 MB in memory at most
SIZE = 64
CELEBA_BOX = (35, 55, 143, 163)     # the central 108x108 of a 178x218 aligned face


def cifar_files(data_dir: Path) -> list[Path]:
    folder = data_dir / CIFAR_FOLDER
    found = [folder / f"{s}_{k}.npy" for s in ("train", "test") for k in ("images", "labels")]
    return found if all(p.is_file() for p in found) else []


def load_cifar10(data_dir: Path, part: str) -> Dataset:
    files = cifar_files(data_dir)
    if not files:
        raise DatasetError(f"cifar10 is not in {data_dir / CIFAR_FOLDER}: get it with "
                           f"`./lab data fetch cifar10`")
    splits = {"train": ["train"], "reference": ["test"], "all": ["train", "test"]}[part]
    xs, ys = [], []
    try:
        for s in splits:
            xs.append(np.load(data_dir / CIFAR_FOLDER / f"{s}_images.npy", allow_pickle=False))
            ys.append(np.load(data_dir / CIFAR_FOLDER / f"{s}_labels.npy", allow_pickle=False))
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read cifar10 in {data_dir / CIFAR_FOLDER}: {e}") from None
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.dtype != np.uint8 or x.shape[1:] != (3, 32, 32) or y.shape != (len(x),) \
            or (len(y) and int(y.max()) > 9):
        raise DatasetError(f"cifar10 in {data_dir / CIFAR_FOLDER} is not in the expected form; "
                           f"delete the folder and run `./lab data fetch cifar10`")
    what = {"train": "the training batches' images train the GAN; the test batch is the "
                     "quality reference", "reference": "the test batch, the quality reference",
            "all": "training and test batches"}[part]
    return Dataset("cifar10", torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64)),
                   list(CIFAR_CLASSES), f"cifar10: {len(x):,} images from "
                                        f"{data_dir / CIFAR_FOLDER} ({what}).")


def celeba_files(data_dir: Path) -> list[Path]:
    folder = data_dir / CELEBA_FOLDER
    return sorted(folder.glob("*.jpg"))[:CELEBA_MAX] if folder.is_dir() else []


def pets_files(data_dir: Path) -> list[Path]:
    folder = data_dir / PETS_FOLDER
    return sorted(p for p in folder.glob("*.jpg") if p.name[:1].islower()) \
        if folder.is_dir() else []


def photo_sources(name: str, data_dir: Path) -> list[Path]:
    """What a loaded photo set is kept under (gan_core.kept): cifar10's four .npy files; for
    celeba and pets the manifest `./lab data fetch` wrote (one file instead of hashing tens of
    thousands of photos at every start), else the photos themselves ([] when none are here)."""
    if name == "cifar10":
        return cifar_files(data_dir)
    files = celeba_files(data_dir) if name == "celeba" else pets_files(data_dir)
    manifest = files[0].parent.parent / MANIFEST if files else None
    return [manifest] if manifest is not None and manifest.is_file() else files


def _centre_square(im: Image.Image) -> tuple[int, int, int, int]:
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return left, top, left + side, top + side


def read_photos(name: str, files: list[Path], crop) -> Dataset:
    """Each file cropped (crop(image) -> box) and resized to SIZE x SIZE RGB; unreadable files
    are skipped and counted in the note."""
    images, skipped = [], 0
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                im = im.crop(crop(im)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
                images.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            skipped += 1
    if not images:
        raise DatasetError(f"{name}: none of its {len(files)} image files could be read")
    note = f"{name}: {len(images):,} photos cropped to {SIZE}x{SIZE}."
    if skipped:
        note += f" {skipped} unreadable files skipped."
    return Dataset(name, torch.from_numpy(np.stack(images)), None, [], note)


def load_celeba(data_dir: Path) -> Dataset:
    files = celeba_files(data_dir)
    if not files:
        raise DatasetError(f"celeba is not in {data_dir / CELEBA_FOLDER}: get it with "
                           f"`./lab data fetch celeba`")
    return read_photos("celeba", files,
                       lambda im: CELEBA_BOX if im.size == (178, 218) else _centre_square(im))


def load_pets(data_dir: Path) -> Dataset:
    files = pets_files(data_dir)
    if not files:
        raise DatasetError(f"pets is not in {data_dir / PETS_FOLDER}: get it with "
                           f"`./lab data fetch pets`")
    return read_photos("pets", files, _centre_square)
