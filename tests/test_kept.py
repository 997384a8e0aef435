"""What a run's start computes from its data is kept (gan_core.kept, gan_core.cache): a second
run finds it without computing it again, a damaged or hostile file is ignored and rebuilt, new
data means a new key, and a kept value trains the same weights as a computed one."""
from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
import torch

from gan_core import cache, clusters, kept, metrics
from gan_core.config import TrainConfig
from gan_core.trainer import Trainer

from tests.conftest import IDX_IMAGES_MAGIC, make_idx_tree, write_idx


@pytest.fixture
def kept_in(tmp_path, monkeypatch):
    """A fresh, empty cache folder, and nothing in memory."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GAN_LAB_CACHE_DIR", str(folder))
    cache.forget_memory()
    yield folder
    cache.forget_memory()


@pytest.fixture
def digits(tmp_path):
    """An MNIST-shaped folder of 400 random training digits (enough for 2 clusters)."""
    return make_idx_tree(tmp_path / "data", n={"train": 400, "test": 100})


@pytest.fixture
def calls(monkeypatch):
    """How often k-means and the reference statistics are really computed."""
    counted = {"kmeans": 0, "reference": 0}
    real_kmeans, real_reference = clusters.kmeans, metrics.reference_stats

    def kmeans(*a, **kw):
        counted["kmeans"] += 1
        return real_kmeans(*a, **kw)

    def reference(*a, **kw):
        counted["reference"] += 1
        return real_reference(*a, **kw)
    monkeypatch.setattr(clusters, "kmeans", kmeans)
    monkeypatch.setattr(metrics, "reference_stats", reference)
    return counted


def config(data_dir, **kw) -> TrainConfig:
    return TrainConfig(**{**dict(dataset="mnist", data_dir=str(data_dir), download=False,
                                 model="classroom", depth="small", batch_size=32, max_steps=2,
                                 clusters=2, eval_samples=50, device="cpu", seed=3,
                                 sample_every=1000), **kw}).validate()


def files(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.pt")}


def test_the_second_run_computes_neither_clusters_nor_reference_statistics(
        kept_in, digits, calls):
    """A second run in the same process finds them in memory; a fresh process (memory
    forgotten) finds them on disk, and no file is written again."""
    first = Trainer(config(digits))
    first.evaluate()
    assert calls == {"kmeans": 1, "reference": 1}
    on_disk = files(kept_in)
    assert sorted(n.split("-")[0] for n in on_disk) == ["clusters", "dataset", "dataset",
                                                         "reference"]
    second = Trainer(config(digits))
    second.evaluate()
    cache.forget_memory()
    third = Trainer(config(digits))
    third.evaluate()
    assert calls == {"kmeans": 1, "reference": 1}
    assert files(kept_in) == on_disk
    assert cache.counts[("clusters", "disk")] >= 1
    for t in (second, third):
        assert torch.equal(t.D.cluster_centres, first.D.cluster_centres)
        assert torch.equal(t.G.cluster_edges, first.G.cluster_edges)
        ours, theirs = t.evaluation._judge[1], first.evaluation._judge[1]
        assert torch.equal(ours.features, theirs.features)
        assert torch.equal(ours.radii, theirs.radii) and ours.radii is not None
        assert ours.heldout_distance == theirs.heldout_distance is not None


def test_another_seed_or_cluster_count_is_another_key(kept_in, digits, calls):
    Trainer(config(digits))
    Trainer(config(digits, seed=4))
    Trainer(config(digits, seed=3))
    assert calls["kmeans"] == 2


def test_a_kept_run_trains_exactly_the_weights_of_a_computed_one(kept_in, digits, no_cache):
    """Kept values are the same bits: the same seed gives the same weights whether the
    clusters were computed for this run (as before they were kept) or read back."""
    def train():
        t = Trainer(config(digits, max_steps=4))
        t.run()
        return {k: v.clone() for k, v in {**t.G.state_dict(), **t.D.state_dict()}.items()}
    computed = train()                   # no_cache: computed from scratch, as before
    os.environ["GAN_LAB_CACHE_DIR"] = str(kept_in)
    train()                              # computes and keeps them
    cache.forget_memory()
    from_disk = train()
    assert computed.keys() == from_disk.keys()
    for k in computed:
        assert torch.equal(computed[k], from_disk[k]), k


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pickle", "wrong shape",
                                    "other key"])
def test_a_damaged_or_hostile_cache_file_is_ignored_and_rebuilt(kept_in, digits, calls,
                                                                damage, tmp_path):
    Trainer(config(digits))
    (path,) = kept_in.glob("clusters-*.pt")
    good = path.read_bytes()
    marker = tmp_path / "ran"
    if damage == "garbage":
        path.write_bytes(b"not a torch file at all" * 10)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "pickle":       # a pickle that runs a command when unpickled
        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))
        torch.save(Evil(), path)
        assert b"system" in path.read_bytes()
    else:
        obj = torch.load(path, weights_only=True)
        if damage == "wrong shape":
            obj["value"]["centroids"] = obj["value"]["centroids"][:, :10]
        else:
            obj["key"] = "0" * 64
        torch.save(obj, path)
    cache.forget_memory()
    t = Trainer(config(digits))
    assert calls["kmeans"] == 2                     # ignored: computed again
    assert not marker.exists()                      # nothing in it ran
    obj = torch.load(path, weights_only=True)       # and written anew, readable
    assert torch.equal(obj["value"]["centroids"], t.D.cluster_centres)


def test_new_data_in_the_same_files_is_a_new_key(kept_in, digits, calls):
    """Rewritten digits are seen even with the same size and modification time."""
    before = kept.dataset("mnist", digits, download=False)
    Trainer(config(digits))
    images = digits / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    stat = images.stat()
    rng = np.random.default_rng(99)
    write_idx(images, rng.integers(0, 256, size=(400, 28, 28), dtype=np.uint8),
              IDX_IMAGES_MAGIC)
    os.utime(images, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = kept.dataset("mnist", digits, download=False)
    assert not torch.equal(before.data, after.data)
    Trainer(config(digits))
    assert calls["kmeans"] == 2


def test_the_key_follows_the_code_that_computes_the_value(kept_in, tmp_path):
    source = tmp_path / "code.py"
    source.write_text("A = 1\n")
    n = {"calls": 0}

    def compute():
        n["calls"] += 1
        return {"x": torch.ones(3)}

    def fits(v):
        return cache.is_tensor(v.get("x"), torch.float32, (3,))
    cache.remember("test", ("same",), compute, fits, code=(str(source),))
    cache.remember("test", ("same",), compute, fits, code=(str(source),))
    assert n["calls"] == 1
    source.write_text("A = 2\n")
    cache._code.clear()                              # a new process reads the new source
    cache.remember("test", ("same",), compute, fits, code=(str(source),))
    assert n["calls"] == 2


def test_a_kept_value_handed_out_is_a_copy(kept_in):
    def fits(v):
        return True
    a = cache.remember("test", ("copy",), lambda: {"x": torch.zeros(2)}, fits)
    a["x"] += 5                                   # a caller changes its copy in place
    b = cache.remember("test", ("copy",), lambda: {"x": torch.zeros(2)}, fits)
    assert torch.equal(b["x"], torch.zeros(2))


def test_off_keeps_nothing_on_disk(tmp_path, monkeypatch, digits):
    monkeypatch.setenv("GAN_LAB_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    cache.forget_memory()
    Trainer(config(digits))
    assert cache.cache_dir() is None and not (tmp_path / "home").exists()
    cache.forget_memory()


def test_an_unwritable_cache_folder_only_keeps_values_in_memory(tmp_path, monkeypatch,
                                                                digits, calls):
    blocker = tmp_path / "a file, not a folder"
    blocker.write_text("")
    monkeypatch.setenv("GAN_LAB_CACHE_DIR", str(blocker / "cache"))
    cache.forget_memory()
    Trainer(config(digits))
    Trainer(config(digits))
    assert calls["kmeans"] == 1
    cache.forget_memory()


def test_plain_pickles_are_never_read(kept_in):
    """The reader is torch.load(weights_only=True) after the archive check: a file that holds a
    plain pickle of the right shape is still not ours."""
    key = cache.make_key("test", ("p",), ())
    path = kept_in / f"test-{key[:40]}.pt"
    kept_in.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"format": cache.FORMAT, "key": key,
                                   "value": {"x": torch.full((2,), 7.0)}}))
    got = cache.remember("test", ("p",), lambda: {"x": torch.zeros(2)}, lambda v: True)
    assert torch.equal(got["x"], torch.zeros(2))


def test_a_prewarmed_worker_has_the_first_jobs_start_ready(kept_in, digits):
    """The server's idle worker trains the default set-up for one step (workers.core.warm_up):
    its data, clusters and reference statistics are then kept, and the first job computes
    none of them again (no cache file is written anew)."""
    from gan_core.jobs import Job
    from gan_core.workers import LocalBackend
    cfg = config(digits, eval_every=3, max_steps=6)
    backend = LocalBackend(keep_idle=1)
    try:
        backend.prewarm(1, [cfg.to_dict()])
        deadline = time.time() + 180
        while sorted(n.split("-")[0] for n in files(kept_in)) != [
                "clusters", "dataset", "dataset", "reference"]:
            assert time.time() < deadline, f"no warm-up: {sorted(files(kept_in))}"
            time.sleep(0.1)
        warm = files(kept_in)
        job = Job(cfg, backend=backend).start()
        assert job.join(180) and job.trainer.step == 6, job.error
        assert any("m_confident_share" in r for r in job.trainer.history)
        assert files(kept_in) == warm
    finally:
        backend.shutdown()
