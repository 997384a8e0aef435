"""A run report a student hands in: one self-contained HTML file (no scripts, no links out).

    html = report_html(run)            # `run`: a RunRecord, from a run folder or a live run
    run = record_from_folder(FOLDER)   # a folder written by gan_core.runs.save_run

It holds the settings (and what differs from the defaults the run started from), the lesson it
belongs to when there is one, the curves (D's and G's losses, D(x) and D(G(z)), log(L_G / L_D),
quality), sample grids over time, what happened and when (gan_core.detectors, as the Train page
names it) and the lab's version. Pictures are PNGs inside the file (base64), drawn with
matplotlib off-screen, so the file opens anywhere, offline. Every value from the run (settings,
dataset and class names, lesson text) is escaped: the file shows it as text.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch

from .checkpoint import read_checkpoint
from .config import TrainConfig, start_config
from .detectors import Episode, Look, narrate
from .files import atomic_write_text
from .images import png_bytes, snapshot_image
from .records import d_output_kind

MAX_GRIDS = 8           # sample grids over time shown at most (evenly spaced, the last included)
REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunRecord:
    """What a report is made of; every field may come from an untrusted file."""
    config: dict[str, Any]
    history: list[dict[str, Any]]
    grids: list[tuple[str, bytes]] = field(default_factory=list)    # ("step 50", PNG bytes)
    looks: Sequence[Look] = ()
    title: str = "A GAN run"
    lesson: str = ""                    # the lesson's title and what it promises, if any
    state: str = ""                     # finished, stopped, failed ... and why
    base: Optional[dict[str, Any]] = None   # the config the run started from, for the diff


def lab_version() -> str:
    """The lab's git commit where the code is a checkout, else "unknown"."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def grids_over_time(snapshots: Sequence[Any], points_real: Optional[torch.Tensor] = None,
                    most: int = MAX_GRIDS) -> list[tuple[str, bytes]]:
    """PNGs of up to `most` snapshots (objects with .step and .samples), evenly spaced."""
    if not snapshots:
        return []
    n = len(snapshots)
    picks = range(n) if n <= most else sorted({round(i * (n - 1) / (most - 1))
                                              for i in range(most)})
    return [(f"step {snapshots[i].step}",
             png_bytes(snapshot_image(snapshots[i].samples, points_real))) for i in picks]


def record_from_folder(folder: str | Path) -> RunRecord:
    """A run folder (checkpoint.pt, and samples.png when there): read safely, never unpickled
    beyond the checkpoint's checked format."""
    folder = Path(folder)
    ckpt = folder / "checkpoint.pt"
    if not ckpt.is_file():
        raise ValueError(f"{folder} has no checkpoint.pt; give a folder written by "
                         f"`python -m gan_core train --out FOLDER` or saved by the app")
    obj = read_checkpoint(ckpt)
    grids = [(f"epoch {int(p.stem.rsplit('_', 1)[1])}", p.read_bytes())
             for p in sorted(folder.glob("samples_epoch_[0-9][0-9][0-9].png"))][-MAX_GRIDS:]
    for name in ("samples_last.png", "samples.png"):       # the CLI's, the app's
        if (folder / name).is_file():
            grids.append((f"step {int(obj.get('step', 0))} (last)", (folder / name).read_bytes()))
            break
    return RunRecord(config=dict(obj["config"]), history=list(obj.get("history", [])),
                     grids=grids, title=f"Run {folder.name}",
                     state=f"Saved at step {int(obj.get('step', 0))}.")


# --- pictures ------------------------------------------------------------------------------

def _pyplot():
    """matplotlib's pyplot, off-screen: imported here, as gan_core.sweep_stats does, because only
    the pictures need it (the command line starts without it) and Agg must be chosen first."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list, list]:
    xs, ys = [], []
    for r in history:
        v = r.get(key)
        if isinstance(v, (int, float)) and v == v:
            xs.append(r.get("step", len(xs) + 1))
            ys.append(float(v))
    return xs, ys


def curves_png(history: Sequence[Mapping[str, Any]], loss: str,
               episodes: Sequence[Episode] = ()) -> str:
    """Base64 PNG of the run's curves, with the steps of each named episode shaded."""
    raw = d_output_kind(loss) == "score"
    panels = [("Losses", [("d_loss", "D's loss"), ("g_loss", "G's loss")]),
              ("D(x) and D(G(z))" if not raw else "D's raw score",
               [("d_real", "on real x"), ("d_fake", "on G(z)")]),
              ("log(L_G / L_D)", [("log_lg_ld", "log(L_G / L_D)")])]
    quality = [(k, t) for k, t in (("m_judge_fd", "judge FD (lower is better)"),
                                   ("m_confident_share", "confident share"),
                                   ("m_modes_covered", "modes covered"))
               if _series(history, k)[0]]
    if quality:
        panels.append(("Quality", quality))
    fig, axes = _pyplot().subplots(len(panels), 1, figsize=(8, 2.2 * len(panels)), sharex=True)
    for ax, (title, lines) in zip(list(axes), panels):
        for key, label in lines:
            xs, ys = _series(history, key)
            ax.plot(xs, ys, label=label, linewidth=1)
        if title.startswith("D(x)"):
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        for e in episodes:
            ax.axvspan(e.start, e.end if e.end is not None else (history[-1].get("step", 0)
                                                                   if history else e.start),
                       color="orange", alpha=0.12)
        ax.set_title(title, fontsize=10, loc="left")
        ax.legend(fontsize=8, loc="upper right")
    list(axes)[-1].set_xlabel("step")
    return _png(fig)


# --- the page ------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.grids{display:flex;flex-wrap:wrap;gap:12px}.grids figure{margin:0}.diff{background:#fff4d6}
img{max-width:100%}"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def starting_point(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config an entry point starts from for this run's dataset and model
    (config.start_config), so the table shows what the student changed; the dataclass's own
    defaults where that cannot be built from the file's values."""
    try:
        return start_config(dataset=config["dataset"], model=config["model"]).to_dict()
    except (KeyError, TypeError, ValueError):
        return TrainConfig().to_dict()


def settings_rows(config: Mapping[str, Any], base: Optional[Mapping[str, Any]]) -> str:
    base = dict(base or starting_point(config))
    rows = []
    for k, v in config.items():
        changed = k in base and base[k] != v
        rows.append(f"<tr{' class=diff' if changed else ''}><td>{_e(k)}</td><td>{_e(v)}</td>"
                    f"<td>{_e(base.get(k, '')) if changed else ''}</td></tr>")
    return "".join(rows)


def report_html(run: RunRecord, version: Optional[str] = None) -> str:
    """The report as one HTML string."""
    cfg = run.config
    points = str(cfg.get("model")) == "mlp"
    episodes = narrate(run.history, run.looks, points=points)
    last = run.history[-1] if run.history else {}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(run.title)}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>{_e(run.title)}</h1>"]
    made = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p>GAN teaching lab, version {_e(version or lab_version())}; report made "
                 f"{made}. {_e(run.state)}</p>")
    if run.lesson:
        parts.append(f"<h2>The lesson</h2><p>{_e(run.lesson)}</p>")
    d = "score(x)" if d_output_kind(str(cfg.get("loss", ""))) == "score" else "D(x)"
    g = "score(G(z))" if d == "score(x)" else "D(G(z))"
    parts.append(f"<h2>Where it ended</h2><p>Step {_e(last.get('step', 0))}, epoch "
                 f"{_e(last.get('epoch', 0))}; D's loss {_e(_num(last.get('d_loss')))}, "
                 f"G's loss {_e(_num(last.get('g_loss')))}, {d} {_e(_num(last.get('d_real')))}, "
                 f"{g} {_e(_num(last.get('d_fake')))}.</p>")
    parts.append("<h2>What happened, and when</h2>")
    if episodes:
        parts.append("<ul>" + "".join(f"<li>{_e(e.text)}</li>" for e in episodes) + "</ul>")
    else:
        parts.append("<p>No detector fired: no D domination, vanished gradient, mode collapse "
                     "or circling was seen in the records.</p>")
    if run.history:
        shaded = "<p>Shaded: the steps of the episodes above.</p>" if episodes else ""
        parts.append(f"<h2>Curves</h2>{shaded}<img alt='curves' src='data:image/png;base64,"
                     f"{curves_png(run.history, str(cfg.get('loss', '')), episodes)}'>")
    if run.grids:
        parts.append("<h2>Samples over time</h2><p>From the same fixed noise at every step "
                     "shown.</p><div class=grids>")
        for label, png in run.grids:
            parts.append(f"<figure><img alt='samples, {_e(label)}' src='data:image/png;"
                         f"base64,{base64.b64encode(png).decode()}'><figcaption>{_e(label)}"
                         f"</figcaption></figure>")
        parts.append("</div>")
    parts.append("<h2>Settings</h2><p>Highlighted: different from the starting point (the "
                 "third column).</p><table><tr><th>setting</th><th>this run</th>"
                 f"<th>start</th></tr>{settings_rows(cfg, run.base)}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and v == v else "-"


def write_report(folder: str | Path, out: Optional[str | Path] = None) -> Path:
    """The report of a run folder, written to `out` (default FOLDER/report.html)."""
    run = record_from_folder(folder)
    return atomic_write_text(Path(out) if out else Path(folder) / "report.html", report_html(run))
