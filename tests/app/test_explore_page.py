"""The Latent explorer: its helpers (lab_app.explore) and the page in AppTest.

The page finds checkpoints in the folders named by $GAN_LAB_MODEL_DIRS; each test points it at
a folder holding one tiny checkpoint (a few training steps), so no test depends on what is in
the repository's runs/.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

from gan_core.checkpoint import CheckpointError, save_checkpoint
from gan_core.config import TrainConfig
from gan_core.data import Dataset
from gan_core.trainer import Trainer
from lab_app import explore as ex

PAGE = str(REPO / "app_pages" / "explore.py")


# --- tiny models -----------------------------------------------------------------------------

def _images(n: int = 64, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return Dataset("synthetic", data, torch.arange(n) % 10, [f"digit {i}" for i in range(10)],
                   "synthetic: random images.")


def _train(config: TrainConfig, dataset=None) -> Trainer:
    trainer = Trainer(config, dataset)
    trainer.run()
    assert trainer.step > 0
    return trainer


def _image_config(**kw) -> TrainConfig:
    base = dict(dataset="mnist", model="classroom", depth="small", batch_size=32, epochs=1,
                max_steps=2, seed=0, device="cpu", sample_every=1000, n_samples=4,
                download=False)
    return TrainConfig(**{**base, **kw}).validate()


@pytest.fixture(scope="module")
def trainers() -> dict[str, Trainer]:
    return {
        "latent1": _train(_image_config(latent_dim=1), _images()),
        "latent16": _train(_image_config(latent_dim=16), _images()),
        "cond2": _train(_image_config(latent_dim=2, conditional=True), _images()),
        "ring": _train(TrainConfig(dataset="ring", model="mlp", latent_dim=2, subset=256,
                                   batch_size=64, epochs=1, max_steps=3, device="cpu",
                                   sample_every=1000)),
    }


@pytest.fixture(scope="module")
def model_dirs(trainers, tmp_path_factory) -> dict[str, Path]:
    """{name: folder holding that model's checkpoint.pt}, plus "empty"."""
    root = tmp_path_factory.mktemp("explore_models")
    out = {"empty": root / "empty"}
    out["empty"].mkdir()
    for name, tr in trainers.items():
        out[name] = root / name
        save_checkpoint(tr, out[name] / "nested" / "checkpoint.pt")
    return out


@pytest.fixture(autouse=True)
def _clean(monkeypatch, model_dirs):
    import streamlit as st
    monkeypatch.chdir(REPO)
    monkeypatch.setenv(ex.MODEL_DIRS_ENV, str(model_dirs["empty"]))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def explorer(monkeypatch, *dirs: Path):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv(ex.MODEL_DIRS_ENV, os.pathsep.join(map(str, dirs)))
    return AppTest.from_file(PAGE, default_timeout=60)


def frame_url(at) -> str:
    """The URL of the large current frame (Streamlit names media by their content)."""
    frames = [im for im in at.image if im.captions and im.captions[0].startswith("G(z) at")]
    assert len(frames) == 1, [im.captions for im in at.image]
    return frames[0].value[0]


def text_of(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


# --- helpers ---------------------------------------------------------------------------------

def test_endpoints_are_reproducible_by_seed():
    assert torch.equal(ex.endpoint(16, 3), ex.endpoint(16, 3))
    assert not torch.equal(ex.endpoint(16, 3), ex.endpoint(16, 4))
    assert ex.endpoint(16, 3).shape == (16,)
    c = ex.candidates(8, 5, 16)
    assert c.shape == (16, 8) and torch.equal(c, ex.candidates(8, 5, 16))


@pytest.mark.parametrize("spherical", [False, True])
def test_paths_start_at_a_and_end_at_b(spherical):
    a, b = ex.endpoint(32, 1), ex.endpoint(32, 2)
    torch.testing.assert_close(ex.path_point(a, b, 0.0, spherical), a)
    torch.testing.assert_close(ex.path_point(a, b, 1.0, spherical), b)
    p = ex.path(a, b, 10, spherical)
    assert p.shape == (10, 32)
    torch.testing.assert_close(p[0], a)
    torch.testing.assert_close(p[-1], b)
    torch.testing.assert_close(p[4], ex.path_point(a, b, 4 / 9, spherical))


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    a, b = ex.endpoint(100, 1), ex.endpoint(100, 2)
    mid_lin, mid_sph = ex.path_point(a, b, 0.5), ex.path_point(a, b, 0.5, spherical=True)
    ends = (a.norm() + b.norm()) / 2
    assert mid_lin.norm() < 0.85 * ends              # nearly orthogonal: a straight line dips in
    assert abs(float(mid_sph.norm() - ends)) < 0.05 * float(ends)


def test_one_number_latent_interpolates_linearly():
    a, b = torch.tensor([-1.0]), torch.tensor([3.0])
    assert float(ex.path_point(a, b, 0.25, spherical=True)) == pytest.approx(0.0)


def test_offsets_touch_single_dimensions():
    z = torch.zeros(4)
    out = ex.with_offsets(z, {1: 2.0, 3: -1.0, 9: 5.0})
    assert out.tolist() == [0.0, 2.0, 0.0, -1.0] and z.tolist() == [0.0] * 4


def test_line_and_plane_cover_the_ranges():
    ln = ex.line(16)
    assert ln.shape == (16, 1) and float(ln[0]) == -3.0 and float(ln[-1]) == 3.0
    pl = ex.plane(3, extent=2.0)
    assert pl.shape == (9, 2)
    assert pl[0].tolist() == [-2.0, 2.0]              # top left: z0 low, z1 high
    assert pl[-1].tolist() == [2.0, -2.0]             # bottom right


def test_strip_has_one_frame_per_step(trainers):
    model = ex.Model(trainers["latent16"].G, trainers["latent16"].spec)
    a, b = ex.endpoint(16, 1), ex.endpoint(16, 2)
    samples = ex.render(model, ex.path(a, b, 10))
    assert samples.shape == (10, 1, 28, 28)
    strip = ex.strip_image(samples, frame_px=84)      # 28 px * 3, 2 px padding * 3
    assert strip.size == ((10 * (28 + 2) + 2) * 3, (28 + 2 + 2) * 3)
    one = ex.Model(trainers["latent1"].G, trainers["latent1"].spec)
    two_rows = ex.strip_image(ex.render(one, ex.line(16)), frame_px=56, nrow=8)
    assert two_rows.size == ((8 * 30 + 2) * 2, (2 * 30 + 2) * 2)
    marked = ex.mark_frame(strip, 3, 10)
    assert marked.size == strip.size and marked.tobytes() != strip.tobytes()


def test_map_marker_sits_on_the_cell_of_z():
    n, cell = 5, 60
    blank = Image.new("RGB", (n * cell, n * cell), "black")
    marked = ex.mark_point(blank, [-2.5, 2.5], n)         # z0 lowest, z1 highest: top left
    box = marked.getbbox()
    assert box is not None and box[2] <= cell + 20 and box[3] <= cell + 20
    marked = ex.mark_point(blank, [0.0, 0.0], n)          # the middle cell
    x0, y0, x1, y1 = marked.getbbox()
    assert abs((x0 + x1) / 2 - 2.5 * cell) < 3 and abs((y0 + y1) / 2 - 2.5 * cell) < 3


def test_frame_is_enlarged_and_follows_t(trainers):
    model = ex.Model(trainers["latent16"].G, trainers["latent16"].spec)
    a, b = ex.endpoint(16, 1), ex.endpoint(16, 2)
    f0 = ex.frame_for(model, a, b, 0.0)
    assert f0.size == (280, 280)
    assert f0.tobytes() == ex.frame_image(ex.render(model, a.unsqueeze(0))).tobytes()
    assert ex.frame_for(model, a, b, 1.0).tobytes() != f0.tobytes()
    assert ex.frame_for(model, a, b, 0.0, offsets={0: 2.5}).tobytes() != f0.tobytes()


def test_a_frame_is_fast(trainers):
    """One slider move on a classroom model: well under a second (a few ms on an idle CPU;
    the bound is loose because test machines are shared)."""
    model = ex.Model(trainers["latent16"].G, trainers["latent16"].spec)
    a, b = ex.endpoint(16, 1), ex.endpoint(16, 2)
    ex.frame_for(model, a, b, 0.5)
    times = []
    for i in range(10):
        t0 = time.perf_counter()
        ex.frame_for(model, a, b, i / 10, spherical=True, offsets={0: 1.0})
        times.append(time.perf_counter() - t0)
    assert sorted(times)[5] < 1.0


def test_conditional_render_uses_the_class(trainers):
    tr = trainers["cond2"]
    model = ex.Model(tr.G, tr.spec, tr.config, tr.step, list(tr.dataset.class_names))
    z = ex.endpoint(2, 0).unsqueeze(0)
    assert not torch.equal(ex.render(model, z, 0), ex.render(model, z, 7))
    assert model.class_name(7) == "digit 7"
    assert dict(ex.describe(model))["conditional"] == "10 classes"


def test_model_dirs_come_from_the_environment(tmp_path):
    # runs/ holds every browser's saved runs and uploads: not listed unless the teacher asks,
    # and even then only the browser's own (test_a_fresh_browser_is_never_offered_...)
    assert ex.model_dirs(tmp_path, env={}) == [tmp_path / "pretrained"]
    env = {ex.MODEL_DIRS_ENV: os.pathsep.join(["a", str(tmp_path / "abs")])}
    assert ex.model_dirs(tmp_path, env=env) == [tmp_path / "a", tmp_path / "abs"]


def test_find_checkpoints_recurses_and_skips_hidden(tmp_path):
    (tmp_path / "r" / "deep").mkdir(parents=True)
    old, new = tmp_path / "r" / "old.pt", tmp_path / "r" / "deep" / "new.pt"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (1, 1))
    (tmp_path / "r" / ".checkpoint.pt.123.tmp").write_bytes(b"x")
    (tmp_path / "r" / ".hidden.pt").write_bytes(b"x")
    (tmp_path / "r" / "notes.txt").write_bytes(b"x")
    found = ex.find_checkpoints([tmp_path / "r", tmp_path / "missing", tmp_path / "r"])
    assert found == [new.resolve(), old.resolve()]


def test_uploaded_bytes_load_or_fail_with_a_message(model_dirs):
    data = (model_dirs["latent1"] / "nested" / "checkpoint.pt").read_bytes()
    model = ex.load_uploaded(data, "mine.pt")
    assert model.latent_dim == 1 and model.config.latent_dim == 1 and "mine.pt" in model.source
    with pytest.raises(CheckpointError, match="bad.pt"):
        ex.load_uploaded(os.urandom(5000), "bad.pt")
    with pytest.raises(CheckpointError, match="empty"):
        ex.load_uploaded(b"", "nothing.pt")


def test_an_upload_that_could_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    path = tmp_path / "evil.pt"
    torch.save({"format": "gan_core.checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        ex.load_uploaded(path.read_bytes(), "evil.pt")


def test_an_upload_with_a_malformed_description_is_a_message(tmp_path, trainers):
    tr = trainers["latent1"]
    path = tmp_path / "odd.pt"
    torch.save({"format": "gan_core.checkpoint", "version": 1, "config": tr.config.to_dict(),
                "spec": {"model": "classroom", "latent_dim": "one"}, "generator": {}}, path)
    with pytest.raises(CheckpointError, match="odd.pt"):
        ex.load_uploaded(path.read_bytes(), "odd.pt")


def test_an_upload_over_the_limit_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(ex, "MAX_UPLOAD_MB", 1)
    with pytest.raises(CheckpointError, match="limit is 1 MB"):
        ex.load_uploaded(b"\0" * (2 * 2**20), "big.pt")


def test_cache_keeps_the_most_recent_entries():
    store, calls = OrderedDict(), []
    make = lambda k: (lambda: calls.append(k) or k * 10)  # noqa: E731
    assert ex.cached(store, 1, make(1), max_items=2) == 10
    ex.cached(store, 2, make(2), max_items=2)
    ex.cached(store, 1, make(1), max_items=2)          # hit: 1 becomes the newest
    ex.cached(store, 3, make(3), max_items=2)          # evicts 2
    assert calls == [1, 2, 3] and list(store) == [1, 3]


# --- the page --------------------------------------------------------------------------------

def test_no_model_explains_how_to_get_one(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["empty"]).run()
    assert not at.exception
    info = " ".join(i.value for i in at.info)
    assert "Train" in info and "python -m gan_core train" in info
    assert len(at.file_uploader) == 1                   # an upload is still possible
    assert not at.slider


def test_latent_one_shows_the_whole_line(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["latent1"]).run()
    assert not at.exception
    assert [s.key for s in at.slider] == ["explore_z1"]
    assert "mode collapse" in text_of(at) and "everything this generator can ever draw" in text_of(at)
    assert "latent size **1**" in at.markdown[0].value
    strip = [im for im in at.image if im.captions[0].startswith("z = -3 on the left")]
    assert len(strip) == 1
    before, strip_before = frame_url(at), strip[0].value
    at.slider(key="explore_z1").set_value(2.5).run()
    assert not at.exception
    assert frame_url(at) != before
    strip_after = [im for im in at.image if im.captions[0].startswith("z = -3 on the left")][0].value
    assert strip_after != strip_before                 # the outline moved to the new frame


def test_walk_slider_dimension_sliders_and_slerp(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["latent16"]).run()
    assert not at.exception
    assert len([s for s in at.slider if s.key.startswith("explore_dim_")]) == 8
    start = frame_url(at)

    at.slider(key="explore_t").set_value(0.5).run()
    assert not at.exception
    linear = frame_url(at)
    assert linear != start

    at.radio(key="explore_mode").set_value("Spherical (slerp)").run()
    assert not at.exception
    spherical = frame_url(at)
    assert spherical != linear

    at.slider(key="explore_dim_3").set_value(2.0).run()
    assert not at.exception
    assert frame_url(at) != spherical
    assert "z[3] +2.0" in " ".join(im.captions[0] for im in at.image)

    at.button(key="explore_reset").click().run()
    assert not at.exception
    assert at.slider(key="explore_dim_3").value == 0.0
    assert frame_url(at) == spherical

    at.number_input(key="explore_first_dim").set_value(8).run()
    assert not at.exception
    assert at.slider[-1].label == "z[15] +"


def test_endpoints_picked_from_a_grid_of_samples(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["latent16"]).run()
    at.radio(key="explore_how").set_value("Pick from samples").run()
    assert not at.exception
    grid = [im.captions[0] for im in at.image if im.captions[0].startswith("#")]
    assert grid[:3] == ["#1 = A", "#2 = B", "#3"] and len(grid) == 16
    at.slider(key="explore_t").set_value(1.0).run()
    at_b2 = frame_url(at)
    at.selectbox(key="explore_pick_b").set_value(5).run()
    assert not at.exception
    assert frame_url(at) != at_b2
    assert "#6 = B" in [im.captions[0] for im in at.image]


def test_points_model_draws_a_cloud_and_a_moving_point(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["ring"]).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and not at.image
    at.slider(key="explore_t").set_value(0.6).run()
    at.radio(key="explore_mode").set_value("Spherical (slerp)").run()
    at.slider(key="explore_dim_1").set_value(-1.5).run()
    assert not at.exception
    assert "dataset **ring**" in at.markdown[0].value


def test_conditional_latent_two_has_classes_and_a_map(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["cond2"]).run()
    assert not at.exception
    assert at.selectbox(key="explore_class").options[:2] == ["digit 0", "digit 1"]
    assert any(im.captions[0].startswith("z[0] from -2.5") for im in at.image)
    before = frame_url(at)
    at.selectbox(key="explore_class").set_value(3).run()
    assert not at.exception
    assert frame_url(at) != before


def test_bad_upload_shows_an_error_not_a_traceback(monkeypatch, model_dirs):
    at = explorer(monkeypatch, model_dirs["empty"]).run()
    at.file_uploader[0].set_value(("bad.pt", os.urandom(4096), "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("cannot be explored" in e.value and "bad.pt" in e.value for e in at.error)


def test_an_upload_over_the_limit_is_refused_by_its_size_unread(monkeypatch, model_dirs):
    """Judged by UploadedFile.size before its bytes are copied or a reader starts (issue 30);
    the limit is made 1 MB here so that the test's file stays small."""
    monkeypatch.setattr(ex, "MAX_UPLOAD_MB", 1)
    monkeypatch.setattr(ex, "load_uploaded", lambda *a: pytest.fail("the upload was read"))
    at = explorer(monkeypatch, model_dirs["empty"]).run()
    at.file_uploader[0].set_value(("huge.pt", bytes(3 * 2**20), "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("huge.pt is 3 MB; the limit is 1 MB" in e.value for e in at.error), \
        [e.value for e in at.error]


def test_good_upload_is_chosen_and_explored(monkeypatch, model_dirs):
    data = (model_dirs["latent1"] / "nested" / "checkpoint.pt").read_bytes()
    at = explorer(monkeypatch, model_dirs["latent16"]).run()
    at.file_uploader[0].set_value(("mine.pt", data, "application/octet-stream"))
    at.run()
    assert not at.exception
    assert at.selectbox(key="explore_model").value.startswith("upload:")
    assert [s.key for s in at.slider] == ["explore_z1"]


def test_unreadable_checkpoint_file_shows_an_error(monkeypatch, tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    at = explorer(monkeypatch, tmp_path).run()
    assert not at.exception
    assert any("cannot be explored" in e.value for e in at.error)


@dataclass
class _FakeJob:
    trainers: list
    alive: bool = False


class _View:
    """What a job's handle shows of a trainer (gan_core.jobs.RunView): its config, dataset
    facts, and the generator of the last checkpoint its worker wrote."""

    def __init__(self, trainer, folder):
        from gan_core.checkpoint import load_checkpoint, save_checkpoint
        self.config, self.dataset = trainer.config, trainer.dataset
        self.checkpoint_step = trainer.step
        self._G = load_checkpoint(save_checkpoint(trainer, folder / "ck.pt")).G

    def generator(self):
        return self._G


def test_this_sessions_runs_are_listed_first(monkeypatch, model_dirs, trainers, tmp_path):
    from lab_app.ui import Run
    at = explorer(monkeypatch, model_dirs["latent16"])
    at.session_state["runs"] = [Run("run 1", _FakeJob([_View(trainers["latent1"], tmp_path)]))]
    at.run()
    assert not at.exception
    box = at.selectbox(key="explore_model")
    assert box.value == "session:run 1: run 1" and len(box.options) == 2
    assert "this session" in box.options[0] and "dataset **mnist**" in at.markdown[0].value
    assert [s.key for s in at.slider] == ["explore_z1"]


def test_judge_classifiers_are_not_offered_as_generators(tmp_path):
    (tmp_path / "judge_mnist.pt").write_bytes(b"x")
    (tmp_path / "model.pt").write_bytes(b"x")
    assert [p.name for p in ex.find_checkpoints([tmp_path])] == ["model.pt"]


def test_without_a_run_of_its_own_the_page_opens_on_the_best_shipped_model(
        monkeypatch, trainers, tmp_path):
    """Not on the newest file: in a class that is often a few-step test run drawing noise."""
    best = save_checkpoint(trainers["latent16"], tmp_path / "pretrained" / ex.OPENING_MODEL)
    newer = save_checkpoint(trainers["latent1"], tmp_path / "runs" / "quick" / "checkpoint.pt")
    os.utime(best, (time.time() - 3600,) * 2)
    assert ex.find_checkpoints([tmp_path])[0] == Path(newer).resolve()
    at = explorer(monkeypatch, tmp_path)
    at.run()
    assert not at.exception
    box = at.selectbox(key="explore_model")
    assert box.value == f"file:{Path(best).resolve()}" and len(box.options) == 2
    assert [s.key for s in at.slider if s.key == "explore_z1"] == []    # latent 16: the walk
    at.selectbox(key="explore_model").set_value(f"file:{Path(newer).resolve()}").run()
    assert at.selectbox(key="explore_model").value.endswith("checkpoint.pt")   # a choice sticks
    assert [s.key for s in at.slider] == ["explore_z1"]


def test_the_opening_file_falls_back_to_the_newest(tmp_path):
    assert ex.opening_file([]) is None
    a, b = tmp_path / "a.pt", tmp_path / "sub" / ex.OPENING_MODEL
    assert ex.opening_file([a]) == a
    assert ex.opening_file([a, b]) == b


def test_a_fresh_browser_is_never_offered_another_browsers_saved_run(monkeypatch, trainers,
                                                                     tmp_path):
    """Issue 30: with the default start a second browser found the first one's
    runs/app/<owner>/.../checkpoint.pt as the explorer's first option and opened it."""
    from lab_app import saved
    alice, bob = "alice-key-0123456789abcdef", "bob-key-0123456789abcdef00"
    runs = tmp_path / "runs"
    monkeypatch.setenv("GAN_LAB_RUNS_DIR", str(runs / "app"))
    monkeypatch.setenv("GAN_LAB_UPLOAD_DIR", str(runs / "uploads"))
    theirs = saved.owner_folder(alice) / "20260101-run-1"
    save_checkpoint(trainers["latent16"], theirs / "checkpoint.pt")
    (theirs / "meta.json").write_text('{"name": "run 1", "saved": "today"}')
    shipped = tmp_path / "pretrained"
    save_checkpoint(trainers["latent16"], shipped / "shipped.pt")
    at = explorer(monkeypatch, shipped, runs)        # even where a teacher lists runs/
    at.session_state["owner_key"] = bob
    at.run()
    assert not at.exception
    model = at.selectbox(key="explore_model")
    assert all("runs" not in str(o) for o in model.options), model.options
    assert any("shipped.pt" in str(o) for o in model.options)
    mine = explorer(monkeypatch, shipped, runs)
    mine.session_state["owner_key"] = alice
    mine.run()
    assert any("your saved run" in o for o in mine.selectbox(key="explore_model").options)
    # the explorer's own lists agree, and a file of hers is refused to him by path
    assert all(saved.may_open(p, bob) for p in ex.shared_files(tmp_path, bob))
    assert not saved.may_open(theirs / "checkpoint.pt", bob)
