"""The Train page's live charts as Vega-Lite specs with their data in one long table (no
Streamlit here; the page draws them with st.vega_lite_chart).

Why not the Plotly figures of lab_app.charts: a live view sends its charts again on every
refresh, and a browser redraws a Plotly figure whole each time. In headless Chromium on the
same 2 cores as the training, one changed Plotly chart cost about 230 ms of the browser's CPU
(60 ms when the very same figure was sent again), so five of them every 2.5 s took a fifth of a
core and the training worker lost far more than that. A Vega-Lite chart whose spec stays the
same while its data grows is updated in place on a canvas: two such charts of six curves each,
changed every second, cost the browser nothing measurable over an empty refresh.

So each chart's spec depends only on what changes rarely (the losses played, the settings
markers, a log axis's ticks), and everything that grows is in the data: one row per drawn point
(`role` raw or smooth, or point for the quality checks), per dotted line (`hline`, `marker`)
and per shaded span (`band`). Layers pick their rows with a filter on `role`.
"""
from __future__ import annotations

import math
import os
import textwrap
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from gan_core.losses import LOSSES
from lab_app.charts import MAX_POINTS, PALETTE, balance_lines, log_ticks

HEIGHT = 200
# "svg" draws each mark as an element a screen reader (through Vega's aria labels) or a browser
# test can read, at several times a canvas's cost per refresh; anything else: the canvas.
RENDERER = "svg" if os.environ.get("GAN_LAB_CHART_RENDERER", "").strip() == "svg" else "canvas"
TITLE_WIDTH = 45
COLUMNS = ("step", "end", "value", "series", "role", "axis", "label", "colour")


KEYS = ("g_loss", "d_loss", "d_real", "d_fake", "log_lg_ld", "g_grad_norm", "d_grad_norm")


class Columns:
    """A run's history as columns, extended by the records added since the last call (a live
    view looks every few seconds at a history of thousands of steps; reading every record
    again each time took most of a refresh's time)."""

    def __init__(self):
        self.n = 0
        self.first = None
        self.cols: dict[str, list] = {k: [] for k in ("step", "loss", "label_smoothing", *KEYS)}
        self.evaluated: list[dict] = []

    def update(self, hist: Sequence[dict]) -> "Columns":
        if len(hist) < self.n or (hist and self.first is not hist[0]):   # another run
            self.__init__()
        for r in hist[self.n:]:
            for k, col in self.cols.items():
                v = r.get(k)
                col.append(v if k in ("loss", "step") else
                           (float("nan") if v is None else float(v)))
            if "m_confident_share" in r or "m_modes_covered" in r:
                self.evaluated.append(r)
        self.n = len(hist)
        self.first = hist[0] if hist else None
        return self

    def array(self, key: str) -> np.ndarray:
        return np.asarray(self.cols[key], dtype=float)

    def losses(self) -> list[str]:
        return list(dict.fromkeys(x for x in self.cols["loss"] if x))


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class _Table:
    """The rows of one chart, and the colour of each named series (for a fixed legend)."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.chunks: list[tuple] = []     # per curve: steps, values, series, role, axis, colour
        self.colours: dict[str, str] = {}
        self.axes: set[str] = set()
        self.present: set[tuple[str, str]] = set()      # (axis, role) that have rows
        self.dashed = False                              # a second run's curves, dashed

    def series(self, cols: Columns, values: np.ndarray, name: str, colour: str,
               axis: str = "left", dashed: bool = False) -> None:
        if not len(values) or np.isnan(values).all():
            return
        # lab_app.charts.ema (NaNs skipped, the last mean carried over them), in pandas' C
        smooth = pd.Series(values).ewm(alpha=0.1, adjust=False, ignore_na=True).mean()
        smooth = smooth.ffill().to_numpy()
        self.colours[name] = colour
        self.axes.add(axis)
        n = len(values)
        keep = np.arange(0, n, -(-n // MAX_POINTS) if n > MAX_POINTS else 1)
        if keep[-1] != n - 1:
            keep = np.append(keep, n - 1)                  # always the last step
        steps = np.asarray(cols.cols["step"], dtype=float)[keep]
        for role, v in (("raw", values[keep]), ("smooth", smooth[keep])):
            ok = ~np.isnan(v)
            self.present.add((axis, role))
            self.chunks.append((steps[ok], v[ok], name, role, axis, colour, dashed))
        self.dashed = self.dashed or dashed

    def points(self, steps: Sequence[int], values: Sequence[float], name: str, colour: str,
               axis: str = "left") -> None:
        self.colours[name] = colour
        self.axes.add(axis)
        self.present.add((axis, "point"))
        for s, v in zip(steps, values):
            if not _nan(v):
                self.rows.append((s, None, float(v), name, "point", axis, "", colour))

    def hline(self, value: float, text: str, axis: str = "left") -> None:
        self.present.add((axis, "hline"))
        self.rows.append((None, None, float(value), "", "hline", axis, text, "#333333"))

    def overlays(self, markers: Sequence[dict], bands: Sequence[dict]) -> None:
        for m in markers or []:
            text = ", ".join(f"{k}={v}" for k, v in m["changes"].items())
            self.present.add(("left", "marker"))
            self.rows.append((m["step"], None, None, "", "marker", "left", text, "#888888"))
        for b in bands or []:
            self.present.add(("left", "band"))
            self.rows.append((b["start"], max(b["end"], b["start"] + 1), None, "", "band",
                              "left", b["label"], b["colour"]))

    def frame(self) -> pd.DataFrame:
        """One table: the curves' columns joined whole, then the few other rows (a frame per
        curve and a concat took most of a live refresh's time)."""
        n = [len(c[0]) for c in self.chunks]
        cols: dict[str, list] = {
            "step": [*(c[0] for c in self.chunks), [r[0] for r in self.rows]],
            "end": [np.full(sum(n), np.nan), [r[1] for r in self.rows]],
            "value": [*(c[1] for c in self.chunks), [r[2] for r in self.rows]]}
        out = {k: np.concatenate([np.asarray(p, dtype=float) for p in parts])
               for k, parts in cols.items()}
        for i, k in ((2, "series"), (3, "role"), (4, "axis"), (5, "colour")):
            out[k] = [v for c, m in zip(self.chunks, n) for v in [c[i]] * m]
        for k in ("series", "role", "axis", "label", "colour"):
            out.setdefault(k, [""] * sum(n))
            out[k] = out[k] + [r[COLUMNS.index(k)] for r in self.rows]
        out["dash"] = np.concatenate([np.full(m, int(c[6])) for c, m in zip(self.chunks, n)]
                                     + [np.zeros(len(self.rows), dtype=int)]).astype(int)
        return pd.DataFrame(out, columns=[*COLUMNS, "dash"])

    def curve_values(self) -> np.ndarray:
        return np.concatenate([c[1] for c in self.chunks]) if self.chunks else np.array([])


def _only(table: _Table, axis: str, role: str, layers: list[dict]) -> list[dict]:
    """`layers`, each with a filter for its rows, or none when there are no such rows: each
    layer costs the browser a pass on every update, and most charts have no bands, markers or
    points most of the time (one appearing changes the spec, and the chart is drawn anew)."""
    if (axis, role) not in table.present:
        return []
    cond = f"datum.role === '{role}'" + (f" && datum.axis === '{axis}'"
                                         if role not in ("band", "marker") else "")
    return [{"transform": [{"filter": cond}], **layer} for layer in layers]


def _axis_group(table: _Table, axis: str, y: dict) -> dict:
    """The curves, points and dotted lines of one y axis, sharing its scale."""
    colour = {"field": "series", "type": "nominal", "title": None,
              "scale": {"domain": list(table.colours), "range": list(table.colours.values())},
              "legend": {"orient": "bottom", "columns": 2, "labelLimit": 0,
                         "symbolOpacity": 1, "symbolType": "stroke", "symbolStrokeWidth": 3}}
    x = {"field": "step", "type": "quantitative", "title": "step"}
    line = {"x": x, "y": y, "color": colour}
    if table.dashed:        # two runs: the second one's curves dashed
        line["strokeDash"] = {"field": "dash", "type": "nominal", "legend": None,
                              "scale": {"domain": [0, 1], "range": [[1, 0], [6, 3]]}}
    layers = [
        *_only(table, axis, "raw", [{"mark": {"type": "line", "strokeWidth": 1, "opacity": 0.25,
                                              "clip": True}, "encoding": line}]),
        *_only(table, axis, "smooth", [{"mark": {"type": "line", "strokeWidth": 2.2,
                                                 "clip": True}, "encoding": line}]),
        *_only(table, axis, "point", [{"mark": {"type": "line", "point": True, "strokeWidth": 2,
                                                "clip": True},
                                       "encoding": {**line, "tooltip": [
                                           {"field": "series"}, {"field": "step"},
                                           {"field": "value", "format": ".3g"}]}}]),
        *_only(table, axis, "hline", [
            {"mark": {"type": "rule", "strokeDash": [3, 3], "color": "#333"},
             "encoding": {"y": y}},
            {"mark": {"type": "text", "align": "right", "baseline": "top", "dy": 3,
                      "x": "width", "fontSize": 10, "color": "#333"},
             "encoding": {"y": y, "text": {"field": "label"}}}]),
    ]
    if not layers:      # nothing drawn yet: an empty line keeps the axis
        layers = [{"mark": "line", "encoding": line}]
    return {"layer": layers}


def _spec(title: str, table: _Table, left: dict, right: Optional[dict] = None) -> dict:
    """A layered chart: shaded spans and settings markers behind, then each axis's group."""
    x = {"field": "step", "type": "quantitative", "title": "step"}
    colour = {"field": "colour", "type": "nominal", "scale": None}
    behind = [
        *_only(table, "left", "band", [
            {"mark": {"type": "rect", "opacity": 0.12},
             "encoding": {"x": x, "x2": {"field": "end"}, "color": colour}},
            {"mark": {"type": "text", "align": "left", "baseline": "bottom", "y": "height",
                      "fontSize": 10}, "encoding": {"x": x, "text": {"field": "label"},
                                                     "color": colour}}]),
        *_only(table, "left", "marker", [
            {"mark": {"type": "rule", "strokeDash": [2, 2], "color": "#888",
                      "strokeWidth": 1.5}, "encoding": {"x": x}},
            {"mark": {"type": "text", "align": "left", "baseline": "top", "y": 0, "dx": 2,
                      "fontSize": 10, "color": "#555"},
             "encoding": {"x": x, "text": {"field": "label"}}}]),
    ]
    groups = [_axis_group(table, "left", left)]
    # Wrapped, not cut: a half-width column holds about 45 characters of a title.
    spec: dict = {"title": {"text": textwrap.wrap(title, TITLE_WIDTH), "anchor": "start",
                            "fontSize": 14, "limit": 0},
                  "height": HEIGHT,
                  # the width fits the column; the height is the plot's own (Streamlit's
                  # default, "fit", squeezes title, legend and axes into it)
                  "autosize": {"type": "fit-x", "contains": "padding"},
                  # Streamlit draws a chart of under 2,000 rows as SVG, and an SVG chart is
                  # rebuilt mark by mark on each update: five of them cost the browser as much
                  # as the Plotly figures they replace. On a canvas an update is one redraw.
                  "usermeta": {"embedOptions": {"renderer": RENDERER}}}
    if right is not None and "right" in table.axes:
        groups.append(_axis_group(table, "right", {**right, "axis": {
            **right.get("axis", {}), "orient": "right", "grid": False}}))
        spec["layer"] = [{"layer": behind + [groups[0]]}, groups[1]]
        spec["resolve"] = {"scale": {"y": "independent"}}
    else:
        spec["layer"] = behind + groups
    return spec


def _y(title: str, **scale) -> dict:
    out = {"field": "value", "type": "quantitative", "title": title}
    if scale:
        out["scale"] = scale
    return out


def _runs(cols) -> list[tuple[str, Columns, bool]]:
    """(name suffix, columns, dashed) per run: one run's Columns, or {label: Columns} for a
    comparison, whose curves are named "... (label)" and whose second run is dashed."""
    if isinstance(cols, Columns):
        return [("", cols, False)]
    many = len(cols) > 1
    return [(f" ({label})" if many else "", c, many and i > 0)
            for i, (label, c) in enumerate(cols.items())]


def loss_chart(cols, markers=(), bands=()) -> tuple[dict, pd.DataFrame]:
    """G's and D's losses; `cols`: one run's Columns, or {label: Columns} (lab_app.livecharts
    _runs)."""
    t = _Table()
    for suffix, c, dashed in _runs(cols):
        t.series(c, c.array("g_loss"), "G loss" + suffix, PALETTE[0], dashed=dashed)
        t.series(c, c.array("d_loss"), "D loss" + suffix, PALETTE[1], dashed=dashed)
    t.overlays(markers, bands)
    return _spec("Generator and discriminator losses", t, _y("loss", zero=False)), t.frame()


def probability_chart(cols, markers=(), bands=()) -> tuple[dict, pd.DataFrame]:
    """D's mean output on real and fake samples: a probability for the losses on logits, a
    raw score (right-hand axis when both were played) for hinge, WGAN-GP and LSGAN. `cols`:
    one run's Columns or {label: Columns}."""
    t = _Table()
    runs = _runs(cols)
    losses = list(dict.fromkeys(n for _, c, _ in runs for n in c.losses()))
    scored = [n for n in losses if n in LOSSES and LOSSES[n].raw_scores]
    has_prob = any(n not in scored for n in losses) or not losses
    score_axis = "right" if has_prob else "left"
    for suffix, c, dashed in runs:
        is_score = (np.array([x in scored for x in c.cols["loss"]], dtype=bool) if scored
                    else np.zeros(c.n, dtype=bool))

        def only(score: bool, key: str, c=c, is_score=is_score) -> np.ndarray:
            return np.where(is_score == score, c.array(key), np.nan)
        if has_prob:
            t.series(c, only(False, "d_real"), "D(x) real" + suffix, PALETTE[2], dashed=dashed)
            t.series(c, only(False, "d_fake"), "D(G(z)) fake" + suffix, PALETTE[0],
                     dashed=dashed)
        if scored:
            t.series(c, only(True, "d_real"), "D(x) raw score" + suffix, PALETTE[2],
                     score_axis, dashed)
            t.series(c, only(True, "d_fake"), "D(G(z)) raw score" + suffix, PALETTE[0],
                     score_axis, dashed)
    if has_prob:
        t.hline(0.5, "0.5: D cannot tell")
    if len(scored) == 1:
        for value, text in LOSSES[scored[0]].score_lines:
            t.hline(value, f"{scored[0]} {text}", score_axis)
    t.overlays(markers, bands)
    names = ", ".join(scored)
    if scored and has_prob:
        return _spec(f"What D says: probability of real; raw score for {names}", t,
                     _y("probability real", domain=[0, 1]),
                     _y(f"raw score ({names}; not a probability)", zero=False)), t.frame()
    if scored:
        return _spec(f"What D scores: D(x) and D(G(z)), raw scores ({names})", t,
                     _y("D's raw score (not a probability)", zero=False)), t.frame()
    return _spec("What D believes: D(x) and D(G(z))", t,
                 _y("probability real", domain=[0, 1])), t.frame()


def ratio_chart(cols: Columns, markers=(), bands=(), gamma: float = 2.0
                ) -> tuple[dict, pd.DataFrame]:
    """log(L_G / L_D) with each loss's own balance line (lab_app.charts.balance_lines says why
    it is -ln 2 for cross-entropy, not 0)."""
    t = _Table()
    t.series(cols, cols.array("log_lg_ld"), "log(L_G / L_D)", PALETTE[3])
    played = ((loss, 0.0 if math.isnan(sm) else sm)
              for loss, sm in zip(cols.cols["loss"], cols.cols["label_smoothing"]) if loss)
    lines, title = balance_lines(played, gamma)
    for value, text in lines:
        t.hline(value, text)
    t.overlays(markers, bands)
    return _spec(title, t, _y("log ratio", zero=False)), t.frame()


def grad_chart(cols: Columns, markers=(), bands=()) -> tuple[dict, pd.DataFrame]:
    """Gradient norms on a log axis with round ticks (lab_app.charts.log_ticks); a value at or
    below 0 cannot be drawn there and is left out."""
    t = _Table()
    for key, name, colour in (("g_grad_norm", "G gradient norm", PALETTE[0]),
                              ("d_grad_norm", "D gradient norm", PALETTE[1])):
        v = cols.array(key)
        t.series(cols, np.where(v > 0, v, np.nan), name, colour)
    t.overlays(markers, bands)
    ticks = log_ticks(t.curve_values())
    y = _y("norm", type="log")
    if ticks:
        y["axis"] = {"values": ticks}
    return _spec("Gradient norms (before clipping, log scale)", t, y), t.frame()


def quality_chart(cols: Columns, num_classes: int = 10, num_modes: int = 8, markers=(),
                  bands=()) -> Optional[tuple[dict, pd.DataFrame]]:
    """The judge's verdict over training (images), or modes covered (2-D); None before any."""
    hist = cols.evaluated
    if not hist:
        return None
    t = _Table()
    steps = [r["step"] for r in hist]
    if "m_modes_covered" in hist[0]:
        t.points(steps, [r.get("m_modes_covered", float("nan")) / num_modes for r in hist],
                 "modes covered", PALETTE[2])
        t.points(steps, [r.get("m_high_quality_share", float("nan")) for r in hist],
                 "high-quality samples", PALETTE[1])
        title, right = "Quality: share of modes covered and of samples near a mode", None
    else:
        t.points(steps, [r.get("m_confident_share", float("nan")) for r in hist],
                 "confident (>= 0.9)", PALETTE[2])
        t.points(steps, [r.get("m_classes_covered", float("nan")) / num_classes for r in hist],
                 "digits covered", PALETTE[1])
        t.points(steps, [r.get("m_judge_fd", float("nan")) for r in hist],
                 "judge FD, lower is better (right)", "#888888", "right")
        title = "Quality from the judge classifier"
        right = _y("judge FD", type="log")
    t.overlays(markers, bands)
    left = _y("share", domain=[0, 1.02])
    left["axis"] = {"format": ".0%"}
    return _spec(title, t, left, right), t.frame()
