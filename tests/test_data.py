"""Datasets: IDX (MNIST, Fashion-MNIST), FER-2013 CSV, image folders, 2-D toys, the registry
and batching."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import cli
from gan_core.config import TrainConfig
from gan_core.data import (FASHION_CLASSES, FER_CLASSES, MNIST_CLASSES, Dataset, DatasetError,
                           load_fer2013, load_idx_dataset, read_idx)
from gan_core.datasets import (DATASETS, DatasetInfo, has_heldout_part, image_sets,
                               is_points_dataset, load_dataset, load_toy, point_sets, toy_modes)
from gan_core.metrics import points_metrics
from gan_core.sources import SOURCES
from lab_app.settings import config_from_params, dataset_options

IDX_IMAGES_MAGIC = 0x00000803      # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801      # unsigned bytes, 1 dimension


# --- IDX -----------------------------------------------------------------------------------

def test_train_and_test_splits_both_used(tmp_path, idx_tree):
    """With train and test files present, GANs train on the train split, the test split is the
    quality reference, and part="all" loads both; the notes say so."""
    idx_tree(tmp_path, n={"train": 20, "test": 10})
    ds = load_dataset("mnist", tmp_path, download=False)
    assert len(ds) == 20
    assert ds.data.dtype == torch.uint8 and ds.shape == (1, 28, 28)
    assert ds.labels.tolist() == [i % 10 for i in range(20)]
    assert ds.class_names == MNIST_CLASSES and ds.num_classes == 10
    assert "train split's 20 digits" in ds.note and "test split's 10" in ds.note
    assert "only" not in ds.note
    ref = load_dataset("mnist", tmp_path, download=False, part="reference")
    assert len(ref) == 10 and ref.labels.tolist() == [i % 10 for i in range(10)]
    both = load_dataset("mnist", tmp_path, download=False, part="all")
    assert len(both) == 30
    assert both.labels.tolist() == [i % 10 for i in range(20)] + [i % 10 for i in range(10)]
    assert "train and test" in both.note and "only" not in both.note


def test_images_are_read_exactly(tmp_path, idx_writer):
    """Pixel values and order survive the IDX round trip."""
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    raw = tmp_path / "MNIST" / "raw"
    idx_writer(raw / "t10k-images-idx3-ubyte.gz", images, IDX_IMAGES_MAGIC)
    idx_writer(raw / "t10k-labels-idx1-ubyte.gz", np.array([3, 1, 4]), IDX_LABELS_MAGIC)
    ds = load_dataset("mnist", tmp_path, download=False)
    assert torch.equal(ds.data[:, 0], torch.from_numpy(images.astype(np.uint8)))
    assert ds.labels.tolist() == [3, 1, 4]


def test_uncompressed_idx_files_are_read(tmp_path, idx_writer):
    """Plain (not gzipped) IDX files are found too."""
    raw = tmp_path / "MNIST" / "raw"
    idx_writer(raw / "t10k-images-idx3-ubyte", np.zeros((4, 28, 28)), IDX_IMAGES_MAGIC, gz=False)
    idx_writer(raw / "t10k-labels-idx1-ubyte", np.arange(4), IDX_LABELS_MAGIC, gz=False)
    assert len(load_dataset("mnist", tmp_path, download=False)) == 4


def test_only_test_split_is_noted(tmp_path, idx_tree):
    """With only t10k-* files the note says only the test split is there, and how it is
    divided: a fifth held out as the quality reference, the rest for the GAN."""
    idx_tree(tmp_path, splits=("test",), n={"test": 12})
    ds = load_dataset("mnist", tmp_path, download=False)
    assert len(ds) == 10
    assert "only the test split" in ds.note
    assert "10 digits train the GAN and 2 held-out digits are the quality reference" in ds.note
    assert len(load_dataset("mnist", tmp_path, download=False, part="all")) == 12


def test_fashion_mnist_layout_and_classes(tmp_path, idx_tree):
    """Fashion-MNIST lives in FashionMNIST/raw and has its own class names."""
    idx_tree(tmp_path, folder="FashionMNIST", n={"train": 8, "test": 4})
    ds = load_dataset("fashion-mnist", tmp_path, download=False)
    assert len(ds) == 8                                  # the train split; the test split is
    assert len(load_dataset("fashion-mnist", tmp_path, download=False,   # the reference
                            part="reference")) == 4
    assert ds.class_names == FASHION_CLASSES
    assert ds.name == "fashion-mnist"
    # ... and its files are not mistaken for MNIST's
    with pytest.raises(DatasetError, match="no IDX files found"):
        load_dataset("mnist", tmp_path, download=False)


def test_files_directly_in_data_dir(tmp_path, idx_tree):
    """IDX files straight in DATA_DIR (no MNIST/raw) are found too."""
    idx_tree(tmp_path, splits=("test",), n={"test": 5})
    flat = tmp_path / "MNIST" / "raw"
    ds = load_idx_dataset("mnist", flat)
    assert len(ds) == 5


def test_truncated_gzip_names_the_file(tmp_path, idx_tree):
    """A cut-off .gz download raises DatasetError naming the file."""
    idx_tree(tmp_path, splits=("test",), n={"test": 50})
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", tmp_path, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value)


def test_truncated_payload_names_the_file(tmp_path, idx_writer, idx_tree):
    """A valid gzip whose IDX body is shorter than its header says is reported as truncated."""
    idx_tree(tmp_path, splits=("test",), n={"test": 5})
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        payload = f.read()
    with gzip.open(path, "wb") as f:
        f.write(payload[:-100])
    with pytest.raises(DatasetError, match="truncated or corrupt") as e:
        load_dataset("mnist", tmp_path, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value)


def test_bad_magic_is_refused(tmp_path, idx_writer):
    """A non-unsigned-byte IDX magic number raises DatasetError naming the file."""
    raw = tmp_path / "MNIST" / "raw"
    idx_writer(raw / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)), magic=0x00000D03)
    idx_writer(raw / "t10k-labels-idx1-ubyte.gz", np.zeros(2), IDX_LABELS_MAGIC)
    with pytest.raises(DatasetError, match="magic") as e:
        load_dataset("mnist", tmp_path, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(e.value)


def test_read_idx_rejects_garbage(tmp_path):
    """A file that is not IDX at all is refused."""
    p = tmp_path / "junk"
    p.write_bytes(b"PK\x03\x04 not idx at all")
    with pytest.raises(DatasetError, match="magic"):
        read_idx(p)


def test_missing_folder_without_download(tmp_path):
    """No IDX files and download off: a DatasetError telling where to put the files."""
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as e:
        load_dataset("mnist", missing, download=False)
    msg = str(e.value)
    assert "no IDX files found" in msg
    assert str(missing) in msg
    assert "train-images-idx3-ubyte.gz" in msg
    assert "./lab data fetch mnist" in msg and "\n" not in msg


def test_label_count_mismatch(tmp_path, idx_writer):
    """Fewer labels than images is a DatasetError giving both counts."""
    raw = tmp_path / "MNIST" / "raw"
    idx_writer(raw / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)), IDX_IMAGES_MAGIC)
    idx_writer(raw / "t10k-labels-idx1-ubyte.gz", np.zeros(4), IDX_LABELS_MAGIC)
    with pytest.raises(DatasetError, match="4 labels for 5 images"):
        load_dataset("mnist", tmp_path, download=False)


def test_label_out_of_range(tmp_path, idx_writer):
    """A label outside 0-9 is a DatasetError."""
    raw = tmp_path / "MNIST" / "raw"
    idx_writer(raw / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28)), IDX_IMAGES_MAGIC)
    idx_writer(raw / "t10k-labels-idx1-ubyte.gz", np.array([1, 12]), IDX_LABELS_MAGIC)
    with pytest.raises(DatasetError, match="label 12"):
        load_dataset("mnist", tmp_path, download=False)


def test_unknown_dataset_name(tmp_path):
    """An unknown dataset name is a DatasetError naming it."""
    with pytest.raises(DatasetError, match="unknown dataset 'nosuch'"):
        load_dataset("nosuch", tmp_path)


# --- batching --------------------------------------------------------------------------------

def numbered_dataset(n: int) -> Dataset:
    """Image i is filled with the value i, so a batch tells which samples it holds."""
    data = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 28, 28).clone()
    return Dataset("numbered", data, torch.arange(n) % 10, MNIST_CLASSES, "")


def ids_of(x: torch.Tensor) -> list[int]:
    return ((x[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def test_batches_dtype_range_shape_and_labels():
    """Batches are float32 on the CPU, in [-1, 1] (0 -> -1, 255 -> 1), with labels."""
    ds = numbered_dataset(70)
    ds.data[1] = 255            # sample 0 is all 0 and sample 1 all 255: the extremes -1 and 1
    batches = list(ds.batches(32, torch.device("cpu"), torch.Generator().manual_seed(0),
                              drop_last=False))
    assert [b[0].shape for b in batches] == [(32, 1, 28, 28), (32, 1, 28, 28), (6, 1, 28, 28)]
    for x, y in batches:
        assert x.dtype == torch.float32 and x.device.type == "cpu"
        assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
        assert y.shape == (x.shape[0],) and y.dtype == torch.long
    allx = torch.cat([b[0] for b in batches])
    assert float(allx.min()) == -1.0 and float(allx.max()) == 1.0


def test_batches_cover_every_sample_once_per_epoch():
    """drop_last=False: one epoch serves every sample exactly once, shuffled."""
    ds = numbered_dataset(70)
    batches = list(ds.batches(32, torch.device("cpu"), torch.Generator().manual_seed(3),
                              drop_last=False))
    ids = [i for x, _ in batches for i in ids_of(x)]
    assert sorted(ids) == list(range(70))
    assert ids != list(range(70))                        # shuffled
    labels = [int(v) for _, y in batches for v in y]
    assert labels == [i % 10 for i in ids]              # labels travel with their images


def test_batches_drop_last():
    """drop_last (the default) drops the incomplete last batch."""
    ds = numbered_dataset(70)
    sizes = [x.shape[0] for x, _ in ds.batches(32, torch.device("cpu"),
                                                torch.Generator().manual_seed(0))]
    assert sizes == [32, 32]


def test_batches_same_seed_same_order():
    """The order depends only on the generator's seed."""
    ds = numbered_dataset(50)
    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return [i for x, _ in ds.batches(10, torch.device("cpu"), g) for i in ids_of(x)]
    assert order(5) == order(5)
    assert order(5) != order(6)


def test_points_batches_are_not_rescaled(ring_dataset):
    """2-D points are served as they are, not normalised like pixels."""
    x, y = next(ring_dataset.batches(16, torch.device("cpu"), torch.Generator().manual_seed(0)))
    assert x.shape == (16, 2) and x.dtype == torch.float32
    assert float(x.abs().max()) > 1.0                   # ring radius 2, untouched


def test_subset_is_reproducible_and_bounded():
    """subset(n, seed) keeps n distinct samples reproducibly; too many is an error."""
    ds = numbered_dataset(100)
    a, b, c = ds.subset(10, seed=1), ds.subset(10, seed=1), ds.subset(10, seed=2)
    assert len(a) == 10
    assert torch.equal(a.data, b.data) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.data, c.data)
    ids = a.data[:, 0, 0, 0].tolist()
    assert len(set(ids)) == 10 and ids == sorted(ids)   # distinct samples, original order
    assert a.labels.tolist() == [i % 10 for i in ids]
    assert "Subset of 10" in a.note
    with pytest.raises(DatasetError, match="only 100"):
        ds.subset(101)


def test_load_dataset_subset(tmp_path, idx_tree):
    """load_dataset(subset=...) keeps that many images and refuses more than the training
    part holds (the reference is not there to draw from)."""
    idx_tree(tmp_path, n={"train": 20, "test": 10})
    ds = load_dataset("mnist", tmp_path, download=False, subset=7, seed=0)
    assert len(ds) == 7
    with pytest.raises(DatasetError, match="only 20"):
        load_dataset("mnist", tmp_path, download=False, subset=21)


def test_to_image_shape_resizes_and_adds_channels():
    """28 -> 32 and 1 -> 3 channels, values kept, labels kept."""
    ds = numbered_dataset(4)
    out = ds.to_image_shape(3, 32)
    assert out.data.shape == (4, 3, 32, 32) and out.data.dtype == torch.uint8
    # constant images stay constant (and equal in every channel) after resizing
    for i in range(4):
        assert torch.all(out.data[i] == i)
    assert torch.equal(out.labels, ds.labels)


def test_to_image_shape_shrinks_and_converts_to_grey():
    """RGB -> grey uses luma weights; 64 -> 28 uses an area resize."""
    data = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    data[0, 0] = 255                                    # pure red
    data[1] = 200                                       # grey stays grey
    out = Dataset("rgb", data).to_image_shape(1, 28)
    assert out.data.shape == (2, 1, 28, 28)
    assert torch.all(out.data[0] == round(0.299 * 255))
    assert torch.all(out.data[1] == 200)


def test_load_dataset_shapes_for_model(tmp_path, idx_tree):
    """load_dataset shapes images for the model's size and channels."""
    idx_tree(tmp_path, splits=("test",), n={"test": 3})
    ds = load_dataset("mnist", tmp_path, download=False, image_size=32, channels=3)
    assert ds.shape == (3, 32, 32)


# --- FER-2013 ------------------------------------------------------------------------------

def write_fer_csv(path, rows, header="emotion,pixels,Usage"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{e},{' '.join(map(str, px))},{u}" for e, px, u in rows]
    path.write_text("\n".join(lines) + "\n")


def test_fer2013_csv(tmp_path):
    """emotion,pixels,Usage rows become 48x48 grey faces with their emotion labels."""
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, 48 * 48) for _ in range(3)]
    write_fer_csv(tmp_path / "fer2013" / "fer2013.csv",
                  [(0, pixels[0], "Training"), (3, pixels[1], "PublicTest"),
                   (6, pixels[2], "PrivateTest")])
    ds = load_fer2013(tmp_path)
    assert ds.data.shape == (3, 1, 48, 48) and ds.data.dtype == torch.uint8
    assert ds.labels.tolist() == [0, 3, 6]
    assert ds.class_names == FER_CLASSES
    assert torch.equal(ds.data[1, 0], torch.from_numpy(pixels[1].reshape(48, 48).astype(np.uint8)))
    # through load_dataset, resized for a 28x28 model
    small = load_dataset("fer2013", tmp_path)
    assert small.shape == (1, 28, 28) and len(small) == 3


def test_fer2013_missing_says_where_to_get_it(tmp_path):
    """Without the CSV, the error names fer2013.csv and the Kaggle page."""
    with pytest.raises(DatasetError) as e:
        load_dataset("fer2013", tmp_path)
    msg = str(e.value)
    assert "fer2013.csv" in msg
    assert "kaggle.com" in msg


def test_fer2013_bad_pixel_count_gives_line(tmp_path):
    """A row with the wrong number of pixels is reported with its line number."""
    good = [1] * (48 * 48)
    write_fer_csv(tmp_path / "fer2013.csv",
                  [(0, good, "Training"), (1, [1] * 100, "Training")])
    with pytest.raises(DatasetError, match="line 3") as e:
        load_fer2013(tmp_path)
    assert "100" in str(e.value)


def test_fer2013_without_pixels_column(tmp_path):
    """A CSV without a pixels column is refused."""
    (tmp_path / "fer2013.csv").write_text("emotion,image\n0,abc\n")
    with pytest.raises(DatasetError, match="no 'pixels' column"):
        load_fer2013(tmp_path)


# --- image folders --------------------------------------------------------------------------

def _save(path, size, mode="RGB", colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else 128).save(path)


def test_folder_of_mixed_images(tmp_path):
    """PNG and JPG of different sizes and modes are all resized to size x size, RGB."""
    _save(tmp_path / "a.png", (20, 30))
    _save(tmp_path / "b.jpg", (50, 40))
    _save(tmp_path / "c.png", (10, 10), mode="L")
    ds = load_dataset(f"folder:{tmp_path}", image_size=16)
    assert ds.data.shape == (3, 3, 16, 16) and ds.data.dtype == torch.uint8
    assert ds.labels is None and ds.num_classes == 0
    assert torch.all(ds.data[2] == 128)                  # grey image, converted to RGB
    assert abs(int(ds.data[0, 0].float().mean()) - 200) <= 1
    grey = load_dataset(f"folder:{tmp_path}", image_size=16, channels=1)
    assert grey.shape == (1, 16, 16)


def test_folder_subfolders_are_classes(tmp_path):
    """Subfolders become classes, in sorted order."""
    for i in range(2):
        _save(tmp_path / "cats" / f"{i}.png", (12, 12))
    for i in range(3):
        _save(tmp_path / "dogs" / f"{i}.jpg", (12, 12))
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert ds.class_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    assert ds.num_classes == 2


def test_folder_skips_unreadable_files_and_notes_them(tmp_path):
    """A broken .png is skipped and named in the note; other suffixes are ignored."""
    _save(tmp_path / "good.png", (12, 12))
    (tmp_path / "bad.png").write_text("this is not a PNG")
    (tmp_path / "readme.txt").write_text("ignored: not an image suffix")
    ds = load_dataset(f"folder:{tmp_path}", image_size=8)
    assert len(ds) == 1
    assert "bad.png" in ds.note and "Skipped 1" in ds.note


def test_folder_with_only_unreadable_files(tmp_path):
    """A folder of unreadable images is a DatasetError."""
    (tmp_path / "bad.png").write_text("nope")
    with pytest.raises(DatasetError, match="none of its 1 image files"):
        load_dataset(f"folder:{tmp_path}")


def test_empty_folder(tmp_path):
    """A folder without images is a DatasetError."""
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="holds no images"):
        load_dataset(f"folder:{tmp_path}")


def test_nonexistent_folder(tmp_path):
    """A missing folder, or folder: without a path, is a DatasetError."""
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(DatasetError, match="needs a path"):
        load_dataset("folder:  ")


# --- 2-D toys --------------------------------------------------------------------------------

def test_toy_mode_counts():
    """Ring: 8 modes on a circle of radius 2; grid: 25 distinct modes."""
    ring, grid = toy_modes("ring"), toy_modes("grid")
    assert ring.shape == (8, 2) and grid.shape == (25, 2)
    assert torch.allclose(ring.norm(dim=1), torch.full((8,), 2.0))
    assert len({tuple(p) for p in grid.tolist()}) == 25
    with pytest.raises(DatasetError):
        toy_modes("spiral")


@pytest.mark.parametrize("name, modes", [("ring", 8), ("grid", 25)])
def test_toy_points_lie_near_their_modes(name, modes):
    """Toy points lie within a few std of the mode they are labelled with; every mode is used."""
    ds = load_toy(name, n=2000, seed=0)
    centres = toy_modes(name)
    assert ds.data.shape == (2000, 2) and ds.data.dtype == torch.float32
    assert ds.is_points and ds.num_classes == modes
    dist = torch.cdist(ds.data, centres)                 # (N, modes)
    assert float(dist.min(1).values.max()) < 0.05 * 6    # all within 6 std of a mode
    assert torch.equal(dist.argmin(1), ds.labels)        # labelled with that mode
    assert set(ds.labels.tolist()) == set(range(modes))  # every mode is used
    assert torch.equal(load_toy(name, n=2000, seed=0).data, ds.data)
    assert not torch.equal(load_toy(name, n=2000, seed=1).data, ds.data)


def test_load_dataset_toy_uses_subset_as_size():
    """For the toys, subset is the number of points drawn."""
    ds = load_dataset("ring", subset=300)
    assert len(ds) == 300 and ds.shape == (2,)


# --- the registry ---------------------------------------------------------------------------

def test_every_registry_entry_says_what_it_is():
    """Each named set has a kind, a default model, a line about it and how to get it; the 2-D
    sets have modes, the IDX sets a held-out part."""
    assert point_sets() == ["ring", "grid"]
    assert image_sets() == ["mnist", "fashion-mnist", "kmnist", "cifar10", "celeba", "pets",
                            "fer2013", "emoji"]
    for name, info in DATASETS.items():
        assert info.name == name and info.about and info.how_to_get
        assert info.kind in ("points", "images")
        assert info.default_model == ("mlp" if info.kind == "points" else "classroom")
        assert (info.channels == 0) == (info.kind == "points") == (info.modes is not None)
        assert has_heldout_part(name) == (name in ("mnist", "fashion-mnist", "kmnist",
                                                   "cifar10"))
        # every image set can be fetched, or says how to get it by hand (gan_core.sources)
        assert info.kind == "points" or name in SOURCES
    assert DATASETS["mnist"].class_names == tuple(MNIST_CLASSES)
    assert "Kaggle" in DATASETS["fer2013"].how_to_get
    assert not has_heldout_part("folder:x") and not is_points_dataset("folder:x")
    with pytest.raises(DatasetError, match="mnist, fashion-mnist, kmnist, cifar10, celeba, "
                                           "pets, fer2013, emoji, ring, grid, folder"):
        load_dataset("nope")


def _spiral_modes() -> torch.Tensor:
    t = torch.linspace(0.5, 3 * torch.pi, 10)
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 3       # (10, 2)


def test_a_new_2d_set_is_one_registry_entry(monkeypatch, capsys):
    """Registering "spiral" is all it takes: it loads, validates with the mlp (and not with an
    image model), the command line names it and picks the mlp, the 2-D metrics read its modes,
    and the Train page offers it among the 2-D sets."""
    monkeypatch.setitem(DATASETS, "spiral", DatasetInfo(
        "spiral", "points", "10 Gaussians along a spiral: a 2-D toy", "drawn; no files",
        lambda r: load_toy(r.name, n=r.subset or 10_000, seed=r.seed), channels=0,
        modes=_spiral_modes))
    ds = load_dataset("spiral", subset=300, seed=1)
    assert ds.is_points and len(ds) == 300 and ds.num_classes == 10
    assert is_points_dataset("spiral") and point_sets() == ["ring", "grid", "spiral"]

    TrainConfig(dataset="spiral", model="mlp").validate()
    with pytest.raises(ValueError, match="ring, grid and spiral"):
        TrainConfig(dataset="spiral", model="classroom").validate()

    parser = cli.build_parser()
    cfg = cli.config_from_args(parser.parse_args(["train", "--dataset", "spiral", "--out", "o"]))
    assert cfg.dataset == "spiral" and cfg.model == "mlp"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert "ring, grid, spiral or folder:PATH" in " ".join(capsys.readouterr().out.split())

    assert points_metrics(ds.data, "spiral")["num_modes"] == 10

    assert dataset_options(None)[:3] == ["ring", "grid", "spiral"]
    cfg, errors = config_from_params({"dataset": "spiral"})
    assert not errors and cfg.dataset == "spiral" and cfg.model == "mlp"


def test_a_new_image_set_is_one_registry_entry(monkeypatch):
    """An image set registered with its loader is subset and shaped like the others, trains
    with the classroom model by default and is on the Train page's menu."""
    def noise(r):
        g = torch.Generator().manual_seed(0)
        return Dataset(r.name, torch.randint(0, 256, (50, 3, 32, 32), generator=g,
                                             dtype=torch.uint8), note="noise")
    monkeypatch.setitem(DATASETS, "noise", DatasetInfo(
        "noise", "images", "random colour pixels", "made up; no files", noise, channels=3))
    ds = load_dataset("noise", subset=20, image_size=28, channels=1)
    assert ds.shape == (1, 28, 28) and len(ds) == 20 and not has_heldout_part("noise")
    TrainConfig(dataset="noise", model="classroom").validate()
    with pytest.raises(ValueError, match="image model"):
        TrainConfig(dataset="noise", model="mlp").validate()
    a = cli.build_parser().parse_args(["train", "--dataset", "noise", "--out", "o"])
    assert cli.config_from_args(a).model == "classroom"
    assert dataset_options(None)[-1] == "noise"


# --- the real digits ------------------------------------------------------------------------

def test_real_mnist_test_split(real_data_dir):
    """The shared folder holds MNIST's test split only: 10,000 digits of 10 classes, of which
    8,000 train GANs and 2,000 are held out as the quality reference."""
    ds = load_dataset("mnist", real_data_dir, download=False)
    assert len(ds) == 8_000
    assert len(load_dataset("mnist", real_data_dir, download=False, part="reference")) == 2_000
    assert len(load_dataset("mnist", real_data_dir, download=False, part="all")) == 10_000
    assert ds.shape == (1, 28, 28)
    assert ds.num_classes == 10
    assert sorted(set(ds.labels.tolist())) == list(range(10))
    assert ("only the test split was found" in ds.note and "so 8,000 digits train the GAN and "
            "2,000 held-out digits are the quality reference" in ds.note)
    # digits are mostly black background with bright strokes
    mean = float(ds.data[:500].float().mean())
    assert 10 < mean < 60


def test_one_conversion_between_uint8_pictures_and_g_s_range():
    from gan_core.images import from_uint8, to_uint8
    u = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)
    assert torch.allclose(from_uint8(u), torch.tensor([[[[-1.0, 128 / 127.5 - 1, 1.0]]]]), atol=1e-6)
    x = torch.rand(4, 1, 5, 5) * 2 - 1
    assert torch.allclose(from_uint8(to_uint8(x)), x, atol=1 / 127.5)
    assert from_uint8(x.double()).dtype == torch.float32      # floats pass through, as float
    assert u.dtype == torch.uint8 and u[0, 0, 0, 2] == 255    # the input is not changed
