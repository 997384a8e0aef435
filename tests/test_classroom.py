"""The class as the teacher sees it (lab_app.classroom): names, the key, the banner, the rows."""
from __future__ import annotations

import io
import json
import zipfile


from gan_core.config import TrainConfig
from gan_core.jobs import Job, JobPool
from lab_app.classroom import Classroom, differences


class _Run:
    def __init__(self, job, name="ring run", labels=()):
        self.job, self.name, self.labels = job, name, list(labels)


def test_students_are_numbered_in_order_of_arrival_and_may_choose_a_name():
    room = Classroom(key="k", announce=lambda s: None)
    assert room.name_of("owner-a") == "student 1" and room.name_of("owner-b") == "student 2"
    assert room.set_name("owner-b", "  Ada\n Lovelace\x00 ") == "Ada Lovelace"
    assert len(room.set_name("owner-a", "x" * 500)) == 40
    assert room.set_name("owner-a", "   ") == "student 1"          # cleared: the number again


def test_a_generated_key_is_announced_once_and_wrong_keys_wait_longer_each_time():
    said = []
    room = Classroom(announce=said.append)
    assert len(said) == 1 and "teacher key" in said[0]
    key = said[0].split("is ")[1].split(" ")[0]
    assert room.check_key("guess", now=100.0) == (False, 1.0)
    assert room.check_key(key, now=100.5) == (False, 0.5)       # too soon: not even compared
    assert room.check_key("guess", now=101.0) == (False, 2.0)
    assert room.check_key("guess", now=103.0) == (False, 4.0)
    assert room.check_key(key, now=107.0) == (True, 0.0)
    assert room.check_key("guess", now=107.0) == (False, 1.0)   # counting starts again


def test_the_key_from_the_environment_is_not_announced(monkeypatch):
    monkeypatch.setenv("GAN_LAB_TEACHER_KEY", "class-7b")
    said = []
    room = Classroom(announce=said.append)
    assert said == [] and room.check_key("class-7b")[0]


def test_rows_show_every_run_with_what_differs_and_the_zip_holds_each_runs_report(tmp_path):
    room = Classroom(key="k", announce=lambda s: None)
    pool = JobPool(max_running=2)
    base = TrainConfig(dataset="ring", model="mlp", latent_dim=2, sample_every=10).to_dict()
    jobs = []
    for owner, lr in (("a", 2e-4), ("b", 1e-3)):
        cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, lr_g=lr, max_steps=30,
                          sample_every=10, device="cpu")
        job = Job(cfg, pool).start()
        jobs.append(job)
        room.register(owner, _Run(job), base)
    room.set_name("b", "Grace")
    for job in jobs:
        assert job.join(120)
    rows = room.rows()
    assert [r["student"] for r in rows] == ["Grace", "student 1"]             # newest first
    assert rows[0]["differs"] == ["lr_g 0.0002 -> 0.001"] and rows[1]["differs"] == []
    assert all(r["state"] == "stopped" and r["snapshot"] is not None for r in rows)  # max_steps
    z = zipfile.ZipFile(io.BytesIO(room.results_zip()))
    names = z.namelist()
    assert sum(n.endswith("report.html") for n in names) == 2
    settings = json.loads(z.read([n for n in names if n.endswith("settings.json")][0]))
    assert settings["student"] == "student 1" and settings["final"]["step"] == 30


def test_a_runs_grid_is_drawn_once_per_snapshot(monkeypatch):
    """The Class page redraws every run every few seconds: an unchanged snapshot is not
    drawn and encoded again, a new one is."""
    import torch

    from lab_app import classroom

    drawn = []
    real_draw = classroom.snapshot_image
    monkeypatch.setattr(classroom, "snapshot_image",
                        lambda samples, real=None: drawn.append(1) or real_draw(samples, real))

    class View:
        class dataset:
            is_points = True
            data = torch.randn(50, 2)

    class Snap:
        def __init__(self, step):
            self.step, self.samples = step, torch.randn(64, 2)

    room, view, first = Classroom(key="k", announce=lambda s: None), View(), Snap(10)
    png = room.grid_png(view, first)
    assert png.startswith(b"\x89PNG") and room.grid_png(view, first) == png and len(drawn) == 1
    assert room.grid_png(view, Snap(20)) != png and len(drawn) == 2
    assert room.grid_png(View(), first) and len(drawn) == 3          # another run: its own


def test_a_run_whose_samples_collapsed_says_so_on_the_class_page():
    """The Class page narrates a run with its samples, as the Train page does: a ring run
    whose samples piled into one clump reads "collapsed" (from the records alone it could
    not: collapse is seen in the samples)."""
    import torch

    from gan_core.trainer import Snapshot

    room = Classroom(key="k", announce=lambda s: None)
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=300,
                      sample_every=50, device="cpu")
    job = Job(cfg, JobPool(max_running=1)).start()
    room.register("a", _Run(job), cfg.to_dict())
    assert job.join(120)
    view = job.trainer
    real = view.dataset.data[:256]                  # samples as good as the data itself
    view.snapshots[:] = [Snapshot(step, 1, real) for step in (150, 200, 250, 300)]
    healthy = room.rows()[0]["events"]
    assert not any("collapsed" in t for t in healthy), healthy
    clump = torch.full((256, 2), 1.0) + 0.01 * torch.randn(256, 2)
    view.snapshots[:] = [Snapshot(step, 1, clump) for step in (350, 400, 450)]   # new ones
    events = room.rows()[0]["events"]
    assert any("collapsed" in t and "clump" in t for t in events), events


def test_differences_leave_out_run_limits():
    assert differences(dict(lr_g=1, max_steps=5, device="cpu"), dict(lr_g=2, max_steps=None,
                                                                    device="auto")) == ["lr_g 2 -> 1"]


class _Done:
    """A job that has ended (alive False) or still trains (alive True)."""
    def __init__(self, alive=False):
        self.alive, self.trainers = alive, []


def test_each_student_keeps_their_newest_finished_runs_and_every_run_in_progress(monkeypatch):
    import lab_app.classroom as classroom
    monkeypatch.setattr(classroom, "MAX_RUNS", 15)
    room = Classroom(key="k", announce=lambda s: None)
    live = _Run(_Done(alive=True), name="still training")
    room.register("a", live, {})
    runs = [_Run(_Done(), name=f"a{i}") for i in range(12)]
    for run in runs:
        room.register("a", run, {})
    mine = [e.run for e in room.entries if e.owner == "a"]
    assert len(mine) == classroom.MAX_RUNS_PER_STUDENT
    assert live in mine and mine[1:] == runs[-9:]        # the oldest finished went first
    for i in range(10):
        room.register("b", _Run(_Done(), name=f"b{i}"), {})
    assert len(room.entries) == 15 and live in [e.run for e in room.entries]
    assert [e.run.name for e in room.entries][-1] == "b9"


def test_an_image_run_of_look_alike_samples_is_called_collapsed_with_the_real_yardstick():
    """A latent-1 MNIST G draws one unsure shape again and again: the judge guesses few kinds,
    but is sure of too few samples for the "recognisable ones in few classes" reading, so only
    their variety against real digits' (the Train page's yardstick) tells the collapse. The
    Class page passes that yardstick to its narrator as the Train page does."""
    from types import SimpleNamespace

    import torch

    from gan_core.judge import load_judge
    from gan_core.trainer import Snapshot

    judge = load_judge("mnist")
    torch.manual_seed(0)
    blob = torch.rand(1, 1, 28, 28) * 2 - 1                   # one unsure shape, drawn 64 times
    samples = (blob + 0.02 * torch.randn(64, 1, 28, 28)).clamp(-1, 1)
    view = SimpleNamespace(history=[], step=600, total_steps=1000, snapshots=[Snapshot(s, 1, samples) for s in (400, 500, 600)],
                           dataset=SimpleNamespace(is_points=False, data=None),
                           config=TrainConfig(dataset="mnist", latent_dim=1))
    job = SimpleNamespace(id=1, alive=True, trainers=[view], status=lambda: SimpleNamespace(
        state="running", queue_position=None))
    asked = []

    def real_variety(config):
        asked.append(config.latent_dim)
        return 24.3                  # diversity_of 256 MNIST training digits with this judge

    room = Classroom(key="k", announce=lambda s: None)
    room.register("a", _Run(job), view.config.to_dict())
    without = room.rows(judge_for=lambda name: judge)[0]["events"]
    assert not any("collapsed" in t for t in without), without

    room = Classroom(key="k", announce=lambda s: None)
    room.register("a", _Run(job), view.config.to_dict())
    events = room.rows(judge_for=lambda name: judge, real_diversity_for=real_variety)[0]["events"]
    assert asked == [1]
    assert any("collapsed" in t and "as much as real digits" in t for t in events), events
