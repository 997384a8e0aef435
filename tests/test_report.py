"""The run report a student hands in (gan_core.report, `python -m gan_core report RUN`)."""
from __future__ import annotations

import re

import pytest

from gan_core.cli import main
from gan_core.config import TrainConfig
from gan_core.report import RunRecord, grids_over_time, record_from_folder, report_html
from gan_core.runs import save_run
from gan_core.trainer import Trainer

EVIL = "[log in](http://evil.example/) <img src=http://evil.example/x.png> <script>alert(1)</script>"


def _history(steps: int, d_real: float, d_fake: float) -> list[dict]:
    return [dict(step=s, epoch=1, d_loss=0.3, g_loss=4.0, d_real=d_real, d_fake=d_fake,
                 log_lg_ld=2.6, loss="nonsaturating") for s in range(1, steps + 1)]


def test_the_report_is_one_offline_file_that_names_what_happened():
    run = RunRecord(config=TrainConfig(dataset="ring", model="mlp").to_dict(),
                    history=_history(300, 0.97, 0.01), title="D wins", state="Finished.")
    page = report_html(run, version="abc123")
    assert page.startswith("<!doctype html>") and "abc123" in page
    assert "D is winning" in page or "D won" in page            # gan_core.detectors' words
    assert "<script" not in page and "http" not in page         # nothing loads from outside
    assert len(re.findall(r"src='data:image/png;base64,", page)) == 1     # the curves


def test_every_value_from_the_run_is_shown_as_text():
    cfg = TrainConfig(dataset="ring", model="mlp").to_dict()
    cfg["dataset"] = EVIL
    run = RunRecord(config=cfg, history=_history(5, 0.5, 0.5), title=EVIL, lesson=EVIL,
                    state=EVIL)
    page = report_html(run, version=EVIL)
    assert "<img src=http" not in page and "<script>" not in page
    assert "&lt;img src=http://evil.example/x.png&gt;" in page


def test_a_run_folder_gives_a_report_from_the_command_line(tmp_path, capsys):
    tr = Trainer(TrainConfig(dataset="ring", model="mlp", max_steps=40, sample_every=10,
                             device="cpu"))
    tr.run()
    save_run(tr, tmp_path / "run")
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text()
    assert "step 40" in page and "<table>" in page
    record = record_from_folder(tmp_path / "run")
    assert len(record.history) == 40 and record.grids
    assert len(grids_over_time(tr.snapshots, most=3)) == 3
    assert [label for label, _ in grids_over_time(tr.snapshots, most=3)][-1] == "step 40"


def test_a_folder_without_a_run_is_a_clear_message(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "has no checkpoint.pt" in err and "Traceback" not in err


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_raw_score_losses_are_labelled_as_scores(loss):
    cfg = TrainConfig(dataset="ring", model="mlp", loss=loss).to_dict()
    page = report_html(RunRecord(config=cfg, history=_history(5, 1.2, -0.8)), version="x")
    assert "score(x) 1.200" in page


def test_the_train_pages_report_names_the_lesson_and_what_differs_from_it():
    from lab_app.lessons import LESSONS
    from lab_app.reports import lesson_of, run_report
    from lab_app.settings import config_from_params
    lesson = LESSONS["d-domination"]
    assert lesson_of(lesson.params) is lesson and lesson_of({"dataset": "ring"}) is None
    cfg, _ = config_from_params(lesson.params)
    tr = Trainer(cfg.with_updates(max_steps=30, sample_every=10, device="cpu", seed=3))
    tr.run()
    page = run_report(tr, tr.history, tr.snapshots, params=lesson.params).decode()
    assert lesson.title in page and lesson.effect.watch.split(",")[0] in page
    assert "<tr class=diff><td>seed</td><td>3</td>" in page          # what the student changed
    assert page.count("<figure>") == 4                                # steps 0, 10, 20, 30
