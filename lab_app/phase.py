"""The Dirac-GAN page's logic, no Streamlit: its settings as link values and back (every value
from a link is hostile: checked, clamped, one line per bad value), the scenes a student can
try, and the phase-plane figure (gan_core.dirac computes everything it draws).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import plotly.graph_objects as go

from gan_core.config import SETTINGS
from gan_core.dirac import UPDATES, DiracSettings, Summary, field
from gan_core.losses import LOSSES
from gan_core.shortrepr import short_repr

from .charts import LIGHT
from .views import arrow_lines

# The Train page's one line beside its log(L_G / L_D) and D(x) charts. A Markdown link, not
# st.page_link: the page tests run train.py alone, without the navigation page_link needs.
CIRCLING = "loss=nonsaturating&update=alternating&r1=0"
TRAIN_LINK = (f"Curves that swing up and down without settling: this oscillation is the "
              f"circling you can see in the [Dirac-GAN](dirac?{CIRCLING}).")


@dataclass(frozen=True)
class Knob:
    """A number the link and the page set: its DiracSettings field, kind and range."""
    key: str                # link key
    field: str              # DiracSettings field
    kind: type              # int or float
    lo: float
    hi: float


KNOBS = (
    Knob("lr", "lr", float, 0.001, 1.0),
    Knob("d_steps", "d_steps", int, 1, 5),
    Knob("g_steps", "g_steps", int, 1, 5),
    Knob("r1", "r1", float, 0.0, 10.0),         # 0: off
    Knob("gp", "gp", float, 0.0, 10.0),
    Knob("noise", "noise", float, 0.0, 2.0),
    Knob("theta", "theta0", float, -2.5, 2.5),
    Knob("psi", "psi0", float, -2.5, 2.5),
    Knob("steps", "steps", int, 10, 1000),
)
KNOB = {k.key: k for k in KNOBS}
DEFAULT = DiracSettings()           # non-saturating, alternating, lr 0.1, from (1, 1)
EXTENT = 2.5                        # the plane shown: [-EXTENT, EXTENT] on both axes at least
MAX_EXTENT = 6.0


def loss_knobs(loss: str) -> list[tuple[str, float, float, float]]:
    """(name, lo, hi, default) of a loss's own parameters (focal gamma), ranged as its
    TrainConfig field; the trainer's penalty weight is not one (the plane has its own)."""
    out = []
    for p in LOSSES[loss].params:
        if not p.penalty:
            s = SETTINGS[p.field]
            out.append((p.name, float(s.lo if s.lo is not None else -1e6),
                        float(s.hi if s.hi is not None else 1e6), float(p.default)))
    return out


def _number(key: str, raw: str, kind: type, lo: float, hi: float, fallback):
    """(value, message or None): the link's text as a number in [lo, hi]."""
    shown = short_repr(raw)
    try:
        value = float(str(raw).strip()[:100])
    except ValueError:
        return fallback, f"{key}: {shown} is not a number; {fallback:g} is used"
    if not math.isfinite(value):
        return fallback, f"{key}: {shown} is not a finite number; {fallback:g} is used"
    if kind is int and value != int(value):
        return fallback, f"{key}: {shown} is not a whole number; {fallback:g} is used"
    if value < lo:
        return kind(lo), f"{key}: {shown} is below {lo:g}; {lo:g} is used"
    if value > hi:
        return kind(hi), f"{key}: {shown} is above {hi:g}; {hi:g} is used"
    return kind(value), None


def settings_from_params(params: Mapping[str, str]) -> tuple[DiracSettings, list[str]]:
    """The plane a link asks for, and one line per value it could not use as given (a value
    out of range is clamped, one that is not a number or a choice falls back to the default).
    Keys the plane does not know are ignored."""
    messages: list[str] = []
    values: dict = {}
    for key, choices in (("loss", tuple(LOSSES)), ("update", UPDATES)):
        raw = params.get(key)
        if raw in (None, ""):
            continue
        if raw in choices:
            values[key] = raw
        else:
            fallback = getattr(DEFAULT, key)
            messages.append(f"{key}: {short_repr(raw)} is not one of {', '.join(choices)}; "
                            f"{fallback} is used")
    for k in KNOBS:
        if params.get(k.key) not in (None, ""):
            value, msg = _number(k.key, params[k.key], k.kind, k.lo, k.hi,
                                 getattr(DEFAULT, k.field))
            values[k.field] = value
            messages += [msg] if msg else []
    loss = values.get("loss", DEFAULT.loss)
    extra = []
    for name, lo, hi, default in loss_knobs(loss):
        if params.get(name) not in (None, ""):
            value, msg = _number(name, params[name], float, lo, hi, default)
            extra.append((name, value))
            messages += [msg] if msg else []
    return DEFAULT.with_updates(**values, loss_params=tuple(extra)), messages


def params_of(s: DiracSettings) -> dict[str, str]:
    """The link values of a plane (read back by settings_from_params)."""
    out = {"loss": s.loss, "update": s.update}
    out.update({k.key: f"{getattr(s, k.field):g}" for k in KNOBS})
    out.update({name: f"{value:g}" for name, value in s.loss_params})
    return out


@dataclass(frozen=True)
class Scene:
    """A set-up worth a look, and what it does (tests/test_phase.py checks `verdict` against
    gan_core.dirac.summary of its own path)."""
    title: str
    params: dict
    verdict: str
    what: str


SCENES = {
    "lab": Scene("The lab's game", dict(loss="nonsaturating", update="alternating"),
                 "spirals in slowly",
                 "Non-saturating loss, D then G as the lab trains: round and round (0, 0), a "
                 "little closer each turn, ever more slowly."),
    "wgan": Scene("WGAN", dict(loss="wgan-gp", update="alternating", gp="0"), "circles",
                  "The Wasserstein loss without its penalty: a closed orbit, forever."),
    "simultaneous": Scene("Both at once", dict(loss="minimax", update="simultaneous",
                                               lr="0.2"), "spirals out",
                          "Minimax loss, both players stepping from the same point: each "
                          "step overshoots the circle, and the path spirals out."),
    "r1": Scene("R1 on", dict(loss="nonsaturating", update="alternating", r1="0.5"),
                "converges", "The lab's game with R1 (γ = 0.5): spirals in to (0, 0)."),
    "noise": Scene("Instance noise", dict(loss="nonsaturating", update="alternating",
                                          noise="1"), "converges",
                   "Noise (σ = 1) on real and fake samples: spirals in to (0, 0)."),
    "wgan-gp": Scene("WGAN-GP", dict(loss="wgan-gp", update="alternating", gp="1"),
                     "stops off the data",
                     "The gradient penalty (λ = 1) wants D's slope at 1, not 0: the path "
                     "stops at θ = 2λ, off the data."),
}


# What the class sees: every number here is checked by tests/test_dirac.py on this code.
READING = """
**Why it circles.** Near (0, 0), D's step is proportional to θ and G's to −ψ: each player is
pushed by where the other one stands, which is a rotation. G moves to where D says *real*, D
flips its slope, G overshoots, D flips back. Plain gradient steps take no energy out of that:

- **alternating** steps keep the minimax and WGAN games on a closed orbit, for good;
- **simultaneous** steps add a little every round, so they spiral out (WGAN's distance grows
  by √(1 + lr²) each round);
- the **non-saturating** loss takes a little out, less the closer it gets. Alternating, it
  spirals in ever more slowly: from (1, 1) at lr 0.1 the distance is 1.41, then 0.39 after 500
  rounds and 0.20 after 2,000. Simultaneous, it settles on a circle that grows with the
  learning rate (radius about 0.45 at lr 0.1, 0.63 at 0.2, 1.0 at 0.5), from inside or out.

**What stops it.** R1 adds γψ to D's gradient: friction on ψ. With γ = 0.5 the non-saturating,
minimax and WGAN games spiral in to (0, 0) from every start the tests try (lr 0.05 to 0.2);
from γ = 1 the non-saturating and minimax games go in almost straight (overdamped). Instance
noise does the same for the losses on logits (σ = 1), but not for WGAN: its loss is linear in
D's score, so the noise averages out and it keeps circling. WGAN-GP's penalty is no cure
here: it pulls D's slope |ψ| towards 1, not 0, so WGAN with λ = 1 stops at θ = ±2 (2λ), off
the data, and the non-saturating game with it spirals out.

**Least squares** does not fit this toy: D(0) = 0 for every ψ, so D can never score the real
point 1 as LSGAN asks, and every point with ψ = 0 is a resting point. The path stops wherever
ψ reaches 0, at whatever θ it has then.
"""
HOW = ("The arrows are both players' gradient steps taken at once from each point (the "
       "simultaneous field); with alternating updates the path steps D first and G from D's "
       "new slope, so it can leave the arrows' line a little. "
       "Computed by gan_core.dirac from the lab's own loss functions: the gradients by the "
       "chain rule through D's logit ψ·x, each loss term's slope by autograd; the tests check "
       "them against autograd of the whole game, penalties included, for every loss. Plain "
       "gradient descent as in the paper: the lab's real runs use Adam, which circles too, "
       "but not on these exact paths. Instance noise: the expected gradient over the noise, "
       "by quadrature on 401 points, no random draws. After Mescheder, Geiger and Nowozin "
       "(2018), Which training methods for GANs do actually converge?")


# --- the page's widgets ---------------------------------------------------------------------

SWITCHED = {"r1": 0.5, "gp": 1.0, "noise": 1.0}     # a regulariser's value when switched on
SWITCHES = {    # the regularisers' switches: label, symbol of the weight, what it does
    "r1": ("R1", "γ", "γ/2·‖∇D(x)‖² on real data = γ/2·ψ²: D stays flat at the data."),
    "gp": ("WGAN-GP", "λ", "λ(‖∇D(x̂)‖ − 1)² = λ(|ψ| − 1)²: D's slope pulled towards 1."),
    "noise": ("Instance noise", "σ", ("N(0, σ²) added to real and fake samples; the "
                                      "gradient is its expectation (quadrature, no random "
                                      "draws).")),
}
# (name, lo, hi) of every loss parameter in the registry, once
LOSS_PARAMS = tuple({name: (name, lo, hi) for loss in LOSSES
                     for name, lo, hi, _ in loss_knobs(loss)}.values())


def key(name: str) -> str:
    """The page's widget key of a knob, a switch (`r1_on`) or a loss parameter (`gamma`)."""
    return f"dirac_{name}"


def widget_state(s: DiracSettings) -> dict:
    """The page's widget values showing `s`. A regulariser is a switch and a number; switched
    off, the number keeps the value it would have when switched on."""
    state = {key("loss"): s.loss, key("update"): s.update}
    for k in KNOBS:
        value = getattr(s, k.field)
        if k.key in SWITCHED:
            state[key(f"{k.key}_on")] = value > 0
            value = value if value > 0 else SWITCHED[k.key]
        state[key(k.key)] = k.kind(value)
    given = dict(s.loss_params)
    for loss in LOSSES:
        for name, _, _, default in loss_knobs(loss):
            state.setdefault(key(name), float(given.get(name, default)))
    return state


def settings_from_widgets(state: Mapping) -> DiracSettings:
    """The plane the widgets show (the inverse of widget_state)."""
    values = {}
    for k in KNOBS:
        value = state[key(k.key)]
        if k.key in SWITCHED and not state[key(f"{k.key}_on")]:
            value = 0.0
        values[k.field] = k.kind(value)
    loss = state[key("loss")]
    params = tuple((name, float(state[key(name)])) for name, *_ in loss_knobs(loss))
    return DEFAULT.with_updates(loss=loss, update=state[key("update")], loss_params=params,
                                **values)


# --- the figure ------------------------------------------------------------------------------

ARROWS = 15                 # arrows per side of the plane
CLICK_GRID = 51             # invisible click targets per side (a start point every 0.1)
PATH, START, END, REAL, CLICK = "path", "start", "end", "(0, 0)", "click to start here"


def extent_for(path: np.ndarray) -> float:
    """Half the side of the plane shown: EXTENT, or more for a path that leaves it."""
    finite = path[np.isfinite(path).all(axis=1)]
    far = float(np.abs(finite).max()) if len(finite) else 0.0
    return float(min(MAX_EXTENT, max(EXTENT, 1.08 * far)))


def field_arrows(s: DiracSettings, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """The field as centred arrows on an ARROWS x ARROWS grid, length by the square root of
    the speed (slow regions stay visible), the fastest 0.8 of a cell."""
    ticks = np.linspace(-extent, extent, ARROWS + 2)[1:-1]
    th, ps = np.meshgrid(ticks, ticks)
    v = np.stack(field(s, th, ps), -1).reshape(-1, 2)          # (N, 2): d theta, d psi
    speed = np.hypot(v[:, 0], v[:, 1])
    keep = np.isfinite(speed) & (speed > 1e-9)
    cell = ticks[1] - ticks[0]
    length = 0.8 * cell * np.sqrt(speed[keep] / speed[keep].max()) if keep.any() else speed[keep]
    d = v[keep] / speed[keep, None] * length[:, None]
    mid = np.stack([th.ravel(), ps.ravel()], -1)[keep]
    return arrow_lines(mid - d / 2, mid + d / 2, head=0.3)


def plane_figure(s: DiracSettings, path: np.ndarray, result: Summary) -> go.Figure:
    """The phase plane: the field's arrows, the path from its start to its end, the real point
    (0, 0), and an invisible grid of points a click picks as the next start. The summary's
    numbers ride along in layout.meta (the browser test reads them)."""
    extent = extent_for(path)
    fig = go.Figure(layout=dict(template=LIGHT))
    ticks = np.linspace(-extent, extent, CLICK_GRID)
    cx, cy = np.meshgrid(ticks, ticks)
    fig.add_trace(go.Scatter(
        x=cx.ravel(), y=cy.ravel(), mode="markers", name=CLICK, showlegend=False,
        marker=dict(size=9, opacity=0, color="#000"),
        hovertemplate="θ = %{x:.2f}, ψ = %{y:.2f}<br>click: start here<extra></extra>"))
    ax, ay = field_arrows(s, extent)
    fig.add_trace(go.Scatter(x=ax, y=ay, mode="lines", name="the field: where one step goes",
                             line=dict(color="#9fb7c9", width=1.3), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", name=PATH,
                             line=dict(color="#e4572e", width=2.2), hoverinfo="skip"))
    keep = dict(unselected=dict(marker=dict(opacity=1)))     # a click dims no marker
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", name="(0, 0): G on the data, D flat",
                             marker=dict(symbol="star", size=18, color="#f2b705",
                                         line=dict(color="#555", width=1)),
                             hovertemplate="(0, 0): G on the data, D flat<extra></extra>",
                             **keep))
    fig.add_trace(go.Scatter(x=path[:1, 0], y=path[:1, 1], mode="markers", name=START,
                             marker=dict(symbol="circle", size=12, color="#2a9d8f",
                                         line=dict(color="#fff", width=1.5)),
                             hovertemplate="start: θ = %{x:.2f}, ψ = %{y:.2f}<extra></extra>",
                             **keep))
    fig.add_trace(go.Scatter(x=path[-1:, 0], y=path[-1:, 1], mode="markers", name=END,
                             marker=dict(symbol="x", size=12, color="#222"),
                             hovertemplate="end: θ = %{x:.3f}, ψ = %{y:.3f}<extra></extra>",
                             **keep))
    loss = LOSSES[s.loss].title
    fig.update_layout(
        title=dict(text=f"{loss}, {s.update}, lr {s.lr:g}: {result.verdict}", x=0,
                   font=dict(size=16)),
        height=640, margin=dict(l=10, r=10, t=50, b=10), dragmode=False,
        clickmode="event+select", hovermode="closest",
        legend=dict(orientation="h", y=-0.12, x=0, font=dict(size=12)),
        meta=dict(end_distance=result.end_distance, start_distance=result.start_distance,
                  verdict=result.verdict, turns=result.turns, rounds=result.rounds))
    axis = dict(range=[-extent, extent], zeroline=True, zerolinecolor="#bbb", zerolinewidth=1,
                title_font=dict(size=15), tickfont=dict(size=12))
    fig.update_xaxes(title_text="θ: where G puts its samples (the real data is at 0)",
                     constrain="domain", **axis)
    fig.update_yaxes(title_text="ψ: D's slope, D(x) = ψ·x", scaleanchor="x", scaleratio=1,
                     constrain="domain", **axis)
    return fig


def clicked_point(event) -> Optional[tuple[float, float]]:
    """(theta, psi) of the point clicked on the figure's click grid, rounded to 0.01 and
    clamped to the start's range, or None. `event`: the chart's selection state as Streamlit
    keeps it (attributes or keys, possibly absent or malformed)."""
    def get(obj, name):
        return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    points = get(get(event, "selection") or {}, "points") or []
    theta, psi = KNOB["theta"], KNOB["psi"]
    for p in points if isinstance(points, (list, tuple)) else []:
        if not isinstance(p, Mapping) or p.get("curve_number") != 0:
            continue
        x, y = p.get("x"), p.get("y")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) \
                and math.isfinite(x) and math.isfinite(y):
            return (round(min(max(float(x), theta.lo), theta.hi), 2),
                    round(min(max(float(y), psi.lo), psi.hi), 2))
    return None
