"""Hostile checkpoint files for the tests, built from a real checkpoint.

Every file here loads with `torch.load(weights_only=True)`: the attacks are about what the
loaded values are, not about running code.

  doubling_list(depth)   a list holding the same list twice, level after level: pickle stores
                         each level once (a few bytes), but its printed form has 2**depth items
  freezing_checkpoint    a real checkpoint whose config dataset and class names are such lists
                         (the file of issue 15 that froze the server)
  mutations(raw)         (name, mutated dict) for every field of a checkpoint: type swaps,
                         huge, negative, NaN and infinite values, self-referencing lists, long
                         strings, stride-0 views, wrong keys
"""
from __future__ import annotations

import copy
import math
import zipfile
from pathlib import Path
from typing import Any, Iterator

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = REPO_ROOT / "pretrained" / "ring_nonsaturating.pt"          # 2-D: cheap to sample
SHIPPED_IMAGE = REPO_ROOT / "pretrained" / "mnist_classroom_dcgan_e1.pt"


def doubling_list(depth: int = 60) -> list:
    x: Any = "x"
    for _ in range(depth):
        x = [x, x]
    return x


def raw(path: Path = SHIPPED) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def freezing_checkpoint(path: Path, base: Path = SHIPPED_IMAGE) -> Path:
    obj = raw(base)
    obj["config"]["dataset"] = doubling_list()
    obj["class_names"] = doubling_list()
    torch.save(obj, path)
    return path


def deflated_checkpoint(path: Path, base: Path = SHIPPED) -> Path:
    """The same records, deflate-compressed (PyTorch's reader inflates them: a zip bomb's way)."""
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return path


def _values() -> dict[str, Any]:
    """Replacement values tried for every field."""
    selfref: list = []
    selfref.append(selfref)
    return {
        "str": "seven", "long_str": "x" * 100_000, "float": 2.5, "nan": math.nan,
        "inf": math.inf, "neg": -7, "huge": 10**30, "huger": 10**5000, "none": None,
        "list": [1, 2], "selfref": selfref, "doubling": doubling_list(), "dict": {"a": 1},
        "bool": True, "tensor": torch.zeros(3),
        "stride0": torch.zeros(1).expand(10**12),
    }


def _swapped(state: dict) -> Iterator[tuple[str, dict]]:
    """Mutations of a state dict (weights)."""
    first = next(iter(state))
    t = state[first]
    for name, v in (("nan", torch.full_like(t, math.nan)), ("inf", torch.full_like(t, math.inf)),
                    ("int_dtype", t.to(torch.int64)), ("transposed", t.t() if t.dim() == 2 else
                                                       t.expand(2, *t.shape)),
                    ("stride0", torch.zeros(1).expand(*t.shape)),
                    ("stride0_huge", torch.zeros(1).expand(10**6, 10**6)),
                    ("wrong_shape", torch.zeros(3, 3)), ("list", [1.0] * 10),
                    ("doubling", doubling_list())):
        yield f"{first}={name}", {**state, first: v}
    yield "int_key", {**state, 7: t}
    yield "extra_key", {**state, "extra.weight": t}
    yield "missing_key", {k: v for k, v in state.items() if k != first}
    yield "not_a_dict", list(state.values())


def mutations(obj: dict) -> Iterator[tuple[str, dict]]:
    """(name, mutated copy of obj) for every field of a checkpoint dict."""
    values = _values()
    for key in obj:
        if key in ("generator", "discriminator"):
            for name, state in _swapped(obj[key]):
                yield f"{key}.{name}", {**obj, key: state}
        for vname, v in values.items():
            yield f"{key}={vname}", {**obj, key: v}
    for section in ("config", "spec"):
        for field in obj[section]:
            for vname, v in values.items():
                yield f"{section}.{field}={vname}", {**obj, section: {**obj[section], field: v}}
        yield f"{section}.unknown", {**obj, section: {**obj[section], "evil": 1}}
        yield f"{section}.int_key", {**obj, section: {**obj[section], 3: 1}}
    yield "spec.num_classes=10**6", {**obj, "spec": {**obj["spec"], "num_classes": 10**6},
                                     "config": {**obj["config"], "conditional": True}}
    yield "class_names=tensor_stride0", {**obj, "class_names": torch.zeros(1).expand(10**12)}
    yield "class_names=long", {**obj, "class_names": ["a" * 10**6]}
    yield "class_names=many", {**obj, "class_names": ["a"] * 100_000}
    yield "history=doubling", {**obj, "history": [doubling_list()]}
    yield "history=record_list", {**obj, "history": [{"d_loss": doubling_list()}]}
    yield "markers=selfref", {**obj, "markers": [{"changes": values["selfref"]}]}
    yield "top.unknown", {**obj, "evil": 1}
    yield "top.int_key", {**obj, 1: 2}
    yield "top.list", [obj]                                          # type: ignore[misc]
    yield "top.missing_generator", {k: v for k, v in obj.items() if k != "generator"}


def save_mutations(obj: dict, folder: Path) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (name, m) in enumerate(mutations(obj)):
        path = folder / f"m{i:03d}.pt"
        torch.save(copy.copy(m), path)
        out.append((name, path))
    return out
