"""The checkpoint schema: what a checkpoint file may hold, checked before anything is built.

A checkpoint can come from anyone (the Latent explorer takes uploads), and
`torch.load(weights_only=True)` only promises that loading runs no code: the result can still be
a list that holds the same list twice, level after level (its printed form doubles per level), a
class count of a million (a giant model is built before any weight is looked at), a stride-0
tensor view claiming 10**12 elements, or a config value of the wrong type that fails deep inside
PyTorch. So every entry is checked here, in this order, and the first problem raises a
CheckpointError whose message shows at most a short, truncated form of the value (short_repr):

  1. the file itself (`check_archive`): a zip as torch.save writes it, every record stored
     (not deflated, so nothing inflates), names unique, sizes within the file
  2. the top level: a dict with only known keys, the right format and version
  3. config: known fields only, each of its declared type, then TrainConfig's own ranges
  4. spec: each field's type and range, consistent with the config, at most MAX_CLASSES classes
     (so at most 33 million parameters; MAX_PARAMS is checked as well)
  5. class names, counters, history and markers: plain values, bounded in length and nesting
  6. weights: exactly the keys and shapes of the model the spec describes, plain contiguous
     tensors of the expected dtypes, all finite; optimiser states likewise

Nothing here prints a value whole; the only thing built is the model of a checked spec.
"""
from __future__ import annotations

import math
import struct
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import torch

from .config import DEPTHS, MODELS, TrainConfig
from .models import ModelSpec, build_models, upgrade_fields
from .shortrepr import short_repr

FORMAT, VERSION = "gan_core.checkpoint", 1
MAX_CLASSES = 100              # conditional models: MNIST has 10, a classroom folder a few
MAX_CLUSTERS = 1000            # cluster conditioning (TrainConfig.clusters: at most 1,000)
MAX_PARAMS = 40_000_000        # G + D; the largest buildable spec (dcgan64, large, 100 classes,
                               # attention) has 33 million
MAX_NAME = 64                  # a class name, a history column, a short text value
MAX_RECORDS = 200_000          # history records (a 200-epoch MNIST run has about 31,000)
MAX_MARKERS = 10_000
MAX_COUNT = 10**12             # step, epoch, updates
MAX_ARCHIVE_ENTRIES = 10_000   # records in the torch.save zip (one per tensor, plus 4)

TOP_KEYS = {"format", "version", "config", "spec", "class_names", "step", "epoch", "g_updates",
            "d_updates", "elapsed", "last_g", "generator", "generator_ema", "discriminator",
            "opt_g", "opt_d", "history", "markers"}
REQUIRED = ("format", "version", "config", "spec", "generator")
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)   # half: shipped models


class CheckpointError(ValueError):
    """A checkpoint is missing, unsafe, corrupt, or does not fit."""


def _fail(message: str) -> None:
    raise CheckpointError(message)


# --- 1. the file ---------------------------------------------------------------------------------

def _declared_entries(path: Path, size: int) -> Optional[int]:
    """The record count a zip's end-of-directory record declares (None if not found), read
    before zipfile parses a directory that could hold millions of entries."""
    with open(path, "rb") as f:
        f.seek(max(0, size - 65_557))               # the record and a comment of up to 64 kB
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        n = struct.unpack_from("<H", tail, at + 10)[0]
        if n != 0xFFFF or at < 20 or tail[at - 20:at - 16] != b"PK\x06\x07":
            return n
        f.seek(struct.unpack_from("<Q", tail, at - 12)[0])     # zip64: the larger count
        record = f.read(40)
        return struct.unpack_from("<Q", record, 32)[0] if record[:4] == b"PK\x06\x06" \
            and len(record) == 40 else None


def check_archive(path: Path) -> None:
    """torch.save's zip, with nothing compressed: a deflated record could inflate 1000:1."""
    size = path.stat().st_size
    declared = _declared_entries(path, size)
    if declared is not None and declared > MAX_ARCHIVE_ENTRIES:
        _fail(f"{path.name} declares {declared} records; a checkpoint has at most "
              f"{MAX_ARCHIVE_ENTRIES}")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        _fail(f"{path.name} is not a gan_core checkpoint (not a file written by torch.save)")
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        _fail(f"{path.name} holds {len(infos)} records; a checkpoint has at most "
              f"{MAX_ARCHIVE_ENTRIES}")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        _fail(f"{path.name} holds two records of the same name; torch.save never writes that")
    for i in infos:
        if i.compress_type != zipfile.ZIP_STORED:
            _fail(f"{path.name} holds a compressed record ({short_repr(i.filename, 60)}); "
                  f"torch.save stores records uncompressed, so this file was not written by it")
    if sum(i.file_size for i in infos) > size:
        _fail(f"{path.name} declares more data than the file holds")


# --- checks of one value (gan_core.metrics checks the judge's file with them too) -------------

def is_int(v: Any, lo: int, hi: int) -> bool:
    """A plain int (not a bool) from lo to hi."""
    return type(v) is int and lo <= v <= hi


def is_number(v: Any, lo: float = -math.inf, hi: float = math.inf, finite: bool = True) -> bool:
    """A plain int or float (not a bool) from lo to hi; with finite=False, inf and NaN pass too."""
    if type(v) is int:
        return lo <= v <= hi
    if type(v) is not float:
        return False
    return (math.isfinite(v) or not finite) and (math.isnan(v) or lo <= v <= hi)


def is_text(v: Any, n: int = MAX_NAME) -> bool:
    """A str of at most n characters."""
    return type(v) is str and len(v) <= n


def _scalar(v: Any) -> bool:
    """A plain value of a record: None, a bool, a 64-bit int, a float or a short string."""
    return (v is None or type(v) in (bool, float) or is_int(v, -2**63, 2**63 - 1)
            or is_text(v))


def _records(v: Any, what: str, limit: int, nested: Optional[str] = None) -> None:
    """A list of at most `limit` flat dicts (short str keys -> plain values); `nested` names
    one key that may hold one more such dict (a marker's `changes`)."""
    if type(v) is not list:
        _fail(f"{what} must be a list; got {short_repr(v)}")
    if len(v) > limit:
        _fail(f"{what} holds {len(v)} entries; at most {limit} are allowed")
    seen: set[int] = set()      # one dict listed 200,000 times is checked once
    for i, rec in enumerate(v):
        if id(rec) in seen:
            continue
        seen.add(id(rec))
        if type(rec) is not dict or len(rec) > MAX_NAME:
            _fail(f"{what}[{i}] must be a dict of at most {MAX_NAME} values; "
                  f"got {short_repr(rec)}")
        for k, x in rec.items():
            if not is_text(k):
                _fail(f"{what}[{i}] has a key that is not a short string: {short_repr(k)}")
            if k == nested and type(x) is dict and len(x) <= MAX_NAME:
                if all(is_text(kk) and _scalar(xx) for kk, xx in x.items()):
                    continue
            if not _scalar(x):
                _fail(f"{what}[{i}][{k!r}] must be a number or a short string; "
                      f"got {short_repr(x)}")


# --- 3, 4. config and spec ---------------------------------------------------------------------

def check_config(d: Any) -> TrainConfig:
    if type(d) is not dict:
        _fail(f"config must be a dict; got {short_repr(d)}")
    d = upgrade_fields(d)       # files from before a rename (spectral_norm: D's)
    known = {f.name for f in fields(TrainConfig)}
    for k in d:
        if type(k) is not str or k not in known:
            _fail(f"config has an unknown field {short_repr(k)}")
    try:
        # TrainConfig.validate checks every field's type and range and prints values short.
        return TrainConfig(**d).validate()
    except (ValueError, TypeError) as e:
        _fail(f"invalid config: {str(e)[:300]}")


SPEC_RULES = {    # field -> (test, what it must be)
    "model": (lambda v: type(v) is str and v in MODELS, f"one of {', '.join(MODELS)}"),
    "latent_dim": (lambda v: is_int(v, 1, 1000), "a whole number from 1 to 1000"),
    "channels": (lambda v: type(v) is int and v in (1, 3), "1 or 3"),
    "depth": (lambda v: type(v) is str and v in DEPTHS, f"one of {', '.join(DEPTHS)}"),
    "batch_norm": (lambda v: type(v) is bool, "true or false"),
    "dropout": (lambda v: is_number(v, 0, 0.9), "a number from 0 to 0.9"),
    "self_attention": (lambda v: type(v) is bool, "true or false"),
    "spectral_norm_g": (lambda v: type(v) is bool, "true or false"),
    "spectral_norm_d": (lambda v: type(v) is bool, "true or false"),
    "batch_norm_d": (lambda v: type(v) is bool, "true or false"),
    "num_classes": (lambda v: is_int(v, 0, MAX_CLASSES),
                    f"a whole number from 0 to {MAX_CLASSES}"),
    "clusters": (lambda v: is_int(v, 0, MAX_CLUSTERS), f"a whole number from 0 to {MAX_CLUSTERS}"),
}
SAME_AS_CONFIG = ("model", "latent_dim", "depth", "batch_norm", "batch_norm_d", "self_attention",
                  "spectral_norm_g", "spectral_norm_d")


def check_spec(d: Any, config: TrainConfig) -> ModelSpec:
    if type(d) is not dict:
        _fail(f"spec must be a dict; got {short_repr(d)}")
    d = upgrade_fields(d)
    for k in d:
        if type(k) is not str or k not in SPEC_RULES:
            _fail(f"spec has an unknown field {short_repr(k)}")
    for k, v in d.items():
        test, rule = SPEC_RULES[k]
        if not test(v):
            _fail(f"spec field {k} must be {rule}; got {short_repr(v)}")
    spec = ModelSpec(**d)
    for k in SAME_AS_CONFIG:
        if getattr(spec, k) != getattr(config, k):
            _fail(f"spec field {k} ({short_repr(getattr(spec, k))}) disagrees with the "
                  f"config ({short_repr(getattr(config, k))})")
    if bool(spec.num_classes) != config.conditional:
        _fail(f"spec num_classes {spec.num_classes} disagrees with the config's conditional "
              f"{config.conditional}")
    if spec.clusters and not (config.clusters and spec.clusters <= config.clusters
                              and not spec.num_classes and spec.model != "mlp"):
        _fail(f"spec clusters {spec.clusters} disagrees with the config (clusters "
              f"{short_repr(config.clusters)}, conditional {config.conditional})")
    return spec


def spec_models(spec: ModelSpec) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D as the (checked) spec describes them, the reference for every weight's shape.

    The spec's ranges bound the size before anything is built: the largest model they allow
    (dcgan64, large, latent 1000, 100 classes, attention) has 33 million parameters, 130 MB.
    PyTorch's meta device would avoid even that, but initialising weights there imports
    torch._dynamo (2-6 s per process), which a reader process started per upload cannot afford.
    """
    try:
        with torch.no_grad():
            G, D = build_models(spec)
    except (ValueError, RuntimeError) as e:
        _fail(f"the spec describes a model that cannot be built: {str(e)[:200]}")
    n = sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters())
    if n > MAX_PARAMS:
        _fail(f"the spec describes {n:,} parameters; at most {MAX_PARAMS:,} are allowed")
    return G, D


# --- 6. tensors ---------------------------------------------------------------------------------

def _plain_tensor(v: Any, what: str) -> torch.Tensor:
    """A dense, contiguous CPU tensor that owns enough storage for its elements (no stride-0
    or overlapping views, no subclasses, no sparse or quantised layouts)."""
    if type(v) is not torch.Tensor:
        _fail(f"{what} must be a tensor; got {short_repr(v)}")
    if v.layout != torch.strided or v.is_quantized or v.device.type != "cpu":
        _fail(f"{what} must be a plain CPU tensor; got layout {v.layout}")
    if not v.is_contiguous() or v.storage_offset() < 0 or (
            v.untyped_storage().nbytes() < (v.storage_offset() + v.numel()) * v.element_size()):
        _fail(f"{what} is a strided view ({short_repr(v)}, strides {short_repr(v.stride())}), "
              f"not the plain tensor torch.save writes for a weight")
    return v


def _check_values(v: torch.Tensor, what: str) -> None:
    if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
        _fail(f"{what} holds NaN or infinite values: the model this file holds is broken "
              f"(did its training diverge?)")


def check_state(state: Any, model: torch.nn.Module, what: str) -> None:
    """`state` must be exactly `model`'s state dict in keys, shapes and dtypes."""
    expected = model.state_dict()       # of a model built from the checked spec
    if type(state) is not dict:
        _fail(f"the {what} weights must be a dict of tensors; got {short_repr(state)}")
    for k in state:
        if type(k) is not str or k not in expected:
            _fail(f"the {what} weights hold {short_repr(k)}, which the model its spec "
                  f"describes does not have")
    missing = [k for k in expected if k not in state]
    if missing:
        _fail(f"the {what} weights lack {', '.join(missing[:3])}"
              f"{' and more' if len(missing) > 3 else ''}: they do not fit the model its spec "
              f"describes")
    for k, ref in expected.items():
        v = state[k]
        name = f"{what} weight {k}"
        if type(v) is torch.Tensor and tuple(v.shape) != tuple(ref.shape):
            _fail(f"the {what} weights do not fit the model its spec describes: {k} has "
                  f"shape {tuple(v.shape)[:8]}, where the model needs {tuple(ref.shape)}")
        _plain_tensor(v, f"the {name}")
        ok = v.dtype in FLOAT_DTYPES if ref.dtype in FLOAT_DTYPES else v.dtype == ref.dtype
        if not ok:
            _fail(f"the {name} has dtype {v.dtype}; {ref.dtype} was expected")
        _check_values(v, f"the {name}")


def check_optimizer(opt: Any, model: torch.nn.Module, what: str) -> None:
    """An optimiser state_dict for `model`'s parameters: per-parameter tensors of their shape
    (or scalars, such as Adam's step), and a few param groups of plain settings."""
    shapes = [tuple(p.shape) for p in model.parameters()]
    if type(opt) is not dict or set(opt) != {"state", "param_groups"}:
        _fail(f"{what} must be an optimiser state (state, param_groups); got {short_repr(opt)}")
    state, groups = opt["state"], opt["param_groups"]
    if type(state) is not dict or type(groups) is not list or not 1 <= len(groups) <= 4:
        _fail(f"{what} is malformed: {short_repr(opt)}")
    for i, s in state.items():
        if not is_int(i, 0, len(shapes) - 1) or type(s) is not dict or len(s) > 8:
            _fail(f"{what} has a state entry {short_repr(i)} for no parameter of the model")
        for k, v in s.items():
            if not is_text(k):
                _fail(f"{what} state {i} has a key {short_repr(k)}")
            if type(v) is torch.Tensor:
                if tuple(v.shape) not in (shapes[i], ()):
                    _fail(f"{what} state {i}.{k} has shape {tuple(v.shape)[:8]}; parameter "
                          f"{i} has {shapes[i]}")
                _plain_tensor(v, f"{what} state {i}.{k}")
            elif not _scalar(v):
                _fail(f"{what} state {i}.{k} must be a tensor or a number; got {short_repr(v)}")
    seen = 0
    for g in groups:
        if type(g) is not dict or len(g) > 32:
            _fail(f"{what} has a param group that is not a small dict: {short_repr(g)}")
        for k, v in g.items():
            if not is_text(k):
                _fail(f"{what} param group key {short_repr(k)}")
            if k == "params":
                if type(v) is not list or not all(is_int(j, 0, len(shapes) - 1) for j in v):
                    _fail(f"{what} params must list parameter indices; got {short_repr(v)}")
                seen += len(v)
            elif k == "betas":
                if type(v) not in (tuple, list) or len(v) != 2 or not all(
                        is_number(b, 0, 1) for b in v):
                    _fail(f"{what} betas must be two numbers from 0 to 1; got {short_repr(v)}")
            elif not _scalar(v):
                _fail(f"{what} setting {k} must be a number; got {short_repr(v)}")
    if seen != len(shapes):
        _fail(f"{what} covers {seen} parameters; the model has {len(shapes)}")


# --- the whole checkpoint -------------------------------------------------------------------------

def check_checkpoint(obj: Any) -> tuple[TrainConfig, ModelSpec, torch.nn.Module,
                                        torch.nn.Module]:
    """Check everything a checkpoint dict holds; (config, spec, G, D) when it passes, with G
    and D freshly built from the spec (their weights are not yet loaded)."""
    if type(obj) is not dict:
        _fail(f"not a gan_core checkpoint (it holds {short_repr(obj, 40)}, not a dict)")
    for k in obj:
        if type(k) is not str or k not in TOP_KEYS:
            _fail(f"not a gan_core checkpoint: unknown entry {short_repr(k)}")
    if type(obj.get("format")) is not str or obj["format"] != FORMAT:
        _fail(f"not a gan_core checkpoint (format {short_repr(obj.get('format'))})")
    if type(obj.get("version")) is not int or obj["version"] != VERSION:
        _fail(f"checkpoint version {short_repr(obj.get('version'))}; this gan_core reads "
              f"version {VERSION}")
    for k in REQUIRED:
        if k not in obj:
            _fail(f"the checkpoint lacks its {k!r} entry")
    config = check_config(obj["config"])
    spec = check_spec(obj["spec"], config)
    names = obj.get("class_names", [])
    if type(names) is not list or len(names) > MAX_CLASSES or not all(
            is_text(n) for n in names):
        _fail(f"class_names must be a list of at most {MAX_CLASSES} strings of at most "
              f"{MAX_NAME} characters; got {short_repr(names)}")
    for k in ("step", "epoch", "g_updates", "d_updates"):
        if k in obj and not is_int(obj[k], 0, MAX_COUNT):
            _fail(f"{k} must be a whole number from 0 to {MAX_COUNT}; got {short_repr(obj[k])}")
    if "elapsed" in obj and not is_number(obj["elapsed"], 0, 1e9):
        _fail(f"elapsed must be a number of seconds; got {short_repr(obj['elapsed'])}")
    if "last_g" in obj:
        v = obj["last_g"]
        if type(v) is not list or len(v) > 4 or not all(is_number(x, finite=False) for x in v):
            _fail(f"last_g must be a few numbers; got {short_repr(v)}")
    _records(obj.get("history", []), "history", MAX_RECORDS)
    _records(obj.get("markers", []), "markers", MAX_MARKERS, nested="changes")
    G, D = spec_models(spec)
    check_state(obj["generator"], G, "generator")
    if "generator_ema" in obj:                  # the running average of G's weights
        check_state(obj["generator_ema"], G, "generator_ema")
    if "discriminator" in obj:
        check_state(obj["discriminator"], D, "discriminator")
    for key, model in (("opt_g", G), ("opt_d", D)):
        if key in obj:
            check_optimizer(obj[key], model, key)
    return config, spec, G, D
