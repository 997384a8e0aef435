"""The Dirac-GAN page in a real browser: R1 switched on brings the path to (0, 0), a click on
the plane picks the start. Read from the Plotly figure's own data, not from a screenshot."""
from __future__ import annotations

import math

import pytest
import test_browser as tb

pytestmark = tb.pytestmark
server, browser = tb.server, tb.browser     # its fixtures: one server and one Chromium here

PLOT = ".st-key-dirac_plane .js-plotly-plot"
# The figure as Plotly drew it (_fullData: arrays decoded): the path and layout.meta.
STATE_JS = f"""() => {{
    const p = document.querySelector('{PLOT}');
    if (!p) return null;
    const path = (p._fullData || []).find(t => t.name === 'path');
    if (!path) return null;
    const n = path.x.length;
    return {{meta: p.layout.meta, first: [path.x[0], path.y[0]],
             last: [path.x[n - 1], path.y[n - 1]]}};
}}"""


def _wait_for(page, condition: str, timeout: int = 30_000):
    """Wait until `condition` (JavaScript on the figure's state `s`) holds; the figure is
    briefly absent while Streamlit redraws it."""
    page.wait_for_function(f"(s => s !== null && ({condition}))(({STATE_JS})())",
                           timeout=timeout)
    return page.evaluate(STATE_JS)


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1440, "height": 1500})
    page.goto(url)
    page.locator(PLOT).wait_for(timeout=60_000)
    _wait_for(page, "true")
    return page


def test_switching_r1_on_brings_the_circling_path_to_the_real_point(server, browser, tmp_path):
    from lab_app.lessons import LESSONS
    query = "&".join(f"{k}={v}" for k, v in LESSONS["why-circle"].params.items())
    page = _open(browser, f"{server}/dirac?{query}")
    before = page.evaluate(STATE_JS)
    assert before["meta"]["verdict"] == "circles"
    assert math.hypot(*before["last"]) > 0.3 and before["meta"]["turns"] > 1
    page.locator(".st-key-dirac_r1_on label").click()
    after = _wait_for(page, "s.meta.verdict === 'converges'")
    assert math.hypot(*after["last"]) < 0.05
    assert after["meta"]["end_distance"] == pytest.approx(math.hypot(*after["last"]))
    assert after["first"] == before["first"] == [1, 1]
    assert "r1=0.5" in page.url                 # the plane is a link
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(tmp_path / "dirac_r1.png"), full_page=True)
    page.close()


def test_a_click_on_the_plane_picks_the_start(server, browser):
    page = _open(browser, f"{server}/dirac")
    page.locator(PLOT).scroll_into_view_if_needed()
    where = page.evaluate(f"""() => {{
        const p = document.querySelector('{PLOT}');
        const xa = p._fullLayout.xaxis, ya = p._fullLayout.yaxis;
        const r = p.getBoundingClientRect();
        return {{x: r.left + xa._offset + xa.l2p(-1.5), y: r.top + ya._offset + ya.l2p(1.0)}};
    }}""")
    page.mouse.click(where["x"], where["y"])
    assert _wait_for(page, "s.first[0] === -1.5")["first"] == [-1.5, 1]
    assert page.locator(".st-key-dirac_theta input").input_value() == "-1.50"
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_a_hostile_link_gets_one_line_per_bad_value(server, browser):
    page = _open(browser, f"{server}/dirac?loss=%5Bx%5D(http://evil.example)&lr=7&theta=abc")
    alerts = page.locator('[data-testid="stAlert"]')
    alerts.first.wait_for(timeout=30_000)
    texts = [alerts.nth(i).inner_text() for i in range(alerts.count())]
    assert len(texts) == 3, texts
    assert page.locator('a[href*="evil.example"]').count() == 0
    assert page.evaluate(STATE_JS)["first"] == [1, 1]       # theta fell back to its default
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
