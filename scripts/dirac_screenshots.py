"""Screenshots of the Dirac-GAN page for docs/inside-the-game.md: docs/dirac_*.png.

    python scripts/dirac_screenshots.py [--port 8621]

Starts the app headless (inside_screenshots.start), opens the Home lesson's link (the circling
setting), saves the plane with its controls, switches R1 on and saves it again.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from urllib.parse import urlencode

from inside_screenshots import DOCS, ROOT, start


def main() -> int:
    import sys
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from lab_app.lessons import LESSONS

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8621)
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    proc, url = start(args.port)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = b.new_page(viewport={"width": 1440, "height": 1300})
            page.goto(f"{url}/dirac?{urlencode(LESSONS['why-circle'].params)}")
            page.locator(".st-key-dirac_plane .js-plotly-plot").wait_for(timeout=60_000)
            section = page.locator('[data-testid="stHorizontalBlock"]',
                                   has=page.locator(".st-key-dirac_plane")).first
            page.wait_for_timeout(2000)
            section.screenshot(path=str(DOCS / "dirac_circling.png"))
            page.locator(".st-key-dirac_r1_on label").click()
            page.get_by_text("This path spirals in to (0, 0)").wait_for(timeout=30_000)
            page.wait_for_timeout(2000)
            section.screenshot(path=str(DOCS / "dirac_r1.png"))
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    for name in ("dirac_circling.png", "dirac_r1.png"):
        print(Path(DOCS / name).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
