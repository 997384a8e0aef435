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


def test_the_page_shows_each_comparison_with_its_interval_and_p():
    at = page("experiments", exp="gd-ratio-equal-g").run()
    assert not at.exception
    summary, _, _ = shipped.load_shipped("gd-ratio-equal-g")
    table = at.dataframe[0].value           # the comparisons, before the table of runs
    assert list(table.columns)[:6] == ["comparison", "number", "difference", "95% interval", "p",
                                       "p (Holm)"]
    assert len(table) == len(summary["comparisons"])
    first = table.iloc[0]
    assert first["comparison"] == "G:D 2:1 − G:D 1:1" and first["clear"] == "no"
    assert first["95% interval"] == "-57.8 to +45.3"
    warn = " ".join(w.value for w in at.warning)
    assert "do not share one recorded code version" in warn


def test_comparison_rows_are_plain_text_even_from_a_hostile_file():
    rows = shipped.comparison_rows(dict(comparisons=[
        dict(a="x", b="y", a_label="[click](http://evil)\n# big", b_label="y", metric="copy_share",
             diff=0.061, ci_low=-0.09, ci_high=0.22, p=0.22, p_holm=0.45, test="paired t-test",
             n=3), "not a dict"]))
    assert len(rows) == 1
    assert rows[0]["comparison"] == "[click](http://evil) # big − y"     # one line, no newline
    assert (rows[0]["difference"], rows[0]["95% interval"]) == ("+6.1", "-9.0 to +22.0")
    assert rows[0]["number"].endswith("(points)")


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
    # Untrained arms (judge FD about 2,000 in each) are too short to judge: no confident verdict.
    assert not at.success
    verdict = [s.value for s in at.info if "Verdict" in s.value]
    assert verdict and "Too short to judge; this checks that the sweep runs." in verdict[0]
    assert "SAGAN recipe" not in verdict[0]
    assert Path(job.out, "results.csv").is_file()


def test_small_data_shows_samples_beside_their_nearest_training_images():
    """The memorisation sweep's page shows, per arm, samples above their nearest training
    images with the distances (saved by each run; the page only lays them out)."""
    at = page("experiments", exp="small-data").run()
    assert not at.exception
    images = at.get("image")
    assert len(images) >= len(claims.EXPERIMENTS["small-data"].arms)
    assert any("Samples beside their nearest training image" in m.value for m in at.markdown)
