"""The recipe in plain sight: the Train and Compare pages name the recipe they use at the top,
outside any expander; a ?recipe=plain link is honoured; and the Compare page shows what the
shipped sweeps say over several seeds, beside the live pair.
"""
from __future__ import annotations

import csv
import statistics

import pytest

from apphelpers import REPO, page
from gan_core.config import RECIPES
from lab_app.recipes import CUSTOM, RECIPE_LINES
from lab_app.settings import mnist_available


def placed(at):
    """(element, inside an expander, inside a bordered container) for every element shown."""
    out = []

    def walk(node, in_expander, in_border):
        kind = type(node).__name__
        if kind == "Expander":
            in_expander = True
        proto = getattr(node, "proto", None)
        flex = getattr(proto, "flex_container", None) if kind == "Block" else None
        if flex is not None and flex.border:
            in_border = True
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child, in_expander, in_border)
        else:
            out.append((node, in_expander, in_border))

    walk(at.main, False, False)
    return out


def top_level_text(at) -> str:
    """The text of every caption and Markdown block not inside an expander."""
    return " ".join(str(e.value) for e, in_expander, _ in placed(at) if not in_expander
                    and type(e).__name__ in ("Caption", "Markdown"))


def points_default() -> bool:
    """The pages open on MNIST where its files are here, else on the 2-D ring."""
    return not mnist_available()


# --- the Train page --------------------------------------------------------------------------

def test_train_names_the_fast_recipe_at_the_top_when_opened_plainly():
    at = page("train").run()
    assert not at.exception
    assert at.radio(key="t_recipe").value == "fast"
    text = top_level_text(at)
    assert RECIPES["fast"].name in text
    assert RECIPE_LINES["fast"][points_default()] in text
    assert "DCGAN runs" in text and "every loss" in text


def test_train_opened_with_recipe_plain_shows_and_uses_plain():
    at = page("train", recipe="plain", dataset="mnist").run()
    assert not at.exception
    assert at.radio(key="t_recipe").value == "plain"
    text = top_level_text(at)
    assert RECIPES["plain"].name in text and RECIPE_LINES["plain"][False] in text
    assert at.number_input(key="t_lr_g").value == pytest.approx(2e-4)
    assert at.number_input(key="t_batch_size").value == 64
    assert at.checkbox(key="t_clusters_on").value is False
    assert at.checkbox(key="t_ema_on").value is False


def test_train_picking_a_recipe_sets_its_values_and_a_change_makes_a_mix():
    at = page("train", dataset="mnist").run()
    at.radio(key="t_recipe").set_value("plain").run()
    assert not at.exception
    assert at.number_input(key="t_lr_d").value == pytest.approx(2e-4)
    assert at.number_input(key="t_batch_size").value == 64
    assert at.checkbox(key="t_ema_on").value is False
    at.number_input(key="t_batch_size").set_value(48).run()
    assert at.radio(key="t_recipe").value is None
    text = top_level_text(at)
    assert CUSTOM in text and "batch 48 (not 64)" in text
    at.radio(key="t_recipe").set_value("fast").run()
    assert at.radio(key="t_recipe").value == "fast"
    assert at.number_input(key="t_batch_size").value == 32
    assert at.checkbox(key="t_clusters_on").value is True
    assert at.checkbox(key="t_ema_on").value is True


# --- the Compare page ------------------------------------------------------------------------

def test_compare_names_the_shared_recipe_at_the_top():
    at = page("compare").run()
    assert not at.exception
    assert at.button_group(key="c_recipe").value == "fast"
    text = top_level_text(at)
    assert RECIPES["fast"].name in text and RECIPE_LINES["fast"][points_default()] in text
    # The sentence that both sides differ only in A and B now says what they share.
    assert "recipe above (Fast classroom recipe)" in text


def test_compare_with_recipe_plain_shows_plain():
    at = page("compare", dataset="ring", recipe="plain").run()
    assert not at.exception
    assert at.button_group(key="c_recipe").value == "plain"
    text = top_level_text(at)
    assert RECIPES["plain"].name in text and RECIPE_LINES["plain"][True] in text


@pytest.fixture
def mnist_here(real_data_dir, monkeypatch):
    """MNIST on disk for the pages (skipped, with the reason, where it is not)."""
    monkeypatch.setenv("GAN_DATA_DIR", str(real_data_dir))
    return real_data_dir


def test_compare_recipe_plain_builds_both_sides_plain(mnist_here, monkeypatch):
    """Press Train both on ?recipe=plain: the two configs handed to the job are the papers'
    DCGAN set-up (no clusters, no EMA, lr 2e-4, batch 64), each with its own loss."""
    import gan_core.jobs

    built = []

    class NoJob:                       # records the configs instead of training
        def __init__(self, configs, *args, **kwargs):
            built.extend(configs)
            raise ValueError("not trained in this test")

    monkeypatch.setattr(gan_core.jobs, "Job", NoJob)
    at = page("compare", dataset="mnist", a="flgan", b="dcgan", recipe="plain").run()
    next(b for b in at.button if b.label == "Train both").click().run()
    assert [c.loss for c in built] == ["focal", "nonsaturating"]
    for cfg in built:
        assert cfg.clusters is None and cfg.ema_decay is None
        assert cfg.lr_g == cfg.lr_d == 2e-4 and cfg.batch_size == 64
    assert built[0].grad_clip == 0.25 and built[1].grad_clip is None


def _expected(name: str, a: str = "focal_clip", b: str = "neither") -> dict:
    """From the shipped results.csv: per arm 'mean ± sd' and 'min-max' of the steps to the
    threshold, and in how many seeds the arm with the higher mean was first or tied."""
    rows = list(csv.DictReader((REPO / "experiments" / name / "results.csv").open()))
    steps = {arm: {int(r["seed"]): float(r["steps_to_threshold"]) for r in rows
                   if r["arm"] == arm} for arm in (a, b)}
    out = {}
    for arm, by_seed in steps.items():
        v = list(by_seed.values())
        out[arm] = (f"{statistics.fmean(v):,.0f} ± {statistics.stdev(v):,.0f}",
                    f"{min(v):,.0f}-{max(v):,.0f}")
    seeds = sorted(steps[a])
    winner = a if statistics.fmean(steps[a].values()) < statistics.fmean(steps[b].values()) else b
    other = b if winner == a else a
    changes = sum(steps[winner][s] >= steps[other][s] for s in seeds)
    out["changes"] = f"the winner changes with the seed in {changes} of {len(seeds)}"
    return out


def test_compare_shows_the_multi_seed_result_beside_the_pair(mnist_here):
    at = page("compare", dataset="mnist", a="flgan", b="dcgan", recipe="plain").run()
    assert not at.exception
    shown = placed(at)
    block = [e for e, in_expander, in_border in shown if in_border and not in_expander]
    text = " ".join(str(e.value) for e in block if type(e).__name__ in ("Markdown", "Caption"))
    tables = [e.value for e in block if type(e).__name__ == "Dataframe"]
    assert "One run is one seed" in text
    for name in ("focal-vs-dcgan", "focal-vs-dcgan-paper"):
        exp = _expected(name)
        assert exp["changes"] in text
        cells = " ".join(str(v) for t in tables for v in t.to_numpy().ravel())
        for arm in ("focal_clip", "neither"):
            mean_sd, span = exp[arm]
            assert mean_sd in text and mean_sd in cells and span in cells
    # Which model and recipe the sweeps used, read from their runs.
    assert "the classroom model" in text and "the paper model" in text
    assert RECIPES["plain"].name in text and "5 of 5" in " ".join(
        str(v) for t in tables for v in t.to_numpy().ravel())
    # Only for MNIST: the sweeps say nothing about the 2-D sets.
    at.selectbox(key="c_dataset").set_value("ring").run()
    assert not at.exception
    assert "One run is one seed" not in " ".join(m.value for m in at.markdown)


def test_the_shipped_timeline_caption_names_its_recipe():
    at = page("compare", dataset="ring").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Trained by"))
    assert "identical except for the loss and clipping" not in caption
    assert RECIPES["fast"].name in caption and "EMA" in caption and "clusters" in caption
    at.radio(key="cmp_pre_model").set_value("paper").run()
    caption = next(c.value for c in at.caption if c.value.startswith("Trained by"))
    assert RECIPES["plain"].name in caption


def test_home_pictures_name_their_recipe(tmp_path):
    from apphelpers import stub_navigation
    at = stub_navigation(tmp_path, default="home").run()
    assert not at.exception
    captions = [img.caption for e, _, _ in placed(at) if type(e).__name__ == "Image"
                for img in e.proto.imgs]
    if not captions:
        pytest.skip("no shipped models in pretrained/, so Home shows no pictures")
    digits = [c for c in captions if "MNIST" in c or "loss" in c]
    assert digits and all(RECIPES["fast"].name in c or RECIPES["plain"].name in c
                          for c in digits)
    assert not any("the best shipped model" in c for c in captions)
