"""The class in a real browser: two students start runs, the teacher opens the Class page.

Without the key the page shows no run; with it, both runs with their sample grids; a lesson the
teacher sends appears as a banner on both students' pages without a reload.
"""
from __future__ import annotations

import pytest
from test_browser import CHROMIUM, _no_exception, _start_server, _stop_server
from test_browser import browser  # noqa: F401, F811 - the shared Chromium fixture

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                 "(apt-get install chromium); CI installs it")]
KEY = "class-key-7"


@pytest.fixture(scope="module")
def server():
    proc, url = _start_server({"GAN_LAB_TEACHER_KEY": KEY})
    yield url
    _stop_server(proc)


def _student(chromium, server, name):
    page = chromium.new_context(viewport={"width": 1300, "height": 1400}).new_page()
    page.goto(f"{server}/train?dataset=ring&epochs=2")
    box = page.get_by_role("textbox", name="Your name for the teacher")
    box.fill(name)
    box.press("Enter")
    page.get_by_role("button", name="Start training").click()
    return page


def test_two_students_and_the_teachers_class_page(server, browser, tmp_path):  # noqa: F811
    students = [_student(browser, server, n) for n in ("Ada", "Grace")]
    for page in students:
        page.get_by_text("step").first.wait_for(timeout=120_000)

    teacher = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
    teacher.goto(f"{server}/class")
    teacher.get_by_role("textbox", name="Teacher key").wait_for(timeout=60_000)
    body = teacher.locator("body").inner_text()
    assert "Ada" not in body and "Grace" not in body
    teacher.get_by_role("textbox", name="Teacher key").fill(KEY)
    teacher.get_by_role("button", name="Open the class").click()
    teacher.get_by_text("Ada").first.wait_for(timeout=60_000)
    teacher.get_by_text("Grace").first.wait_for(timeout=60_000)
    main = teacher.get_by_test_id("stMainBlockContainer")
    main.locator("img").nth(1).wait_for(timeout=60_000)         # a sample grid per run
    assert main.locator("img").count() >= 2
    _no_exception(teacher)

    teacher.get_by_text("Send a lesson to the class").click()
    teacher.get_by_role("button", name="Send to every student").click()
    for page in students:
        page.get_by_text("From your teacher").wait_for(timeout=30_000)
        link = page.get_by_role("link", name="Open the lesson")
        link.wait_for(timeout=15_000)            # drawn just after the line above it
        assert link.count() == 1
        _no_exception(page)
    teacher.screenshot(path="/tmp/class.png", full_page=True)
