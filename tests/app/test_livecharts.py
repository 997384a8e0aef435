"""The Train page's live charts (lab_app.livecharts): valid Vega-Lite, the same content as the
Plotly figures they replaced (balance lines, raw scores, markers, shaded spans), and a spec
that stays the same while the history grows, which is what lets the browser update a chart
in place instead of drawing it anew."""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pytest

from gan_core.losses import LOSSES
from lab_app import charts, livecharts as lc

MARKER = {"step": 40, "changes": {"loss": "hinge"}}
BAND = {"start": 10, "end": 30, "label": "D is winning", "colour": "#c0392b"}


def history(n: int, loss="nonsaturating", start: int = 1, **extra) -> list[dict]:
    rng = np.random.default_rng(start)
    return [dict(step=i, g_loss=1 + rng.random(), d_loss=0.5 + rng.random() / 10,
                 d_real=0.7, d_fake=0.3, log_lg_ld=0.2, g_grad_norm=0.1 * (1 + i % 7),
                 d_grad_norm=2.0,
                 loss=loss(i) if callable(loss) else loss, label_smoothing=0.0,
                 **({"m_confident_share": 0.5, "m_classes_covered": 9, "m_judge_fd": 120.0}
                    if i % 50 == 0 else {}), **extra)
            for i in range(start, start + n)]


def columns(hist) -> lc.Columns:
    return lc.Columns().update(hist)


def all_charts(cols, markers=(), bands=()):
    out = {"loss": lc.loss_chart(cols, markers, bands),
           "prob": lc.probability_chart(cols, markers, bands),
           "ratio": lc.ratio_chart(cols, markers, bands),
           "grad": lc.grad_chart(cols, markers, bands),
           "quality": lc.quality_chart(cols, 10, 8, markers, bands)}
    return {k: v for k, v in out.items() if v is not None}


def rows(df, role, series=None):
    sel = df[df["role"] == role]
    return sel if series is None else sel[sel["series"] == series]


def title(spec) -> str:
    return " ".join(spec["title"]["text"])


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", lambda i: "hinge" if i > 60 else
                                  "nonsaturating"])
def test_every_chart_is_valid_vega_lite(loss):
    for name, (spec, df) in all_charts(columns(history(120, loss)), [MARKER], [BAND]).items():
        data = df.replace({np.nan: None}).to_dict("records")
        alt.LayerChart.from_dict({**spec, "data": {"values": data}})    # raises if invalid
        assert spec["usermeta"]["embedOptions"]["renderer"] == lc.RENDERER, name


def test_curves_are_the_records_and_their_smoothing():
    hist = history(80)
    spec, df = lc.loss_chart(columns(hist))
    raw = rows(df, "raw", "G loss")
    assert raw["step"].tolist() == [r["step"] for r in hist]
    assert np.allclose(raw["value"], [r["g_loss"] for r in hist])
    smooth = rows(df, "smooth", "G loss")
    assert np.allclose(smooth["value"], charts.ema([r["g_loss"] for r in hist]))
    assert set(df["series"]) >= {"G loss", "D loss"}


def test_a_long_run_is_thinned_and_keeps_its_last_step():
    hist = history(5 * charts.MAX_POINTS + 7)
    _, df = lc.loss_chart(columns(hist))
    raw = rows(df, "raw", "D loss")
    assert len(raw) <= charts.MAX_POINTS + 1
    assert raw["step"].iloc[-1] == hist[-1]["step"] and raw["step"].iloc[0] == hist[0]["step"]


def test_the_spec_stays_the_same_while_the_history_grows():
    """Only the data changes from one refresh to the next, so the browser updates the chart in
    place; the spec changes when something new must be drawn (a marker, a shaded span)."""
    short, long = all_charts(columns(history(60))), all_charts(columns(history(400)))
    for name in short:
        assert short[name][0] == long[name][0], name
        assert len(long[name][1]) > len(short[name][1]), name
    with_band = lc.loss_chart(columns(history(60)), (), [BAND])[0]
    assert with_band != short["loss"][0]
    # a log axis's round ticks follow the range: a new decade is a new spec
    wider = history(60)
    wider[5]["g_grad_norm"] = 1000.0
    assert lc.grad_chart(columns(wider))[0] != short["grad"][0]


def test_columns_grow_with_the_history_and_start_again_for_another_run():
    hist = history(300)
    cols = lc.Columns()
    for n in (1, 50, 51, 300):
        cols.update(hist[:n])
    fresh = columns(hist)
    assert cols.n == 300
    for k in ("step", "loss", *lc.KEYS):
        assert np.array_equal(np.asarray(cols.cols[k], dtype=object),
                              np.asarray(fresh.cols[k], dtype=object)), k
    assert len(cols.evaluated) == len(fresh.evaluated) == 6
    other = history(20, start=1)
    cols.update(other)                       # a new run's list: read from its start
    assert cols.n == 20 and cols.cols["step"] == [r["step"] for r in other]


def test_probability_chart_for_logits_has_the_half_line():
    spec, df = lc.probability_chart(columns(history(30)))
    assert rows(df, "hline")["value"].tolist() == [0.5]
    assert "cannot tell" in rows(df, "hline")["label"].iloc[0]
    assert title(spec) == "What D believes: D(x) and D(G(z))"


def test_probability_chart_for_hinge_says_raw_score_and_draws_its_margins():
    spec, df = lc.probability_chart(columns(history(30, "hinge")))
    assert "raw scores (hinge)" in title(spec)
    assert 0.5 not in rows(df, "hline")["value"].tolist()
    assert set(rows(df, "smooth")["series"]) == {"D(x) raw score", "D(G(z)) raw score"}
    assert len(rows(df, "hline")) >= 1                   # hinge's margins at +1 and -1


def test_a_loss_switched_mid_run_puts_the_raw_scores_on_a_right_hand_axis():
    hist = history(100, lambda i: "hinge" if i > 50 else "nonsaturating")
    spec, df = lc.probability_chart(columns(hist), [MARKER])
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    right = df[(df["axis"] == "right") & df["role"].isin(["raw", "smooth"])]
    assert set(rows(df[df["axis"] == "right"], "hline")["label"]) == {
        f"hinge {text}" for _, text in LOSSES["hinge"].score_lines}
    assert set(right["series"]) == {"D(x) raw score", "D(G(z)) raw score"}
    assert right["step"].min() > 50 and df[(df["axis"] == "left") &
                                           (df["role"] == "raw")]["step"].max() <= 50
    assert rows(df, "marker")["label"].tolist() == ["loss=hinge"]


def test_ratio_chart_draws_each_losses_own_balance_line():
    spec, df = lc.ratio_chart(columns(history(30)))
    (value,) = rows(df, "hline")["value"].tolist()
    assert value == pytest.approx(-math.log(2), abs=1e-3)
    spec, df = lc.ratio_chart(columns(history(30, "hinge")))
    assert rows(df, "hline").empty and "no balance line for hinge" in title(spec)


def test_gradient_norms_leave_out_what_a_log_axis_cannot_draw():
    hist = history(30)
    hist[3]["g_grad_norm"] = 0.0
    hist[4]["g_grad_norm"] = float("nan")
    spec, df = lc.grad_chart(columns(hist))
    g = rows(df, "raw", "G gradient norm")
    assert hist[3]["step"] not in g["step"].tolist() and len(g) == 28
    assert spec_scale(spec)["type"] == "log"


def spec_scale(spec) -> dict:
    group = next(layer for layer in spec["layer"] if "layer" in layer)
    return group["layer"][0]["encoding"]["y"]["scale"]


def test_quality_waits_for_the_first_check_then_shows_the_judge():
    assert lc.quality_chart(columns(history(40))) is None
    spec, df = lc.quality_chart(columns(history(120)))
    points = rows(df, "point")
    assert set(points["series"]) == {"confident (>= 0.9)", "digits covered",
                                     "judge FD, lower is better (right)"}
    assert points[points["series"] == "digits covered"]["value"].tolist() == [0.9, 0.9]
    assert spec["resolve"] == {"scale": {"y": "independent"}}


def test_bands_and_markers_are_drawn_only_when_there_are_some():
    quiet, _ = lc.ratio_chart(columns(history(60)))
    assert "band" not in str(quiet) and "marker" not in str(quiet)
    spec, df = lc.ratio_chart(columns(history(60)), [MARKER], [BAND])
    band = rows(df, "band")
    assert band[["step", "end", "label"]].values.tolist() == [[10, 30, "D is winning"]]
    assert "datum.role === 'band'" in str(spec) and "datum.role === 'marker'" in str(spec)


def test_a_comparison_names_each_runs_curves_and_dashes_the_second():
    pair = {"A": columns(history(50)), "B": columns(history(70, "hinge"))}
    spec, df = lc.loss_chart(pair)
    assert set(rows(df, "smooth")["series"]) == {"G loss (A)", "D loss (A)", "G loss (B)",
                                                 "D loss (B)"}
    assert set(df[df["series"].str.endswith("(B)")]["dash"]) == {1}
    assert set(df[df["series"].str.endswith("(A)")]["dash"]) == {0}
    assert "strokeDash" in str(spec)
    spec, df = lc.probability_chart(pair)        # logits for A, a raw score for B
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    right = df[(df["axis"] == "right") & (df["role"] == "smooth")]
    assert set(right["series"]) == {"D(x) raw score (B)", "D(G(z)) raw score (B)"}
    one = lc.loss_chart({"A": pair["A"]})[0]     # one run in a dict: as a lone run
    assert one == lc.loss_chart(pair["A"])[0] and "strokeDash" not in str(one)
    alt.LayerChart.from_dict({**spec, "data": {"values": df.replace({np.nan: None})
                                               .to_dict("records")}})


def test_a_live_runs_charts_are_rebuilt_at_most_every_slow_refresh():
    """Unchanged chart data costs the browser nothing on a redraw, rebuilt data about 15 ms a
    chart: while a run trains the page rebuilds them at most every SLOW_REFRESH_S. A paused or
    finished run, or another run, is drawn fresh."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from lab_app.ui import every_slow
        st.session_state.setdefault("made", 0)

        def make():
            st.session_state.made += 1
            return st.session_state.made
        live = st.session_state.get("live", True)
        st.markdown(f"made {every_slow('charts', st.session_state.get('job', 1), live, make)}")

    at = AppTest.from_function(script)
    at.run()
    at.run()
    at.run()
    assert at.session_state["made"] == 1 and at.markdown[0].value == "made 1"
    at.session_state["job"] = 2                   # another run: fresh
    at.run()
    assert at.session_state["made"] == 2
    at.session_state["live"] = False              # paused or over: fresh on every redraw
    at.run()
    at.run()
    assert at.session_state["made"] == 4 and at.markdown[0].value == "made 4"
