"""Checkpoints: exact round trips, exact resumption, and refusal of unsafe or unfitting files."""
from __future__ import annotations

import math
import pickle

import pytest
import torch

from gan_core.checkpoint import (FORMAT, CheckpointError, load_checkpoint, read_checkpoint,
                                 save_checkpoint)
from gan_core.trainer import Trainer

VOLATILE = ("time_s", "images_per_s")        # wall-clock fields differ between any two runs


def comparable(history):
    """Records without wall-clock fields, NaN made comparable (NaN != NaN)."""
    nan_safe = lambda v: "nan" if isinstance(v, float) and math.isnan(v) else v  # noqa: E731
    return [{k: nan_safe(v) for k, v in r.items() if k not in VOLATILE} for r in history]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture
def trained(image_dataset, image_cfg):
    """A classroom trainer after 3 steps on random images."""
    tr = Trainer(image_cfg(max_steps=3), image_dataset)
    tr.run()
    return tr


def test_round_trip_reproduces_generator_exactly(trained, tmp_path):
    """save then load gives the same config, spec, weights and, bit for bit, G's outputs."""
    path = save_checkpoint(trained, tmp_path / "ck.pt")
    ck = load_checkpoint(path)
    assert ck.config == trained.config and ck.spec == trained.spec
    assert ck.step == 3 and ck.class_names == trained.dataset.class_names
    assert not ck.G.training and not ck.D.training            # eval mode
    trained.sample_G.eval()              # what the run showed: the average of G's weights
    z = torch.randn(5, trained.config.latent_dim)
    with torch.no_grad():
        assert torch.equal(ck.G(z), trained.sample_G(z))
    assert_same_weights(ck.G, trained.sample_G)
    assert_same_weights(ck.D, trained.D)
    assert comparable(ck.history) == comparable(trained.history)


def test_generator_only(trained, tmp_path):
    """A shipped generator has no D or optimiser state, and training cannot resume from it."""
    path = save_checkpoint(trained, tmp_path / "g.pt", generator_only=True)
    raw = read_checkpoint(path)
    assert "discriminator" not in raw and "opt_g" not in raw and "opt_d" not in raw
    ck = load_checkpoint(path)
    assert ck.D is None
    assert_same_weights(ck.G, trained.sample_G)
    with pytest.raises(CheckpointError, match="only a generator"):
        Trainer.from_checkpoint(path)
    full = save_checkpoint(trained, tmp_path / "full.pt")
    assert path.stat().st_size < full.stat().st_size


def test_load_without_discriminator(trained, tmp_path):
    """with_discriminator=False loads G only."""
    path = save_checkpoint(trained, tmp_path / "ck.pt")
    assert load_checkpoint(path, with_discriminator=False).D is None


@pytest.mark.parametrize("d_steps", [1, 5])
def test_resume_continues_exactly(tmp_path, ring_cfg, d_steps):
    """Stopping after epoch 1 and resuming from its checkpoint gives exactly the history and
    weights of an uninterrupted 2-epoch run (also when G is not updated at every step, so
    the first records after resuming repeat G's last loss)."""
    cfg = ring_cfg(subset=256, epochs=2, seed=5,           # toys: subset is the number of points
                   d_steps_per_g_step=d_steps)
    ref = Trainer(cfg)
    path = tmp_path / "epoch1.pt"
    ref.add_callback("epoch", lambda t, s: save_checkpoint(t, path) if s["epoch"] == 1 else None)
    assert ref.run() == "finished"
    assert len(ref.dataset) == 256 and ref.step == 16

    resumed = Trainer.from_checkpoint(path)
    assert resumed.step == 8 and resumed.epoch == 1
    assert resumed.d_updates == 8 and resumed.g_updates == 8 // d_steps
    assert len(resumed.history) == 8
    assert resumed.run() == "finished"
    assert resumed.step == 16
    assert comparable(resumed.history) == comparable(ref.history)
    assert_same_weights(resumed.G, ref.G)
    assert_same_weights(resumed.D, ref.D)


def test_resume_with_more_epochs(tmp_path, ring_cfg):
    """A finished 1-epoch run resumed with epochs=2 equals a 2-epoch run."""
    one = Trainer(ring_cfg(subset=256, epochs=1, seed=2))
    one.run()
    path = save_checkpoint(one, tmp_path / "one.pt")
    two = Trainer(ring_cfg(subset=256, epochs=2, seed=2))
    two.run()
    resumed = Trainer.from_checkpoint(path, epochs=2)
    assert resumed.config.epochs == 2
    resumed.run()
    assert comparable(resumed.history) == comparable(two.history)
    assert_same_weights(resumed.G, two.G)


class Evil:
    """Unpickling this would create `marker` (a stand-in for running arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_evil_payload_is_real(tmp_path):
    """Sanity check for the next test: plain pickle would indeed create the marker."""
    marker = tmp_path / "proof"
    pickle.loads(pickle.dumps(Evil(marker))).close()
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_malicious_pickle_is_refused(tmp_path, writer):
    """A file whose unpickling would run code is refused with CheckpointError, and the
    code never runs."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    obj = {"format": FORMAT, "version": 1, "config": {}, "spec": {}, "generator": {},
           "payload": Evil(marker)}
    if writer == "torch.save":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    for load in (read_checkpoint, load_checkpoint, Trainer.from_checkpoint):
        with pytest.raises(CheckpointError):
            load(path)
    assert not marker.exists()
    expected = "refused.*could run code" if writer == "torch.save" else "not a gan_core checkpoint"
    with pytest.raises(CheckpointError, match=expected) as info:
        read_checkpoint(path)
    assert "weights_only" not in str(info.value)     # never advise the unsafe retry


def test_garbage_and_truncated_files(trained, tmp_path):
    """Garbage, half-written and missing files raise CheckpointError, not a torch traceback."""
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a (readable|gan_core) checkpoint") as info:
        load_checkpoint(junk)
    assert "weights_only" not in str(info.value)
    good = save_checkpoint(trained, tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_other_torch_files_are_not_checkpoints(tmp_path):
    """A plain torch.save'd dict without the format tag is refused."""
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a gan_core checkpoint"):
        load_checkpoint(path)


def test_wrong_version(trained, tmp_path):
    """A checkpoint of another format version is refused, naming the version."""
    path = save_checkpoint(trained, tmp_path / "ck.pt")
    raw = torch.load(path, weights_only=True)
    raw["version"] = 99
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(path)


def test_tampered_weights_do_not_fit(trained, tmp_path):
    """Weights of the wrong shape raise CheckpointError saying they do not fit."""
    path = save_checkpoint(trained, tmp_path / "ck.pt")
    raw = torch.load(path, weights_only=True)
    first = next(iter(raw["generator"]))
    raw["generator"][first] = torch.zeros(3, 3)
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="do not fit") as e:
        load_checkpoint(path)
    assert "generator" in str(e.value)


def test_resume_refuses_model_changing_config(tmp_path, ring_cfg):
    """Resuming with a setting that changes the model names the field; live settings may change."""
    tr = Trainer(ring_cfg(subset=64, max_steps=1, latent_dim=8))
    tr.run()
    path = save_checkpoint(tr, tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match="latent_dim 8 -> 16"):
        Trainer.from_checkpoint(path, latent_dim=16)
    with pytest.raises(CheckpointError, match="depth"):
        Trainer.from_checkpoint(path, depth="large")
    with pytest.raises(CheckpointError, match="lr_g"):          # invalid values are refused
        Trainer.from_checkpoint(path, lr_g=-1.0)
    # live settings may change
    assert Trainer.from_checkpoint(path, lr_g=1e-3, epochs=3).config.lr_g == 1e-3


def test_atomic_save_leaves_no_temporary_files(trained, tmp_path):
    """Saving (and overwriting) leaves only the checkpoint, no .tmp files."""
    save_checkpoint(trained, tmp_path / "ck.pt")
    save_checkpoint(trained, tmp_path / "ck.pt")               # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_failed_save_keeps_the_old_checkpoint(trained, tmp_path, monkeypatch):
    """A crash while writing leaves the previous file intact and no .tmp behind."""
    path = save_checkpoint(trained, tmp_path / "ck.pt")
    before = path.read_bytes()

    def crash(obj, f, *a, **kw):
        f.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr("gan_core.checkpoint.torch.save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(trained, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]


def test_checkpoint_from_before_the_spectral_norm_split_loads(tmp_path, image_cfg):
    """A file whose config and spec say spectral_norm (D only, D's batch norm kept) still loads
    and resumes, as spectral_norm_d, with the same weights."""
    tr = Trainer(image_cfg(max_steps=2, spectral_norm_d=True))
    tr.run()
    path = save_checkpoint(tr, tmp_path / "new.pt")
    obj = torch.load(path, weights_only=True)
    for part in ("config", "spec"):
        obj[part]["spectral_norm"] = obj[part].pop("spectral_norm_d")
        obj[part].pop("spectral_norm_g")
        obj[part].pop("batch_norm_d")
    old = tmp_path / "old.pt"
    torch.save(obj, old)
    ck = load_checkpoint(old)
    assert ck.config.spectral_norm_d and not ck.config.spectral_norm_g
    assert ck.spec == tr.spec
    assert_same_weights(ck.D, tr.D)
    assert Trainer.from_checkpoint(old, max_steps=3).step == 2
