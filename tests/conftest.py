"""Shared fixtures for the gan_core test suite.

Everything here is small on purpose (the whole suite, page and browser tests included, takes
about 25 minutes on a 2-core CPU machine), so tests use tiny datasets (a few hundred samples), batches of 32 and a
handful of steps with the `classroom` and `mlp` models.
"""
from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# One intra-op thread: the models here are tiny, and with 2 cores shared by subprocesses
# (CLI tests) and other work, OpenMP threads waiting on each other cost more than they gain.
torch.set_num_threads(1)

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains on the real MNIST digits (~20 s)")


# --- real data -------------------------------------------------------------------------------

def find_real_data_dir() -> Path | None:
    """$GAN_DATA_DIR, else ../shared/data next to the repository; None if neither has MNIST/raw."""
    candidates = []
    if os.environ.get("GAN_DATA_DIR"):
        candidates.append(Path(os.environ["GAN_DATA_DIR"]))
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "MNIST" / "raw").is_dir():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    d = find_real_data_dir()
    if d is None:
        pytest.skip("real MNIST not found: neither $GAN_DATA_DIR nor ../shared/data "
                    "holds MNIST/raw")
    return d


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


# --- synthetic IDX files ---------------------------------------------------------------------

def write_idx(path: Path, array: np.ndarray, magic: int | None = None, gz: bool = True) -> Path:
    """Write `array` (uint8) as an IDX file, gzip-compressed when `gz`."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def make_idx_tree(root: Path, folder: str = "MNIST", splits=("train", "test"),
                  n: dict | None = None, seed: int = 0) -> Path:
    """torchvision layout root/folder/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz.

    Image i of a split is filled with a random value; labels are i % 10.
    """
    n = n or {"train": 20, "test": 10}
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    prefix = {"train": "train", "test": "t10k"}
    for split in splits:
        k = n[split]
        images = rng.integers(0, 256, size=(k, 28, 28), dtype=np.uint8)
        labels = (np.arange(k) % 10).astype(np.uint8)
        write_idx(raw / f"{prefix[split]}-images-idx3-ubyte.gz", images, IDX_IMAGES_MAGIC)
        write_idx(raw / f"{prefix[split]}-labels-idx1-ubyte.gz", labels, IDX_LABELS_MAGIC)
    return root


@pytest.fixture
def idx_tree():
    """Factory: make_idx_tree(root, folder=..., splits=..., n=...)."""
    return make_idx_tree


@pytest.fixture
def idx_writer():
    """Factory: write_idx(path, array, magic=None, gz=True)."""
    return write_idx


@pytest.fixture
def no_cache(monkeypatch):
    """Nothing kept between runs (gan_core.cache): for tests that watch a computation that a
    kept value would skip."""
    from gan_core import cache
    monkeypatch.setenv("GAN_LAB_CACHE_DIR", "off")
    cache.forget_memory()
    yield
    cache.forget_memory()


# --- small datasets and configs ----------------------------------------------------------------

@pytest.fixture
def ring_dataset():
    """512 points of the 8-Gaussian ring (labelled by mode)."""
    from gan_core.datasets import load_toy
    return load_toy("ring", n=512, seed=0)


def make_image_dataset(n: int = 128, labelled: bool = True, seed: int = 0):
    from gan_core.data import Dataset
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = (torch.arange(n) % 10) if labelled else None
    return Dataset("synthetic", data, labels, [str(i) for i in range(10)] if labelled else [],
                   f"synthetic: {n} random images.")


@pytest.fixture
def image_dataset():
    """128 random uint8 28x28 grey images with labels 0-9."""
    return make_image_dataset()


@pytest.fixture
def unlabelled_image_dataset():
    return make_image_dataset(labelled=False)


def ring_config(**overrides):
    from gan_core.config import TrainConfig
    base = dict(dataset="ring", model="mlp", batch_size=32, epochs=1, seed=0, device="cpu",
                sample_every=1000, n_samples=16, download=False)
    base.update(overrides)
    return TrainConfig(**base).validate()


def image_config(**overrides):
    from gan_core.config import TrainConfig
    base = dict(dataset="mnist", model="classroom", depth="small", batch_size=32, epochs=1,
                seed=0, device="cpu", sample_every=1000, n_samples=16, download=False)
    base.update(overrides)
    return TrainConfig(**base).validate()


@pytest.fixture
def ring_cfg():
    """Factory for an mlp/ring TrainConfig (batch 32, cpu); keyword overrides."""
    return ring_config


@pytest.fixture
def image_cfg():
    """Factory for a small classroom TrainConfig (batch 32, cpu); keyword overrides."""
    return image_config


# --- running the command line ------------------------------------------------------------------

def run_cli(*args, cwd: Path = REPO_ROOT, timeout: float = 300, env: dict | None = None):
    """`python -m gan_core ARGS` in a subprocess from the repository root."""
    full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "gan_core", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture(scope="session")
def cli():
    """Factory: cli(*args) -> CompletedProcess of `python -m gan_core ARGS`."""
    return run_cli
