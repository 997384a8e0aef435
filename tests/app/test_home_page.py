"""The Home page in AppTest: renders, links every page, and its lesson buttons open the right page.

Home calls st.page_link and st.switch_page, which only work inside st.navigation, so the page is
run behind a small copy of app.py's navigation: the real Home and Loss lab, and stub Train,
Compare and Latent explorer pages that show the URL they were opened with. That keeps these
tests fast and independent of the other pages; one test also runs the real app.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[2]

from apphelpers import STUB_PAGES, stub_navigation
from lab_app.lessons import LESSONS
from lab_app.pages import PAGES
from lab_app.settings import config_from_params

HOME_PRESETS = ("flgan-vs-dcgan", "mode-collapse", "g-advantage", "saturating")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """An AppTest (not yet run) of the navigation with home as the default page."""
    import streamlit as st
    monkeypatch.chdir(REPO_ROOT)
    st.cache_data.clear()
    yield stub_navigation(tmp_path, default="home")
    st.cache_resource.clear()


def test_home_renders_the_story_the_picture_and_the_game(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "GAN teaching lab"
    text = " ".join(m.value for m in at.markdown)
    for word in ("generator", "discriminator", "minimax game", "alternates", "go wrong"):
        assert word in text
    assert any(r"\min_G \max_D V(D,G)" in x.value for x in at.latex)
    assert len(at.get("graphviz_chart")) == 1


def test_home_links_every_page(app):
    at = app.run()
    links = at.get("page_link")
    assert [link.proto.label for link in links] == ["Train", "Compare", "Latent explorer",
                                                   "Loss lab", "Dirac-GAN", "Experiments",
                                                   "Class (teacher)"]


def test_every_page_script_is_listed_once_and_every_lesson_opens_a_listed_page():
    files = [p.file for p in PAGES]
    assert sorted(files) == sorted(f"app_pages/{f.name}" for f in (REPO_ROOT / "app_pages").glob("*.py"))
    assert {lesson.page for lesson in LESSONS.values()} <= set(files)


def test_home_shows_the_four_preset_buttons_with_their_blurbs(app):
    at = app.run()
    for key in HOME_PRESETS:
        button = at.button(key=f"home_preset_{key}")
        assert button.label.startswith("Open on")
    captions = " ".join(c.value for c in at.caption)
    for key in HOME_PRESETS:
        assert LESSONS[key].blurb in captions


@pytest.mark.parametrize("key", HOME_PRESETS)
def test_a_preset_button_opens_its_page_with_the_lesson_settings(app, key):
    lesson = LESSONS[key]
    at = app.run()
    at.button(key=f"home_preset_{key}").click().run()
    assert not at.exception
    assert at.title[0].value == STUB_PAGES[Path(lesson.page).stem]
    # The opened page read the lesson's settings from its URL (the stub echoes them as JSON).
    assert json.loads(at.json[0].proto.body) == lesson.params
    assert dict(at.query_params) == lesson.params


@pytest.mark.parametrize("key", HOME_PRESETS)
def test_preset_settings_are_valid_training_configs(key):
    _, errors = config_from_params(LESSONS[key].params)
    assert errors == {}


def test_the_real_app_serves_home_and_the_loss_lab(monkeypatch):
    """app.py itself: Home is the default page and the Loss lab opens from the navigation."""
    import streamlit as st
    import torch
    missing = [p for p in ("train", "compare", "explore")
               if not (REPO_ROOT / "app_pages" / f"{p}.py").exists()]
    if missing:
        pytest.skip(f"pages not written yet: {', '.join(missing)}")
    monkeypatch.chdir(REPO_ROOT)
    threads = torch.get_num_threads()         # app.py sets torch's thread count
    try:
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60).run()
        assert not at.exception
        assert at.title[0].value == "GAN teaching lab"
        at.switch_page("app_pages/loss_lab.py").run()
        assert not at.exception
        assert at.title[0].value == "Loss lab"
    finally:
        torch.set_num_threads(threads)
        st.cache_resource.clear()
