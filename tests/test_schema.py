"""The checkpoint schema (issue 15, classes 1-4): hostile checkpoints end in one short error.

Every file here loads with torch.load(weights_only=True); see tests/attacks.py for how they are
built.
"""
from __future__ import annotations

import math
import pickle
import time

import pytest
import torch

import attacks
from gan_core.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from gan_core.config import TrainConfig
from gan_core.metrics import load_judge
from gan_core.shortrepr import short_repr


def one_error_line(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert len(lines[0]) < 600
    return lines[0]


# --- 1. a value that is not what the schema says, printed whole --------------------------------

def test_short_repr_is_short_and_fast_for_hostile_values():
    """The printed form of a doubling list (2**60 items), a self-referencing list, a huge int
    and a stride-0 tensor claiming 10**12 elements: short, and made at once."""
    selfref: list = []
    selfref.append(selfref)
    start = time.perf_counter()
    for v in (attacks.doubling_list(60), selfref, 10**5000, "x" * 10**6,
              torch.zeros(1).expand(10**12), {i: [i] * 100 for i in range(100)}):
        assert len(short_repr(v)) <= 80
    assert time.perf_counter() - start < 0.5


def test_config_error_message_is_short_for_a_doubling_list():
    """TrainConfig's error names the field and shows a short form of the value."""
    with pytest.raises(ValueError, match="dataset must be") as e:
        TrainConfig(dataset=attacks.doubling_list()).validate()
    assert len(str(e.value)) < 300


def test_freezing_checkpoint_ends_in_an_error_line(tmp_path, cli):
    """The 1.5 MB file that froze the server: `sample` ends at once with one error line
    (before the fix it printed a value of 2**60 items and never ended)."""
    path = attacks.freezing_checkpoint(tmp_path / "freeze.pt")
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="dataset must be"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 5
    proc = cli("sample", "--checkpoint", str(path), "--out", str(tmp_path / "s.png"),
               timeout=60)
    assert "dataset must be" in one_error_line(proc)


# --- 2. memory blow-ups from small files -----------------------------------------------------

def test_stride0_class_names_are_refused(tmp_path):
    obj = attacks.raw()
    obj["class_names"] = torch.zeros(1).expand(10**12)      # 4 bytes claiming 4 TB
    torch.save(obj, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="class_names must be a list"):
        load_checkpoint(tmp_path / "c.pt")


def test_stride0_weight_is_refused(tmp_path):
    obj = attacks.raw()
    first = next(iter(obj["generator"]))
    obj["generator"][first] = torch.zeros(1).expand(*obj["generator"][first].shape)
    torch.save(obj, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="strided view"):
        load_checkpoint(tmp_path / "w.pt")


@pytest.mark.parametrize("classes", [30_000, 10**6])
def test_huge_class_count_is_refused_before_building(tmp_path, classes):
    """num_classes in the tens of thousands or millions: refused by the spec's range, before
    any model is built (building one took gigabytes)."""
    obj = attacks.raw(attacks.SHIPPED_IMAGE)
    obj["spec"]["num_classes"] = classes
    obj["config"]["conditional"] = True
    torch.save(obj, tmp_path / "n.pt")
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="num_classes must be a whole number from 0 to 100"):
        load_checkpoint(tmp_path / "n.pt")
    assert time.perf_counter() - start < 5


def test_deflated_records_are_refused(tmp_path):
    """torch.save stores records uncompressed; a deflated one could inflate 1000:1."""
    path = attacks.deflated_checkpoint(tmp_path / "d.pt")
    torch.load(path, weights_only=True)          # PyTorch itself would inflate and accept it
    with pytest.raises(CheckpointError, match="compressed record"):
        load_checkpoint(path)


def test_parameter_bound(monkeypatch):
    from gan_core import schema
    from gan_core.models import ModelSpec
    spec = ModelSpec(model="dcgan64", latent_dim=1000, channels=3, depth="large",
                     self_attention=True, spectral_norm_g=True, spectral_norm_d=True,
                     num_classes=100)
    schema.spec_models(spec)                      # the largest spec the ranges allow: fits
    monkeypatch.setattr(schema, "MAX_PARAMS", 1000)
    with pytest.raises(CheckpointError, match="parameters; at most 1,000"):
        schema.spec_models(spec)


# --- 3. wrongly typed fields end in an error, not a traceback ---------------------------------

WRONG = [
    ("config", "depth", 3), ("config", "depth", ["small"]), ("config", "latent_dim", "100"),
    ("config", "latent_dim", 2.0), ("config", "latent_dim", 10**30), ("config", "loss", [1]),
    ("config", "batch_norm", [True]), ("config", "lr_g", math.nan), ("config", "lr_g", "0.1"),
    ("config", "dataset", 5), ("config", "channels", True), ("config", "data_dir", 3),
    ("spec", "num_classes", -1), ("spec", "latent_dim", "2"), ("spec", "latent_dim", 2.0),
    ("spec", "depth", None), ("spec", "dropout", math.inf), ("spec", "channels", 2),
    ("top", "step", math.inf), ("top", "step", [1]), ("top", "epoch", -1),
    ("top", "spec", [1, 2]), ("top", "config", "x"), ("top", "class_names", [1, 2]),
    ("top", "elapsed", "1 s"), ("top", "history", {"a": 1}), ("top", "last_g", [[1]]),
]


@pytest.mark.parametrize("section,field,value", WRONG,
                         ids=[f"{s}.{f}={short_repr(v, 20)}" for s, f, v in WRONG])
def test_wrongly_typed_field_is_a_checkpoint_error(tmp_path, section, field, value):
    obj = attacks.raw()
    if section == "top":
        obj[field] = value
    else:
        obj[section][field] = value
    torch.save(obj, tmp_path / "t.pt")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "t.pt")
    assert field in str(e.value) and len(str(e.value)) < 400


def test_integer_key_in_the_weights_is_a_checkpoint_error(tmp_path):
    obj = attacks.raw()
    obj["generator"][7] = torch.zeros(1)
    torch.save(obj, tmp_path / "k.pt")
    with pytest.raises(CheckpointError, match="generator weights hold 7"):
        load_checkpoint(tmp_path / "k.pt")


def test_unknown_keys_are_refused(tmp_path):
    obj = attacks.raw()
    obj["payload"] = "x"
    torch.save(obj, tmp_path / "u.pt")
    with pytest.raises(CheckpointError, match="unknown entry 'payload'"):
        read_checkpoint(tmp_path / "u.pt")


def test_every_shipped_checkpoint_passes_the_schema(repo_root):
    paths = [p for p in sorted((repo_root / "pretrained").glob("*.pt")) if "judge" not in p.name]
    assert len(paths) >= 10
    for p in paths:
        load_checkpoint(p)


def test_full_checkpoints_pass_the_schema(tmp_path, image_cfg):
    """Full checkpoints (D and both optimiser states) of a conditional SAGAN-style model."""
    from gan_core.checkpoint import save_checkpoint
    from gan_core.trainer import Trainer
    tr = Trainer(image_cfg(max_steps=2, conditional=True, self_attention=True,
                           spectral_norm_g=True, spectral_norm_d=True, batch_norm_d=False,
                           loss="hinge"))
    tr.run()
    path = save_checkpoint(tr, tmp_path / "full.pt")
    assert load_checkpoint(path).D is not None
    assert Trainer.from_checkpoint(path).step == 2
    obj = torch.load(path, weights_only=True)
    obj["opt_d"]["state"][0]["exp_avg"] = torch.zeros(1).expand(10**6, 10**6)
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="opt_d state 0.exp_avg has shape"):
        load_checkpoint(path)


# --- 4. evaluate and --judge ---------------------------------------------------------------------

def test_evaluate_nan_weights_is_an_error_line(tmp_path, cli, real_data_dir):
    obj = attacks.raw(attacks.SHIPPED_IMAGE)
    for v in obj["generator"].values():
        if v.is_floating_point():
            v.fill_(math.nan)
    torch.save(obj, tmp_path / "nan.pt")
    proc = cli("evaluate", "--checkpoint", str(tmp_path / "nan.pt"), "--n", "50",
               "--data-dir", str(real_data_dir), timeout=120)
    assert "NaN or infinite" in one_error_line(proc)


class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_judge_that_is_not_a_judge_or_runs_code(tmp_path):
    marker = tmp_path / "ran"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "gan_core.judge", "weights": Evil(marker)}, f)
    torch.save({"format": "gan_core.judge", "num_classes": 10, "channels": 1,
                "weights": {"x": torch.zeros(2)}}, tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("not a judge")
    ckpt = attacks.SHIPPED_IMAGE
    for name in ("evil.pt", "bad.pt", "text.pt", ckpt):
        with pytest.raises(ValueError) as e:
            load_judge("mnist", tmp_path / name)
        assert len(str(e.value)) < 400 and "\n" not in str(e.value)
    assert not marker.exists()


def test_cli_judge_refusals_are_error_lines(tmp_path, cli):
    marker = tmp_path / "ran"
    torch.save({"format": "gan_core.judge", "weights": Evil(marker)}, tmp_path / "evil.pt")
    proc = cli("evaluate", "--checkpoint", str(attacks.SHIPPED_IMAGE), "--n", "50",
               "--judge", str(tmp_path / "evil.pt"), timeout=120)
    assert "not a judge file" in one_error_line(proc)
    assert not marker.exists()


def test_evaluate_never_reads_a_folder_the_checkpoint_names(tmp_path, cli):
    """A config saying folder:/ made evaluate walk the whole file system."""
    obj = attacks.raw(attacks.SHIPPED_IMAGE)
    obj["config"]["dataset"] = "folder:/"
    obj["config"]["data_dir"] = "/"
    torch.save(obj, tmp_path / "f.pt")
    start = time.perf_counter()
    proc = cli("evaluate", "--checkpoint", str(tmp_path / "f.pt"), "--n", "50", timeout=60)
    assert "--data-dir" in one_error_line(proc)
    assert time.perf_counter() - start < 60


def test_bounded_work_for_the_largest_records_and_archives(tmp_path, monkeypatch):
    """200,000 history records that are one 64-key dict listed again and again (a few bytes
    each in the file) are checked at once; a zip declaring more records than a checkpoint
    may hold is refused before its directory is parsed."""
    from gan_core import schema
    obj = attacks.raw()
    record = {f"k{i}": float(i) for i in range(64)}
    obj["history"] = [record] * schema.MAX_RECORDS
    torch.save(obj, tmp_path / "h.pt")
    start = time.perf_counter()
    load_checkpoint(tmp_path / "h.pt")
    assert time.perf_counter() - start < 5
    monkeypatch.setattr(schema, "MAX_ARCHIVE_ENTRIES", 3)
    with pytest.raises(CheckpointError, match="declares 1[0-9] records"):
        load_checkpoint(attacks.SHIPPED)
