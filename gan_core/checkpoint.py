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
from .models import Discriminator, Generator, ModelSpec
from .schema import FORMAT, VERSION, CheckpointError, check_archive, check_checkpoint


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
                    half: bool = False, with_history: bool = True) -> Path:
    """Write the trainer's state; `generator_only` keeps just G (for shipped models), `half`
    stores its float weights as float16 (half the size; loading casts them back), and
    `with_history=False` leaves out the per-step records (an intermediate shipped file)."""
    path = Path(path)
    obj: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "config": trainer.config.to_dict(), "spec": trainer.spec.to_dict(),
        "class_names": list(trainer.dataset.class_names),
        "step": trainer.step, "epoch": trainer.epoch, "g_updates": trainer.g_updates,
        "d_updates": trainer.d_updates, "elapsed": trainer.elapsed,
        "last_g": [float(v) for v in trainer._last_g],   # G's last loss/norm, for the records
        # A generator-only file ships what students should see: the EMA weights when on.
        "generator": _cpu((trainer.sample_G if generator_only else trainer.G).state_dict(), half),
        "history": trainer.history if with_history else [], "markers": trainer.markers,
    }
    if not generator_only and trainer.G_ema is not None:
        obj["generator_ema"] = _cpu(trainer.G_ema.state_dict())
    if not generator_only:
        obj["discriminator"] = _cpu(trainer.D.state_dict())
        obj["opt_g"] = trainer.opt_g.state_dict()
        obj["opt_d"] = trainer.opt_d.state_dict()
    _atomic_save(obj, path)
    return path


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


def _load_weights(module: torch.nn.Module, state: dict, what: str, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).splitlines()
        raise CheckpointError(f"the {what} weights in {path} do not fit the model its config "
                              f"describes: {' '.join(first[:3])[:300]}") from None


def spec_from_dict(d: dict) -> ModelSpec:
    """The spec of a checkpoint that read_checkpoint has checked."""
    return ModelSpec(**d)


def load_checkpoint(path: str | Path, with_discriminator: bool = True) -> Checkpoint:
    """Rebuild the models from the saved config and load their weights (CPU, eval mode)."""
    path = Path(path)
    obj, (config, spec, G, D) = _read_checked(path)
    _load_weights(G, obj["generator"], "generator", path)
    if "generator_ema" in obj:      # sampling uses the weights the run showed: G's average
        _load_weights(G, obj["generator_ema"], "generator average (EMA)", path)
    G.eval()
    if with_discriminator and "discriminator" in obj:
        _load_weights(D, obj["discriminator"], "discriminator", path)
        D.eval()
    else:
        D = None
    return Checkpoint(config, spec, G, D, list(obj.get("class_names", [])),
                      int(obj.get("step", 0)), int(obj.get("epoch", 0)), obj)


def _generator_part(data: bytes, name: str) -> dict[str, Any]:
    """Run in the sandbox: the checked generator part of an uploaded checkpoint, plain data."""
    with tempfile.TemporaryDirectory(prefix="gan_upload_") as d:
        tmp = Path(d) / "upload.pt"
        tmp.write_bytes(data)
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


def load_untrusted(data: bytes, name: str, timeout_s: float = 30.0,
                   memory_mb: int = 1024) -> Checkpoint:
    """A generator from an untrusted file's bytes (an upload), read in a separate process
    under a memory cap and a time limit (gan_core/sandbox.py), so that no file can stall the
    process that asked. What comes back is checked against the schema again here."""
    from .sandbox import SandboxError, run_isolated
    try:
        obj = run_isolated(_generator_part, data, name, timeout_s=timeout_s,
                           memory_mb=memory_mb, errors=(CheckpointError,))
    except SandboxError as e:
        raise CheckpointError(f"{name} was not loaded: {e}") from None
    config, spec, G, _ = check_checkpoint(obj)
    _load_weights(G, obj["generator"], "generator", Path(name))
    return Checkpoint(config, spec, G.eval(), None, list(obj.get("class_names", [])),
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
    if trainer.G_ema is not None:      # an older file, or EMA switched on now: start from G
        _load_weights(trainer.G_ema, obj.get("generator_ema", obj["generator"]), "generator",
                      path)
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
