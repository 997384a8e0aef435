"""Lessons as contracts (issue 29): each declares an effect the lesson benchmark measures, says
which recipe it trains with, and its card shows what was measured for exactly its settings."""
import pytest

from gan_core import detectors
from gan_core.config import RECIPES
from lab_app import lessons
from lab_app.lessons import LESSONS, measured, measured_line, recipe_line
from lab_app.phase import settings_from_params
from lab_app.settings import config_from_params

EFFECTS = set(detectors.DETECTORS) | {"covers", "digits", "pair_first"}


@pytest.mark.parametrize("key", list(LESSONS))
def test_every_lesson_link_builds_and_names_its_recipe(key):
    lesson = LESSONS[key]
    if lesson.page.endswith("dirac.py"):        # nothing trains: no recipe; the link is valid
        assert settings_from_params(lesson.params)[1] == [] and lesson.effect is None
        return
    assert lesson.params.get("recipe") in RECIPES
    if lesson.page.endswith("train.py"):
        cfg, errors = config_from_params(lesson.params)
        assert errors == {}
        if lesson.params["recipe"] == "plain" or lesson.params.get("ema") == "0":
            assert cfg.ema_decay is None          # the class sees G itself, not its average
    if lesson.effect is not None:
        assert lesson.effect.detector in EFFECTS
        assert lesson.effect.watch


def test_failure_lessons_do_not_inherit_the_fast_recipe():
    for key in ("toy-collapse", "non-convergence", "d-domination", "g-domination",
                "saturating", "g-advantage", "flgan-vs-dcgan"):
        assert LESSONS[key].params["recipe"] == "plain", key
    cfg, _ = config_from_params(LESSONS["d-domination"].params)
    assert cfg.clusters is None and cfg.lr_g == 2e-4 and cfg.batch_size == 64


def test_recipe_line_names_what_a_link_changes():
    assert recipe_line(LESSONS["d-domination"]) == "Plain DCGAN, as in the papers"
    assert recipe_line(LESSONS["saturating"]).endswith("but lr_d 0.0008")
    assert "samples from G itself" in recipe_line(LESSONS["mode-collapse"])
    assert recipe_line(LESSONS["toy-collapse"]) == "samples from G itself"


def test_measured_line_reads_the_benchmark_result():
    results = {"d-domination": {"seeds": 5, "shown": 4, "median_step": 50.0}}
    assert measured_line("d-domination", results) == \
        "Measured: seen in 4/5 runs, by step 50 (median)"
    assert measured_line("saturating", results) == ""
    assert measured_line("d-domination", {"d-domination": {"seeds": "5"}}) == ""   # bad file


def test_the_shipped_lesson_results_match_the_lessons_and_show_their_effects():
    """benchmarks/results/lessons.json was measured with every lesson's current settings, on at
    least 5 seeds, and each lesson showed its effect in at least 4 of 5 runs (the contract)."""
    results = measured()
    if not results:
        pytest.skip(f"{lessons.RESULTS} is missing: run python -m benchmarks.lessons")
    for key, lesson in LESSONS.items():
        if lesson.effect is None:
            continue
        r = results.get(key)
        assert r is not None, f"{key} was never measured"
        assert r["params"] == lesson.params, f"{key} changed since it was measured"
        assert r["effect"] == lesson.effect.detector
        assert r["seeds"] >= 5 and r["shown"] >= 0.8 * r["seeds"], (key, r)
