"""A missing dataset is said before anyone waits (issue 35): each Home lesson card names the
dataset it needs and whether it is here, with the one command that gets it; the Train page says
so at the top on load (not after Start) and its dataset menu marks the sets that are not here.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from apphelpers import REPO, page, stub_navigation

from lab_app.lessons import LESSONS, dataset_line

SHARED = REPO.parent / "shared" / "data"


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    """A data folder with nothing in it, the lab's only one."""
    import streamlit as st
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "README").write_text("no datasets here")
    monkeypatch.setenv("GAN_DATA_DIR", str(folder))
    monkeypatch.chdir(REPO)
    st.cache_data.clear()
    yield folder
    st.cache_resource.clear()


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_home_cards_say_which_lessons_need_mnist_and_how_to_get_it(empty_data, tmp_path):
    at = stub_navigation(tmp_path).run()
    assert not at.exception
    needs = [c for c in captions(at) if "Needs mnist" in c]
    want = [k for k, lesson in LESSONS.items()
            if lesson.params.get("dataset") == "mnist" and _on_home(k)]
    assert len(want) >= 5 and len(needs) == len(want)
    assert all("not on this server" in c and "./lab data fetch mnist" in c for c in needs)
    assert not any("Needs ring" in c or "Needs grid" in c for c in captions(at))


def _on_home(key: str) -> bool:
    import ast
    tree = ast.parse((REPO / "app_pages" / "home.py").read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    return key in strings


def test_a_lesson_card_says_here_when_the_digits_are_here():
    if not (SHARED / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs the real MNIST test split in ../shared/data")
    line, here = dataset_line(LESSONS["mode-collapse"], SHARED)
    assert here and line == "Needs mnist: here"
    assert dataset_line(LESSONS["toy-collapse"], SHARED) == ("", True)


def test_train_page_says_the_missing_dataset_at_the_top_on_load(empty_data):
    at = page("train", dataset="mnist", latent_dim="1").run()
    assert not at.exception
    assert at.warning, "no warning shown on load"
    kinds = [type(c).__name__ for c in at.main.children.values()]
    assert kinds[:3] == ["Title", "Warning", "Block"]    # above the settings' columns
    top = at.warning[0].value
    assert "mnist is not in" in top and "./lab data fetch mnist" in top
    assert "\n" not in top
    assert not at.error                   # nothing waits for Start to say it
    box = at.selectbox(key="t_dataset")
    assert "mnist (not here)" in box.options and "ring" in box.options
    assert "mnist (`./lab data fetch mnist`)" in box.help
    assert "fer2013 (by hand" in box.help


def test_train_page_on_the_ring_says_nothing_about_data(empty_data):
    at = page("train", dataset="ring").run()
    assert not at.exception
    assert not [w for w in at.warning if "not in" in w.value]


def test_train_page_with_the_digits_here_says_nothing(monkeypatch):
    if not (SHARED / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs the real MNIST test split in ../shared/data")
    monkeypatch.setenv("GAN_DATA_DIR", str(SHARED))
    at = page("train", dataset="mnist").run()
    assert not at.exception
    assert not [w for w in at.warning if "not in" in w.value]
    box = at.selectbox(key="t_dataset")
    assert "mnist" in box.options and "cifar10 (not here)" in box.options
    assert " mnist (`" not in box.help and "cifar10 (`./lab data fetch cifar10`)" in box.help
    assert Path(SHARED).is_dir()


def test_compare_page_says_how_to_get_mnist_when_it_falls_back_to_the_ring(empty_data):
    at = page("compare", dataset="mnist").run()
    assert not at.exception
    line = next(w.value for w in at.warning if "mnist is not in" in w.value)
    assert "./lab data fetch mnist" in line and "ring is used" in line
