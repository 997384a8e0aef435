"""The Loss lab: its curves (lab_app.losscurves) as plain functions, then the page in AppTest.

The page calls st.switch_page, which only works inside st.navigation, so it is run behind a small
copy of app.py's navigation with stub Train, Compare and Latent explorer pages that show the URL
they were opened with.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

from gan_core.losses import LOSSES, get_loss
from apphelpers import STUB_PAGES, stub_navigation
from lab_app.lessons import LESSONS
from lab_app.losscurves import (RAW_SCORE_LOSSES, coinciding, g_loss_curve,
                                g_loss_curves, value_at)

FAILURE_LESSONS = ("toy-collapse", "non-convergence", "g-domination", "d-domination")


# --- curves --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def curves():
    return g_loss_curves(gamma=2.0)


def test_every_registered_loss_has_finite_curves(curves):
    assert list(curves) == list(LOSSES)
    for c in curves.values():
        assert len(c.p) == len(c.loss) == len(c.grad) == len(c.grad_score) == 200
        assert 0 < min(c.p) < max(c.p) < 1
        assert all(math.isfinite(v) for v in c.loss + c.grad + c.grad_score)


def test_minimax_gradient_at_p_001_is_far_smaller_than_nonsaturating(curves):
    mm, ns = curves["minimax"], curves["nonsaturating"]
    # Through D's score, what reaches G: about 0.01 against 0.99.
    assert abs(value_at(mm, 0.01, "grad_score")) < 0.05 * abs(value_at(ns, 0.01, "grad_score"))
    # As the slope of the curve in p: about 1 against 100.
    assert abs(value_at(mm, 0.01, "grad")) < 0.05 * abs(value_at(ns, 0.01, "grad"))


def test_focal_with_gamma_0_is_the_nonsaturating_loss():
    focal = g_loss_curve(LOSSES["focal"], gamma=0.0)
    ns = g_loss_curve(LOSSES["nonsaturating"])
    for what in ("loss", "grad", "grad_score"):
        assert torch.allclose(torch.tensor(getattr(focal, what)), torch.tensor(getattr(ns, what)),
                              rtol=1e-9, atol=1e-12)


def test_focal_gamma_2_gives_confident_fakes_a_smaller_loss_than_gamma_0():
    g0 = g_loss_curve(LOSSES["focal"], gamma=0.0)
    g2 = g_loss_curve(LOSSES["focal"], gamma=2.0)
    near_one = [i for i, p in enumerate(g2.p) if p >= 0.8]
    assert near_one
    assert all(g2.loss[i] < g0.loss[i] for i in near_one)
    # ... by the factor (1 - p)^2, i.e. at least 25 times smaller from p = 0.8 on.
    assert all(g2.loss[i] < g0.loss[i] / 25 for i in near_one)


def test_curves_come_from_the_registry_functions(curves):
    """The mean of the per-sample curve is the batch loss G minimises; chain rule holds."""
    for name, c in curves.items():
        p = torch.tensor(c.p, dtype=torch.float64)
        logits = torch.log(p) - torch.log1p(-p)
        assert math.isclose(sum(c.loss) / len(c.loss), get_loss(name, gamma=2.0).g(logits).item(),
                            rel_tol=1e-9, abs_tol=1e-12)
        for pi, g, gs in zip(c.p, c.grad, c.grad_score):
            assert math.isclose(gs, g * pi * (1 - pi), rel_tol=1e-6, abs_tol=1e-9)


def test_hinge_and_wgan_give_the_generator_the_same_loss(curves):
    assert ("hinge", "wgan-gp") in coinciding(curves)
    assert ("minimax", "nonsaturating") not in coinciding(curves)
    assert RAW_SCORE_LOSSES <= set(LOSSES)


# --- the page ------------------------------------------------------------------------------



@pytest.fixture
def app(tmp_path, monkeypatch):
    """An AppTest (not yet run) of the navigation with loss_lab as the default page."""
    import streamlit as st
    monkeypatch.chdir(REPO_ROOT)
    st.cache_data.clear()
    yield stub_navigation(tmp_path, default="loss_lab")
    st.cache_resource.clear()


def page_text(at) -> str:
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "latex",
                                  "warning", "info") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_loss_lab_renders_every_registered_loss(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "Loss lab"
    subheaders = [s.value for s in at.subheader]
    latex = [x.value for x in at.latex]
    text = page_text(at)
    for name, spec in LOSSES.items():
        assert spec.title in subheaders
        assert any(spec.latex_d in x for x in latex) and any(spec.latex_g in x for x in latex)
        assert spec.explanation in text
        assert f"loss={name}" in text
    assert len(at.get("plotly_chart")) == 2


def test_the_focal_misprint_note_is_a_callout(app):
    at = app.run()
    note = LOSSES["focal"].note
    assert note
    assert any(note in w.value for w in at.warning)


def test_gamma_slider_and_gradient_choice_rerender(app):
    at = app.run()
    for gamma in (0.0, 5.0, 2.0):
        at.slider(key="loss_lab_gamma").set_value(gamma).run()
        assert not at.exception
        assert f"γ = {gamma:g}" in page_text(at)
    at.radio(key="loss_lab_wrt").set_value("p").run()
    assert not at.exception
    assert "switch to *D's score*" in page_text(at)
    assert len(at.get("plotly_chart")) == 2


def test_gamma_changes_only_the_focal_curve(app):
    def traces(at):
        fig = json.loads(at.get("plotly_chart")[0].proto.spec)
        return {t["name"]: t["y"] for t in fig["data"]}

    at = app.run()
    before = traces(at)
    at.slider(key="loss_lab_gamma").set_value(4.0).run()
    after = traces(at)
    assert before["minimax"] == after["minimax"]
    assert before["focal (γ = 2)"] != after["focal (γ = 4)"]


@pytest.mark.parametrize("key", FAILURE_LESSONS)
def test_failure_mode_buttons_open_the_train_page_set_up(app, key):
    lesson = LESSONS[key]
    at = app.run()
    at.button(key=f"loss_lab_lesson_{key}").click().run()
    assert not at.exception
    assert at.title[0].value == STUB_PAGES[Path(lesson.page).stem]
    assert json.loads(at.json[0].proto.body) == lesson.params


def test_the_page_shows_where_each_balance_line_comes_from(app):
    """The balance line is -0.69 for cross-entropy (not 0), undefined for hinge, and raw-score
    losses say their D(x) chart is a score."""
    at = app.run()
    assert not at.exception
    assert not at.dataframe           # a table whose cells wrap, not a dataframe that cuts them
    table = at.table[0].value
    rows = {r["loss"]: r for r in table.to_dict("records")}
    assert rows["nonsaturating"]["balance of log(L_G/L_D)"] == "-0.69"
    assert "log(0.693 / 1.39)" in rows["nonsaturating"]["where it comes from"]
    assert rows["hinge"]["balance of log(L_G/L_D)"] == "undefined"
    assert "raw score" in rows["lsgan"]["D(x) and D(G(z)) chart shows"]
    assert "not 0" in page_text(at)
