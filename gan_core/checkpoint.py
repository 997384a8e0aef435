"""Checkpoints: one file, one dict (nanoGPT's way), loaded without running code from the file.

The file is written with `torch.save` and read with `torch.load(weights_only=True)`, whose
unpickler admits only tensors and plain containers: a file crafted to execute code on load is
refused. Writing goes to a temporary file that is renamed into place, so a crash never leaves a
half-written checkpoint.

    {"format": "gan_core.checkpoint", "version": 1, "config": {...}, "spec": {...},
     "class_names": [...], "step", "epoch", "g_updates", "d_updates", "elapsed",
     "generator": state_dict, "discriminator": state_dict | absent,
     "opt_g", "opt_d": optimiser states | absent, "history": [...], "markers": [...]}
"""
from __future__ import annotations

import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO, Optional

import torch

from .config import TrainConfig
from .files import atomic_save, atomic_write_text, copy_to_file
from .models import Discriminator, Generator, ModelSpec, upgrade_fields
from .records import history_csv
from .sandbox import SandboxError, run_isolated
from .schema import (FORMAT, VERSION, CheckpointError,  # noqa: F401 - FORMAT, VERSION: public
                     check_archive, check_checkpoint)


@dataclass
class Checkpoint:
    config: TrainConfig
    spec: ModelSpec
    G: Generator
    D: Optional[Discriminator] = None
    class_names: list[str] = field(default_factory=list)
    step: int = 0
    epoch: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def history(self) -> list[dict]:
        return self.raw.get("history", [])


def save_checkpoint(trainer, path: str | Path, generator_only: bool = False,
                    half: bool = False, with_history: bool = True) -> Path:
    """Write `trainer.state_dict(...)` atomically (see Trainer.state_dict for the options:
    `generator_only` for shipped models, `half` for float16 weights, `with_history`)."""
    return atomic_save(trainer.state_dict(generator_only=generator_only, half=half,
                                          with_history=with_history), path)


def write_history(trainer, path: str | Path) -> Path:
    """The trainer's history as CSV (records.history_csv), written atomically."""
    return atomic_write_text(path, history_csv(trainer.history))


def cpu_state(state: dict, half: bool = False) -> dict:
    """A state dict's tensors on the CPU, detached (float ones as float16 with `half`)."""
    out = {}
    for k, v in state.items():
        if torch.is_tensor(v):
            v = v.detach().cpu()
            if half and v.is_floating_point():
                v = v.half()
        out[k] = v
    return out


def require_full_state(obj: dict, source: str) -> None:
    if "discriminator" not in obj or "opt_g" not in obj:
        raise CheckpointError(f"{source} holds only a generator; training cannot resume from it")


def trainer_state(trainer, generator_only: bool = False, half: bool = False,
                  with_history: bool = True) -> dict[str, Any]:
    """Everything needed to sample from this run or to continue it, as plain data (the
    checkpoint format of gan_core.schema). `generator_only` keeps just G, as shown (the EMA
    weights when on: what a shipped model should draw); `half` stores its float weights as
    float16 (loading casts them back); `with_history=False` leaves out the step records."""
    obj: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "config": trainer.config.to_dict(), "spec": trainer.spec.to_dict(),
        "class_names": list(trainer.dataset.class_names),
        "step": trainer.step, "epoch": trainer.epoch, "g_updates": trainer.g_updates,
        "d_updates": trainer.d_updates, "elapsed": trainer.elapsed,
        "last_g": [float(v) for v in trainer.last_g],   # G's last loss/norm, for the records
        "generator": cpu_state((trainer.sample_G if generator_only else trainer.G).state_dict(),
                               half),
        "history": trainer.history if with_history else [], "markers": trainer.markers,
    }
    if not generator_only and trainer.G_ema is not None:
        obj["generator_ema"] = cpu_state(trainer.G_ema.state_dict())
    if not generator_only:
        obj["discriminator"] = cpu_state(trainer.D.state_dict())
        obj["opt_g"] = trainer.opt_g.state_dict()
        obj["opt_d"] = trainer.opt_d.state_dict()
    return obj


def load_trainer_state(trainer, obj: dict[str, Any], source: str = "the checkpoint") -> None:
    """Continue from a full state (a checked checkpoint dict): weights, optimisers,
    counters and records. CheckpointError, naming `source`, when it does not fit."""
    require_full_state(obj, source)
    saved = spec_from_dict(obj["spec"])
    if saved != trainer.spec:
        diff = [f"{f.name} {getattr(saved, f.name)!r} -> {getattr(trainer.spec, f.name)!r}"
                for f in fields(ModelSpec)
                if getattr(saved, f.name) != getattr(trainer.spec, f.name)]
        raise CheckpointError(f"{source} does not fit this config: {', '.join(diff)}")
    load_weights(trainer.G, obj["generator"], "generator", source)
    load_weights(trainer.D, obj["discriminator"], "discriminator", source)
    if trainer.G_ema is not None:      # an older file, or EMA switched on now: start from G
        load_weights(trainer.G_ema, obj.get("generator_ema", obj["generator"]), "generator",
                     source)
    try:
        trainer.opt_g.load_state_dict(obj["opt_g"])
        trainer.opt_d.load_state_dict(obj["opt_d"])
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimiser state in {source} does not fit: {e}") from None
    trainer.step, trainer.epoch = int(obj["step"]), int(obj["epoch"])
    trainer.g_updates, trainer.d_updates = int(obj["g_updates"]), int(obj["d_updates"])
    trainer.elapsed = float(obj.get("elapsed", 0.0))
    if "last_g" in obj:     # records before G's next update repeat its last values
        trainer.last_g = tuple(float(v) for v in obj["last_g"])
    trainer.history = list(obj.get("history", []))
    trainer.markers = list(obj.get("markers", []))


GENERATOR_PART = ("format", "version", "config", "spec", "class_names", "step", "epoch",
                  "g_updates", "d_updates", "elapsed", "last_g", "generator", "history",
                  "markers")


def generator_part(obj: dict[str, Any]) -> dict[str, Any]:
    """A checked checkpoint dict without D and the optimisers (about a quarter of a full one:
    enough to sample and explore, not to resume); G is the weights the run showed (its EMA
    when on), as `trainer_state(..., generator_only=True)` writes it."""
    out = {k: obj[k] for k in GENERATOR_PART if k in obj}
    if "generator_ema" in obj:
        out["generator"] = obj["generator_ema"]
    return out


def strip_to_generator(path: str | Path) -> Path:
    """Rewrite a checkpoint file in place as its generator part (read safely, written
    atomically)."""
    return atomic_save(generator_part(read_checkpoint(path)), path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw dict, safely: never unpickles arbitrary objects, and every entry has passed the
    schema (gan_core/schema.py) before it is returned."""
    return _read_checked(Path(path))[0]


def _read_checked(path: Path) -> tuple[dict[str, Any], tuple]:
    """(raw dict, (config, spec, G, D)): the file's archive, unpickling and schema checked, and
    G and D built from its spec (weights not yet loaded)."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    check_archive(path)
    try:
        with warnings.catch_warnings():      # torch warns about pickle protocols; we refuse anyway
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # The safe unpickler names the object it refused ("GLOBAL posix.system"); anything else
        # it cannot parse is simply not a checkpoint. PyTorch's advice to retry with
        # weights_only=False is exactly what must not be done with an untrusted file.
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise CheckpointError(f"{path.name} was refused: it asks to create "
                                  f"{found.group(1)[:80]}, which is not weights or plain data, "
                                  f"so loading it could run code. Nothing from it was run."
                                  ) from None
        raise CheckpointError(f"{path.name} is not a gan_core checkpoint (not a file written "
                              f"by torch.save with weights and plain data only)") from None
    except MemoryError:
        raise CheckpointError(f"{path.name} needs more memory to read than a checkpoint "
                              f"may") from None
    except Exception as e:  # noqa: BLE001 - zip, EOF, runtime errors all mean "not readable"
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else 'corrupt'})") from None
    try:
        return obj, check_checkpoint(obj)
    except CheckpointError as e:
        raise CheckpointError(f"{path.name}: {e}") from None


def load_weights(module: torch.nn.Module, state: dict, what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).splitlines()
        raise CheckpointError(f"the {what} weights in {path} do not fit the model its config "
                              f"describes: {' '.join(first[:3])[:300]}") from None


def spec_from_dict(d: dict) -> ModelSpec:
    """The spec of a checkpoint that read_checkpoint has checked (older names upgraded)."""
    return ModelSpec(**upgrade_fields(d))


def load_checkpoint(path: str | Path, with_discriminator: bool = True) -> Checkpoint:
    """Rebuild the models from the saved config and load their weights (CPU, eval mode)."""
    path = Path(path)
    obj, (config, spec, G, D) = _read_checked(path)
    load_weights(G, obj["generator"], "generator", path)
    if "generator_ema" in obj:      # sampling uses the weights the run showed: G's average
        load_weights(G, obj["generator_ema"], "generator average (EMA)", path)
    G.eval()
    if with_discriminator and "discriminator" in obj:
        load_weights(D, obj["discriminator"], "discriminator", path)
        D.eval()
    else:
        D = None
    return Checkpoint(config, spec, G, D, list(obj.get("class_names", [])),
                      int(obj.get("step", 0)), int(obj.get("epoch", 0)), obj)


def _generator_part(path: str, name: str) -> dict[str, Any]:
    """Run in the sandbox: the checked generator part of the uploaded checkpoint at `path`
    (messages name the upload, not the path), plain data."""
    tmp = Path(path)
    try:
        obj = read_checkpoint(tmp)
    except CheckpointError as e:
        raise CheckpointError(str(e).replace(str(tmp), name).replace(tmp.name, name)) \
            from None
    keep = ("format", "version", "config", "spec", "class_names", "step", "epoch", "generator")
    out = {k: obj[k] for k in keep if k in obj}
    if "generator_ema" in obj:          # what the run showed: the average of G's weights
        out["generator"] = obj["generator_ema"]
    return out


def load_untrusted(data: bytes | BinaryIO, name: str, timeout_s: float = 30.0,
                   memory_mb: int = 1024) -> Checkpoint:
    """A generator from an untrusted file (an upload: its bytes, or an open binary file), read
    in a separate process under a memory cap and a time limit (gan_core/sandbox.py), so that
    no file can stall the process that asked. The reader is handed the file in a private
    temporary folder, not a copy of its bytes. What comes back is checked against the schema
    again here."""
    with tempfile.TemporaryDirectory(prefix="gan_upload_") as d:
        tmp = copy_to_file(data, Path(d) / "upload.pt")
        try:
            obj = run_isolated(_generator_part, str(tmp), name, timeout_s=timeout_s,
                               memory_mb=memory_mb, errors=(CheckpointError,))
        except SandboxError as e:
            raise CheckpointError(f"{name} was not loaded: {e}") from None
    config, spec, G, _ = check_checkpoint(obj)
    load_weights(G, obj["generator"], "generator", Path(name))
    return Checkpoint(config, spec, G.eval(), None, list(obj.get("class_names", [])),
                      int(obj.get("step", 0)), int(obj.get("epoch", 0)), obj)
