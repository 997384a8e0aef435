"""The Train page's run report: a live or finished run as gan_core.report's HTML (no Streamlit).

The lesson a run belongs to is the one whose link opened the page with exactly these settings;
the report's settings table then shows what differs from the lesson's set-up (else from the
page's defaults for the dataset).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from gan_core.report import RunRecord, grids_over_time, report_html
from lab_app.lessons import LESSONS, Lesson
from lab_app.settings import config_from_params, default_config


def lesson_of(params: Mapping[str, str]) -> Optional[Lesson]:
    """The lesson whose link is exactly `params` (a Train page URL), or None."""
    for lesson in LESSONS.values():
        if lesson.params == dict(params):
            return lesson
    return None


def starting_point(dataset: str, params: Optional[Mapping[str, str]]
                   ) -> tuple[Optional[Lesson], dict]:
    """(the lesson whose link is `params`, or None; the config a run on `dataset` started
    from: that lesson's set-up, else the page's defaults for the dataset) - what the Class
    page and the report compare a run with."""
    lesson = lesson_of(params or {})
    base = config_from_params(lesson.params)[0] if lesson else default_config(dataset)
    return lesson, base.to_dict()


def run_report(run: Any, history: Sequence[dict], snapshots: Sequence[Any], looks=(),
               params: Optional[Mapping[str, str]] = None) -> bytes:
    """The HTML report of `run` (a job's RunView or a Trainer) as UTF-8 bytes."""
    lesson, base = starting_point(run.config.dataset, params)
    real = run.dataset.data[:1000] if run.dataset.is_points else None
    record = RunRecord(
        config=run.config.to_dict(), history=list(history),
        grids=grids_over_time(snapshots, real), looks=looks,
        title=f"{run.config.dataset}: {run.config.loss} loss, {len(history)} steps",
        lesson=f"{lesson.title}: {lesson.effect.watch}" if lesson else "",
        state=f"{run.state.capitalize()}: {run.reason}." if getattr(run, "reason", "") else "",
        base=base)
    return report_html(record).encode()
