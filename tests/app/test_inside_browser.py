"""Issue 14's views in a real browser: the replay plays, a click picks a sample."""
from __future__ import annotations

import socket

import pytest

import test_browser as tb
from test_browser import ARGS, CHROMIUM

pytestmark = tb.pytestmark


@pytest.fixture(scope="module")
def server(monkeypatch_module):
    proc, url = tb._start_server()
    yield url
    tb._stop_server(proc)


@pytest.fixture(scope="module")
def monkeypatch_module():
    # Ports 8621-8629 first (shared machines reserve them for this app), else any free one.
    def port():
        for p in range(8621, 8630):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                    return p
                except OSError:
                    continue
        return _any()
    _any = tb._free_port
    mp = pytest.MonkeyPatch()
    mp.setattr(tb, "_free_port", port)
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


TITLE_JS = ("(sel) => document.querySelector(sel + ' .js-plotly-plot').layout.title.text"
            ".replace(/<[^>]*>/g, '')")          # Streamlit wraps titles in <b>


def test_the_replay_plays_in_the_browser(server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1700})
    page.goto(f"{server}/train?dataset=ring&latent_dim=2&epochs=2")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Finished").first.wait_for(timeout=180_000)
    sel = ".st-key-t_replay_fig"
    page.locator(sel + " .js-plotly-plot").wait_for(timeout=30_000)
    assert page.evaluate(TITLE_JS, sel).startswith("Step 0:")
    page.locator(sel).get_by_text("Play").first.click()
    page.wait_for_function(f"() => !({TITLE_JS})('{sel}').startsWith('Step 0:')",
                           timeout=30_000)
    later = page.evaluate(TITLE_JS, sel)
    assert later.startswith("Step ") and later.endswith("replay")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_clicking_a_sample_picks_it_for_the_nearest_real_image(server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 2400})
    page.goto(f"{server}/train?dataset=mnist&subset=640&epochs=1")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Finished").first.wait_for(timeout=300_000)
    page.get_by_role("tab", name="Nearest real image").click()
    grid = page.locator(".st-key-t_inside_grid .js-plotly-plot")
    grid.wait_for(timeout=30_000)
    grid.scroll_into_view_if_needed()
    # sample 19: row 2, column 3 of the 8 x 8 grid; click the middle of its tile
    box = page.evaluate("""() => {
        const p = document.querySelector('.st-key-t_inside_grid .js-plotly-plot');
        const xa = p._fullLayout.xaxis, ya = p._fullLayout.yaxis;
        const r = p.getBoundingClientRect();
        // tiles of 28 + 1 pixels from x = y = 1 (views.clickable_grid): centre of 19 at (102, 73)
        return {x: r.left + xa._offset + xa.l2p(102), y: r.top + ya._offset + ya.l2p(73)};
    }""")
    page.mouse.click(box["x"], box["y"])
    pick = page.locator(".st-key-t_inside_pick input")
    page.wait_for_function("() => document.querySelector('.st-key-t_inside_pick input').value"
                           " === '19'", timeout=30_000)
    assert pick.input_value() == "19"
    page.get_by_text("#19:").first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
