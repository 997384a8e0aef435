"""What the training charts draw: the balance line of log(L_G / L_D) and D's outputs, labelled
for what they are (no Streamlit needed)."""
import math

import pytest

from lab_app.charts import balance_lines, probability_figure


def _hist(loss: str, n: int = 5, d_real: float = 0.7, d_fake: float = 0.3) -> list[dict]:
    return [dict(step=i + 1, loss=loss, d_real=d_real, d_fake=d_fake, log_lg_ld=-0.3)
            for i in range(n)]


def _hlines(fig) -> list[float]:
    return [s["y0"] for s in fig.layout.shapes if s["y0"] == s["y1"]]


def test_balance_line_is_at_minus_log_2_for_cross_entropy_not_at_0():
    """D's loss has two terms and G's one: balance at D = 1/2 is -0.69, and a ratio of -0.27
    lies above it (G behind), not below (the live chart draws these: test_livecharts)."""
    (line,), title = balance_lines([("nonsaturating", 0.0)] * 5)
    assert line[0] == pytest.approx(-math.log(2), abs=1e-3) and "-0.69" in line[1]
    assert "above 0" not in title


def test_a_run_with_label_smoothing_gets_its_own_balance_line():
    """Real target 0.9: D's best answer where it cannot tell is 0.45, so the balance is -0.54
    (losses.balance_point), not -0.69; a run without smoothing beside it keeps -0.69."""
    (line,), _ = balance_lines([("nonsaturating", 0.1)])
    assert line[0] == pytest.approx(-0.544, abs=1e-3) and "smoothing 0.1" in line[1]
    both, _ = balance_lines([("nonsaturating", 0.1), ("nonsaturating", 0.0)])
    assert sorted(v for v, _ in both) == [pytest.approx(-math.log(2), abs=1e-3),
                                          pytest.approx(-0.544, abs=1e-3)]


def test_hinge_and_wgan_have_no_balance_line_and_say_so():
    lines, title = balance_lines([("hinge", 0.0)])
    assert lines == [] and "undefined" in title
    lines, title = balance_lines([("hinge", 0.0), ("nonsaturating", 0.0)])
    assert len(lines) == 1 and "none for hinge" in title


def test_raw_score_losses_are_drawn_as_scores_with_their_own_reference_lines():
    """Hinge's D puts out a score: no 0..1 'probability' axis and no 0.5 line, but its margins."""
    fig = probability_figure({"run": _hist("hinge", d_real=1.4, d_fake=-2.0)})
    assert fig.layout.yaxis.title.text.startswith("D's raw score") and fig.layout.yaxis.range is None
    assert "raw score" in fig.layout.title.text
    assert sorted(_hlines(fig)) == [-1.0, 0.0, 1.0]
    assert max(max(t.y) for t in fig.data) == pytest.approx(1.4)     # drawn as recorded


def test_probability_losses_keep_the_half_line_and_mixed_runs_get_a_score_axis():
    fig = probability_figure({"run": _hist("focal")})
    assert _hlines(fig) == [0.5] and tuple(fig.layout.yaxis.range) == (0, 1)
    mixed = probability_figure({"A": _hist("focal"), "B": _hist("lsgan")})
    assert {t.yaxis or "y" for t in mixed.data} == {"y", "y2"}
    assert "lsgan" in mixed.layout.yaxis2.title.text


def test_the_gd_ratio_curve_on_the_experiments_page_draws_the_balance_line():
    from gan_core import claims
    from lab_app.charts import band_figure
    exp = claims.EXPERIMENTS["gd-ratio"]
    assert claims.balance_line(exp) == pytest.approx(-math.log(2))
    assert claims.balance_line(claims.EXPERIMENTS["focal-vs-dcgan"]) is None      # an FD curve
    bands = {"g1": dict(label="G:D 1:1", x=[1, 2], mean=[0.5, 1.0], lo=[0.4, 0.9], hi=[0.6, 1.1])}
    fig = band_figure(bands, "t", "log ratio", balance=claims.balance_line(exp))
    line = next(t for t in fig.data if (t.name or "").startswith("balance"))
    assert list(line.y) == [pytest.approx(-0.693, abs=1e-3)] * 2


def test_live_charts_keep_plotly_whites_look_without_its_weight():
    """The Train page's live fragment builds these every 2.5 s. Their template is plotly_white's
    look for 2-D axes and the traces drawn, without its 3-D, polar, map and 21 other trace
    defaults, which plotly validated and copied for every figure (most of a chart's build time);
    the curves travel as binary arrays, not as lists plotly checks number by number."""
    import json

    import plotly.io as pio

    from lab_app.charts import loss_figure
    white = pio.templates["plotly_white"]
    hist = [dict(_hist("nonsaturating", 1)[0], step=i + 1, g_loss=1 / (i + 1), d_loss=0.5,
                 g_grad_norm=1.0, d_grad_norm=2.0) for i in range(50)]
    for fig in (loss_figure({"run": hist}), probability_figure({"run": hist})):
        t = fig.layout.template
        for key in ("plot_bgcolor", "paper_bgcolor", "colorway", "font", "xaxis", "yaxis",
                    "hoverlabel"):
            assert t.layout[key] == white.layout[key], key
        assert t.data.scatter == white.data.scatter
        spec = json.loads(fig.to_json())
        assert not {"scene", "polar", "geo", "ternary"} & set(spec["layout"]["template"]["layout"])
        assert set(spec["layout"]["template"]["data"]) == {"scatter", "bar", "heatmap"}
        assert spec["data"] and all("bdata" in d["x"] and "bdata" in d["y"] for d in spec["data"])
    smoothed = loss_figure({"run": hist}).data[1]
    assert list(smoothed.x[:2]) == [1, 2] and list(smoothed.y[:2]) == pytest.approx([1.0, 0.95])


def test_bar_chart_arm_names_are_wrapped_whole_not_tilted_off_the_figure():
    from lab_app.charts import seed_bar_figure
    label = "focal + clipping (FLGAN code)"
    stats = {"a": {"label": label, "fd": {"n": 2, "mean": 10.0, "std": 1.0}},
             "b": {"label": "neither (DCGAN)", "fd": {"n": 1, "mean": 12.0, "std": 0.0}}}
    rows = [{"arm": "a", "fd": 9.0}, {"arm": "a", "fd": 11.0}, {"arm": "b", "fd": 12.0}]
    fig = seed_bar_figure(stats, rows, "fd", "FD")
    bars, dots = fig.data
    assert fig.layout.xaxis.tickangle == 0 and fig.layout.showlegend is False
    # every word of every name is drawn, a few per line, and each seed's dot sits on its bar
    assert [x.replace("<br>", " ") for x in bars.x] == [label, "neither (DCGAN)"]
    assert all(len(line) <= 16 for x in bars.x for line in x.split("<br>"))
    assert set(dots.x) == set(bars.x) and list(dots.y) == [9.0, 11.0, 12.0]
    # six arms (the G:D and depth experiments) get narrower lines
    six = {str(i): {"label": f"medium, batch norm {i}", "fd": {"n": 1, "mean": 1.0, "std": 0.0}}
           for i in range(6)}
    fig = seed_bar_figure(six, [], "fd", "FD")
    assert max(len(line) for x in fig.data[0].x for line in x.split("<br>")) <= 10


def test_gradient_norm_axis_labels_round_values_only():
    """Plotly labelled every minor tick of the norms' log axis ("1 2 100 5 2 10 5 2 1" read
    down the Train page's chart); the ticks are now powers of ten over a wide range and
    1-2-5 steps over a narrow one, always inside the data's range."""
    from lab_app.charts import log_ticks
    assert log_ticks([0.8, 3.0, 250.0]) == [1.0, 10.0, 100.0]
    assert log_ticks([1.5, 30.0]) == [2.0, 5.0, 10.0, 20.0]
    assert log_ticks([3.1, 3.3]) == [3.1, 3.2, 3.3]           # too narrow for round values
    assert log_ticks([2.0, 2.0]) == [2.0]
    assert log_ticks([0.0, float("nan")]) is None
