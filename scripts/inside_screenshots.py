"""Screenshots of issue 14's views for the README: docs/inside_*.png.

    GAN_DATA_DIR=/work/shared/data python scripts/inside_screenshots.py [--port 8621]

Starts the app headless, drives Chromium with Playwright through the three Home lessons and
the Compare page, and saves one picture per view.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def start(port: int):
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py",
                             "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8621)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    proc, url = start(args.port)
    want = lambda name: args.only is None or name in args.only    # noqa: E731
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])

            def open_(path):
                page = b.new_page(viewport={"width": 1440, "height": 1500})
                page.goto(f"{url}/{path}")
                page.get_by_role("heading").first.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                return page

            def shot(page, selector, name):
                page.wait_for_timeout(1200)
                page.locator(selector).first.screenshot(path=str(DOCS / name))
                print("saved", DOCS / name)

            if want("home"):
                page = open_("")
                page.locator(".st-key-home_preset_fold-the-plane").wait_for(timeout=30_000)
                page.locator(".st-key-home_preset_fold-the-plane").scroll_into_view_if_needed()
                page.wait_for_timeout(800)
                box = page.locator(".st-key-home_preset_fold-the-plane").bounding_box()
                page.screenshot(path=str(DOCS / "inside_home_lessons.png"),
                                clip=dict(x=0, y=box["y"] - 330, width=1440, height=520))
                page.close()
            if want("fold"):
                page = open_("train?dataset=ring&latent_dim=2&loss=nonsaturating&epochs=12"
                             "&batch_size=128&lr_g=0.001&lr_d=0.001")
                page.get_by_role("button", name="Start training").click()
                page.get_by_text("Finished").first.wait_for(timeout=300_000)
                page.wait_for_timeout(2500)
                shot(page, ".st-key-toyfig", "inside_2d_mesh_arrows.png")
                page.locator(".st-key-t_replay_fig").get_by_text("Play").first.click()
                page.wait_for_timeout(4000)          # part-way through the replay
                shot(page, ".st-key-t_replay_fig", "inside_2d_replay.png")
                page.close()
            if want("step"):
                page = open_("train?dataset=ring&latent_dim=2&batch_size=128&lr_g=0.001"
                             "&lr_d=0.001&view=step")
                page.locator(".st-key-sbs_ff button").click()
                page.wait_for_timeout(2500)
                page.locator(".st-key-sbs_ff button").click()
                page.wait_for_timeout(2500)
                page.locator(".st-key-sbs_d button").click()
                page.get_by_text("D update").first.wait_for(timeout=60_000)
                page.wait_for_timeout(2000)
                page.screenshot(path=str(DOCS / "inside_step_d.png"), full_page=True)
                page.locator(".st-key-sbs_g button").click()
                page.get_by_text("G update").first.wait_for(timeout=60_000)
                page.wait_for_timeout(2000)
                page.screenshot(path=str(DOCS / "inside_step_g.png"), full_page=True)
                print("saved step-by-step")
                page.close()
            if want("digit-steps"):      # issue 34: step by step on MNIST
                page = b.new_page(viewport={"width": 1440, "height": 3000})
                page.goto(f"{url}/train?dataset=mnist&view=step")
                ff = page.get_by_role("button", name="Fast-forward 50")
                ff.wait_for(timeout=120_000)
                for n in (50, 100):
                    ff.click()
                    page.get_by_text(f"{n} D updates and {n} G updates").wait_for(
                        timeout=300_000)
                for who in "DG":
                    page.get_by_role("button", name=f"One {who} step").click()
                    page.locator(f'[data-label="after {who} update 101"]').wait_for(
                        state="attached", timeout=60_000)
                    name = DOCS / f"inside_step_digits_{who.lower()}.png"
                    shot(page, ".st-key-sbs_img", name.name)
                    Image.open(name).convert("RGB").quantize(256).save(name, optimize=True)
                page.close()
            if want("digits"):
                page = open_("train?dataset=mnist&loss=nonsaturating&epochs=2")
                page.get_by_role("button", name="Start training").click()
                page.get_by_text("Finished").first.wait_for(timeout=600_000)
                page.wait_for_timeout(3000)
                exp = page.locator('[data-testid="stExpander"]').filter(
                    has_text="what D sees").first
                for tab, name in (("D's verdict", "inside_img_verdict.png"),
                                  ("Mode map", "inside_img_modes.png"),
                                  ("Nearest real image", "inside_img_nearest.png"),
                                  ("Where G is pushed", "inside_img_push.png")):
                    exp.get_by_role("tab", name=tab).click()
                    page.wait_for_timeout(2000)
                    exp.screenshot(path=str(DOCS / name))
                    print("saved", name)
                page.close()
            if want("compare"):
                page = open_("compare?dataset=ring&a=nonsaturating&b=hinge&epochs=3")
                page.get_by_role("button", name="Train both").click()
                page.locator(".st-key-cmp_scrub").wait_for(timeout=300_000)
                page.wait_for_timeout(3000)
                page.screenshot(path=str(DOCS / "inside_compare.png"), full_page=True)
                print("saved compare")
                page.close()
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
