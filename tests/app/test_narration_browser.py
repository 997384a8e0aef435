"""The Train page names what happens (issue 29), in a real browser: the lesson's effect appears
as a line above the charts and a shaded span on them; a healthy default run stays quiet."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

import test_browser as tb
from lab_app.lessons import LESSONS
from lab_app.settings import mnist_available
from test_inside_browser import browser, monkeypatch_module  # noqa: F401 - shared fixtures

pytestmark = [*tb.pytestmark, pytest.mark.skipif(
    not mnist_available(), reason="needs the MNIST digits (../shared/data or GAN_DATA_DIR); "
    "CI has them")]

NARRATION = '[data-testid="stAlertContentInfo"]'
# The shaded spans narration adds to the charts: their rectangles, in the SVG the charts are
# drawn as on this test's server (GAN_LAB_CHART_RENDERER=svg; a class's server draws on canvas).
BANDS_JS = """() => document.querySelectorAll(
    '[data-testid="stVegaLiteChart"] g.mark-rect.role-mark path').length"""
# The last step each chart's x axis reaches, from Vega's description of the axis.
AXIS_END_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] [aria-label]')]
    .map(e => e.getAttribute('aria-label')).filter(s => s.startsWith('X-axis'))
    .map(s => Number(s.split(' to ').pop().replace(/,/g, '')))"""


@pytest.fixture(scope="module")
def server(monkeypatch_module):  # noqa: F811
    proc, url = tb._start_server({"GAN_LAB_CHART_RENDERER": "svg"})
    yield url
    tb._stop_server(proc)


def _start(chromium, server, params):
    page = chromium.new_page(viewport={"width": 1440, "height": 1800})
    page.goto(f"{server}/train?{urlencode(params)}")
    page.get_by_role("button", name="Start training").click()
    return page


def _narration(page) -> str:
    texts = page.locator(NARRATION).all_inner_texts()
    earlier = page.get_by_text("Earlier in this run:").all_inner_texts()
    return " | ".join(texts + earlier)


@pytest.mark.parametrize("key, words", [("d-domination", "D is winning"),
                                        ("mode-collapse", "collapsed")])
def test_a_lessons_effect_is_named_and_shaded(server, browser, key, words):  # noqa: F811
    page = _start(browser, server, LESSONS[key].params)
    page.get_by_text(words).first.wait_for(timeout=420_000)
    assert words in _narration(page)
    page.wait_for_function(f"() => ({BANDS_JS})() > 0", timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_a_healthy_default_run_stays_quiet(server, browser):  # noqa: F811
    page = _start(browser, server, {"dataset": "mnist", "epochs": "1"})
    page.get_by_text("Finished").first.wait_for(timeout=420_000)
    assert _narration(page) == ""
    assert page.evaluate(BANDS_JS) == 0
    # every chart's x axis reaches the run's last step (a nice round number at or above it)
    label = page.get_by_test_id("stProgress").inner_text()
    last = int(label.split("step ")[1].split("/")[0])
    ends = page.evaluate(AXIS_END_JS)
    assert len(ends) >= 4 and all(last <= e <= 1.5 * last + 50 for e in ends[:4]), (last, ends)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
