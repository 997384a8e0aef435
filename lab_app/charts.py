"""Plotly figures from a trainer's history (no Streamlit here).

Every chart takes `runs`: {label: history records}, so one run and a comparison of two use the
same code. Raw values are drawn faint with a smoothed line on top; clicking a legend entry hides
a curve. Live setting changes are drawn as dotted vertical lines with their label.
"""
from __future__ import annotations

import math
import textwrap
from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from gan_core.losses import LOSSES, balance_point

PALETTE = ["#e4572e", "#2e86ab", "#76b041", "#9c27b0", "#f2a541", "#555555"]

# What the lab's figures draw: 2-D axes with lines, markers, bars, heat maps and images.
LIGHT_LAYOUT = ("annotationdefaults", "autotypenumbers", "colorway", "font", "hoverlabel",
                "hovermode", "paper_bgcolor", "plot_bgcolor", "shapedefaults", "title", "xaxis",
                "yaxis")
LIGHT_TRACES = ("scatter", "bar", "heatmap")


def light_template() -> go.layout.Template:
    """plotly_white's look for what the lab draws, without its defaults for 3-D scenes, polar,
    ternary and map axes and 21 other kinds of trace. Plotly validates and copies a figure's
    whole template when it is set: "plotly_white" took about 25 ms per figure, most of a live
    chart's build time (the Train page's fragment builds five every 2.5 s), and it was over
    half of each chart's JSON; this one takes about 5 ms and draws the same."""
    white = pio.templates["plotly_white"].to_plotly_json()
    return go.layout.Template(layout={k: white["layout"][k] for k in LIGHT_LAYOUT},
                              data={k: white["data"][k] for k in LIGHT_TRACES})


LIGHT = light_template()


def ema(values: Sequence[float], alpha: float = 0.1) -> list[float]:
    """Exponential moving average that skips NaNs."""
    out, m = [], None
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(m if m is not None else float("nan"))
            continue
        m = v if m is None else (1 - alpha) * m + alpha * v
        out.append(m)
    return out


# What every chart of a history shares, checked by plotly once rather than per figure (a
# live fragment builds five of them every 2.5 s): _chart() starts from it, _layout() adds the rest.
CHART_LAYOUT = go.Layout(title=dict(x=0, font=dict(size=15)), margin=dict(l=10, r=10, t=40, b=10),
                         xaxis_title="step", legend=dict(orientation="h", y=-0.25),
                         template=LIGHT)


def _chart() -> go.Figure:
    return go.Figure(layout=CHART_LAYOUT)


def _layout(fig: go.Figure, title: str, ytitle: str, height: int = 300) -> go.Figure:
    return fig.update_layout(title_text=title, height=height, yaxis_title_text=ytitle,
                             uirevision=title)


MAX_POINTS = 500     # per curve: a live chart is redrawn every second or two


def thin(hist: list, max_points: int = MAX_POINTS) -> list:
    """Every k-th record (and always the last), so long runs stay cheap to draw."""
    if len(hist) <= max_points:
        return hist
    k = -(-len(hist) // max_points)
    out = hist[::k]
    return out if out[-1] is hist[-1] else out + [hist[-1]]


def _series(fig, runs, key, label: str, colour_offset: int = 0, dash: Optional[str] = None,
            yaxis: Optional[str] = None):
    """`key`: a record field, or a function of a record (NaN where it has no value)."""
    get = key if callable(key) else (lambda r: r.get(key, float("nan")))
    for i, (run, hist) in enumerate(runs.items()):
        if not hist:
            continue
        values = [get(r) for r in hist]
        if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            continue
        smooth = ema(values)                                     # on every step, then thinned
        keep = thin(list(range(len(hist))))
        # numpy arrays: plotly checks a list element by element (most of a chart's build
        # time) and sends it as JSON text; an array it takes whole and sends as binary.
        steps = np.array([hist[j]["step"] for j in keep], dtype=np.int32)
        vals = np.array([values[j] for j in keep], dtype=np.float32)     # None -> NaN: a gap
        smooth = np.array([smooth[j] for j in keep], dtype=np.float32)
        colour = PALETTE[(i + colour_offset) % len(PALETTE)]
        name = f"{label} ({run})" if len(runs) > 1 else label
        extra = dict(yaxis=yaxis) if yaxis else {}
        fig.add_trace(go.Scatter(x=steps, y=vals, mode="lines", name=name + " raw",
                                 line=dict(color=colour, width=1), opacity=0.25,
                                 legendgroup=name, showlegend=False, hoverinfo="skip", **extra))
        fig.add_trace(go.Scatter(x=steps, y=smooth, mode="lines", name=name,
                                 line=dict(color=colour, width=2.2, dash=dash), legendgroup=name,
                                 **extra))


def _hline(fig, y: float, colour: str, text: str, where: str, yref: str = "y") -> None:
    """What fig.add_hline(y, annotation_text=text, annotation_position=where) draws, for where
    in "bottom right" / "top left", at a third of its cost (it looks up every subplot)."""
    fig.add_shape(type="line", xref="x domain", x0=0, x1=1, yref=yref, y0=y, y1=y,
                  line=dict(color=colour, dash="dot"))
    right = where.endswith("right")
    fig.add_annotation(xref="x domain", x=1 if right else 0, yref=yref, y=y, text=text,
                       showarrow=False, xanchor="right" if right else "left",
                       yanchor="top" if where.startswith("bottom") else "bottom")


def _markers(fig, markers: Sequence[dict]):
    for m in markers or []:
        text = ", ".join(f"{k}={v}" for k, v in m["changes"].items())
        fig.add_shape(type="line", x0=m["step"], x1=m["step"], xref="x", y0=0, y1=1,
                      yref="y domain", line=dict(color="#888", dash="dot", width=1.5))
        fig.add_annotation(x=m["step"], y=1, yref="paper", text=text, showarrow=False,
                           xanchor="left", yanchor="top", font=dict(size=10, color="#555"),
                           bgcolor="rgba(255,255,255,0.7)")


def loss_figure(runs: Mapping[str, list], markers: Sequence[dict] = ()) -> go.Figure:
    fig = _chart()
    _series(fig, runs, "g_loss", "G loss", 0)
    _series(fig, runs, "d_loss", "D loss", 1, dash="dash" if len(runs) > 1 else None)
    _markers(fig, markers)
    return _layout(fig, "Generator and discriminator losses", "loss")


def _losses_in(runs: Mapping[str, list]) -> list[str]:
    """The losses the records of these runs were trained with, in order of first use."""
    return list(dict.fromkeys(r["loss"] for hist in runs.values() for r in hist if "loss" in r))


def probability_figure(runs: Mapping[str, list], markers: Sequence[dict] = ()) -> go.Figure:
    """D's mean output on real and fake samples, labelled for what it is.

    For losses on logits it is a probability, with 0.5 where D cannot tell. Hinge, WGAN-GP and
    LSGAN put out a raw score, not a probability: it is drawn as a score, with that loss's own
    reference lines (margins, targets), on a right-hand axis when both kinds are shown.
    """
    losses = _losses_in(runs)
    scored = [n for n in losses if n in LOSSES and LOSSES[n].raw_scores]
    has_prob = any(n not in scored for n in losses) or not losses
    fig = _chart()
    dash = "dash" if len(runs) > 1 else None

    def only(kind_is_score: bool, key: str):
        return lambda r: (r.get(key, float("nan"))
                          if (r.get("loss") in scored) == kind_is_score else float("nan"))
    if has_prob:
        _series(fig, runs, only(False, "d_real"), "D(x) real", 2)
        _series(fig, runs, only(False, "d_fake"), "D(G(z)) fake", 0, dash=dash)
        _hline(fig, 0.5, "#333", "0.5: D cannot tell", "bottom right")
        fig.update_yaxes(range=[0, 1])
    if scored:
        axis = "y2" if has_prob else None
        _series(fig, runs, only(True, "d_real"), "D(x) raw score", 2, yaxis=axis)
        _series(fig, runs, only(True, "d_fake"), "D(G(z)) raw score", 0, dash=dash, yaxis=axis)
        if len(scored) == 1:
            for value, text in LOSSES[scored[0]].score_lines:
                _hline(fig, value, "#7a4", f"{scored[0]} {text}", "top left", axis or "y")
    _markers(fig, markers)
    names = ", ".join(scored)
    if scored and has_prob:
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False,
                                      title=f"raw score ({names}; not a probability)"))
        return _layout(fig, f"What D says: probability of real; raw score for {names}",
                       "probability real")
    if scored:
        return _layout(fig, f"What D scores: D(x) and D(G(z)), raw scores ({names})",
                       "D's raw score (not a probability)")
    return _layout(fig, "What D believes: D(x) and D(G(z))", "probability real")


def balance_lines(played, gamma: float = 2.0) -> tuple[list[tuple[float, str]], str]:
    """The log(L_G / L_D) chart's balance lines as (value, label), one per value, for the
    (loss, label smoothing) pairs played, and its title (which names the losses without one).
    Each is computed from the loss's own functions at the equilibrium
    (gan_core.losses.balance_point): -ln 2 = -0.69 for cross-entropy, not 0, because D's loss
    sums a real and a fake term; -0.54 with label smoothing 0.1, where D's best answer is
    0.45. Hinge and WGAN have none (undefined). L_D is the game's loss alone: a gradient or R1
    penalty is recorded apart (d_penalty)."""
    lines: dict[float, list[str]] = {}
    undefined = []
    for name, smoothing in dict.fromkeys(played):
        if name not in LOSSES:
            continue
        b = balance_point(name, gamma, smoothing)
        if b.log_ratio is None:
            undefined.append(name)
        else:
            label = name + (f", smoothing {smoothing:g}" if smoothing else "")
            lines.setdefault(round(b.log_ratio, 3), []).append(label)
    title = "log(L_G / L_D): above the dotted line, G loses"   # fits a half-width column
    if undefined and not lines:
        title = f"log(L_G / L_D): no balance line for {', '.join(undefined)} (undefined)"
    elif undefined:
        title += f"; none for {', '.join(undefined)}"
    return [(v, f"{v:.2f}: balance ({', '.join(n)})") for v, n in lines.items()], title


def log_ticks(values: Sequence[float]) -> Optional[list[float]]:
    """Round tick values for a log axis over `values`: powers of ten over 1.5 decades or more,
    else 1, 2 and 5 times them (plotly's own choice labels every minor tick of a short range,
    so a gradient-norm chart read "1 2 100 5 2 10 5 2 1" from top to bottom); over a range too
    narrow for two of those, three values spread over it. None: no positive value."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return None
    lo, hi = math.log10(v.min()), math.log10(v.max())
    ladder = (1,) if hi - lo >= 1.5 else (1, 2, 5)
    ticks = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in ladder]
    inside = [t for t in ticks if lo - 0.05 <= math.log10(t) <= hi + 0.05]
    if len(inside) >= 2:
        return inside
    # Too narrow for two round values: three spread over the data, to two significant digits.
    return sorted({float(f"{10 ** x:.2g}") for x in np.linspace(lo, hi, 3)})


def toy_figure(real, fake, axis=None, probs=None, extent: float = 3.0,
               title_step: Optional[int] = None) -> go.Figure:
    """GAN Lab's view: D's belief as a heat map, real points grey, generated points orange."""
    fig = go.Figure()
    if probs is not None:
        fig.add_trace(go.Heatmap(x=axis.tolist(), y=axis.tolist(), z=probs.tolist(), zmin=0,
                                 zmax=1, colorscale="RdBu", opacity=0.55,
                                 colorbar=dict(title="D says<br>real", thickness=12)))
    fig.add_trace(go.Scatter(x=real[:, 0].tolist(), y=real[:, 1].tolist(), mode="markers",
                             name="real", marker=dict(color="#444", size=4, opacity=0.5)))
    fig.add_trace(go.Scatter(x=fake[:, 0].tolist(), y=fake[:, 1].tolist(), mode="markers",
                             name="generated", marker=dict(color="#ff7f0e", size=5,
                                                           line=dict(color="white", width=0.5))))
    fig.update_xaxes(range=[-extent, extent], constrain="domain")
    fig.update_yaxes(range=[-extent, extent], constrain="domain", scaleanchor="x", scaleratio=1)
    when = f"Step {title_step}: " if title_step is not None else ""
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=40, b=10), template=LIGHT,
                      title=dict(text=f"{when}real (grey) and generated (orange)", x=0,
                                 font=dict(size=14)),
                      legend=dict(orientation="h", y=-0.08), uirevision="toy")
    return fig


def loss_curves_figure(curves: Mapping[str, tuple], title: str, ytitle: str) -> go.Figure:
    """Curves y(p) against D(G(z)) = p, for the Loss lab: {name: (p, y)}."""
    fig = go.Figure()
    for i, (name, (p, y)) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(p), y=list(y), mode="lines", name=name,
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2.5)))
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=15)), height=360,
                      xaxis_title="D(G(z)): how real D thinks the fake is", yaxis_title=ytitle,
                      template=LIGHT, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


# --- experiments: spread across seeds ----------------------------------------------------------

def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def band_figure(bands: Mapping[str, dict], title: str, ytitle: str, xtitle: str = "step",
                log_y: bool = False, threshold: Optional[float] = None,
                balance: Optional[float] = None) -> go.Figure:
    """One line per arm (mean over seeds) with a shaded band from the lowest to the highest."""
    fig = _chart()
    for i, b in enumerate(bands.values()):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=b["x"] + b["x"][::-1], y=b["hi"] + b["lo"][::-1],
                                 fill="toself", fillcolor=_rgba(colour, 0.15), mode="lines",
                                 line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=b["label"]))
        fig.add_trace(go.Scatter(x=b["x"], y=b["mean"], mode="lines+markers", name=b["label"],
                                 line=dict(color=colour, width=2), marker=dict(size=4),
                                 legendgroup=b["label"]))
    if threshold is not None and bands:
        # A trace rather than add_hline: an hline's annotation lands at 10^y on a log axis.
        xs = [x for b in bands.values() for x in b["x"]]
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[threshold, threshold], mode="lines",
                                 name=f"threshold ({threshold:g})",
                                 line=dict(color="black", dash="dash", width=1)))
    if balance is not None and bands:     # log(L_G/L_D): the loss's own balance, not 0
        xs = [x for b in bands.values() for x in b["x"]]
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[balance, balance], mode="lines",
                                 name=f"balance ({balance:.2f}: D = 1/2)",
                                 line=dict(color="black", dash="dot", width=1)))
    _layout(fig, title, ytitle, height=360)
    fig.update_xaxes(title=xtitle)
    if log_y:   # round ticks only: plotly labels every minor tick of a short log range
        fig.update_yaxes(type="log", tickvals=[10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
                         minor=dict(showgrid=False))
    return fig


def seed_bar_figure(stats: Mapping[str, dict], rows: Sequence[dict], key: str, title: str,
                    scale: float = 1.0) -> go.Figure:
    """Mean per arm with a standard-deviation error bar, and one dot per seed."""
    fig = _chart()
    arms = [(a, s[key]) for a, s in stats.items() if s.get(key) and s[key]["n"]]
    # Wrapped, not rotated: plotly tilts long category names and the first ones then run off
    # the figure's left edge ("focal + clipping (FLGAN code)" lost its start). Narrower lines
    # for more arms, so that neighbours do not touch in a half-width column.
    width = max(8, min(16, 64 // max(len(arms), 1)))
    labels = ["<br>".join(textwrap.wrap(stats[a]["label"], width)) for a, _ in arms]
    fig.add_trace(go.Bar(x=labels, y=[s["mean"] * scale for _, s in arms],
                         error_y=dict(type="data", array=[s["std"] * scale for _, s in arms]),
                         marker_color=PALETTE[1], opacity=0.75, name="mean ± sd"))
    xs, ys = [], []
    for (a, _), label in zip(arms, labels):
        for r in rows:
            if r["arm"] == a and r.get(key) is not None:
                xs.append(label)
                ys.append(r[key] * scale)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="one seed",
                             marker=dict(color="black", size=7, symbol="circle-open")))
    _layout(fig, title, "", height=320)
    # No legend: under three-line names it overlapped them; the page's caption says what a
    # bar and a circle are.
    fig.update_layout(showlegend=False)
    fig.update_xaxes(title="", tickangle=0, automargin=True)
    return fig


def share_figure(rows: Sequence[dict], shares: Sequence[int], title: str) -> go.Figure:
    """Classifier accuracy against the share of generated training images: mean ± sd per
    share, one dot per seed (the CGAN-augmentation experiment)."""
    fig = _chart()
    means, sds, xs, ys = [], [], [], []
    for p in shares:
        vals = [r[f"acc_gen_{p}"] * 100 for r in rows if r.get(f"acc_gen_{p}") is not None]
        m = sum(vals) / len(vals) if vals else float("nan")
        sd = (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0
        means.append(m)
        sds.append(sd)
        xs += [p] * len(vals)
        ys += vals
    fig.add_trace(go.Scatter(x=list(shares), y=means, mode="lines+markers", name="mean ± sd",
                             error_y=dict(type="data", array=sds), line=dict(color=PALETTE[1])))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="one seed",
                             marker=dict(color="black", size=7, symbol="circle-open")))
    _layout(fig, title, "accuracy on real test digits (%)", height=340)
    fig.update_xaxes(title="share of generated images in the classifier's training set (%)",
                     tickvals=list(shares))
    return fig
