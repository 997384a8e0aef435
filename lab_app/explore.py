"""The Latent explorer's working parts (no Streamlit here, so they can be tested alone).

A generator maps a latent vector z to a sample. The page walks a straight (or spherical) line
from z_A to z_B, nudges single coordinates of z, and for a one-number latent shows the whole
line the generator can reach. Everything here is a function of a `Model` (a generator and what
we know about it) and plain numbers, so one slider move is one small forward pass.

    model = load_model_file("runs/first/checkpoint.pt")
    a, b = endpoint(model.latent_dim, 1), endpoint(model.latent_dim, 2)
    z = path_point(a, b, t=0.3, spherical=True)        # (D,)
    frame_image(render(model, z.unsqueeze(0)))          # a PIL image, enlarged
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import plotly.graph_objects as go
import torch
from PIL import Image, ImageDraw

from gan_core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, load_untrusted
from gan_core.shortrepr import short_repr
from gan_core.config import TrainConfig
from gan_core.datasets import is_points_dataset, toy_modes
from gan_core.images import grid_array
from gan_core.models import Generator, ModelSpec
from gan_core.sampling import generate, interpolate, latent, lerp, slerp

from . import saved
from .charts import LIGHT

MAX_UPLOAD_MB = 50
UPLOAD_TIMEOUT_S = 30        # an upload is read in its own process (gan_core.sandbox) with these
UPLOAD_MEMORY_MB = 1024      # limits; a good 50 MB checkpoint reads in a few seconds
MODEL_DIRS_ENV = "GAN_LAB_MODEL_DIRS"      # os.pathsep-separated; relative to the repo root
# Only the shipped models by default: runs/ holds every browser's saved runs (runs/app) and
# uploads, which are private (lab_app.saved.may_open); a browser's own come from its key.
DEFAULT_MODEL_DIRS = ("pretrained",)
# What the explorer opens on when this session has no run of its own: the best shipped MNIST
# generator, rather than whichever file is newest (often a few-step test run that draws noise).
OPENING_MODEL = "mnist_best_flgan.pt"
SLIDER_RANGE = 3.0                         # latent sliders run over [-3, 3]: 99.7% of N(0, 1)
MAP_EXTENT = 2.5
FRAME_PX = 280                             # the current frame is drawn about this wide
HIGHLIGHT = (255, 80, 0)


@dataclass
class Model:
    """A generator to explore and what is known about it (config is None for bare generators)."""
    G: Generator
    spec: ModelSpec
    config: Optional[TrainConfig] = None
    step: Optional[int] = None
    class_names: list[str] = field(default_factory=list)
    source: str = ""                       # where it came from, in words

    @property
    def latent_dim(self) -> int:
        return self.spec.latent_dim

    @property
    def is_points(self) -> bool:
        return self.spec.model == "mlp"

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def class_name(self, i: int) -> str:
        return self.class_names[i] if i < len(self.class_names) else str(i)


def model_from_checkpoint(ck: Checkpoint, source: str) -> Model:
    return Model(ck.G, ck.spec, ck.config, ck.step, list(ck.class_names), source)


def describe(model: Model) -> list[tuple[str, str]]:
    """(name, value) pairs that say what the model is, for one line under the picker."""
    s, c = model.spec, model.config
    rows = [("model", s.model if s.model == "mlp" else f"{s.model} ({s.depth})")]
    if c is not None:
        rows.append(("dataset", c.dataset))
    rows.append(("latent size", str(s.latent_dim)))
    if c is not None:
        rows.append(("loss", c.loss))
    if model.step is not None:
        rows.append(("step", str(model.step)))
    if s.num_classes:
        rows.append(("conditional", f"{s.num_classes} classes"))
    if s.clusters:
        rows.append(("clusters", f"{s.clusters}, picked by z's first number"))
    return rows


def cluster_note(model: Model) -> Optional[str]:
    """What a walk shows on a cluster-conditioned generator, or None for other models."""
    k = model.spec.clusters
    if not k:
        return None
    return (f"This generator is conditioned on {k} clusters of its training images (look-alikes "
            f"sorted by k-means, no labels): z's first number picks the cluster, the rest draw "
            f"within it. A walk that changes the first number jumps from one kind of image to "
            f"the next where it crosses a cluster's edge; the others morph smoothly.")


# --- finding and loading checkpoints ---------------------------------------------------------

def model_dirs(root: Path, env: Optional[Mapping[str, str]] = None) -> list[Path]:
    """Folders searched for checkpoints: $GAN_LAB_MODEL_DIRS (os.pathsep-separated), or
    pretrained/ under the repository root; relative entries are taken from `root`."""
    env = os.environ if env is None else env
    raw = env.get(MODEL_DIRS_ENV)
    names = [p for p in raw.split(os.pathsep) if p.strip()] if raw else list(DEFAULT_MODEL_DIRS)
    return [p if p.is_absolute() else root / p for p in map(Path, names)]


def find_checkpoints(dirs: Sequence[Path]) -> list[Path]:
    """Every *.pt under the folders (recursive), newest first; hidden files are skipped."""
    found: dict[Path, float] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for p in d.rglob("*.pt"):
            if p.name.startswith((".", "judge_")) or not p.is_file():
                continue                     # hidden, or a judge classifier (not a generator)
            try:
                found[p.resolve()] = p.stat().st_mtime
            except OSError:          # deleted between listing and stat
                continue
    return sorted(found, key=lambda p: (-found[p], str(p)))


def shared_files(root: Path, token: Optional[str]) -> list[Path]:
    """The checkpoints of the model folders that this owner may see: never another owner's
    saved runs or uploads, even where the teacher's GAN_LAB_MODEL_DIRS holds them."""
    return [p for p in find_checkpoints(model_dirs(root)) if saved.may_open(p, token)]


def model_files(root: Path, token: Optional[str]) -> dict[str, tuple[str, Path]]:
    """{key: (title, file)} for the picker: this owner's saved runs, newest first, then the
    shared model folders (shared_files)."""
    out = {f"file:{p.resolve()}": (f"{title} · your saved run", p.resolve())
           for title, p in saved.own_checkpoints(token)}
    for p in shared_files(root, token):
        out.setdefault(f"file:{p}", (_relative_to(p, root), p))
    return out


def _relative_to(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root.resolve()))
    except ValueError:
        return str(p)


def opening_file(paths: Sequence[Path]) -> Optional[Path]:
    """The file to open on when nothing else is chosen: the shipped best model where it was
    found, else the newest file (paths come newest first, as find_checkpoints returns them)."""
    for p in paths:
        if p.name == OPENING_MODEL:
            return p
    return paths[0] if paths else None


def load_model_file(path: str | Path, source: Optional[str] = None) -> Model:
    """A generator from a checkpoint file (raises CheckpointError with a readable message)."""
    ck = load_checkpoint(path, with_discriminator=False)
    return model_from_checkpoint(ck, source or str(path))


def load_uploaded(data: bytes, name: str = "upload.pt") -> Model:
    """A generator from an uploaded file's bytes.

    The file is read in a separate process with a memory cap and a time limit
    (gan_core.checkpoint.load_untrusted), so a hostile upload costs its reader process, never
    the server; every failure is a CheckpointError whose message names the upload.
    """
    mb = len(data) / 2**20
    if mb > MAX_UPLOAD_MB:
        raise CheckpointError(f"{name} is {mb:.0f} MB; the limit is {MAX_UPLOAD_MB} MB")
    if not data:
        raise CheckpointError(f"{name} is empty")
    name = short_repr(name, 80).strip("'\"")
    ck = load_untrusted(data, name, timeout_s=UPLOAD_TIMEOUT_S, memory_mb=UPLOAD_MEMORY_MB)
    return model_from_checkpoint(ck, f"uploaded {name}")


# --- latent points ---------------------------------------------------------------------------

def endpoint(latent_dim: int, seed: int) -> torch.Tensor:
    """The latent point a seed stands for: (D,), the same on every machine."""
    return latent(1, latent_dim, seed)[0]


def candidates(latent_dim: int, seed: int, n: int = 16) -> torch.Tensor:
    """n latent points to pick endpoints from: (n, D); candidate i is the same for a seed."""
    return latent(n, latent_dim, seed)


def path_point(a: torch.Tensor, b: torch.Tensor, t: float, spherical: bool = False) -> torch.Tensor:
    """The point a fraction t of the way from a to b (both (D,)): (D,)."""
    tt = torch.tensor([[float(t)]])
    fn = slerp if spherical and a.numel() > 1 else lerp
    return fn(a.unsqueeze(0), b.unsqueeze(0), tt)[0]


def path(a: torch.Tensor, b: torch.Tensor, steps: int, spherical: bool = False) -> torch.Tensor:
    """`steps` points from a to b inclusive: (steps, D)."""
    return interpolate(a, b, steps, spherical)


def with_offsets(z: torch.Tensor, offsets: Mapping[int, float]) -> torch.Tensor:
    """z (D,) with offsets[i] added to coordinate i (indices beyond D are ignored)."""
    out = z.clone()
    for i, v in offsets.items():
        if 0 <= i < out.numel() and v:
            out[i] += float(v)
    return out


def line(n: int, lo: float = -SLIDER_RANGE, hi: float = SLIDER_RANGE) -> torch.Tensor:
    """n evenly spaced values of a one-number latent: (n, 1)."""
    return torch.linspace(lo, hi, n).unsqueeze(1)


def plane(n: int, extent: float = MAP_EXTENT) -> torch.Tensor:
    """An n x n grid over [-extent, extent]^2, row by row from the top: (n*n, 2).

    Column j has z[0] = axis[j] (left to right), row i has z[1] = axis[n-1-i] (top is high),
    so the picture reads like a plot.
    """
    axis = torch.linspace(-extent, extent, n)
    z1, z0 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    return torch.stack([z0.flatten(), z1.flatten()], 1)


# --- drawing ---------------------------------------------------------------------------------

def render(model: Model, z: torch.Tensor, class_index: Optional[int] = None) -> torch.Tensor:
    """One forward pass: samples for z (N, D): images in [-1, 1] or points (N, 2)."""
    labels = None
    if model.num_classes:
        labels = torch.full((z.shape[0],), int(class_index or 0), dtype=torch.long)
    return generate(model.G, z, labels)


def _scale_for(size: int, target: int) -> int:
    return max(1, target // size)


def frame_image(sample: torch.Tensor, width: int = FRAME_PX) -> Image.Image:
    """One image (1, C, H, W) or (C, H, W) enlarged with nearest neighbour to about `width`."""
    x = sample if sample.dim() == 4 else sample.unsqueeze(0)
    return Image.fromarray(grid_array(x[:1], nrow=1, pad=0, scale=_scale_for(x.shape[-1], width)))


def strip_image(samples: torch.Tensor, frame_px: int = 84, nrow: Optional[int] = None,
                pad: int = 2) -> Image.Image:
    """Images (N, C, H, W) in one row (or rows of `nrow`), each enlarged to about frame_px."""
    nrow = nrow or samples.shape[0]
    scale = _scale_for(samples.shape[-1], frame_px)
    return Image.fromarray(grid_array(samples, nrow=nrow, pad=pad, scale=scale))


def mark_frame(strip: Image.Image, index: int, n: int, nrow: Optional[int] = None) -> Image.Image:
    """A copy of a strip (made by strip_image with n frames) with frame `index` outlined."""
    nrow = nrow or n
    pitch_x, pitch_y = strip.width / nrow, strip.height / math.ceil(n / nrow)  # padding included
    r, c = divmod(index, nrow)
    out = strip.copy()
    ImageDraw.Draw(out).rectangle([c * pitch_x, r * pitch_y, (c + 1) * pitch_x, (r + 1) * pitch_y],
                                  outline=HIGHLIGHT, width=3)
    return out


def mark_point(image: Image.Image, z: Sequence[float], n: int,
               extent: float = MAP_EXTENT) -> Image.Image:
    """A copy of a plane map (strip_image of render(plane(n)), nrow=n) with z (2,) marked."""
    out = image.copy()
    cell = image.width / n                       # pixels per cell, padding included
    # cell centres sit at cell * (j + 1/2) (the left padding makes this exact to a pixel or two)
    def to_px(v: float) -> float:
        return cell / 2 + (v + extent) / (2 * extent) * (n - 1) * cell
    x = min(max(to_px(float(z[0])), 0), image.width - 1)
    y = min(max(image.height - 1 - to_px(float(z[1])), 0), image.height - 1)
    r = max(6, cell * 0.3)
    draw = ImageDraw.Draw(out)
    draw.ellipse([x - r, y - r, x + r, y + r], outline=HIGHLIGHT, width=3)
    return out


def frame_for(model: Model, a: torch.Tensor, b: torch.Tensor, t: float, spherical: bool = False,
              offsets: Optional[Mapping[int, float]] = None,
              class_index: Optional[int] = None) -> Image.Image:
    """What one slider move costs: the latent point, one forward pass, the enlarged picture."""
    z = with_offsets(path_point(a, b, t, spherical), offsets or {})
    return frame_image(render(model, z.unsqueeze(0), class_index))


def nearest_frame(t: float, steps: int) -> int:
    return int(round(min(max(t, 0.0), 1.0) * (steps - 1)))


# --- points (the 2-D toy sets) ----------------------------------------------------------------

def real_modes(model: Model) -> Optional[torch.Tensor]:
    """Centres of the real mixture for models of a 2-D set, else None."""
    if model.config is None or not is_points_dataset(model.config.dataset):
        return None
    return toy_modes(model.config.dataset)


def points_extent(*clouds: Optional[torch.Tensor]) -> float:
    m = max((float(c.abs().max()) for c in clouds if c is not None and c.numel()), default=2.0)
    return max(2.5, min(m * 1.15 + 0.3, 50.0)) if math.isfinite(m) else 3.0


def points_figure(cloud: torch.Tensor, current: torch.Tensor, route: Optional[torch.Tensor] = None,
                  ends: Optional[torch.Tensor] = None, modes: Optional[torch.Tensor] = None,
                  title: str = "", route_name: str = "G(z) along the walk") -> go.Figure:
    """The generated cloud (orange), the real modes (grey crosses), the route (dotted), its
    ends A and B, and the current point (a large red dot), on equal axes."""
    fig = go.Figure()
    def xy(p) -> dict:
        return dict(x=p[:, 0].tolist(), y=p[:, 1].tolist())
    fig.add_trace(go.Scatter(**xy(cloud), mode="markers", name="generated (512 samples)",
                             marker=dict(color="#ff7f0e", size=4, opacity=0.35)))
    if modes is not None:
        fig.add_trace(go.Scatter(**xy(modes), mode="markers", name="real modes",
                                 marker=dict(color="#444", size=10, symbol="x-thin",
                                             line=dict(width=2, color="#444"))))
    if route is not None:
        fig.add_trace(go.Scatter(**xy(route), mode="lines", name=route_name,
                                 line=dict(color="#2e86ab", width=2, dash="dot")))
    if ends is not None:
        fig.add_trace(go.Scatter(**xy(ends), mode="markers+text", text=["A", "B"][:len(ends)],
                                 textposition="top center", name="A and B", showlegend=False,
                                 marker=dict(color="#2e86ab", size=9)))
    cur = current.reshape(-1, 2)
    fig.add_trace(go.Scatter(**xy(cur), mode="markers", name="G(z) now",
                             marker=dict(color="#d62728", size=15,
                                         line=dict(color="white", width=2))))
    ext = points_extent(cloud, modes, cur)
    fig.update_xaxes(range=[-ext, ext], constrain="domain", zeroline=False)
    fig.update_yaxes(range=[-ext, ext], scaleanchor="x", scaleratio=1, zeroline=False)
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      template=LIGHT, legend=dict(orientation="h", y=-0.08),
                      title=dict(text=title, x=0, font=dict(size=15)) if title else None,
                      uirevision="explore")
    return fig


# --- a small per-session cache ----------------------------------------------------------------

def cached(store: "OrderedDict[Hashable, Any]", key: Hashable, make: Callable[[], Any],
           max_items: int = 12) -> Any:
    """store[key], made on first use; the least recently used entry goes beyond max_items.

    The page keeps `store` in st.session_state: a strip belongs to one browser session (two
    students may both have a run called "run 1"), unlike st.cache_data, which is shared.
    """
    if key in store:
        store.move_to_end(key)
        return store[key]
    value = make()
    store[key] = value
    while len(store) > max_items:
        store.popitem(last=False)
    return value


def tensor_key(z: torch.Tensor) -> tuple:
    return tuple(round(float(v), 6) for v in z.flatten().tolist())
