"""`python -m benchmarks --quick` runs end to end and prints its tables (no timing is checked)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_quick_benchmark_prints_the_tables(real_data_dir, repo_root, tmp_path):
    out = tmp_path / "quick"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--data-dir", str(real_data_dir),
         "--out", str(out)],
        cwd=repo_root, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for header in ("| model | loss | Trainer img/s", "| model | 64 samples ms",
                   "| model | preset | recipe | seed | precision |"):
        assert header in proc.stdout
    assert "classroom / dcgan / new: 0 of 1 seeds" in proc.stdout or \
        "classroom / dcgan / new: 1 of 1 seeds" in proc.stdout
    assert "| classroom | nonsaturating |" in proc.stdout
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["quick"] and not res["errors"]
    # the old and the new classroom recipes, side by side, against the real digits' share
    recipes = {q["recipe"]: q for q in res["quality"]}
    assert set(recipes) == {"old", "batch64", "batch32", "new"}
    assert recipes["old"]["precision"] == "fp32"
    order = ("old", "batch64", "batch32", "new")
    assert [recipes[r]["batch_size"] for r in order] == [64, 64, 32, 32]
    assert [recipes[r]["clusters"] for r in order] == [0, 0, 0, 50]
    assert 0.5 < recipes["new"]["real_share"] <= 1.0
    assert all(0 <= q["final"]["confident_share"] <= 1 for q in res["quality"])
    speed = res["speed"][0]
    assert speed["trainer_images_per_s"] > 0 and speed["tutorial_images_per_s"] > 0
    assert speed["trainer_peak_rss_mb"] > 0
    assert out.with_suffix(".md").read_text().startswith("Machine:")
    # issue 14: the 2-D view's per-refresh draw time (with mesh and arrows) is measured
    assert "2-D view draw time" in proc.stdout
    assert res["views"]["rows"]["refresh"]["median_ms"] > 0


def test_tutorial_loop_runs_the_same_networks_plainly():
    """The yardstick uses gan_core's layers as plain Sequential stacks, D ending in a Sigmoid."""
    import torch
    import torch.nn as nn

    from benchmarks.baseline import plain_models
    from gan_core.models import ModelSpec, build_models

    G, D = plain_models("paper", seed=3)
    torch.manual_seed(3)
    G2, D2 = build_models(ModelSpec(model="paper", dropout=0.25))
    assert type(G) is nn.Sequential and isinstance(D[-1], nn.Sigmoid)
    for a, b in zip(G.state_dict().values(), G2.body.state_dict().values()):
        assert torch.equal(a, b)
    G.eval(), G2.eval(), D.eval(), D2.eval()
    z = torch.randn(4, 100)
    with torch.no_grad():
        x = G(z)
        assert torch.allclose(x, G2(z), atol=1e-5)
        assert torch.allclose(D(x), torch.sigmoid(D2(x)), atol=1e-6)


def test_quick_app_comparison_prints_its_table(real_data_dir, repo_root, tmp_path):
    """`--app only`: the app's job path (worker processes, one and two students) against the
    command line, and the page rerun time while two jobs train."""
    out = tmp_path / "app"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--app", "only", "--data-dir",
         str(real_data_dir), "--out", str(out)],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| in the app | 1 |" in proc.stdout and "| in the app | 2 |" in proc.stdout
    assert "| Compare's Train both (2 models, 1 job) |" in proc.stdout
    assert "Train page on the server while two jobs train" in proc.stdout
    assert "| the live fragment (its body) |" in proc.stdout
    app = json.loads(out.with_suffix(".json").read_text())["app"]
    assert app["cli_steps_per_s"] > 0 and app["app1_steps_per_s"] > 0
    assert len(app["runs"]["app2"]) == 2 and all(r["steps_per_s"] > 0 for r in app["runs"]["app2"])
    assert len(app["runs"]["pair"]) == 2 and all(r["steps_per_s"] > 0 for r in app["runs"]["pair"])
    page = app["page_rerun"]
    assert page["median_ms"] > 0 and page["fragment_median_ms"] > 0
    assert page["fragment_runs"] == page["repeats"]     # the fragment ran once per page rerun


def test_the_command_line_row_trains_with_every_core_whatever_the_environment(monkeypatch,
                                                                              tmp_path):
    """The app gives a lone student's worker every core; the command line it is compared with
    must get them too, even when the bench runs with OMP_NUM_THREADS=1."""
    from benchmarks import app_speed
    from gan_core.workers import usable_cores
    seen = {}

    def fake_run(args, env=None, **kw):
        seen.update(env or {})
        out = args[args.index("--out") + 1]
        (Path(out) / "history.csv").write_text("step,time_s\n1,0.1\n2,0.2\n")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(app_speed.subprocess, "run", fake_run)
    r = app_speed.cli_rate({"model": "classroom"}, 1.0, str(tmp_path))
    assert seen["OMP_NUM_THREADS"] == str(usable_cores()) == str(r["threads"])


def test_the_browser_bench_gives_the_command_line_the_page_s_settings():
    """The page/command-line ratio compares like with like: the flags rebuild the page's config
    for MNIST (cli_flags raises when they do not), and a setting the page changes is passed."""
    from benchmarks.browser_speed import cli_flags, page_config
    cfg = page_config("/nowhere")
    flags = cli_flags(cfg)
    assert "--epochs" in flags and flags[flags.index("--epochs") + 1] == "50"
    assert "--data-dir" not in flags
    changed = cli_flags(cfg.with_updates(latent_dim=7))
    assert changed[changed.index("--latent-dim") + 1] == "7"


def test_fragment_timings_are_written_only_when_asked(tmp_path, monkeypatch):
    from lab_app.ui import timed

    def work():
        return 3
    monkeypatch.delenv("GAN_LAB_TIMINGS", raising=False)
    assert timed(work) is work                          # nothing added on a class server
    log = tmp_path / "t.csv"
    monkeypatch.setenv("GAN_LAB_TIMINGS", str(log))
    assert timed(work)() == 3 and timed(work)() == 3
    rows = [line.split(",") for line in log.read_text().splitlines()]
    assert [r[0] for r in rows] == ["work", "work"] and all(float(r[1]) >= 0 for r in rows)


def test_a_quality_seed_count_out_of_range_is_refused_with_a_message(repo_root):
    for bad in ("0", "-2", "x"):
        proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quality-seeds", bad],
                              cwd=repo_root, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "--quality-seeds" in proc.stderr
        assert "Traceback" not in proc.stderr
