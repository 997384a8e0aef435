"""Held-out evaluation (issue 29): GANs never train on the images their quality is measured on.

With only a lone IDX split on disk (MNIST's 10,000 test digits on the lab machines), a fixed
fifth of it, at most 2,000 images, is the quality reference and the rest trains GANs; with the
train split there too, GANs train on it and the test split is the reference.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from gan_core import metrics, sweeps
from gan_core.config import TrainConfig
from gan_core.data import HELDOUT_N, DatasetError, heldout_split, load_idx_dataset
from gan_core.datasets import load_dataset
from gan_core.shape import load_for
from gan_core.trainer import Trainer

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def numbered_split(idx_writer, root, prefix: str, n: int, start: int = 0, folder="MNIST"):
    """An IDX split whose image i carries its number start + i in two pixels (so images can be
    told apart after loading), labels i % 10."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    ids = np.arange(start, start + n)
    images[:, 0, 0], images[:, 0, 1] = ids % 256, ids // 256
    images[:, 10:18, 10:18] = 128 + (ids % 100)[:, None, None]   # something for the judge
    raw = root / folder / "raw"
    idx_writer(raw / f"{prefix}-images-idx3-ubyte.gz", images, IDX_IMAGES_MAGIC)
    idx_writer(raw / f"{prefix}-labels-idx1-ubyte.gz", ids % 10, IDX_LABELS_MAGIC)
    return root


def ids(images: torch.Tensor) -> list[int]:
    """The numbers numbered_split wrote into uint8 28x28 images."""
    return (images[:, 0, 0, 0].long() + 256 * images[:, 0, 0, 1].long()).tolist()


@pytest.fixture
def t10k_only(tmp_path, idx_writer):
    """Only the test split, 300 images: 60 reference, 240 for training."""
    return numbered_split(idx_writer, tmp_path / "data", "t10k", 300)


# --- the split -------------------------------------------------------------------------------

def test_test_split_alone_trains_on_four_fifths_and_holds_out_the_rest(t10k_only):
    train = load_dataset("mnist", t10k_only, download=False)
    ref = load_dataset("mnist", t10k_only, download=False, part="reference")
    every = load_dataset("mnist", t10k_only, download=False, part="all")
    assert (len(train), len(ref), len(every)) == (240, 60, 300)
    assert not set(ids(train.data)) & set(ids(ref.data))
    assert set(ids(train.data)) | set(ids(ref.data)) == set(range(300))
    assert ids(every.data) == list(range(300))
    # labels travel with their images
    assert train.labels.tolist() == [i % 10 for i in ids(train.data)]
    assert ref.labels.tolist() == [i % 10 for i in ids(ref.data)]
    assert "only the test split" in train.note
    assert "240 digits train the GAN and 60 held-out digits are the quality reference" \
        in train.note
    assert "held-out" in ref.note and "no GAN trains on them" in ref.note


def test_the_split_is_the_same_every_call_and_is_heldout_split(t10k_only):
    a = load_dataset("mnist", t10k_only, download=False, part="reference")
    b = load_dataset("mnist", t10k_only, download=False, part="reference")
    assert torch.equal(a.data, b.data)
    ref_idx, train_idx = heldout_split(300)
    assert ids(a.data) == ref_idx.tolist()
    assert ids(load_dataset("mnist", t10k_only, download=False).data) == train_idx.tolist()
    # ... and seed, model size and channels do not move it
    c = load_dataset("mnist", t10k_only, download=False, part="reference", seed=7)
    assert torch.equal(a.data, c.data)
    d = load_dataset("mnist", t10k_only, download=False, part="reference", image_size=32,
                     channels=3)
    assert d.data.shape == (60, 3, 32, 32)


def test_mnist_test_split_gives_8000_and_2000_and_holds_the_judges_unseen_digits():
    """On the real 10,000 the reference is 2,000 digits, and the 1,000 the shipped judge never
    saw (metrics.judge_split) are among them: the same seeded permutation."""
    ref, train = heldout_split(10_000)
    assert (len(ref), len(train), HELDOUT_N) == (2_000, 8_000, 2_000)
    assert not set(ref.tolist()) & set(train.tolist())
    assert torch.equal(ref, ref.sort().values) and torch.equal(train, train.sort().values)
    judge_unseen, judge_trained_on = metrics.judge_split(10_000)
    assert set(judge_unseen.tolist()) <= set(ref.tolist())
    assert set(train.tolist()) <= set(judge_trained_on.tolist())
    assert torch.equal(heldout_split(10_000)[0], ref)


def test_subset_draws_only_from_the_training_part(t10k_only):
    ref = set(ids(load_dataset("mnist", t10k_only, download=False, part="reference").data))
    for seed in range(5):
        sub = load_dataset("mnist", t10k_only, download=False, subset=200, seed=seed)
        assert len(sub) == 200 and not set(ids(sub.data)) & ref
    with pytest.raises(DatasetError, match="only 240"):
        load_dataset("mnist", t10k_only, download=False, subset=241)


def test_with_the_train_split_gans_train_on_it_and_the_test_split_is_the_reference(
        tmp_path, idx_writer):
    root = numbered_split(idx_writer, tmp_path, "train", 120)
    numbered_split(idx_writer, root, "t10k", 40, start=1000)
    train = load_dataset("mnist", root, download=False)
    ref = load_dataset("mnist", root, download=False, part="reference")
    assert ids(train.data) == list(range(120))
    assert ids(ref.data) == list(range(1000, 1040))
    sub = load_dataset("mnist", root, download=False, subset=50, seed=3)
    assert set(ids(sub.data)) <= set(range(120))
    assert "test split's 40 are the quality reference" in train.note
    assert len(load_idx_dataset("mnist", root)) == 160     # "all": both


def test_fashion_mnist_follows_the_same_rule(tmp_path, idx_writer):
    root = numbered_split(idx_writer, tmp_path, "t10k", 100, folder="FashionMNIST")
    train = load_dataset("fashion-mnist", root, download=False)
    ref = load_dataset("fashion-mnist", root, download=False, part="reference")
    assert (len(train), len(ref)) == (80, 20)
    assert not set(ids(train.data)) & set(ids(ref.data))
    assert "80 images train the GAN and 20 held-out images" in train.note


def test_sets_without_a_held_out_part_are_their_own_reference_and_parts_are_checked(tmp_path):
    from PIL import Image
    for i in range(6):
        Image.fromarray(np.full((8, 8), i * 40, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    a = load_dataset(f"folder:{tmp_path}", image_size=8)
    b = load_dataset(f"folder:{tmp_path}", image_size=8, part="reference")
    assert torch.equal(a.data, b.data) and len(a) == 6
    with pytest.raises(DatasetError, match="unknown part"):
        load_dataset("ring", part="test")


def test_a_split_too_small_to_hold_out_a_reference_says_so(tmp_path, idx_writer):
    root = numbered_split(idx_writer, tmp_path, "t10k", 4)
    assert len(load_dataset("mnist", root, download=False)) == 4
    with pytest.raises(DatasetError, match="too few"):
        load_dataset("mnist", root, download=False, part="reference")


# --- the metrics ------------------------------------------------------------------------------

def test_reference_stats_from_disk_use_the_reference_and_memorisation_the_training_part(
        t10k_only):
    judge = metrics.Judge()
    stats = metrics.reference_stats(judge, "mnist", 28, data_dir=t10k_only)
    assert stats.features.shape == (60, 128) and stats.train_features.shape == (240, 128)
    ref = load_dataset("mnist", t10k_only, download=False, part="reference")
    want = metrics.judge_outputs(judge, ref.data[metrics.reference_indices(60)])[1]
    assert torch.allclose(stats.features, want)


def test_memorisation_is_measured_to_the_training_images():
    """A generator that returns training images is a copier: distance 0 to the training part,
    whatever its distance to the held-out reference."""
    torch.manual_seed(0)
    judge = metrics.Judge()
    train, held = torch.rand(50, 1, 28, 28) * 2 - 1, torch.rand(50, 1, 28, 28) * 2 - 1
    feats = lambda x: metrics.judge_outputs(judge, x)[1]          # noqa: E731
    both = metrics.RealStats(feats(held), train_features=feats(train))
    copies = metrics.image_metrics(judge, train[:20], both)
    assert copies["memorisation"] < 1e-5
    assert metrics.image_metrics(judge, train[:20], metrics.RealStats(feats(held)))[
        "memorisation"] > 0.01
    # the FD is the reference's either way
    assert copies["judge_fd"] == metrics.image_metrics(judge, train[:20],
                                                       metrics.RealStats(feats(held)))["judge_fd"]


# --- the entry points -------------------------------------------------------------------------

def small_config(data_dir, **kw) -> TrainConfig:
    return TrainConfig(dataset="mnist", data_dir=str(data_dir), download=False,
                       model="classroom", batch_size=32, max_steps=1, eval_samples=50,
                       clusters=None, device="cpu", **kw)


def test_load_for_and_the_trainer_train_on_the_training_part_only(t10k_only):
    ref = set(ids(load_dataset("mnist", t10k_only, download=False, part="reference").data))
    for cfg in (small_config(t10k_only), small_config(t10k_only, subset=64)):
        assert not set(ids(load_for(cfg).data)) & ref
        assert not set(ids(Trainer(cfg).dataset.data)) & ref


@pytest.mark.parametrize("subset", [None, 64])
def test_the_trainers_evaluation_uses_reference_images_it_never_trains_on(
        t10k_only, monkeypatch, subset, no_cache):
    """Trainer.evaluate measures against the whole held-out part (not its training data, nor
    its subset) and takes the memorisation distance to the whole training part."""
    seen = {}
    original = metrics.reference_stats

    def spy(judge, name, size, data=None, data_dir=None, train_data=None):
        seen.update(data=data, train_data=train_data)
        return original(judge, name, size, data, data_dir, train_data)

    monkeypatch.setattr(metrics, "reference_stats", spy)
    monkeypatch.setattr(metrics, "load_judge", lambda name, path=None: metrics.Judge())
    tr = Trainer(small_config(t10k_only, subset=subset))
    out = tr.evaluate()
    assert "m_judge_fd" in out and "m_memorisation" in out
    reference, train = ids(seen["data"].data), ids(seen["train_data"].data)
    assert sorted(reference) == heldout_split(300)[0].tolist()
    assert not set(reference) & set(ids(tr.dataset.data))
    assert sorted(train) == heldout_split(300)[1].tolist()


def test_sweep_parts_are_the_training_and_reference_parts(t10k_only):
    cfg = small_config(t10k_only, subset=64)
    train, ref = sweeps._parts(cfg)
    assert (len(train), len(ref)) == (240, 60)
    assert not set(ids(train.data)) & set(ids(ref.data))
    part, compared, held = sweeps.memorisation_split(len(train), len(ref), 64, seed=0)
    assert len(part) == 64 and len(compared) == len(held) == 60
    assert set(compared.tolist()) <= set(part.tolist())
    assert int(held.max()) < len(ref)
    assert sweeps._parts(replace(cfg, subset=128))[0] is train    # loaded once per process


def test_a_sweep_runs_final_metrics_use_its_curves_sample_count(t10k_only):
    """FD falls with the sample count, so the curve and the final figure of one run are
    measured on the same number of samples (issue 31: 500 against 1,000 before)."""
    cfg = replace(small_config(t10k_only, eval_every=1), max_steps=2, eval_samples=500)
    result = sweeps.run_gan(cfg)
    assert result["final"]["eval_n"] == 500
    assert {row["eval_n"] for row in result["curve"]} == {500}
