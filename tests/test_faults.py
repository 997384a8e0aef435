"""Faults: divergence, out of memory, and saving interrupted by a crash or a full disk.

Each case checks what the student is left with: a run that stopped with a reason that says
what to change, and the last good weights.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_core.checkpoint import read_checkpoint, save_checkpoint
from gan_core.config import TrainConfig
from gan_core.devices import is_out_of_memory, memory_advice
from gan_core.trainer import Trainer

REPO_ROOT = Path(__file__).resolve().parents[1]


def image_trainer(tmp_path, idx_tree, **kw):
    data = idx_tree(tmp_path / "data", n={"train": 256, "test": 10})
    cfg = TrainConfig(dataset="mnist", data_dir=str(data), download=False, batch_size=32,
                      device="cpu", sample_every=1000, **kw)
    return Trainer(cfg)


def weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class WithG:
    """The trainer's loss with another generator loss function."""
    def __init__(self, loss, g):
        self._loss, self.g = loss, g

    def __getattr__(self, name):
        return getattr(self._loss, name)


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


OOMS = {
    "cuda": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "host": lambda: MemoryError(),
    "mps": lambda: RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"),
}


@pytest.mark.parametrize("kind", list(OOMS))
@pytest.mark.parametrize("where", ["D", "G"])
def test_out_of_memory_stops_with_advice_and_keeps_the_last_good_weights(tmp_path, idx_tree,
                                                                          kind, where):
    tr = image_trainer(tmp_path, idx_tree, max_steps=6)
    saved = {}
    tr.add_callback("step", lambda t, r: saved.update(G=weights(t.G), D=weights(t.D))
                    if r["step"] == 3 else None)
    # D: its forward pass fails. G: its update fails, after D was already updated this step.
    real = tr.D.forward if where == "D" else tr.loss.g

    def failing(*a, **k):
        if tr.step == 3:                            # during step 4
            raise OOMS[kind]()
        return real(*a, **k)
    if where == "D":
        tr.D.forward = failing
    else:
        tr.loss = WithG(tr.loss, failing)
    assert tr.run() == "failed"
    assert tr.step == 3
    assert tr.reason.startswith("out of memory on cpu; try a smaller batch size (now 32)")
    assert "the weights are those of step 3, the last good one" in tr.reason
    assert same(weights(tr.G), saved["G"]) and same(weights(tr.D), saved["D"])
    assert all(p.grad is None for p in tr.G.parameters())      # memory given back


def test_other_errors_are_not_mistaken_for_out_of_memory(tmp_path, idx_tree):
    tr = image_trainer(tmp_path, idx_tree, max_steps=4)

    def broken(*a, **k):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    tr.D.forward = broken
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        tr.run()
    assert tr.state == "failed" and tr.reason == "stopped by an error"
    assert not is_out_of_memory(RuntimeError("index out of range"))
    assert is_out_of_memory(MemoryError())


def test_memory_advice_names_what_to_change():
    cfg = TrainConfig(model="dcgan64", depth="large", batch_size=256)
    text = memory_advice(cfg, torch.device("cuda"))
    assert text == ("out of memory on cuda; try a smaller batch size (now 256), a smaller "
                    "generator (depth small), the classroom model or the CPU")


def test_divergence_stops_with_the_reason_and_the_last_good_weights(tmp_path, idx_tree):
    tr = image_trainer(tmp_path, idx_tree, max_steps=6, loss="nonsaturating")
    real_g = tr.loss.g
    kept = {}

    tr.add_callback("step", lambda t, r: kept.update(G=weights(t.G), D=weights(t.D))
                    if r["step"] == 2 else None)

    def g_loss(fake_logits):
        if tr.step == 2:
            return real_g(fake_logits) * float("nan")
        return real_g(fake_logits)
    tr.loss = WithG(tr.loss, g_loss)
    assert tr.run() == "failed"
    assert tr.reason.startswith("G loss became nan at step 3")
    assert same(weights(tr.G), kept["G"]) and same(weights(tr.D), kept["D"])


CHILD = """
import sys, torch
sys.path.insert(0, {repo!r})
torch.set_num_threads(1)
from gan_core.config import TrainConfig
from gan_core.trainer import Trainer
from gan_core.checkpoint import save_checkpoint
t = Trainer(TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=3, device="cpu"))
t.run()
save_checkpoint(t, {path!r})
print("ready", flush=True)
while True:
    save_checkpoint(t, {path!r})
"""


def test_a_process_killed_while_saving_never_leaves_a_corrupt_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    kills = 0
    for delay in (0.05, 0.13, 0.29):
        proc = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO_ROOT),
                                                                    path=str(path))],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)                          # somewhere in the middle of a save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        ckpt = read_checkpoint(path)                # loads: the old or the new file, whole
        assert ckpt["step"] == 3
    print(f"killed the saver {kills} times mid-loop; the checkpoint read back every time")


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    t = Trainer(TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=2, device="cpu"))
    t.run()
    path = save_checkpoint(t, tmp_path / "c.pt")
    before = path.read_bytes()

    def full(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("gan_core.checkpoint.torch.save", full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(t, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
