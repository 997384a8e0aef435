"""The Train page in a real browser against the command line (issue 32): `--app browser`.

As a class runs it: `streamlit run app.py` (a pre-warmed worker, as `./lab app` leaves it),
headless Chromium on the same cores, `/train?dataset=mnist&epochs=50` with the page's defaults,
Start clicked. Read from the page (its progress label and its first "Fixed noise at step" grid,
polled every 0.2 s with a small script, not by re-reading the whole page):

    click -> first step      seconds until the progress label shows a step above 0
    click -> first grid      seconds until the first sample grid is drawn
    steps in the first N s   the label's step N seconds after the click
    CPU                      cores used by Chromium (all its processes), the Streamlit server
                             and the training worker over a window of the run (10 s to N s)
    fragment                 the live fragment's server time per refresh (wall and CPU of its
                             thread), from $GAN_LAB_TIMINGS (lab_app.ui.timed)

Then, with the server and the browser gone, `python -m gan_core train` with the same settings
for N seconds of training: its steps. The page's steps over the command line's is the ratio the
issue asks about (both counted from their own start: the click, and the command's first step).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .procs import cmdline, cpu_seconds, descendants, parents

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu"]
STEP = re.compile(r"(?:running|paused|finished): step (\d+)/")
LABEL_JS = """() => {
  const bar = document.querySelector('[data-testid="stProgress"]');
  const grid = [...document.querySelectorAll('[data-testid="stImageCaption"], figcaption, p')]
      .some(e => (e.innerText || '').startsWith('Fixed noise at step'));
  return [bar ? bar.innerText : '', grid];
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _groups(server: int) -> dict[str, list[int]]:
    """The server, its workers, and Chromium's processes (children of this process's driver)."""
    tree = parents()
    workers = descendants(server, tree)
    chromium = [p for p in descendants(os.getpid(), tree)
                if p != server and p not in workers
                and "chrom" in cmdline(p)]
    return {"server": [server], "worker": workers, "chromium": chromium}


def page_config(data_dir: str):
    from lab_app.settings import config_from_params
    cfg, errors = config_from_params({"dataset": "mnist", "epochs": "50"})
    assert not errors, errors
    return cfg.with_updates(data_dir=data_dir, download=False)


def cli_flags(cfg) -> list[str]:
    """The command-line flags that give `cfg` (checked: the command line rebuilds it)."""
    from gan_core.cli import build_parser, config_from_args, flag_of
    from gan_core.config import SETTINGS, TrainConfig, field_kind
    flags: list[str] = []
    for name, s in SETTINGS.items():
        flag, value = flag_of(name), getattr(cfg, name)
        if flag is None or value == getattr(TrainConfig, name) or name in ("data_dir", "download"):
            continue
        if field_kind(name)[0] is bool:
            flags.append(flag)
        elif value is None and s.zero_is_off:
            flags += [flag, "0"]
        elif value is not None:
            flags += [flag, str(value)]
    args = build_parser().parse_args(["train", "--out", "x", *flags])
    rebuilt = config_from_args(args)
    differ = {k: (getattr(cfg, k), getattr(rebuilt, k)) for k in SETTINGS
              if getattr(cfg, k) != getattr(rebuilt, k) and k not in ("data_dir", "download")}
    if differ:
        raise RuntimeError(f"the command line cannot rebuild the page's settings: {differ}")
    return flags


def _server(data_dir: str, timings: Path):
    port = _free_port()
    scratch = Path(tempfile.mkdtemp(prefix="gan-lab-bench-"))
    env = {**os.environ, "GAN_DATA_DIR": data_dir, "GAN_LAB_TIMINGS": str(timings),
           "GAN_LAB_RUNS_DIR": str(scratch / "runs"), "GAN_LAB_UPLOAD_DIR": str(scratch / "up")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app did not answer within 60 s")


def _wait_quiet(server: int, limit: float = 90.0) -> None:
    """Until the server's processes use under 5% of a core (the worker's warm-up is over)."""
    end = time.time() + limit
    while time.time() < end:
        pids = [server, *descendants(server)]
        c0 = cpu_seconds(pids)
        time.sleep(1.0)
        if cpu_seconds(pids) - c0 < 0.05:
            return


def page_run(data_dir: str, seconds: float = 45.0, window_from: float = 10.0) -> dict:
    from playwright.sync_api import sync_playwright
    chromium = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
    timings = Path(tempfile.mkdtemp(prefix="gan-lab-timings-")) / "fragments.csv"
    proc, url = _server(data_dir, timings)
    out: dict = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/train?dataset=mnist&epochs=50")
            start = page.get_by_role("button", name="Start training")
            start.wait_for(timeout=120_000)
            _wait_quiet(proc.pid)
            timings.write_text("")
            start.click()
            t0 = time.perf_counter()
            first_step = first_grid = None
            cpu0 = groups = None
            step = 0
            # The page is read every 0.2 s until its first step and grid are seen, then once at
            # the end, so the measuring script adds no work to the browser's CPU in the window
            # (each read lays the page out for innerText; 5 a second had cost 0.01-0.02 core).
            while True:
                now = time.perf_counter() - t0
                if cpu0 is None and now >= window_from:
                    groups = _groups(proc.pid)
                    cpu0 = {k: cpu_seconds(v) for k, v in groups.items()}
                    w0 = now
                last = now >= seconds
                if last and groups is not None:
                    out["cores"] = {k: round((cpu_seconds(v) - cpu0[k]) / (now - w0), 3)
                                    for k, v in groups.items()}
                if first_step is None or first_grid is None or last:
                    label, grid = page.evaluate(LABEL_JS)
                    m = STEP.search(label.lower())
                    step = int(m.group(1)) if m else step
                    if first_step is None and step > 0:
                        first_step = now
                    if first_grid is None and grid:
                        first_grid = now
                if last:
                    break
                time.sleep(0.2 if first_step is None or first_grid is None else 0.05)
            out.update(first_step_s=first_step, first_grid_s=first_grid, steps=step,
                       seconds=seconds)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    rows = [line.split(",") for line in timings.read_text().splitlines() if line.count(",") == 2]
    wall = sorted(float(r[1]) for r in rows if r[0] == "live_view")
    cpu = sorted(float(r[2]) for r in rows if r[0] == "live_view")
    if wall:
        out["fragment_ms"] = dict(n=len(wall), median=wall[len(wall) // 2],
                                  p90=wall[int(0.9 * (len(wall) - 1))], max=wall[-1],
                                  cpu_median=cpu[len(cpu) // 2])
    return out


def cli_run(data_dir: str, seconds: float = 45.0) -> dict:
    """Steps the command line takes in `seconds` of training (its own clock, from its start)."""
    flags = cli_flags(page_config(data_dir))
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gan_core", "train", "--out", out, "--quiet",
                        "--data-dir", data_dir, "--no-download", "--max-seconds", str(seconds),
                        *flags], cwd=ROOT, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - started
        lines = (Path(out) / "history.csv").read_text().splitlines()
    return dict(steps=len(lines) - 1, wall_s=round(wall, 1), flags=" ".join(flags))


def measure(data_dir: str, seconds: float = 45.0) -> dict:
    page = page_run(data_dir, seconds)
    cli = cli_run(data_dir, seconds)
    ratio = page["steps"] / cli["steps"] if cli["steps"] else None
    return dict(page=page, cli=cli, ratio=ratio)


def table(m: dict) -> str:
    p, c = m["page"], m["cli"]

    def s(x, d=2):
        return "-" if x is None else f"{x:.{d}f}"
    cores = p.get("cores", {})
    frag = p.get("fragment_ms", {})
    rows = [
        "| measure | value | target |", "| --- | ---: | ---: |",
        f"| click to first step (s) | {s(p['first_step_s'])} | 2 |",
        f"| click to first sample grid (s) | {s(p['first_grid_s'])} | 3 |",
        f"| page steps in {p['seconds']:.0f} s after the click | {p['steps']} | |",
        f"| command line steps in {p['seconds']:.0f} s of training | {c['steps']} | |",
        f"| page / command line | {s(m['ratio'])}x | 0.9x |",
        f"| Chromium, cores (all its processes) | {s(cores.get('chromium'))} | 0.10 |",
        f"| Streamlit server, cores | {s(cores.get('server'))} | 0.05 |",
        f"| training worker, cores | {s(cores.get('worker'))} | |",
        f"| live fragment per refresh, median / p90 ms (n={frag.get('n', 0)}) | "
        f"{s(frag.get('median'), 0)} / {s(frag.get('p90'), 0)} | 50 |",
        f"| live fragment, CPU of its thread, median ms | {s(frag.get('cpu_median'), 0)} | |",
    ]
    return "\n".join(rows)
