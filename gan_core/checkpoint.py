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

import csv
import io
import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from .config import TrainConfig
from .models import Discriminator, Generator, ModelSpec, build_models

FORMAT, VERSION = "gan_core.checkpoint", 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unsafe, corrupt, or does not fit."""


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


def _atomic_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600; a saved model is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write then rename: a reader (or a crash) sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def csv_text(rows: list[dict], columns: Optional[Sequence[str]] = None) -> str:
    """Rows as CSV text, floats to 6 significant digits. `columns`: the columns (other keys are
    left out); default: every key, in the order they first appear."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def write_csv(path: str | Path, rows: list[dict], columns: Optional[Sequence[str]] = None) -> Path:
    """csv_text(rows, columns), written atomically."""
    return atomic_write_text(path, csv_text(rows, columns))


def history_csv(history: list[dict]) -> str:
    """A training history as CSV: every step's fields, then the quality metrics measured. The
    one writer for the command line, saved runs and the Train page's download."""
    from .trainer import history_columns
    return csv_text(history, history_columns(history))


def write_history(trainer, path: str | Path) -> Path:
    return atomic_write_text(path, history_csv(trainer.history))


def _cpu(state: dict, half: bool = False) -> dict:
    out = {}
    for k, v in state.items():
        if torch.is_tensor(v):
            v = v.detach().cpu()
            if half and v.is_floating_point():
                v = v.half()
        out[k] = v
    return out


def save_checkpoint(trainer, path: str | Path, generator_only: bool = False,
                    half: bool = False) -> Path:
    """Write the trainer's state; `generator_only` keeps just G (for shipped models), and
    `half` stores its float weights as float16 (half the size; loading casts them back)."""
    path = Path(path)
    obj: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "config": trainer.config.to_dict(), "spec": trainer.spec.to_dict(),
        "class_names": list(trainer.dataset.class_names),
        "step": trainer.step, "epoch": trainer.epoch, "g_updates": trainer.g_updates,
        "d_updates": trainer.d_updates, "elapsed": trainer.elapsed,
        "last_g": [float(v) for v in trainer._last_g],   # G's last loss/norm, for the records
        "generator": _cpu(trainer.G.state_dict(), half),
        "history": trainer.history, "markers": trainer.markers,
    }
    if not generator_only:
        obj["discriminator"] = _cpu(trainer.D.state_dict())
        obj["opt_g"] = trainer.opt_g.state_dict()
        obj["opt_d"] = trainer.opt_d.state_dict()
    _atomic_save(obj, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw dict, safely: never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
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
            raise CheckpointError(f"{path.name} was refused: it asks to create {found.group(1)}, "
                                  f"which is not weights or plain data, so loading it could run "
                                  f"code. Nothing from it was run.") from None
        raise CheckpointError(f"{path.name} is not a gan_core checkpoint (not a file written "
                              f"by torch.save with weights and plain data only)") from None
    except Exception as e:  # noqa: BLE001 - zip, EOF, runtime errors all mean "not readable"
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200] if str(e) else 'corrupt'})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gan_core checkpoint")
    if obj.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {obj.get('version')}; "
                              f"this gan_core reads version {VERSION}")
    for key in ("config", "spec", "generator"):
        if key not in obj:
            raise CheckpointError(f"{path} lacks its {key!r} entry")
    return obj


def _load_weights(module: torch.nn.Module, state: dict, what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).splitlines()
        raise CheckpointError(f"the {what} weights in {path} do not fit the model its config "
                              f"describes: {' '.join(first[:3])[:300]}") from None


def spec_from_dict(d: dict) -> ModelSpec:
    known = {f.name for f in fields(ModelSpec)}
    try:
        return ModelSpec(**{k: v for k, v in d.items() if k in known})
    except TypeError as e:
        raise CheckpointError(f"checkpoint model description is malformed: {e}") from None


def load_checkpoint(path: str | Path, with_discriminator: bool = True) -> Checkpoint:
    """Rebuild the models from the saved config and load their weights (CPU, eval mode)."""
    path = Path(path)
    obj = read_checkpoint(path)
    try:
        config = TrainConfig.from_dict(obj["config"]).validate()
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path} holds an invalid config: {e}") from None
    spec = spec_from_dict(obj["spec"])
    try:
        G, D = build_models(spec)
    except ValueError as e:
        raise CheckpointError(f"{path} describes a model that cannot be built: {e}") from None
    _load_weights(G, obj["generator"], "generator", path)
    G.eval()
    if with_discriminator and "discriminator" in obj:
        _load_weights(D, obj["discriminator"], "discriminator", path)
        D.eval()
    else:
        D = None
    return Checkpoint(config, spec, G, D, list(obj.get("class_names", [])),
                      int(obj.get("step", 0)), int(obj.get("epoch", 0)), obj)


def resume_trainer(path: str | Path, **config_changes):
    """A Trainer that continues from a full checkpoint (e.g. with more epochs).

    Only settings that do not change the models may differ; others raise CheckpointError.
    """
    from .trainer import Trainer

    path = Path(path)
    obj = read_checkpoint(path)
    if "discriminator" not in obj or "opt_g" not in obj:
        raise CheckpointError(f"{path} holds only a generator; training cannot resume from it")
    try:
        config = TrainConfig.from_dict({**obj["config"], **config_changes}).validate()
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"cannot resume {path}: {e}") from None
    trainer = Trainer(config)
    saved = spec_from_dict(obj["spec"])
    if saved != trainer.spec:
        diff = [f"{f.name} {getattr(saved, f.name)!r} -> {getattr(trainer.spec, f.name)!r}"
                for f in fields(ModelSpec) if getattr(saved, f.name) != getattr(trainer.spec, f.name)]
        raise CheckpointError(f"{path} does not fit this config: {', '.join(diff)}")
    _load_weights(trainer.G, obj["generator"], "generator", path)
    _load_weights(trainer.D, obj["discriminator"], "discriminator", path)
    try:
        trainer.opt_g.load_state_dict(obj["opt_g"])
        trainer.opt_d.load_state_dict(obj["opt_d"])
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"optimiser state in {path} does not fit: {e}") from None
    trainer.step, trainer.epoch = int(obj["step"]), int(obj["epoch"])
    trainer.g_updates, trainer.d_updates = int(obj["g_updates"]), int(obj["d_updates"])
    trainer.elapsed = float(obj.get("elapsed", 0.0))
    if "last_g" in obj:     # records before G's next update repeat its last values
        trainer._last_g = tuple(float(v) for v in obj["last_g"])
    trainer.history = list(obj.get("history", []))
    trainer.markers = list(obj.get("markers", []))
    return trainer
