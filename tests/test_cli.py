"""The command line, run as users run it: `python -m gan_core ...` in a subprocess."""
from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core.checkpoint import load_checkpoint
from gan_core.trainer import HISTORY_FIELDS

REPO_ROOT = Path(__file__).resolve().parents[1]


def assert_png(path, min_size=8):
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()
        assert min(im.size) >= min_size


def read_history(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, list(reader)


def assert_clean_ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# --- training on the ring ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ring_run(tmp_path_factory, cli):
    """Two epochs of the mlp on 256 ring points (8 steps per epoch), keeping epochs 1 and 2."""
    out = tmp_path_factory.mktemp("ring_run")
    proc = cli("train", "--dataset", "ring", "--subset", 256, "--batch-size", 32,
               "--epochs", 2, "--save-epochs", "1,2", "--seed", 3, "--out", out, "--quiet")
    return out, proc


def test_train_writes_what_it_promises(ring_run):
    """train writes checkpoint, history, config and per-epoch samples, and exits 0."""
    out, proc = ring_run
    assert_clean_ok(proc)
    for name in ("checkpoint.pt", "history.csv", "config.json", "samples_epoch_001.png",
                 "samples_epoch_002.png", "samples_last.png"):
        assert (out / name).is_file(), name
    assert_png(out / "samples_epoch_001.png")
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    assert "finished" in proc.stderr and "16 steps" in proc.stderr


def test_history_csv(ring_run):
    """history.csv has the HISTORY_FIELDS header and one finite row per step."""
    out, _ = ring_run
    header, rows = read_history(out / "history.csv")
    assert header == list(HISTORY_FIELDS)
    assert len(rows) == 16                                   # one row per step
    assert [int(r[0]) for r in rows] == list(range(1, 17))
    assert {r[header.index("epoch")] for r in rows} == {"1", "2"}
    assert all(r[header.index("loss")] == "nonsaturating" for r in rows)
    for r in rows:
        for name in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert np.isfinite(float(r[header.index(name)]))


def test_config_json(ring_run):
    """config.json records the run's settings, with the mlp model chosen for ring."""
    out, _ = ring_run
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dataset"] == "ring" and cfg["model"] == "mlp"       # mlp chosen for ring
    assert cfg["epochs"] == 2 and cfg["subset"] == 256 and cfg["batch_size"] == 32
    assert cfg["seed"] == 3


def test_save_epochs_keeps_chosen_epochs(ring_run):
    """--save-epochs 1,2 keeps checkpoint_epoch_001/002 with the right step counts."""
    out, _ = ring_run
    kept = sorted(p.name for p in out.glob("checkpoint_epoch_*.pt"))
    assert kept == ["checkpoint_epoch_001.pt", "checkpoint_epoch_002.pt"]
    first = load_checkpoint(out / "checkpoint_epoch_001.pt")
    assert (first.epoch, first.step) == (1, 8)
    last = load_checkpoint(out / "checkpoint.pt")
    assert (last.epoch, last.step) == (2, 16)
    assert len(last.history) == 16


def test_sample_png_and_npy_from_points_model(ring_run, cli, tmp_path):
    """sample writes a PNG scatter, and .npy as float32 (N, 2) for the mlp."""
    out, _ = ring_run
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert_clean_ok(cli("sample", "--checkpoint", out / "checkpoint.pt", "--n", 50, "--out", png))
    assert_png(png, min_size=100)
    assert_clean_ok(cli("sample", "--checkpoint", out / "checkpoint.pt", "--n", 50,
                        "--seed", 1, "--out", npy))
    x = np.load(npy)
    assert x.dtype == np.float32 and x.shape == (50, 2)
    assert np.isfinite(x).all()


def test_preset_flgan(cli, tmp_path):
    """--preset flgan writes focal loss with gamma 2 and clipping 0.25 into config.json."""
    proc = cli("train", "--preset", "flgan", "--dataset", "ring", "--subset", 64,
               "--batch-size", 32, "--max-steps", 1, "--out", tmp_path, "--quiet")
    assert_clean_ok(proc)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["loss"] == "focal" and cfg["focal_gamma"] == 2.0 and cfg["grad_clip"] == 0.25
    assert cfg["batch_size"] == 32                          # explicit flags beat the preset
    assert "reached max_steps=1" in proc.stderr
    header, rows = read_history(tmp_path / "history.csv")
    assert len(rows) == 1 and rows[0][header.index("loss")] == "focal"


# --- bad arguments -----------------------------------------------------------------------------

BAD = {
    "latent-dim 0": ["train", "--dataset", "ring", "--latent-dim", "0", "--out", "{tmp}/o"],
    "unknown loss": ["train", "--dataset", "ring", "--loss", "nope", "--out", "{tmp}/o"],
    "unknown dataset": ["train", "--dataset", "nosuch", "--no-download", "--out", "{tmp}/o"],
    "negative batch": ["train", "--dataset", "ring", "--batch-size", "-1", "--out", "{tmp}/o"],
    "not a number": ["train", "--dataset", "ring", "--epochs", "two", "--out", "{tmp}/o"],
    "no --out": ["train", "--dataset", "ring"],
    "bad --save-epochs": ["train", "--dataset", "ring", "--save-epochs", "x,y", "--out", "{tmp}/o"],
    "no command": [],
    "missing data": ["train", "--dataset", "mnist", "--data-dir", "{tmp}/empty", "--no-download",
                     "--out", "{tmp}/o"],
    "missing checkpoint": ["sample", "--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/x.png"],
    "bad --out suffix": ["sample", "--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/x.txt"],
    "bad --n": ["sample", "--checkpoint", "{tmp}/missing.pt", "--n", "0", "--out", "{tmp}/x.png"],
    "garbage checkpoint": ["sample", "--checkpoint", "{tmp}/junk.pt", "--out", "{tmp}/x.png"],
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory, cli):
    """Run every bad command line, two at a time (they are independent; 2 cores)."""
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "empty").mkdir()
    (tmp / "junk.pt").write_bytes(b"not a checkpoint")

    def one(args):
        p = cli(*(a.format(tmp=tmp) for a in args), env={"OMP_NUM_THREADS": "1"})
        return p.returncode, p.stdout, p.stderr
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(BAD, pool.map(one, BAD.values())))
    return tmp, results


@pytest.mark.parametrize("name", list(BAD))
def test_bad_arguments_exit_2_with_one_line(name, bad_runs):
    """Exit status 2, a single stderr line starting 'error:', never a traceback."""
    _, results = bad_runs
    code, stdout, stderr = results[name]
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error:")


def test_bad_argument_messages_name_the_problem(bad_runs):
    """The one-line errors say what was wrong, and nothing is written."""
    tmp, results = bad_runs
    msg = {name: r[2] for name, r in results.items()}
    assert "latent_dim" in msg["latent-dim 0"]
    assert "nope" in msg["unknown loss"]
    assert "nosuch" in msg["unknown dataset"]
    assert "batch_size" in msg["negative batch"]
    assert "missing.pt" in msg["missing checkpoint"]
    assert ".png or .npy" in msg["bad --out suffix"]
    assert "no IDX files" in msg["missing data"]
    assert not (tmp / "x.txt").exists() and not (tmp / "x.png").exists()


# --- the real digits -----------------------------------------------------------------------------

def test_sample_npy_from_image_checkpoint(real_data_dir, cli, tmp_path):
    """A 3-step MNIST run on 256 digits; sampling .npy gives float32 (N, 1, 28, 28) in [-1, 1]."""
    run = tmp_path / "run"
    proc = cli("train", "--dataset", "mnist", "--data-dir", real_data_dir, "--no-download",
               "--subset", 256, "--batch-size", 32, "--max-steps", 3, "--out", run, "--quiet")
    assert_clean_ok(proc)
    assert "only the test split" in proc.stderr
    header, rows = read_history(run / "history.csv")
    assert len(rows) == 3
    npy = tmp_path / "digits.npy"
    assert_clean_ok(cli("sample", "--checkpoint", run / "checkpoint.pt", "--n", 12,
                        "--out", npy))
    x = np.load(npy)
    assert x.dtype == np.float32 and x.shape == (12, 1, 28, 28)
    assert x.min() >= -1.0 and x.max() <= 1.0
    png = tmp_path / "digits.png"
    assert_clean_ok(cli("sample", "--checkpoint", run / "checkpoint.pt", "--n", 12,
                        "--out", png))
    assert_png(png)


@pytest.mark.slow
def test_done_criterion_focal_epoch_on_real_mnist(real_data_dir, cli, tmp_path):
    """SLOW (~20 s on 2 cores): the issue's done-criterion command, one focal-loss epoch on
    the 8,000 training digits of the 10,000 real test digits, writes checkpoint, history,
    samples and config."""
    literal = REPO_ROOT / ".." / "shared" / "data"
    data_dir = "../shared/data" if (literal / "MNIST" / "raw").is_dir() else str(real_data_dir)
    out = tmp_path / "focal"
    proc = cli("train", "--dataset", "mnist", "--data-dir", data_dir, "--loss", "focal",
               "--epochs", "1", "--out", out, timeout=600)
    assert_clean_ok(proc)
    assert "finished: completed 1 epoch" in proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["loss"] == "focal" and cfg["dataset"] == "mnist" and cfg["epochs"] == 1
    header, rows = read_history(out / "history.csv")
    assert header == list(HISTORY_FIELDS)
    assert cfg["batch_size"] == 32                          # the classroom recipe's batch
    assert len(rows) == 8_000 // 32                         # the 2,000 reference digits
                                                            # are held out of training
    assert_png(out / "samples_epoch_001.png")
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck.epoch == 1 and ck.step == 250 and ck.config.loss == "focal"
    assert ck.D is not None and ck.class_names == [str(i) for i in range(10)]


@pytest.mark.parametrize("command", [["train", "--dataset", "ring", "--epochs", "1"],
                                     ["sweep", "latent-size", "--quick"]])
def test_an_out_folder_that_cannot_be_made_is_one_line(cli, tmp_path, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = cli(*command, "--out", blocker / "out")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == f"error: {blocker / 'out'}: Not a directory"
    assert "Traceback" not in r.stderr


def test_progress_in_a_log_is_plain_lines_every_few_seconds(cli, tmp_path, capsys):
    """Not a terminal (a pipe, a CI log): no progress bar writing '\\r' updates into one
    endless line, but a plain line every PLAIN_EVERY_S seconds and one at the last step."""
    from gan_core.cli import plain_progress
    now = [0.0]
    on_step = plain_progress(total=5, every_s=10.0, clock=lambda: now[0])
    rec = dict(epoch=1, d_loss=0.7, g_loss=0.7, d_real=0.5, d_fake=0.5, images_per_s=100.0)
    for step, t in zip(range(1, 6), (1, 2, 11, 12, 13)):
        now[0] = t
        on_step(None, dict(rec, step=step))
    lines = capsys.readouterr().err.splitlines()
    assert [x.split()[1] for x in lines] == ["3/5", "5/5"]
    proc = cli("train", "--dataset", "ring", "--max-steps", 4, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "step 4/4 (100%)" in proc.stderr


def test_the_cli_and_the_app_look_for_data_in_the_same_places(monkeypatch, tmp_path):
    """One rule: $GAN_DATA_DIR when set, else ./data, the repository's data/ and
    ../shared/data beside it (where a fresh clone next to the shared data finds it)."""
    from gan_core import data
    from lab_app import settings
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    assert data.data_dir_candidates()[-1] == REPO_ROOT.parent / "shared" / "data"
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path))
    assert data.data_dir_candidates() == [tmp_path]
    (tmp_path / "x").write_text("")
    assert settings.find_data_dir() == data.find_data_dir() == tmp_path
    assert data.default_data_dir() == tmp_path


def test_abbreviated_flags_are_refused_not_guessed():
    """--epoch is a typo: argparse would take it as --epochs; the lab refuses it instead."""
    from gan_core.cli import UsageError, build_parser
    parser = build_parser()
    assert parser.parse_args(["train", "--out", "x", "--epochs", "2"]).epochs == 2
    with pytest.raises(UsageError, match="--epoch"):
        parser.parse_args(["train", "--out", "x", "--epoch", "2"])


def test_progress_lines_name_raw_scores_as_scores():
    from gan_core.cli import progress_line
    row = dict(step=5, epoch=1, d_loss=0.5, g_loss=1.0, d_real=2.5, d_fake=-1.5,
               images_per_s=100.0)
    assert "D(x) 2.50" in progress_line({**row, "loss": "nonsaturating"}, 10)
    line = progress_line({**row, "loss": "hinge"}, 10)
    assert "score(x) 2.50" in line and "score(G(z)) -1.50" in line and "D(x)" not in line
