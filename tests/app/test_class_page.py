"""The Class page (the teacher's view) and the lesson banner on every student's page."""
from __future__ import annotations

import pytest
from apphelpers import finish_jobs, page, stub_navigation

from lab_app import ui


@pytest.fixture
def room(monkeypatch):
    monkeypatch.setenv("GAN_LAB_TEACHER_KEY", "teach-42")
    ui.get_classroom.clear()
    yield ui.get_classroom()
    ui.get_classroom.clear()


def _all_text(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "error", "subheader", "success"):
        parts += [e.value for e in getattr(at, kind)]
    return " ".join(parts)


def test_without_the_key_no_run_is_shown_and_with_it_every_run_is(room):
    students = []
    for name in ("Ada", "Grace"):
        at = page("train", dataset="ring", epochs=1).run()
        room.set_name(at.session_state["owner_key"], name)
        at.button[0].click().run()
        assert not at.exception
        students.append(at)
    for at in students:
        finish_jobs(at)

    teacher = page("class").run()
    assert not teacher.exception
    assert "Ada" not in _all_text(teacher) and "Grace" not in _all_text(teacher)
    teacher.text_input[0].input("not-it")
    teacher.button[0].click().run()
    assert any("not the key" in e.value for e in teacher.error)
    assert "Ada" not in _all_text(teacher)

    room._next_try = 0.0                      # the wait after the wrong try, skipped here
    teacher.text_input[0].input("teach-42")
    teacher.button[0].click().run()
    assert not teacher.exception
    text = _all_text(teacher)
    assert "Ada" in text and "Grace" in text and "finished" in text
    assert len(teacher.get("imgs")) >= 2 or len(teacher.get("image")) >= 2


def test_a_lesson_sent_by_the_teacher_shows_on_a_students_page(room, tmp_path):
    at = stub_navigation(tmp_path, default="explore")     # a student on a page (a stub)
    entry = tmp_path / "entry.py"
    entry.write_text(entry.read_text().replace(
        ").run()\n", ")\nfrom lab_app.ui import class_banner\nclass_banner()\n", 1))
    at.run()
    assert not at.exception and not at.get("page_link")
    room.send("Try [this](http://evil/) now", "app_pages/train.py",
              {"dataset": "ring", "latent_dim": "1"})
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "From your teacher" in shown and "](http" not in shown.replace("\\](", "")
    assert len(at.get("page_link")) == 1


def test_names_and_notes_from_students_and_the_teacher_stay_text_on_the_class_page(room):
    from test_untrusted_text import PAYLOADS, hostile, markdown_strings
    at = page("train", dataset="ring", epochs=1).run()
    room.set_name(at.session_state["owner_key"], PAYLOADS[0] + PAYLOADS[2])
    at.button[0].click().run()
    finish_jobs(at)
    room.send(PAYLOADS[1] + " " + PAYLOADS[3], "app_pages/train.py", {"dataset": "ring"})
    teacher = page("class").run()
    teacher.text_input[0].input("teach-42")
    teacher.button[0].click().run()
    assert not teacher.exception
    found = [(where, s) for where, _, s in markdown_strings(teacher) if hostile(s)]
    assert found == []
    assert any("log in" in s for _, _, s in markdown_strings(teacher))      # shown, as text


def test_the_teachers_buttons_and_pair_follow_their_run_when_newer_runs_arrive(room):
    """Rows are newest first, so a run's row moves down when a student starts another: the
    teacher's Stop and the side-by-side pair must still mean the run they were drawn for."""
    first = page("train", dataset="ring", epochs=30).run()
    assert not first.exception, first.exception     # (once seen in CI: no owner_key yet)
    room.set_name(first.session_state["owner_key"], "Ada")
    first.button[0].click().run()
    job = first.session_state["runs"][-1].job
    teacher = page("class").run()
    teacher.text_input[0].input("teach-42")
    teacher.button[0].click().run()
    pair = teacher.multiselect(key="cls_pair")
    assert pair.options == ["Ada: run 1 (running)"] or pair.options == ["Ada: run 1 (queued)"]
    chosen = f"{job.id}:0"

    second = page("train", dataset="ring", epochs=30, seed=3).run()
    assert not second.exception, second.exception
    room.set_name(second.session_state["owner_key"], "Grace")
    second.button[0].click().run()
    teacher.run()
    teacher.multiselect(key="cls_pair").select(chosen).run()
    teacher.button(key=f"cls_s{job.id}").click().run()
    assert not teacher.exception
    assert job.join(60) and job.status().state == "stopped"
    other = second.session_state["runs"][-1].job
    assert other.alive or other.status().state == "finished"     # not the one stopped
    assert teacher.multiselect(key="cls_pair").value == [chosen]
    other.stop()
    finish_jobs(second)
