"""Which datasets the lab knows by name: one registry, `DATASETS`, and `load_dataset` over it.

Each entry says what the set is ("points": a 2-D toy the mlp learns; "images"), how to get it,
and which function loads it. Everything that offers or checks a dataset name reads the registry:
`load_dataset`, `TrainConfig.validate`, the command line's help and default model, the app's
menus. A new set is one `DatasetInfo` here, plus its loader. `folder:PATH` (one's own images,
gan_core.data.load_folder) is the one name outside it, handled in `load_dataset` alone.

The readers of files (IDX, the FER-2013 CSV, folders), `Dataset` and the parts (train,
reference, all) are in gan_core.data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from .data import (FASHION_CLASSES, FER_CLASSES, FER_URL, KMNIST_CLASSES, MNIST_CLASSES, PARTS,
                   Dataset, DatasetError, default_data_dir, fer_source_files, idx_source_files,
                   load_fer2013, load_folder, load_idx_dataset)
from .emoji import GROUPS as EMOJI_GROUPS
from .emoji import PACKAGE as EMOJI_PACKAGE
from .emoji import emoji_source_files, load_emoji
from .fetch import FetchError, fetch
from .photos import CIFAR_CLASSES, load_celeba, load_cifar10, load_pets, photo_sources


@dataclass(frozen=True)
class LoadRequest:
    """What `load_dataset` hands a registry loader."""
    name: str
    data_dir: Path
    part: str                  # "train", "reference" or "all" (gan_core.data, Parts)
    download: bool
    subset: Optional[int]      # points: draw this many (None: 10,000); images: ignore it
    seed: int


@dataclass(frozen=True)
class DatasetInfo:
    """One named dataset: what it is, how to get it, and the function that loads it."""
    name: str
    kind: str                                 # "points" (2-D, the mlp) or "images"
    about: str                                # one line, for menus and --help
    how_to_get: str                           # where its data comes from
    load: Callable[[LoadRequest], Dataset]    # images: the whole part (load_dataset subsets
                                              # and shapes it); points: `subset` points
    channels: int = 1                         # images: 1 or 3; points: 0
    class_names: tuple[str, ...] = ()         # labelled images (points: "mode i", load_toy)
    heldout: bool = False                     # keeps a reference part out: has_heldout_part
    modes: Optional[Callable[[], torch.Tensor]] = None   # points: the mixture's centres (M, 2)
    std: float = 0.05                         # points: each Gaussian's spread
    # images: the files `load` reads from a data folder ([] when absent): a loaded, shaped
    # part is kept under their fingerprints (gan_core.kept); None: loaded afresh every time
    sources: Optional[Callable[[str, Path], list[Path]]] = None

    @property
    def default_model(self) -> str:
        return "mlp" if self.kind == "points" else "classroom"


# --- 2-D toys: Gaussian mixtures, no files ---------------------------------------------------

def ring_modes() -> torch.Tensor:
    """8 centres on a circle of radius 2: (8, 2)."""
    angle = torch.arange(8) * (2 * torch.pi / 8)
    return torch.stack([2 * torch.cos(angle), 2 * torch.sin(angle)], 1)


def grid_modes() -> torch.Tensor:
    """5x5 centres, 2 apart: (25, 2)."""
    g = torch.arange(-2, 3, dtype=torch.float32) * 2.0
    return torch.cartesian_prod(g, g)


def toy_modes(name: str) -> torch.Tensor:
    """Centres of a 2-D set's mixture, (M, 2), from its registry entry."""
    info = DATASETS.get(name)
    if info is None or info.modes is None:
        raise DatasetError(f"unknown toy set {name!r}")
    return info.modes()


def toy_std(name: str) -> float:
    """The spread of each Gaussian of a 2-D set's mixture."""
    return DATASETS[name].std


def load_toy(name: str, n: int = 10_000, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    modes, std = toy_modes(name), toy_std(name)
    which = torch.randint(len(modes), (n,), generator=g)
    points = modes[which] + std * torch.randn(n, 2, generator=g)
    return Dataset(name, points.float(), which, [f"mode {i}" for i in range(len(modes))],
                   f"{name}: {n} points from {len(modes)} Gaussians (std {std}).")


# --- the registry ----------------------------------------------------------------------------

def _idx(r: LoadRequest) -> Dataset:
    if r.download and not idx_source_files(r.name, r.data_dir):
        try:        # the checked download of `./lab data fetch` (progress on stderr)
            fetch(r.name, r.data_dir, create=True)
        except FetchError as e:
            raise DatasetError(str(e)) from None
    return load_idx_dataset(r.name, r.data_dir, r.part)


def _fer(r: LoadRequest) -> Dataset:
    return load_fer2013(r.data_dir)


def _fer_sources(name: str, data_dir: Path) -> list[Path]:
    return fer_source_files(data_dir)


def _emoji(r: LoadRequest) -> Dataset:
    return load_emoji(r.data_dir, r.download)


def _emoji_sources(name: str, data_dir: Path) -> list[Path]:
    return emoji_source_files(data_dir)


def _cifar(r: LoadRequest) -> Dataset:
    return load_cifar10(r.data_dir, r.part)


def _toy(r: LoadRequest) -> Dataset:
    return load_toy(r.name, n=r.subset or 10_000, seed=r.seed)


DATASETS: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("mnist", "images", "handwritten digits 0-9, 28x28 grey",
                "`./lab data fetch mnist`: IDX files in DATA_DIR/MNIST/raw (or DATA_DIR)", _idx, class_names=tuple(MNIST_CLASSES), heldout=True,
                sources=idx_source_files),
    DatasetInfo("fashion-mnist", "images", "clothes in 10 classes, 28x28 grey",
                "`./lab data fetch fashion-mnist`: IDX files in DATA_DIR/FashionMNIST/raw", _idx, class_names=tuple(FASHION_CLASSES), heldout=True,
                sources=idx_source_files),
    DatasetInfo("kmnist", "images", "cursive Japanese characters in 10 classes, 28x28 grey",
                "`./lab data fetch kmnist`: IDX files into DATA_DIR/KMNIST/raw", _idx,
                class_names=tuple(KMNIST_CLASSES), heldout=True, sources=idx_source_files),
    DatasetInfo("cifar10", "images", "small colour photos in 10 classes, 32x32",
                "`./lab data fetch cifar10`: DATA_DIR/cifar-10-batches-py, as uint8 .npy",
                _cifar, channels=3, class_names=tuple(CIFAR_CLASSES), heldout=True,
                sources=photo_sources),
    DatasetInfo("celeba", "images", "celebrity faces, aligned, cropped to 64x64 colour",
                "`./lab data fetch celeba`: DATA_DIR/celeba/img_align_celeba (1.4 GB)",
                lambda r: load_celeba(r.data_dir), channels=3, sources=photo_sources),
    DatasetInfo("pets", "images", "Oxford-IIIT Pets' dog breeds, 64x64 colour",
                "`./lab data fetch pets`: DATA_DIR/oxford-iiit-pet/images (790 MB)",
                lambda r: load_pets(r.data_dir), channels=3, sources=photo_sources),
    DatasetInfo("fer2013", "images", "faces showing 7 emotions, 48x48 grey",
                f"no automatic download: fetch fer2013.csv from {FER_URL} (a free Kaggle "
                f"account is needed) into DATA_DIR/fer2013/", _fer,
                class_names=tuple(FER_CLASSES), sources=_fer_sources),
    DatasetInfo("emoji", "images", "Google's Noto emoji in 10 groups, 64x64 colour",
                f"built once from the npm package {EMOJI_PACKAGE} into DATA_DIR/emoji "
                f"(python -m gan_core emoji build; npm fetches it when it is missing)",
                _emoji, channels=3, class_names=EMOJI_GROUPS, sources=_emoji_sources),
    DatasetInfo("ring", "points", "8 Gaussians on a circle: a 2-D toy", "drawn; no files",
                _toy, channels=0, modes=ring_modes),
    DatasetInfo("grid", "points", "5x5 Gaussians: a 2-D toy", "drawn; no files",
                _toy, channels=0, modes=grid_modes),
]}
FOLDER_PREFIX = "folder:"      # folder:PATH, one's own images: the one name not in DATASETS


def point_sets() -> list[str]:
    """The 2-D sets (the mlp's), in registry order."""
    return [n for n, d in DATASETS.items() if d.kind == "points"]


def image_sets() -> list[str]:
    """The named image sets, in registry order (folder:PATH is not one)."""
    return [n for n, d in DATASETS.items() if d.kind == "images"]


def is_points_dataset(name: str) -> bool:
    return isinstance(name, str) and name in DATASETS and DATASETS[name].kind == "points"


def default_model(name: str) -> str:
    """The model a dataset trains with unless told otherwise: mlp for the 2-D sets, classroom
    for images (folder:PATH and unknown names included: validation names those)."""
    return DATASETS[name].default_model if name in DATASETS else "classroom"


def has_heldout_part(name: str) -> bool:
    """Whether `name` keeps a reference part out of GAN training (the IDX sets do); for the
    others, folder:PATH too, every part is the whole set, which is then its own reference."""
    return isinstance(name, str) and name in DATASETS and DATASETS[name].heldout


def in_words(names: list[str], last: str = "and") -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def dataset_choices() -> str:
    """The names `load_dataset` takes, in words: "mnist, ..., grid or folder:PATH"."""
    return in_words([*DATASETS, f"{FOLDER_PREFIX}PATH"], "or")


def load_dataset(name: str, data_dir: str | Path | None = None, *, image_size: int = 28,
                 channels: Optional[int] = None, subset: Optional[int] = None,
                 download: bool = True, seed: int = 0, part: str = "train") -> Dataset:
    """Load one part of `name` into memory, shaped for a model of `image_size` and `channels`.

    part: "train" (what GANs train on, the default), "reference" (the held-out quality
    reference) or "all" (both; the judge classifier's data): gan_core.data, Parts.
    subset: keep that many images of the part, drawn with `seed` (of the training part: a
    subset never reaches into the reference); for a 2-D set, draw that many points.
    """
    if part not in PARTS:
        raise DatasetError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if name.startswith(FOLDER_PREFIX):
        folder = name[len(FOLDER_PREFIX):].strip()
        if not folder:
            raise DatasetError("folder: needs a path, as in folder:./mouse_faces")
        ds = load_folder(Path(folder).expanduser(), image_size, channels or 3)
    elif name in DATASETS:
        info = DATASETS[name]
        ds = info.load(LoadRequest(name, data_dir, part, download, subset, seed))
        if info.kind == "points":       # drawn at the asked size, nothing to shape
            return ds
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose one of "
                           f"{', '.join([*DATASETS, FOLDER_PREFIX + 'PATH'])}")
    if subset is not None:
        ds = ds.subset(subset, seed)
    return ds.to_image_shape(channels or ds.data.shape[1], image_size)
