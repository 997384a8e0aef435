"""Finished runs on disk: written when a run ends, listed for their owner only, bounded, and a
failing disk never takes the training thread down. Folder datasets: only uploads (and folders
the teacher lists) may be opened from a link."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

from apphelpers import finish_jobs, page
from gan_core.checkpoint import load_checkpoint
from gan_core.config import TrainConfig
from gan_core.trainer import Trainer
from lab_app import saved

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef00"


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("GAN_LAB_UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "runs"


def ring_trainer(steps=5):
    cfg = TrainConfig(dataset="ring", model="mlp", latent_dim=2, batch_size=64, max_steps=steps,
                      sample_every=2, device="cpu")
    t = Trainer(cfg)
    t.run()
    return t


def test_a_finished_run_is_written_whole_and_listed_for_its_owner_only(runs_dir):
    t = ring_trainer()
    folder = saved.persist(t, ALICE, "run 1")
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint.pt", "history.csv",
                                                        "meta.json", "samples.png"]
    assert ALICE not in str(folder)                       # the key is never a folder name
    (item,) = saved.list_saved(ALICE)
    assert (item["name"], item["step"], item["state"]) == ("run 1", 5, "stopped")
    assert load_checkpoint(item["path"] / "checkpoint.pt").step == 5
    assert len((item["path"] / "history.csv").read_text().splitlines()) == 6
    assert saved.list_saved(BOB) == []
    assert saved.list_saved("../../etc") == [] and saved.list_saved("") == []


def test_a_run_without_meta_json_is_not_listed_and_old_runs_are_pruned(runs_dir, monkeypatch):
    t = ring_trainer(2)
    first = saved.persist(t, ALICE, "first")
    (first / "meta.json").unlink()                       # as if the server died mid-write
    assert saved.list_saved(ALICE) == []
    monkeypatch.setattr(saved, "MAX_SAVED", 3)
    for i in range(5):
        saved.persist(t, ALICE, f"r{i}")
    assert len(list(saved.owner_folder(ALICE).iterdir())) == 3


def test_a_disk_that_refuses_the_write_does_not_raise(runs_dir):
    runs_dir.mkdir(parents=True)
    runs_dir.chmod(0o500)
    try:
        if os.access(runs_dir, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        t = ring_trainer(2)
        assert saved.persist(t, ALICE, "run") is None
        assert "could not save this run" in t.eval_note
    finally:
        runs_dir.chmod(0o700)


def test_a_disk_error_mid_save_is_reported_not_raised(runs_dir, monkeypatch):
    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(saved, "save_run", full_disk)     # the run folder writer
    t = ring_trainer(2)
    assert saved.persist(t, ALICE, "run") is None
    assert "No space left on device" in t.eval_note
    assert saved.list_saved(ALICE) == []


def test_folder_datasets_are_limited_to_listed_folders_never_uploads(tmp_path, monkeypatch):
    upload_id, up = saved.new_upload(ALICE)
    up.mkdir(parents=True)
    assert not saved.folder_allowed(f"folder:{up}")           # uploads are reached by id only
    assert not saved.folder_allowed(f"folder:{saved.uploads_dir()}")
    assert not saved.folder_allowed("folder:/etc")
    assert not saved.folder_allowed(f"folder:{up}/../../../../etc")
    assert not saved.folder_allowed(f"folder:{tmp_path}")
    monkeypatch.setenv("GAN_LAB_IMAGE_DIRS", str(tmp_path / "teacher"))
    assert saved.folder_allowed(f"folder:{tmp_path}/teacher/faces")
    assert saved.folder_allowed("mnist")
    # a teacher folder that holds the uploads does not open them either
    monkeypatch.setenv("GAN_LAB_IMAGE_DIRS", str(tmp_path))
    assert not saved.folder_allowed(f"folder:{saved.uploads_dir()}")
    assert not saved.folder_allowed(f"folder:{up}")


def test_an_upload_is_reachable_only_by_its_owner_and_by_id(tmp_path):
    """Issue 15: /train?dataset=folder:<uploads> trained on everyone's images, and the
    shareable URL carried the upload's path."""
    upload_id, up = saved.new_upload(ALICE)
    up.mkdir(parents=True)
    assert upload_id not in str(saved.uploads_dir() / saved.owner_folder(ALICE).name) and \
        len(upload_id) == 16
    assert saved.resolve_dataset(f"upload:{upload_id}", ALICE) == (f"folder:{up}", None)
    name, error = saved.resolve_dataset(f"upload:{upload_id}", BOB)
    assert error and "private" in error
    for bad in ("upload:../../x", "upload:", f"upload:{upload_id}/..", "upload:" + "a" * 16):
        assert saved.resolve_dataset(bad, ALICE)[1]
    for link in (f"folder:{saved.uploads_dir()}", f"folder:{up}", f"folder:{up.parent}"):
        assert saved.resolve_dataset(link, ALICE)[1]
    ids = [saved.new_upload(ALICE)[0] for _ in range(4)]
    assert len(set(ids)) == 4


def test_train_page_link_to_the_uploads_root_is_refused(tmp_path):
    up_id, up = saved.new_upload(BOB)
    up.mkdir(parents=True)
    at = page("train", dataset=f"folder:{saved.uploads_dir()}")
    at.session_state["owner_key"] = ALICE
    at.run()
    assert not at.exception
    assert any("does not open" in e.value for e in at.error)
    assert [b for b in at.button if b.label == "Start training"][0].disabled


def test_train_page_url_carries_the_upload_id_for_its_owner_only(tmp_path):
    upload_id, up = saved.new_upload(ALICE)
    (up / "a").mkdir(parents=True)
    from PIL import Image
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 60, 0, 0)).save(up / "a" / f"{i}.png")
    at = page("train", dataset=f"upload:{upload_id}")
    at.session_state["owner_key"] = ALICE
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.query_params["dataset"] == f"upload:{upload_id}"
    assert not any(str(up) in str(v) or str(saved.uploads_dir()) in str(v)
                   for v in at.query_params.values())
    assert not [b for b in at.button if b.label == "Start training"][0].disabled
    other = page("train", dataset=f"upload:{upload_id}")
    other.session_state["owner_key"] = BOB
    other.run()
    assert not other.exception
    assert any("private to the browser" in e.value for e in other.error)
    assert [b for b in other.button if b.label == "Start training"][0].disabled


def test_train_page_saves_the_finished_run_and_a_new_session_lists_it(runs_dir):
    at = page("train", dataset="ring", epochs=1)
    at.session_state["owner_key"] = ALICE
    at.run()
    start = [b for b in at.button if b.label == "Start training"][0]
    start.click().run()
    assert not at.exception
    finish_jobs(at)
    at.run()
    (item,) = saved.list_saved(ALICE)
    assert item["state"] == "finished"
    # A refresh is a new session with the same cookie: the run is listed again.
    again = page("train", dataset="ring")
    again.session_state["owner_key"] = ALICE
    again.run()
    assert not again.exception
    assert any("Your saved runs (1)" in e.label for e in again.expander)
    other = page("train", dataset="ring")
    other.session_state["owner_key"] = BOB
    other.run()
    assert not any("Your saved runs" in e.label for e in other.expander)


def test_train_page_refuses_a_folder_link_outside_the_uploads():
    at = page("train", dataset="folder:/etc").run()
    assert not at.exception
    assert any("does not open /etc" in e.value for e in at.error)
    start = [b for b in at.button if b.label == "Start training"][0]
    assert start.disabled


# --- space and privacy (issue 30) -------------------------------------------------------------

def test_saved_runs_keep_only_the_generator_unless_the_server_keeps_full_ones(runs_dir,
                                                                              monkeypatch):
    """The largest model wrote 452 MB per saved run: D and both optimisers are 3/4 of it and
    the app never resumes a saved run."""
    from gan_core.checkpoint import read_checkpoint
    t = ring_trainer()
    small = saved.persist(t, ALICE, "lean") / "checkpoint.pt"
    obj = read_checkpoint(small)
    assert "discriminator" not in obj and "opt_g" not in obj and "opt_d" not in obj
    assert load_checkpoint(small).step == 5                  # still opens in the explorer
    monkeypatch.setenv("GAN_LAB_KEEP_FULL_CHECKPOINTS", "1")
    full = saved.persist(t, ALICE, "full") / "checkpoint.pt"
    assert {"discriminator", "opt_g", "opt_d"} <= set(read_checkpoint(full))
    assert small.stat().st_size < full.stat().st_size


def test_the_disk_quota_removes_the_heaviest_users_oldest_runs_first(runs_dir, monkeypatch):
    t = ring_trainer()
    one = saved.persist(t, BOB, "bob's")
    size = sum(p.stat().st_size for p in one.iterdir())
    alice = [saved.persist(t, ALICE, f"a{i}") for i in range(3)]
    monkeypatch.setenv("GAN_LAB_DISK_QUOTA_MB", str(4.5 * size / 2**20))   # room for 4 runs
    newest = saved.persist(t, ALICE, "a3")
    assert newest is not None and newest.is_dir()
    assert not alice[0].exists() and alice[1].exists()      # Alice's oldest went, not Bob's
    assert one.exists()
    assert sum(sum(p.stat().st_size for p in f.iterdir()) for f in
               runs_dir.glob("*/*")) <= 4.5 * size


def test_a_new_upload_is_refused_when_uploads_alone_fill_the_quota(runs_dir, monkeypatch,
                                                                   tmp_path):
    _, folder = saved.new_upload(ALICE)
    folder.mkdir(parents=True)
    (folder / "big.bin").write_bytes(b"x" * 3 * 2**20)
    monkeypatch.setenv("GAN_LAB_DISK_QUOTA_MB", "2")
    with pytest.raises(ValueError, match="disk space for uploads and saved runs is full"):
        saved.new_upload(BOB)


def test_another_owners_runs_and_uploads_are_never_openable(runs_dir, tmp_path):
    t = ring_trainer()
    mine = saved.persist(t, ALICE, "mine") / "checkpoint.pt"
    _, up = saved.new_upload(ALICE)
    up.mkdir(parents=True)
    assert saved.may_open(mine, ALICE) and saved.may_open(up / "a.png", ALICE)
    assert not saved.may_open(mine, BOB) and not saved.may_open(up / "a.png", BOB)
    assert not saved.may_open(mine, None) and not saved.may_open(mine, "../x")
    sneaky = saved.owner_folder(BOB) / ".." / mine.parent.parent.name / mine.parent.name
    assert not saved.may_open(sneaky / "checkpoint.pt", BOB)        # `..` is resolved
    link = tmp_path / "link.pt"
    link.symlink_to(mine)
    assert not saved.may_open(link, BOB)                             # so are links
    assert not saved.may_open(runs_dir, ALICE) and not saved.may_open(saved.owner_folder(
        ALICE), ALICE)
    assert saved.may_open(REPO_ROOT / "pretrained" / "x.pt", BOB)
    assert [p for _, p in saved.own_checkpoints(ALICE)] == [mine]
    assert saved.own_checkpoints(BOB) == []
