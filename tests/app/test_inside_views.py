"""Issue 14's views in the app: the figures' data, read back from the charts the pages send."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apphelpers import STUB_PAGES, finish_jobs, page, stub_navigation
from gan_core.probes import MESH_RES, Probe
from lab_app import views
from lab_app.lessons import LESSONS

INSIDE_LESSONS = ("fold-the-plane", "one-step", "one-step-digits", "what-d-sees")


def _arr(v):
    """A plotly array from a chart's JSON: a list, or numpy's base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], list) else a
    return np.array([np.nan if x is None else x for x in v], dtype=float) \
        if isinstance(v, list) and v and not isinstance(v[0], list) else np.array(v, dtype=float)


def _charts(at):
    out = []
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        out.append({t.get("name"): t for t in spec["data"]} | {"__spec__": spec})
    return out


def _chart_with(at, name):
    found = [c for c in _charts(at) if name in c]
    assert found, f"no chart with a trace named {name!r}"
    return found


# --- figure builders ---------------------------------------------------------------------------

class _Snap:
    def __init__(self, step, samples, probe, d_map=None):
        self.step, self.samples, self.probe, self.d_map = step, samples, probe, d_map


def test_points_figure_draws_every_mesh_vertex_and_one_arrow_per_kept_point():
    torch.manual_seed(0)
    mesh = torch.randn(MESH_RES, MESH_RES, 2)
    pts, grads = torch.randn(512, 2), torch.randn(512, 2)
    snap = _Snap(3, pts, Probe(grads=grads, d_out=torch.rand(512), mesh=mesh))
    fig = views.points_figure(torch.randn(100, 2), snap, 3.0)
    traces = {t.name: t for t in fig.data}
    m = traces[views.MESH_NAME]
    xy = np.stack([m.x, m.y], 1)
    xy = xy[~np.isnan(xy[:, 0])]
    assert len(xy) == 2 * MESH_RES * MESH_RES               # each vertex in a row and a column
    assert np.allclose(xy[:MESH_RES * MESH_RES], mesh.view(-1, 2).numpy(), atol=1e-6)
    a = traces[views.ARROW_NAME]
    shafts = np.stack([a.x, a.y], 1).reshape(-1, 9, 2)
    assert len(shafts) == 64                                 # 512 points, every 8th
    d = shafts[:, 1] - shafts[:, 0]
    g = -grads[::8].numpy()
    cos = (d * g).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(g, axis=1)
    assert np.allclose(cos, 1, atol=1e-5)
    assert np.allclose(shafts[:, 0], pts[::8].numpy(), atol=1e-6)
    off = views.points_figure(torch.randn(100, 2), snap, 3.0, show_mesh=False, show_arrows=False)
    assert {t.name for t in off.data} == {"real", "generated"}


def test_latent_1_mesh_is_one_curve():
    curve = torch.randn(121, 2)
    snap = _Snap(0, torch.randn(8, 2), Probe(grads=torch.randn(8, 2), d_out=torch.rand(8),
                                              mesh=curve))
    m = next(t for t in views.points_figure(torch.randn(5, 2), snap, 3).data
             if t.name == views.MESH_NAME)
    assert int(np.isnan(m.x).sum()) == 1 and np.allclose(m.x[:-1], curve[:, 0].numpy())


def test_replay_has_a_frame_per_snapshot_with_that_snapshots_points():
    snaps = [_Snap(10 * i, torch.randn(64, 2) + i,
                   Probe(grads=torch.randn(64, 2), d_out=torch.rand(64),
                         mesh=torch.randn(5, 5, 2)),
                   (torch.linspace(-3, 3, 60), torch.rand(60, 60))) for i in range(7)]
    fig = views.replay_figure(torch.randn(50, 2), snaps, 3.0, frame_ms=200)
    assert [f.name for f in fig.frames] == [str(s.step) for s in snaps]
    for f, s in zip(fig.frames, snaps):
        gen = f.data[list(f.traces).index(2)]                 # trace 2: the generated points
        assert np.allclose(np.stack([gen.x, gen.y], 1), s.samples.numpy(), atol=1e-6)
    assert fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] == 200
    assert len(fig.layout.sliders[0].steps) == 7
    many = [snaps[0]] * 100
    assert len(views.replay_figure(torch.randn(5, 2), many, 3).frames) == views.REPLAY_FRAMES
    with pytest.raises(ValueError, match="no snapshots"):
        views.replay_figure(torch.randn(5, 2), [], 3)


def test_verdict_grid_frames_each_sample_in_the_colour_of_ds_verdict():
    samples = torch.zeros(4, 1, 6, 6, dtype=torch.uint8)
    d = torch.tensor([0.0, 0.5, 1.0, 0.9])
    img, colours = views.verdict_grid(samples, d, nrow=4, scale=1, border=2)
    arr = np.asarray(img)
    for i, c in enumerate(colours):                       # top-left pixel of each frame
        left = 1 + i * (6 + 4 + 1)
        assert tuple(arr[1, left]) == c
    assert colours[0][0] > colours[0][1] and colours[2][1] > colours[2][0]   # red .. green
    with pytest.raises(ValueError, match="verdicts"):
        views.verdict_grid(samples, d[:2])


def test_mode_figure_bars_are_the_counts_and_name_the_missing_classes():
    fig = views.mode_figure([5, 0, 3], ["0", "1", "2"], "Mode map")
    assert list(fig.data[0].y) == [5, 0, 3] and "missing: 1" in fig.layout.title.text


def test_push_figure_is_minus_the_gradient_over_the_pixels():
    grad = torch.randn(1, 4, 4)
    fig = views.push_figure(torch.zeros(1, 4, 4, dtype=torch.uint8), grad, "t")
    assert np.allclose(np.array(fig.data[1].z), (-grad[0]).flip(0).numpy(), atol=1e-6)
    # smoothing keeps the total push (a normalised kernel) away from the edges
    one = torch.zeros(9, 9)
    one[4, 4] = 1.0
    blurred = views.smooth_map(one, 1.0)
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-5) and float(blurred[4, 4]) < 1


# --- the pages -----------------------------------------------------------------------------

def test_a_2d_run_on_the_train_page_shows_the_snapshots_mesh_arrows_and_replay():
    at = page("train", dataset="ring", latent_dim=2, epochs=1).run()
    at.button[0].click().run()
    tr = finish_jobs(at)[-1].job.trainer
    at.run()
    assert not at.exception
    last = tr.snapshots[-1]
    chart = next(c for c in _chart_with(at, views.MESH_NAME) if "frames" not in c["__spec__"])
    mesh = chart[views.MESH_NAME]
    xy = np.stack([_arr(mesh["x"]), _arr(mesh["y"])], 1)
    xy = xy[~np.isnan(xy[:, 0])]
    assert np.allclose(xy[:MESH_RES ** 2], last.probe.mesh.reshape(-1, 2).numpy(), atol=1e-5)
    arrows = chart[views.ARROW_NAME]
    seg = np.stack([_arr(arrows["x"]), _arr(arrows["y"])], 1).reshape(-1, 9, 2)
    g = -last.probe.grads[::8].numpy()
    keep = np.linalg.norm(g, axis=1) > 1e-12
    d = seg[:, 1] - seg[:, 0]
    cos = (d * g[keep]).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(g[keep], axis=1)
    assert np.allclose(cos, 1, atol=1e-3)
    replay = [c for c in _charts(at) if c["__spec__"].get("frames")]
    assert len(replay) == 1
    frames = replay[0]["__spec__"]["frames"]
    assert [f["name"] for f in frames] == [str(s.step) for s in tr.snapshots][:len(frames)]
    captions = " ".join(c.value for c in at.caption)
    assert "Purple mesh" in captions and "Arrows" in captions and "Replay" in captions
    at.toggle(key="t_toy_mesh").set_value(False).run()
    assert not any(views.MESH_NAME in c for c in _charts(at) if "frames" not in c["__spec__"])


def test_step_by_step_d_moves_the_map_g_moves_the_points():
    at = page("train", dataset="ring", latent_dim=2, view="step").run()
    assert not at.exception
    at.button(key="sbs_d").click().run()
    assert not at.exception
    report = at.session_state["step_report"]
    before, after = [c for c in _charts(at) if "D's map" in c][:2]
    assert np.allclose(_arr(before["generated"]["x"]), _arr(after["generated"]["x"]))
    assert not np.allclose(_arr(before["D's map"]["z"]), _arr(after["D's map"]["z"]))
    assert any(f"{report.numbers['loss_before']:.3f}" in x.value for x in at.latex)
    at.button(key="sbs_g").click().run()
    assert not at.exception
    report = at.session_state["step_report"]
    assert report.who == "G"
    before, after = [c for c in _charts(at) if "D's map" in c][:2]
    assert not np.allclose(_arr(before["generated"]["x"]), _arr(after["generated"]["x"]))
    assert np.allclose(_arr(before["D's map"]["z"]), _arr(after["D's map"]["z"]))
    assert np.allclose(_arr(after["generated"]["x"]), report.after.samples[:, 0].numpy(), atol=1e-6)
    assert "before the G step" in after
    assert any("L_G" in x.value for x in at.latex)


def test_step_by_step_on_mnist_runs_the_trainers_updates_in_order(real_data_dir, monkeypatch):
    """Image sets step too (issue 34): D first, then G; a D click leaves the samples, a G click
    moves them and draws the difference; Start again goes back to zero updates."""
    monkeypatch.setenv("GAN_DATA_DIR", str(real_data_dir))
    at = page("train", dataset="mnist", view="step", subset=256).run()
    assert not at.exception
    assert at.button(key="sbs_img_g").disabled and not at.button(key="sbs_img_d").disabled
    at.button(key="sbs_img_d").click().run()
    assert not at.exception
    d = at.session_state["img_step_report"]
    assert d.who == "D" and torch.equal(d.before.samples, d.after.samples)
    assert at.button(key="sbs_img_d").disabled and not at.button(key="sbs_img_g").disabled
    assert any("L_D" in x.value for x in at.latex)
    at.button(key="sbs_img_g").click().run()
    g = at.session_state["img_step_report"]
    assert g.who == "G" and not torch.equal(g.before.samples, g.after.samples)
    assert any("What G's update changed" in m.value for m in at.markdown)
    assert any("L_G" in x.value for x in at.latex)
    at.button(key="sbs_img_reset").click().run()
    assert not at.exception
    s = at.session_state["img_stepper"][1]
    assert (s.d_steps, s.g_steps) == (0, 0) and at.session_state["img_step_report"] is None


def test_an_image_run_shows_ds_verdict_mode_map_nearest_digit_and_push_map():
    at = page("train", dataset="mnist", subset=640, epochs=1).run()
    at.button[0].click().run()
    tr = finish_jobs(at, 300)[-1].job.trainer
    assert tr.state == "finished", tr.reason
    at.run()
    assert not at.exception
    snap = tr.snapshots[-1]
    modes = [c for c in _charts(at) if "samples" in c]
    assert len(modes) == 1
    assert int(_arr(modes[0]["samples"]["y"]).sum()) == len(snap.samples) == 64
    push = [c for c in _charts(at) if "push" in c][0]
    raw = (-snap.probe.grads[0].float()).sum(0)
    expected = views.smooth_map(raw, 1.0).flip(0).numpy()              # smoothed by default
    assert np.allclose(_arr(push["push"]["z"]), expected, atol=1e-3)
    at.toggle(key="t_inside_smooth").set_value(False).run()
    push = [c for c in _charts(at) if "push" in c][0]
    assert np.allclose(_arr(push["push"]["z"]), raw.flip(0).numpy(), atol=1e-3)
    captions = " ".join(c.value for c in at.caption)
    assert "D's verdict" in captions and "Distances: #0:" in captions
    line = next(c.value for c in at.caption if c.value.startswith("Distances: "))
    dist = [float(x.split(": ")[1]) for x in line[len("Distances: "):].split(" · ")]
    assert len(dist) == 9 and all(0 <= d < 1 for d in dist)


def test_while_an_image_run_trains_only_the_open_inside_tab_is_drawn():
    """The live fragment reruns every 2.5 s: it draws D's verdict (the open tab) and leaves
    the judge, the search of the training set and the other figures to the tab's click."""
    import time
    at = page("train", dataset="mnist", subset=640, epochs=1000).run()
    at.button[0].click().run()
    job = at.session_state["runs"][-1].job
    deadline = time.time() + 120
    while not (job.trainer.snapshots and job.trainer.snapshots[-1].probe is not None):
        assert time.time() < deadline and job.alive, "no snapshot with D's verdicts"
        time.sleep(0.1)
    try:
        at.run()
        assert job.alive and not at.exception
        captions = " ".join(c.value for c in at.caption)
        assert "D's verdict" in captions                          # the open tab
        assert "Distances: " not in captions                      # the nearest-image tab
        assert not [c for c in _charts(at) if "samples" in c or "push" in c]
    finally:
        job.stop()
        assert job.join(60)
    at.run()                                     # over: every tab is drawn again
    assert [c for c in _charts(at) if "samples" in c]
    assert "Distances: " in " ".join(c.value for c in at.caption)


def test_compare_shows_both_sides_mesh_and_arrows_at_the_same_step():
    at = page("compare", dataset="ring", epochs=1)
    at.session_state["owner_key"] = "compare-inside-key-0123456789"
    at.run()
    at.button[0].click().run()
    run = finish_jobs(at)[-1]
    at.run()
    assert not at.exception
    sides = [c for c in _charts(at) if views.MESH_NAME in c]
    assert len(sides) == 2
    titles = {c["__spec__"]["layout"]["title"]["text"] for c in sides}
    assert len(titles) == 1                                      # same step on both sides
    at.slider(key="cmp_scrub").set_value(1).run()
    a, b = run.job.trainers
    sides = [c for c in _charts(at) if views.MESH_NAME in c]
    for c, tr in zip(sides, (a, b)):
        assert c["__spec__"]["layout"]["title"]["text"].startswith(f"Step {tr.snapshots[1].step}:")
        assert np.allclose(_arr(c["generated"]["x"]), tr.snapshots[1].samples[:, 0].numpy(),
                           atol=1e-6)


@pytest.mark.parametrize("key", INSIDE_LESSONS)
def test_the_inside_lessons_open_the_train_page_with_their_settings(tmp_path, key):
    lesson = LESSONS[key]
    at = stub_navigation(tmp_path).run()
    assert not at.exception
    at.button(key=f"home_preset_{key}").click().run()
    assert not at.exception
    assert at.title[0].value == STUB_PAGES[Path(lesson.page).stem]
    assert json.loads(at.json[0].proto.body) == lesson.params


def test_slow_motion_takes_a_snapshot_every_step_and_full_speed_goes_back():
    from gan_core.config import TrainConfig
    from gan_core.jobs import Job
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, max_steps=12, sample_every=5,
                      device="cpu")
    job = Job(cfg, name="slow")
    job.set_delay(0.05)                       # before the worker starts: sent when it does
    job.start()
    assert job.join(120)
    steps = [s.step for s in job.trainer.snapshots]
    assert steps == list(range(0, 13)), steps
    assert all(s.probe is not None for s in job.trainer.snapshots)
    fast = Job(cfg, name="fast").start()
    assert fast.join(120)
    assert [s.step for s in fast.trainer.snapshots] == [0, 5, 10, 12]


def test_compare_plays_both_sides_in_lockstep():
    at = page("compare", dataset="ring", epochs=1)
    at.session_state["owner_key"] = "compare-play-key-0123456789"
    at.run()
    at.button[0].click().run()
    finish_jobs(at)
    at.run()
    at.slider(key="cmp_scrub").set_value(2).run()
    at.toggle(key="cmp_play").set_value(True).run()
    assert not at.exception
    first = at.slider(key="cmp_scrub").value
    at.run()
    assert at.slider(key="cmp_scrub").value == first + 1
    titles = {c["__spec__"]["layout"]["title"]["text"] for c in _charts(at)
              if views.MESH_NAME in c}
    assert len(titles) == 1


def test_a_finished_run_goes_on_step_by_step_from_its_checkpoint(real_data_dir, monkeypatch):
    """Issue 34: "from a run's current state": the student's own finished (or paused) run is
    under Start from, and the stepper goes on from its last checkpoint."""
    monkeypatch.setenv("GAN_DATA_DIR", str(real_data_dir))
    at = page("train", dataset="mnist", subset=256, epochs=1).run()
    [b for b in at.button if b.label == "Start training"][0].click().run()
    job = at.session_state["runs"][-1].job
    for _ in range(600):                 # the page is open: an unwatched run would pause
        job.seen()
        if job.join(0.5):
            break
    assert job.status().state == "finished", job.status()
    at.query_params["view"] = "step"
    at.run()
    assert not at.exception
    box = at.selectbox(key="sbs_img_source")
    mine = [o for o in box.options if o.startswith("your ")]
    assert len(mine) == 1 and "finished" in mine[0], box.options
    box.set_value(mine[0]).run()
    assert not at.exception
    s = at.session_state["img_stepper"][1]
    assert s.start_step == job.trainer.checkpoint_step > 0
    assert any("Going on from your run's checkpoint" in c.value for c in at.caption)
    at.button(key="sbs_img_d").click().run()
    assert not at.exception and at.session_state["img_step_report"].who == "D"
