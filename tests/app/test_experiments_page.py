"""The Experiments page: shipped results with a verdict, and the quick rerun on the server."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from apphelpers import page
from gan_core import claims
from lab_app import sweep_results as shipped
from tests.conftest import make_idx_tree


@pytest.mark.parametrize("name", list(claims.EXPERIMENTS))
def test_every_experiment_has_shipped_results_and_a_verdict(name):
    loaded = shipped.load_shipped(name)
    assert loaded is not None, f"experiments/{name}/summary.json is missing"
    summary, rows, curves = loaded
    exp = claims.EXPERIMENTS[name]
    assert summary["complete"] and not summary["quick"]
    assert len(rows) == len(exp.arms) * exp.seeds
    assert summary["command"].startswith(f"python -m gan_core sweep {name}")
    at = page("experiments", exp=name).run()
    assert not at.exception
    verdict = [s.value for s in at.success]
    assert verdict and verdict[0].startswith("**Verdict.** ")
    assert summary["verdict"] in verdict[0]
    assert exp.claim in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 2


def test_page_without_shipped_results_says_how_to_make_them(monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "RESULTS_DIR", tmp_path)
    at = page("experiments", exp="depth-bn").run()
    assert not at.exception
    assert any("python -m gan_core sweep depth-bn" in i.value for i in at.info)
    assert at.selectbox(key="exp_choice").value == "depth-bn"


def test_unknown_experiment_in_the_url_falls_back_to_the_first(monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "RESULTS_DIR", tmp_path)
    at = page("experiments", exp="<script>").run()
    assert not at.exception
    assert at.selectbox(key="exp_choice").value == list(claims.EXPERIMENTS)[0]


def test_quick_rerun_trains_on_the_server_and_shows_its_own_verdict(monkeypatch, tmp_path):
    data = make_idx_tree(tmp_path / "data", n={"train": 600, "test": 100})
    monkeypatch.setenv("GAN_DATA_DIR", str(data))
    monkeypatch.setattr(shipped, "RESULTS_DIR", tmp_path / "none")
    at = page("experiments", exp="sagan").run()
    at.button(key="run_quick").click().run()
    assert not at.exception
    job = at.session_state["sweep_sagan"]
    assert job.join(timeout=300), "the quick sweep did not finish"
    assert job.state == "finished", job.error
    at.run()
    assert not at.exception
    verdict = [s.value for s in at.success]
    assert verdict and "SAGAN recipe" in verdict[0] and "DCGAN recipe" in verdict[0]
    assert Path(job.out, "results.csv").is_file()


def test_small_data_shows_samples_beside_their_nearest_training_images():
    """The memorisation sweep's page shows, per arm, samples above their nearest training
    images with the distances (saved by each run; the page only lays them out)."""
    at = page("experiments", exp="small-data").run()
    assert not at.exception
    images = at.get("image")
    assert len(images) >= len(claims.EXPERIMENTS["small-data"].arms)
    assert any("Samples beside their nearest training image" in m.value for m in at.markdown)
