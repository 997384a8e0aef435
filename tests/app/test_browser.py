"""The real thing: start `streamlit run app.py`, open every page in headless Chromium.

Skipped, with the reason, where Chromium or Playwright is missing; CI installs both. Screenshots
go to $SCREENSHOT_DIR (default: screenshots/ in the repo) so a person can look at them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {"": "GAN teaching lab", "train": "Train a GAN", "compare": "Compare two losses",
         "explore": "Latent explorer", "loss_lab": "Loss lab", "experiments": "Experiments",
         "dirac": "Why GANs circle: the Dirac-GAN"}

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                       "(apt-get install chromium); CI installs it"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(extra_env: dict | None = None):
    """A real `streamlit run app.py` on a free port; saved runs and uploads go to a temporary
    folder unless extra_env names one."""
    port = _free_port()
    scratch = Path(tempfile.mkdtemp(prefix="gan-lab-server-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GAN_LAB_MAX_TRAININGS": "2",
           "GAN_LAB_RUNS_DIR": str(scratch / "runs"), "GAN_LAB_UPLOAD_DIR": str(scratch / "up"),
           **(extra_env or {})}
    log = open(REPO / ".pytest_cache" / "streamlit_browser.log", "w") \
        if (REPO / ".pytest_cache").is_dir() else subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],      # the rest from .streamlit/config.toml
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("streamlit did not answer within 60 s")
    print(f"\nserver answered after {time.perf_counter() - started:.1f} s")
    return proc, url


def _stop_server(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server():
    proc, url = _start_server()
    yield url
    _stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    d = Path(os.environ.get("SCREENSHOT_DIR", REPO / "screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1700})
    page.goto(url)
    return page


def _no_exception(page):
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()[:500]


@pytest.mark.parametrize("path,title", list(PAGES.items()))
def test_every_page_renders_in_the_browser(server, browser, shots, path, title):
    started = time.perf_counter()
    page = _open(browser, f"{server}/{path}")
    page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)
    print(f"\n/{path}: heading shown after {time.perf_counter() - started:.2f} s")
    page.wait_for_timeout(1500)              # let charts and images settle
    _no_exception(page)
    page.screenshot(path=str(shots / f"page_{path or 'home'}.png"), full_page=True)
    page.close()


def test_a_short_2d_training_updates_the_chart_live(server, browser, shots):
    page = _open(browser, f"{server}/train?dataset=ring&epochs=150")
    page.get_by_role("button", name="Start training").click()
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    # The training charts are Vega-Lite on a canvas (lab_app.livecharts): what the loss chart
    # draws, as an image, changes while training runs, and the progress label's step grows.
    # (test_narration_browser reads the steps drawn from the axes, in SVG.)
    drawn_js = ("() => { const c = document.querySelector('[data-testid=\"stVegaLiteChart\"] "
                "canvas'); return c ? c.toDataURL() : ''; }")
    step_js = ("() => { const b = document.querySelector('[data-testid=\"stProgress\"]');"
               " const m = b && b.innerText.match(/step (\\d+)\\//); return m ? +m[1] : 0; }")
    # Generous: the first wait includes a cold worker process's start (importing torch); once,
    # in a fresh clone just after another server was stopped, 60 s was not enough.
    page.wait_for_function(f"({step_js})() > 10 && ({drawn_js})() !== ''", timeout=120_000)
    first, first_step = page.evaluate(drawn_js), page.evaluate(step_js)
    page.wait_for_function(f"({step_js})() > {first_step} && ({drawn_js})() !== "
                           f"{json.dumps(first)}", timeout=60_000)
    assert page.evaluate(step_js) > first_step > 0
    assert charts.count() >= 4                       # losses, D's outputs, ratio, gradients
    assert page.locator(".js-plotly-plot").count() >= 1          # the 2-D map
    _no_exception(page)
    page.screenshot(path=str(shots / "train_ring_live.png"), full_page=True)
    # In the page, not Streamlit's own Stop in the header (shown while a rerun is under way).
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped").first.wait_for(timeout=30_000)
    _no_exception(page)
    page.close()


def test_the_sidebar_counts_a_run_started_in_another_browser_without_a_reload(server, browser):
    """The server line lives in its own timed fragment: a page left open sees another
    student's run take a slot, and give it back, with no click and no reload."""
    import re
    watcher = _open(browser, f"{server}/")
    side = watcher.locator('[data-testid="stSidebar"]')
    side.get_by_text(re.compile(r"0 of 2 training slots in use")).wait_for(timeout=30_000)
    other = browser.new_context().new_page()          # another browser: another session
    other.goto(f"{server}/train?dataset=ring&epochs=200")
    other.get_by_role("button", name="Start training").click()
    side.get_by_text(re.compile(r"1 of 2 training slots in use")).wait_for(timeout=90_000)
    other.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    side.get_by_text(re.compile(r"0 of 2 training slots in use")).wait_for(timeout=30_000)
    _no_exception(watcher)
    other.context.close()
    watcher.close()


def test_home_lesson_opens_train_set_up(server, browser):
    page = _open(browser, f"{server}/")
    page.get_by_role("heading", name="GAN teaching lab").first.wait_for(timeout=30_000)
    page.locator(".st-key-home_preset_mode-collapse button").click()
    page.get_by_role("heading", name="Train a GAN").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert "latent_dim=1" in page.url
    _no_exception(page)
    page.close()


def test_a_shared_link_as_the_first_request_gets_the_whole_app(browser):
    """A fresh server whose first visitor opens a lesson link must run app.py's navigation."""
    proc, url = _start_server()
    try:
        page = _open(browser, f"{url}/train?dataset=ring&latent_dim=1")
        page.get_by_role("heading", name="Train a GAN").first.wait_for(timeout=30_000)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Latent explorer" in nav and "Loss lab" in nav, nav
        assert "app" not in nav.split()
        _no_exception(page)
        page.close()
    finally:
        _stop_server(proc)


def test_finished_runs_come_back_after_a_refresh_and_a_restart_not_in_another_browser(
        browser, shots, tmp_path):
    env = {"GAN_LAB_RUNS_DIR": str(tmp_path / "runs")}
    proc, url = _start_server(env)
    mine = browser.new_context(viewport={"width": 1440, "height": 1300})
    try:
        page = mine.new_page()
        page.goto(f"{url}/train?dataset=ring&epochs=1")
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("Finished: completed 1 epoch(s).").first.wait_for(timeout=90_000)
        page.reload()                                        # a refresh: a new session
        page.get_by_text("Your saved runs (1)").first.wait_for(timeout=30_000)
        stranger = browser.new_page()
        stranger.goto(f"{url}/train?dataset=ring")
        stranger.get_by_role("heading", name="Train a GAN").first.wait_for(timeout=30_000)
        stranger.wait_for_timeout(2000)
        assert "Your saved runs" not in stranger.locator("body").inner_text()
        stranger.close()
    finally:
        _stop_server(proc)
    proc, url = _start_server(env)                           # a server restart
    try:
        page = mine.new_page()
        page.goto(f"{url}/train?dataset=ring")
        page.get_by_text("Your saved runs (1)").first.wait_for(timeout=30_000)
        page.get_by_text("Your saved runs (1)").first.click()
        page.get_by_text("finished: completed 1 epoch(s)").first.wait_for(timeout=10_000)
        _no_exception(page)
        page.screenshot(path=str(shots / "train_saved_runs.png"), full_page=True)
    finally:
        mine.close()
        _stop_server(proc)


def _zip_of_images(path: Path, per_class: int) -> Path:
    import io
    import zipfile
    from PIL import Image
    with zipfile.ZipFile(path, "w") as z:
        for cls, colour in (("cats", (200, 80, 40)), ("dogs", (40, 80, 200))):
            for i in range(per_class):
                buf = io.BytesIO()
                Image.new("RGB", (40, 40), tuple(min(255, c + 3 * i) for c in colour)).save(buf, "PNG")
                z.writestr(f"pets/{cls}/{i}.png", buf.getvalue())
    return path


def test_uploading_images_in_the_browser_checks_them(server, browser, shots, tmp_path):
    page = _open(browser, f"{server}/train?dataset=ring")
    page.get_by_role("heading", name="Train a GAN").first.wait_for(timeout=30_000)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name="your images (upload)").click()
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    uploader.set_input_files(str(_zip_of_images(tmp_path / "pets.zip", 10)))
    page.get_by_text("pets.zip").first.wait_for(timeout=30_000)
    page.wait_for_timeout(2000)        # the name shows before the upload has reached the server
    page.get_by_role("button", name="Use these images").click()
    page.get_by_text("20 images saved in 2 classes (cats, dogs).").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    # The shareable URL names the upload by an opaque id, never by its folder (issue 15).
    assert re.search(r"dataset=upload(%3A|:)[0-9a-f]{16}", page.url), page.url
    assert "folder" not in page.url and "%2F" not in page.url, page.url
    # 20 images cannot fill the classroom model's batch of 32: the page says what to change.
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("batch_size 32 is larger than the dataset (20 samples); choose at most 20"
                     ).first.wait_for(timeout=30_000)
    _no_exception(page)
    page.screenshot(path=str(shots / "train_upload.png"), full_page=True)
    # A zip bomb: refused with the reason, the earlier upload stays selected.
    import zipfile
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.png", b"\0" * (60 * 2**20))
    page.get_by_text("Upload images").first.click() if not uploader.is_visible() else None
    uploader.set_input_files(str(tmp_path / "bomb.zip"))
    page.get_by_text("bomb.zip").first.wait_for(timeout=30_000)
    page.wait_for_timeout(2000)        # the name shows before the upload has reached the server
    page.get_by_role("button", name="Use these images").click()
    try:
        # \u2060: safe.text's invisible word joiner after a colon inside a file name
        page.get_by_text(re.compile("Upload refused: bomb.zip:\u2060?bomb.png unpacks to 60 MB")
                         ).first.wait_for(timeout=30_000)
    finally:
        page.screenshot(path=str(shots / "train_upload_refused.png"), full_page=True)
    _no_exception(page)
    page.close()


def test_a_freezing_checkpoint_upload_does_not_stall_another_student(browser, shots, tmp_path):
    """Issue 15: one 1.5 MB checkpoint uploaded on the Latent explorer froze the server for
    every student. Now it is read in its own process: while it is read, a second browser's
    Train page keeps loading, the health endpoint keeps answering, and the uploader gets a
    one-line reason."""
    import attacks
    freeze = attacks.freezing_checkpoint(tmp_path / "freeze.pt")
    proc, url = _start_server()
    attacker = browser.new_context(viewport={"width": 1440, "height": 1300})
    student = browser.new_context(viewport={"width": 1440, "height": 1300})
    try:
        up = attacker.new_page()
        up.goto(f"{url}/explore")
        up.get_by_role("heading", name="Latent explorer").first.wait_for(timeout=30_000)
        up.get_by_text("Upload a checkpoint").first.click()
        up.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(freeze))
        refused = up.get_by_text("That upload cannot be explored")
        page = student.new_page()
        loads, health = [], []
        deadline = time.time() + 90
        while time.time() < deadline and (refused.count() == 0 or len(loads) < 3):
            started = time.perf_counter()
            page.goto(f"{url}/train?dataset=ring")
            page.get_by_role("heading", name="Train a GAN").first.wait_for(timeout=20_000)
            page.get_by_role("button", name="Start training").wait_for(timeout=20_000)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
                assert r.status == 200
            health.append(time.perf_counter() - started)
        print(f"\n{len(loads)} Train page loads while the upload was read: slowest "
              f"{max(loads):.1f} s; health slowest {max(health):.2f} s")
        refused.first.wait_for(timeout=30_000)
        text = up.locator('[data-testid="stAlert"]').filter(
            has_text="That upload cannot be explored").first.inner_text()
        assert "dataset must be" in text and len(text) < 600, text
        assert len(loads) >= 3 and max(loads) < 15 and max(health) < 5
        _no_exception(up)
        _no_exception(page)
        up.screenshot(path=str(shots / "explore_freezing_upload_refused.png"), full_page=True)
    finally:
        attacker.close()
        student.close()
        _stop_server(proc)


def _pictures(page) -> dict[str, dict[str, str]]:
    """The step-by-step view's pictures as page data: {before/after/now: {samples: pixel
    fingerprint, d-fake: D's numbers under the samples, d-real: under the real digits}}."""
    out = {}
    for el in page.locator('[data-testid="imgstep-picture"]').all():
        out[el.get_attribute("data-which")] = {k: el.get_attribute(f"data-{k}")
                                                for k in ("samples", "d-fake", "d-real")}
    return out


def _wait_picture(page, label: str) -> None:
    page.locator(f'[data-testid="imgstep-picture"][data-label="{label}"]').wait_for(
        state="attached", timeout=60_000)
    page.wait_for_timeout(500)          # the rest of the rerun's elements


def test_step_by_step_on_mnist_d_moves_the_numbers_and_g_the_samples(browser, shots,
                                                                     real_data_dir):
    """/train?dataset=mnist&view=step: a D click changes D's numbers under the samples and
    leaves the samples as they were; a G click changes the samples, leaves D's numbers on the
    real digits, and shows the difference image. Skipped (real_data_dir says why) without the
    real MNIST: the view trains on the real digits."""
    proc, url = _start_server({"GAN_DATA_DIR": str(real_data_dir)})
    try:
        page = _open(browser, f"{url}/train?dataset=mnist&view=step")
        page.get_by_role("button", name="One D step").wait_for(timeout=120_000)
        _no_exception(page)
        assert page.get_by_role("button", name="One G step").is_disabled()   # D comes first
        _wait_picture(page, "now, after 0 D and 0 G updates")
        now = _pictures(page)["now"]
        assert len(now["d-fake"].split()) == 64 and len(now["d-real"].split()) == 8

        page.get_by_role("button", name="One D step").click()
        _wait_picture(page, "after D update 1")
        _no_exception(page)
        d = _pictures(page)
        assert d["before"]["samples"] == d["after"]["samples"] == now["samples"]
        assert d["before"]["d-fake"] == now["d-fake"]
        assert d["after"]["d-fake"] != d["before"]["d-fake"]
        assert d["after"]["d-real"] != d["before"]["d-real"]
        page.get_by_text("pixel for pixel the same").wait_for()
        assert page.get_by_role("button", name="One D step").is_disabled()   # now G's turn

        page.get_by_role("button", name="One G step").click()
        _wait_picture(page, "after G update 1")
        _no_exception(page)
        g = _pictures(page)
        assert g["before"]["samples"] == d["after"]["samples"]
        assert g["after"]["samples"] != g["before"]["samples"]
        assert g["after"]["d-real"] == g["before"]["d-real"]       # D did not change
        assert g["after"]["d-fake"] != g["before"]["d-fake"]       # its verdict on new samples
        page.get_by_text("What G's update changed in each sample").wait_for()
        caption = page.get_by_text(re.compile(r"G moved: \d+ of 64 samples changed"))
        assert "ink added" in caption.inner_text() and "ink removed" in caption.inner_text()
        assert page.locator("img").count() >= 5     # 2 x (samples, real row), difference, batch
        formula = page.locator('annotation:has-text("L_G")').first        # KaTeX's source
        formula.wait_for(state="attached")
        assert re.search(r"L_G = .* = \\mathbf\{\d+\.\d{3}\}", formula.text_content())
        page.screenshot(path=str(shots / "train_step_images.png"), full_page=True)
        page.close()
    finally:
        _stop_server(proc)
