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
# the shapes of the probability chart that narration adds (filled rectangles)
BANDS_JS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    return plots.map(p => (p.layout.shapes || []).filter(s => s.type === 'rect').length)
                .reduce((a, b) => a + b, 0);
}"""


@pytest.fixture(scope="module")
def server(monkeypatch_module):  # noqa: F811
    proc, url = tb._start_server()
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
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
