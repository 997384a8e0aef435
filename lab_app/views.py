"""Figures for the "inside the game" views (no Streamlit here; the data comes from
gan_core.probes and gan_core.stepper).

2-D runs:  points_figure   D's map, real and generated points, G's mesh, gradient arrows
           replay_figure   the same for every saved snapshot, with a play button and a scrubber
           step_figures    before and after one D or one G update
Image runs: verdict_grid   the sample grid with a border per image coloured by D's verdict
           mode_figure     the judge classifier's class counts as bars
           pairs_image     samples above their nearest training images
           push_figure     one sample and the gradient of G's loss over its pixels
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
import torch
from PIL import Image

from gan_core.images import from_uint8, grid_array, to_uint8
from gan_core.probes import Probe, arrows

from . import safe
from .charts import LIGHT


MESH_NAME = "G's manifold (latent grid through G)"
ARROW_NAME = "where G's loss pushes each point"
REPLAY_FRAMES = 40          # at most this many snapshots in a replay (evenly spaced)


# --- 2-D -------------------------------------------------------------------------------------

def _np(t) -> np.ndarray:
    """float32 numpy (plotly sends numpy arrays to the browser as compact binary)."""
    return t.detach().float().cpu().numpy() if torch.is_tensor(t) else np.asarray(t, np.float32)


def mesh_lines(mesh: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays for one Scatter: each grid row and column as a polyline, NaN between
    them (a latent-1 curve is one polyline). Every vertex appears once per direction."""
    m = _np(mesh)
    lines = [m] if m.ndim == 2 else [m[i] for i in range(m.shape[0])] + \
        [m[:, j] for j in range(m.shape[1])]
    gap = np.full((1, 2), np.nan, np.float32)
    joined = np.concatenate([part for line in lines for part in (line, gap)])
    return joined[:, 0], joined[:, 1]


def arrow_lines(starts: torch.Tensor, ends: torch.Tensor, head: float = 0.35
                ) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays for one Scatter: per arrow a shaft and a two-stroke head at its tip,
    9 entries each: start, tip, gap, tip, left barb, gap, tip, right barb, gap."""
    s, e = _np(starts), _np(ends)
    d = e - s
    n = len(s)
    out = np.full((n, 9, 2), np.nan, np.float32)
    out[:, 0], out[:, 1], out[:, 3], out[:, 6] = s, e, e, e
    for slot, sign in ((4, 1.0), (7, -1.0)):           # barbs 150 degrees from the shaft
        c, sn = math.cos(math.radians(150)), sign * math.sin(math.radians(150))
        rot = np.stack([d[:, 0] * c - d[:, 1] * sn, d[:, 0] * sn + d[:, 1] * c], 1)
        out[:, slot] = e + head * rot
    flat = out.reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def _extras(probe, samples, extent: float, show_mesh: bool, show_arrows: bool,
            max_arrows: int) -> list[go.Scatter]:
    traces = []
    if show_mesh and probe is not None and probe.mesh is not None:
        x, y = mesh_lines(probe.mesh)
        traces.append(go.Scatter(x=x, y=y, mode="lines", name=MESH_NAME, hoverinfo="skip",
                                 line=dict(color="rgba(120,60,160,0.55)", width=1)))
    if show_arrows and probe is not None and probe.grads.shape == samples.shape:
        starts, ends, _ = arrows(samples.float(), probe.grads.float(), max_arrows,
                                 max_len=0.12 * extent)
        x, y = arrow_lines(starts, ends)
        traces.append(go.Scatter(x=x, y=y, mode="lines", name=ARROW_NAME, hoverinfo="skip",
                                 line=dict(color="#111", width=1.3)))
    return traces


def points_figure(real, snap, extent: float, show_mesh: bool = True, show_arrows: bool = True,
                  max_arrows: int = 64, title: Optional[str] = None) -> go.Figure:
    """GAN Lab's view of one snapshot: D's map, real (grey) and generated (orange) points, the
    mesh G makes of a latent grid and arrows along minus the gradient of G's loss.

    The layout is charts.toy_figure's; the data go as float32 arrays (drawn faster)."""
    fig = go.Figure()
    if snap.d_map is not None:
        axis, probs = snap.d_map
        fig.add_trace(go.Heatmap(x=_np(axis), y=_np(axis), z=_np(probs), zmin=0, zmax=1,
                                 colorscale="RdBu", opacity=0.55, name="D's map",
                                 colorbar=dict(title="D says<br>real", thickness=12)))
    r, g = _np(real), _np(snap.samples)
    fig.add_trace(go.Scatter(x=r[:, 0], y=r[:, 1], mode="markers", name="real",
                             marker=dict(color="#444", size=4, opacity=0.5)))
    fig.add_trace(go.Scatter(x=g[:, 0], y=g[:, 1], mode="markers", name="generated",
                             marker=dict(color="#ff7f0e", size=5,
                                         line=dict(color="white", width=0.5))))
    for trace in _extras(getattr(snap, "probe", None), snap.samples, extent, show_mesh,
                         show_arrows, max_arrows):
        fig.add_trace(trace)
    fig.update_xaxes(range=[-extent, extent], constrain="domain")
    fig.update_yaxes(range=[-extent, extent], constrain="domain", scaleanchor="x", scaleratio=1)
    when = f"Step {snap.step}: " if snap.step is not None else ""
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=40, b=10), template=LIGHT,
                      title=dict(text=title or f"{when}real (grey) and generated (orange)", x=0,
                                 font=dict(size=14)),
                      legend=dict(orientation="h", y=-0.08), uirevision="toy")
    return fig


def _frame_traces(snap, extent, show_mesh, show_arrows, max_arrows, coarse: int):
    axis, probs = snap.d_map if snap.d_map else (None, None)
    data = []
    if probs is not None:
        data.append(go.Heatmap(x=_np(axis[::coarse]), y=_np(axis[::coarse]),
                               z=_np(probs[::coarse, ::coarse])))
    g = _np(snap.samples)
    data.append(go.Scatter(x=g[:, 0], y=g[:, 1]))
    extras = _extras(getattr(snap, "probe", None), snap.samples, extent, show_mesh,
                     show_arrows, max_arrows)
    names = {t.name for t in extras}
    # Every frame must have the same traces: an empty one where a snapshot has no probe.
    for name in ([MESH_NAME] if show_mesh else []) + ([ARROW_NAME] if show_arrows else []):
        t = next((t for t in extras if t.name == name), None)
        data.append(go.Scatter(x=t.x, y=t.y) if name in names else go.Scatter(x=[], y=[]))
    return data


def replay_pick(n: int, max_frames: int = REPLAY_FRAMES) -> list[int]:
    """Indices of at most max_frames snapshots, evenly spread, always the first and last."""
    if n <= max_frames:
        return list(range(n))
    picks = sorted({round(i * (n - 1) / (max_frames - 1)) for i in range(max_frames)})
    return picks


def replay_figure(real, snaps: Sequence, extent: float, show_mesh: bool = True,
                  show_arrows: bool = True, frame_ms: int = 400,
                  max_frames: int = REPLAY_FRAMES) -> go.Figure:
    """The saved snapshots as an animation: play, pause and a scrubber by step, replaying D's
    map, the points, the mesh and the arrows together (played in the browser)."""
    if not snaps:
        raise ValueError("there are no snapshots to replay yet")
    picks = replay_pick(len(snaps), max_frames)
    coarse = 2 if snaps[0].d_map is not None else 1
    fig = points_figure(real, snaps[picks[0]], extent, show_mesh, show_arrows)
    moving = [i for i, t in enumerate(fig.data) if t.name != "real"]
    present = {t.name for t in fig.data}        # every frame carries the same traces
    show_mesh, show_arrows = MESH_NAME in present, ARROW_NAME in present
    frames = []
    for i in picks:
        s = snaps[i]
        frames.append(go.Frame(name=str(s.step), traces=moving,
                               data=_frame_traces(s, extent, show_mesh, show_arrows, 64, coarse),
                               layout=dict(title=dict(text=f"Step {s.step}: replay"))))
    fig.frames = frames
    anim = dict(frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0),
                mode="immediate")
    fig.update_layout(
        height=500, margin=dict(l=10, r=10, t=40, b=110), showlegend=False,
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.12, xanchor="left",
                          yanchor="top", showactive=False,
                          buttons=[dict(label="▶ Play", method="animate",
                                        args=[None, dict(anim, fromcurrent=True)]),
                                   dict(label="❚❚ Pause", method="animate",
                                        args=[[None], dict(anim, mode="immediate")])])],
        sliders=[dict(active=0, x=0.22, y=-0.06, len=0.78, yanchor="top",
                      currentvalue=dict(prefix="step ", visible=True, xanchor="right"),
                      steps=[dict(label=f.name, method="animate",
                                  args=[[f.name], dict(anim, frame=dict(duration=0,
                                                                         redraw=True))])
                             for f in frames])])
    return fig


def step_figures(report, real, extent: float, show_mesh: bool = True,
                 show_arrows: bool = True) -> tuple[go.Figure, go.Figure]:
    """Before and after one update, on the same axes. After a G step the points' old places
    are drawn faint, so the move is visible."""
    figs = []
    for frame in (report.before, report.after):
        snap = _FrameSnap(frame)
        fig = points_figure(real, snap, extent, show_mesh, show_arrows,
                            title=f"{frame.label}")
        figs.append(fig)
    if report.who == "G":
        old = report.before.samples
        figs[1].add_trace(go.Scatter(x=_np(old[:, 0]), y=_np(old[:, 1]),
                                     mode="markers", name="before the G step",
                                     marker=dict(color="rgba(255,127,14,0.25)", size=4)))
    for f in figs:
        f.update_layout(height=380, uirevision=None)
    return figs[0], figs[1]


def step_figures_single(frame, real, extent: float, show_mesh: bool = True,
                        show_arrows: bool = True) -> go.Figure:
    """The step-by-step picture before any button is pressed."""
    fig = points_figure(real, _FrameSnap(frame), extent, show_mesh, show_arrows,
                        title=frame.label)
    fig.update_layout(height=440, uirevision=None)
    return fig


class _FrameSnap:
    """A stepper Frame read like a Snapshot (step, samples, d_map, probe)."""

    def __init__(self, frame):
        self.step = None
        self.samples = frame.samples
        self.d_map = frame.d_map
        self.probe = Probe(grads=frame.grads, d_out=frame.d_out, mesh=frame.mesh)


# --- images ----------------------------------------------------------------------------------

def verdict_colour(value: float) -> tuple[int, int, int]:
    """0 (D: fake) red, 0.5 yellow, 1 (D: real) green."""
    v = min(max(float(value), 0.0), 1.0)
    if v < 0.5:
        return (220, int(40 + 2 * v * 180), 40)
    return (int(220 - 2 * (v - 0.5) * 180), 200, 60)


def verdict_scale(d_out: torch.Tensor, d_kind: str) -> torch.Tensor:
    """D's outputs on 0..1 for colouring: probabilities as they are; raw scores min-max."""
    d = d_out.float()
    if d_kind == "probability":
        return d.clamp(0, 1)
    lo, hi = float(d.min()), float(d.max())
    return (d - lo) / (hi - lo) if hi > lo else torch.full_like(d, 0.5)


def verdict_grid(samples: torch.Tensor, d_out: torch.Tensor, d_kind: str = "probability",
                 nrow: int = 8, scale: int = 3, border: int = 3) -> tuple[Image.Image, list]:
    """(image, colours): the samples in a grid, each framed in the colour of D's verdict."""
    if len(samples) != len(d_out):
        raise ValueError(f"{len(samples)} samples but {len(d_out)} verdicts")
    x = to_uint8(samples)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    n, _, h, w = x.shape
    colours = [verdict_colour(v) for v in verdict_scale(d_out, d_kind).tolist()]
    framed = torch.empty(n, 3, h + 2 * border, w + 2 * border, dtype=torch.uint8)
    for i, c in enumerate(colours):
        framed[i] = torch.tensor(c, dtype=torch.uint8).view(3, 1, 1)
    framed[:, :, border:border + h, border:border + w] = x
    arr = grid_array(framed, nrow=min(nrow, n), pad=1)
    img = Image.fromarray(arr)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img, colours


def mode_figure(counts: Sequence[int], class_names: Sequence[str], title: str) -> go.Figure:
    """The judge's class for each sample, counted: a bar per class, missing ones marked."""
    # an upload's folder names: Plotly reads some HTML (<a href>) in ticks and titles
    names = [safe.plot_text(n, 64) for n in class_names] or [str(i) for i in range(len(counts))]
    colours = ["#2e86ab" if c else "#cccccc" for c in counts]
    fig = go.Figure(go.Bar(x=names, y=list(counts), marker_color=colours,
                           text=[str(c) if c else "missing" for c in counts],
                           textposition="outside", name="samples"))
    missing = [n for n, c in zip(names, counts) if not c]
    sub = f" · missing: {', '.join(missing)}" if missing else " · every class present"
    fig.update_layout(title=dict(text=title + sub, x=0, font=dict(size=14)), height=300,
                      margin=dict(l=10, r=10, t=40, b=10), template=LIGHT,
                      xaxis_title="the judge classifier's class", yaxis_title="samples",
                      xaxis=dict(type="category"))
    return fig


def pairs_image(samples: torch.Tensor, nearest: torch.Tensor, scale: int = 3) -> Image.Image:
    """Samples in the top row, their nearest training images in the row below."""
    both = torch.cat([to_uint8(samples), to_uint8(nearest)])
    arr = grid_array(both, nrow=len(samples), pad=2)
    img = Image.fromarray(arr)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def smooth_map(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(H, W) blurred with a normalised Gaussian of `sigma` pixels (0: unchanged)."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = (k[:, None] * k[None, :]) / (k.sum() ** 2)
    out = torch.nn.functional.conv2d(x[None, None].float(), k[None, None], padding=r)
    return out[0, 0]


def push_figure(sample: torch.Tensor, grad: torch.Tensor, title: str,
                sigma: float = 0.0) -> go.Figure:
    """The sample and, beside it, -d(G's loss)/d(pixel): red where G is pushed to add ink
    (brighter), blue where to remove it, white where D does not care. `sigma` > 0 blurs the
    map over a few pixels (a conv D's pixel gradient is speckled), so strokes show."""
    img = from_uint8(sample)
    grey = img.mean(0).flip(0)                                  # (H, W), row 0 at the bottom
    push = smooth_map((-grad.float()).sum(0), sigma).flip(0)
    top = float(push.abs().max()) or 1.0
    fig = make_subplots(1, 2, subplot_titles=("the sample", "where G is pushed"),
                        horizontal_spacing=0.06)
    fig.add_trace(go.Heatmap(z=grey.tolist(), colorscale="gray", zmin=-1, zmax=1,
                             showscale=False, name="sample"), 1, 1)
    fig.add_trace(go.Heatmap(z=push.tolist(), colorscale="RdBu_r", zmin=-top, zmax=top,
                             name="push", colorbar=dict(title="brighter<br>(+) or<br>darker (-)",
                                                        thickness=10)), 1, 2)
    for i in (1, 2):
        fig.update_xaxes(showticklabels=False, row=1, col=i, constrain="domain")
        fig.update_yaxes(showticklabels=False, row=1, col=i, scaleanchor=f"x{'' if i == 1 else 2}",
                         constrain="domain")
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=14)), height=330,
                      margin=dict(l=10, r=10, t=60, b=10), template=LIGHT)
    return fig


def clickable_grid(samples: torch.Tensor, d_out: Optional[torch.Tensor] = None,
                   d_kind: str = "probability", nrow: int = 8,
                   chosen: Sequence[int] = ()) -> go.Figure:
    """The sample grid as a figure a student can click: one invisible marker per tile carries
    the sample's number (customdata); the chosen samples are ringed."""
    n = len(samples)
    if d_out is not None:
        img, _ = verdict_grid(samples, d_out, d_kind, nrow=nrow, scale=1)
    else:
        img = Image.fromarray(grid_array(to_uint8(samples), nrow=min(nrow, n), pad=1))
    h, w = samples.shape[-2:]
    border = 3 if d_out is not None else 0
    tile_h, tile_w = h + 2 * border + 1, w + 2 * border + 1      # + the 1-pixel padding
    idx = np.arange(n)
    cx = 1 + (idx % nrow) * tile_w + (tile_w - 1) / 2
    cy = 1 + (idx // nrow) * tile_h + (tile_h - 1) / 2
    fig = go.Figure(go.Image(z=np.asarray(img), hoverinfo="skip", name="grid"))
    fig.add_trace(go.Scatter(x=cx, y=cy, mode="markers", customdata=idx, name="sample numbers",
                             marker=dict(size=max(8, min(tile_w, 40)), opacity=0.01,
                                         color="#000", symbol="square"),
                             hovertemplate="sample %{customdata}<extra></extra>"))
    if chosen:
        pick = np.asarray([c for c in chosen if 0 <= c < n], dtype=int)
        fig.add_trace(go.Scatter(x=cx[pick], y=cy[pick], mode="markers", name="chosen",
                                 hoverinfo="skip",
                                 marker=dict(size=max(8, min(tile_w, 40)) + 6,
                                             symbol="square-open", color="#2e86ab",
                                             line=dict(width=3))))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=420, margin=dict(l=0, r=0, t=10, b=0), showlegend=False,
                      dragmode=False, clickmode="event+select")
    return fig
