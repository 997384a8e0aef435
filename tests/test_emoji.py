"""The emoji colour set (gan_core.emoji): the builder on a tiny package in the npm package's own
layout (package/emoji.json, package/img/google/64/*.png), the loader's shapes, dtype and groups,
the messages when it is missing or broken, and real training steps of the 64x64 colour models
on it. One test reads the real package (npm fetches it once) and is skipped where there is no
npm and no built set.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gan_core import emoji
from gan_core.cli import main
from gan_core.config import preset, start_config
from gan_core.data import DatasetError, default_data_dir
from gan_core.datasets import DATASETS, load_dataset
from gan_core.trainer import Trainer

RED, GREEN, BLUE, SKIN_A, SKIN_B = (220, 30, 30), (30, 180, 60), (40, 60, 220), (240, 200, 160), \
    (120, 80, 50)


def emoji_png(colour, size: int = 64) -> bytes:
    """A disc of `colour` on a transparent square, as the package's PNGs are."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4),
                               fill=(*colour, 255))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


# emoji.json as the package writes it (the fields the builder reads, and a few it ignores)
ENTRIES = [
    {"short_name": "grinning", "image": "1f600.png", "category": "Smileys & Emotion",
     "subcategory": "face-smiling", "has_img_google": True},
    {"short_name": "heart", "image": "2764.png", "category": "Smileys & Emotion",
     "subcategory": "heart"},
    {"short_name": "wave", "image": "1f44b.png", "category": "People & Body",
     "subcategory": "hand-fingers-open",
     "skin_variations": {"1F3FB": {"unified": "1F44B-1F3FB", "image": "1f44b-1f3fb.png"},
                         "1F3FF": {"unified": "1F44B-1F3FF", "image": "1f44b-1f3ff.png"}}},
    {"short_name": "frog", "image": "1f438.png", "category": "Animals & Nature",
     "subcategory": "animal-amphibian"},
    {"short_name": "tulip", "image": "1f337.png", "category": "Animals & Nature",
     "subcategory": "plant-flower"},
    {"short_name": "skin-tone-2", "image": "1f3fb.png", "category": "Component",
     "subcategory": "skin-tone"},
    {"short_name": "old_frog", "image": "1f438-old.png", "category": "Animals & Nature",
     "subcategory": "animal-amphibian"},          # the same picture again: kept once
    {"short_name": "flag-fr", "image": "1f1eb-1f1f7.png", "category": "Flags",
     "subcategory": "country-flag"},
    {"short_name": "ghost_file", "image": "1f47b.png", "category": "Smileys & Emotion",
     "subcategory": "face-costume"},              # listed, but its PNG is not in the package
]
PNGS = {"1f600.png": emoji_png(RED), "2764.png": emoji_png(RED, 72), "1f44b.png": emoji_png(
    (250, 200, 0)), "1f44b-1f3fb.png": emoji_png(SKIN_A), "1f44b-1f3ff.png": emoji_png(SKIN_B),
    "1f438.png": emoji_png(GREEN), "1f337.png": emoji_png((250, 100, 180)),
    "1f3fb.png": emoji_png(SKIN_A), "1f438-old.png": emoji_png(GREEN),
    "1f1eb-1f1f7.png": emoji_png(BLUE)}
# what the build keeps, in order: (name, group)
KEPT = [("grinning", "faces"), ("heart", "symbols"), ("wave", "people"), ("wave", "people"),
        ("wave", "people"), ("frog", "animals"), ("tulip", "plants"), ("flag-fr", "flags")]


def write_package_folder(root: Path) -> Path:
    """The package as `npm pack` lays it out: package/ with emoji.json, LICENSE and the PNGs."""
    pkg = root / "package"
    (pkg / emoji.IMAGES).mkdir(parents=True)
    (pkg / "emoji.json").write_text(json.dumps(ENTRIES))
    (pkg / "LICENSE").write_text("The MIT License (MIT)\nCopyright (c) 2013 Cal Henderson\n")
    (pkg / "package.json").write_text(json.dumps({"name": emoji.PACKAGE, "version": "0.0.0"}))
    for name, png in PNGS.items():
        (pkg / emoji.IMAGES / name).write_bytes(png)
    return root


@pytest.fixture
def package_tgz(tmp_path) -> Path:
    folder = write_package_folder(tmp_path / "unpacked")
    tgz = tmp_path / f"{emoji.PACKAGE}-fixture.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(folder / "package", arcname="package")
    return tgz


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """The lab's cache folder (where a set is built when the data folder is read-only) is this
    test's own, so a set built on this machine is never found by accident."""
    monkeypatch.setenv("GAN_LAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def built(tmp_path, package_tgz) -> Path:
    emoji.build_emoji(tmp_path / "data", package_tgz)
    return tmp_path / "data"


# --- the builder --------------------------------------------------------------------------------

def test_builder_reads_the_package_layout(built):
    """Every emoji with a picture becomes one image, skin tones included; Component and exact
    duplicates are left out, a missing PNG is named; the groups follow the categories."""
    folder = built / "emoji"
    info = json.loads((folder / "emoji.json").read_text())
    assert [(i["name"], i["group"]) for i in info["items"]] == KEPT
    assert [i["skin_tone"] for i in info["items"] if i["name"] == "wave"] == ["", "1F3FB",
                                                                            "1F3FF"]
    assert info["skipped"] == ["1f47b.png (missing)"]
    images = np.load(folder / "images-64.npy")
    labels = np.load(folder / "labels.npy")
    assert images.shape == (len(KEPT), 3, 64, 64) and images.dtype == np.uint8
    assert labels.tolist() == [emoji.GROUPS.index(g) for _, g in KEPT]


def test_transparent_parts_become_white_and_colours_survive(built):
    images = np.load(built / "emoji" / "images-64.npy")
    assert (images[:, :, 0, 0] == 255).all()                 # the corners were transparent
    assert images[0, :, 32, 32].tolist() == list(RED)       # the disc's centre, exact
    assert images[3, :, 32, 32].tolist() == list(SKIN_A)    # a skin tone is its own image
    assert images[1, :, 32, 32].tolist() == list(RED)       # the 72x72 PNG was resized


def test_licence_file_credits_google_and_the_package(built):
    text = (built / "emoji" / "LICENSE.txt").read_text()
    assert "Noto Emoji by Google" in text and "Apache License" in text
    assert "TERMS AND CONDITIONS FOR USE" in text           # the licence's full text
    assert "Copyright (c) 2013 Cal Henderson" in text       # the package's MIT licence


def test_build_from_the_unpacked_folder_matches_the_tarball(tmp_path, built):
    folder = write_package_folder(tmp_path / "again")
    emoji.build_emoji(tmp_path / "other", folder)
    for f in emoji.FILES[:2]:
        assert np.array_equal(np.load(tmp_path / "other" / "emoji" / f),
                              np.load(built / "emoji" / f))


def test_a_read_only_data_folder_builds_into_the_cache(tmp_path, package_tgz):
    """A data folder without write bits (a shared one; root could still write there) is left
    alone: the set goes to the lab's cache folder and loads from there with the same data
    folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    try:
        out = emoji.build_emoji(shared, package_tgz)
    finally:
        shared.chmod(0o755)
    assert out == tmp_path / "cache" / "emoji" and not (shared / "emoji").exists()
    assert len(load_dataset("emoji", shared, image_size=64, download=False)) == len(KEPT)


def test_not_the_package_says_so(tmp_path):
    bad = tmp_path / "x.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("package/readme.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(DatasetError, match="no emoji.json"):
        emoji.build_emoji(tmp_path / "d", bad)
    with pytest.raises(DatasetError, match="neither the package's tarball nor its folder"):
        emoji.build_emoji(tmp_path / "d", tmp_path / "nothing-here")


def test_a_package_with_too_many_pictures_is_refused(tmp_path, package_tgz, monkeypatch):
    """A tarball or folder given by hand is read into memory, so its PNGs are counted first."""
    monkeypatch.setattr(emoji, "MAX_IMAGES", 3)
    with pytest.raises(DatasetError, match="over 3 emoji PNGs"):
        emoji.build_emoji(tmp_path / "d", package_tgz)
    with pytest.raises(DatasetError, match="10 PNGs, over 3"):
        emoji.build_emoji(tmp_path / "d", write_package_folder(tmp_path / "f"))


def test_without_npm_the_message_says_how_to_get_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))                # no npm on it
    with pytest.raises(DatasetError, match=r"npm is not installed.*npm pack emoji-datasource"):
        emoji.fetch_package(tmp_path)


def fake_npm(tmp_path: Path, body: str) -> str:
    script = tmp_path / "npm"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def test_a_fetched_tarball_that_is_not_the_pinned_one_is_refused(tmp_path):
    """npm pack's file is checked against the pinned sha512, and removed when it differs."""
    dest = tmp_path / "dest"
    npm = fake_npm(tmp_path, f'echo tampered > "$4/{emoji.PACKAGE}-{emoji.VERSION}.tgz"\n')
    with pytest.raises(DatasetError, match="not the pinned one"):
        emoji.fetch_package(dest, npm)
    assert not any(dest.iterdir())


def test_a_failing_npm_is_reported_with_its_message(tmp_path):
    npm = fake_npm(tmp_path, 'echo "npm error 404 Not Found" >&2; exit 1\n')
    with pytest.raises(DatasetError, match="exit 1.*404 Not Found"):
        emoji.fetch_package(tmp_path / "dest", npm)


def test_integrity_is_npms_form(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    assert emoji.sha512_integrity(f) == ("sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpk"
                                         "qJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==")


# --- the loader ----------------------------------------------------------------------------------

def test_loader_shapes_dtype_and_groups(built):
    ds = load_dataset("emoji", built, image_size=64, download=False)
    assert ds.data.shape == (len(KEPT), 3, 64, 64) and ds.data.dtype == torch.uint8
    assert ds.class_names == list(emoji.GROUPS) == list(DATASETS["emoji"].class_names)
    assert [ds.class_names[i] for i in ds.labels] == [g for _, g in KEPT]
    assert "faces 1, people 3" in ds.note and "Apache License 2.0" in ds.note
    small = load_dataset("emoji", built, image_size=32, download=False)
    assert small.data.shape == (len(KEPT), 3, 32, 32)
    grey = load_dataset("emoji", built, image_size=28, channels=1, download=False)
    assert grey.data.shape == (len(KEPT), 1, 28, 28)


def test_missing_set_names_the_build_command(tmp_path):
    with pytest.raises(DatasetError, match="python -m gan_core emoji build"):
        load_dataset("emoji", tmp_path, download=False)
    assert emoji.emoji_source_files(tmp_path) == []


def test_broken_files_say_build_again(built):
    np.save(built / "emoji" / "images-64.npy", np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match="build it again"):
        load_dataset("emoji", built, download=False)
    (built / "emoji" / "labels.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match="build it again"):
        load_dataset("emoji", built, download=False)


def test_command_line_builds_and_reports(tmp_path, package_tgz, capsys):
    assert main(["emoji", "build", "--data-dir", str(tmp_path / "d"), "--from",
                 str(package_tgz)]) == 0
    assert f"emoji: {len(KEPT)} Noto emoji" in capsys.readouterr().out
    assert main(["emoji", "build", "--data-dir", str(tmp_path / "d"), "--from",
                 str(tmp_path / "missing.tgz")]) == 2
    assert "neither the package's tarball" in capsys.readouterr().err


# --- training on it ------------------------------------------------------------------------------

def weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_one_real_step_of_the_64x64_colour_models(built, name):
    """dcgan64 (and SAGAN on it) trains a step on the colour set: both nets change, and the
    grid G draws is 64x64 RGB."""
    cfg = preset(name, model="dcgan64", dataset="emoji", data_dir=str(built), batch_size=4,
                 max_steps=1, n_samples=4, ema_decay=None, download=False, device="cpu",
                 precision="fp32", depth="small")
    tr = Trainer(cfg)
    g0, d0 = weights(tr.G), weights(tr.D)
    assert tr.run() == "stopped" and tr.reason == "reached max_steps=1" and tr.step == 1
    assert not torch.equal(weights(tr.G), g0) and not torch.equal(weights(tr.D), d0)
    grid = tr.generate_fixed()
    assert grid.shape == (4, 3, 64, 64) and torch.isfinite(grid).all()
    assert tr.history[-1]["d_loss"] == tr.history[-1]["d_loss"]   # not NaN


def test_the_groups_condition_a_cgan(built):
    """The default model (classroom, 28x28 colour) as a CGAN on the ten groups: a step trains
    and the fixed grid cycles through the groups."""
    cfg = start_config(dataset="emoji", data_dir=str(built), conditional=True, clusters=None,
                       batch_size=4, max_steps=1, download=False, device="cpu")
    assert cfg.model == "classroom"
    tr = Trainer(cfg)
    assert tr.spec.num_classes == len(emoji.GROUPS) == 10
    tr.run()
    assert tr.step == 1 and tr.generate_fixed().shape == (64, 3, 28, 28)
    assert tr.fixed_labels[:10].tolist() == list(range(10))


# --- the real package ----------------------------------------------------------------------------

def test_the_real_package(monkeypatch):
    """The pinned package gives 3,762 images in the ten groups (npm fetches it when the set is
    not built yet: once, about 74 MB)."""
    monkeypatch.delenv("GAN_LAB_CACHE_DIR")          # where a real build is kept between runs
    data_dir = default_data_dir()
    if not emoji.emoji_source_files(data_dir) and shutil.which("npm") is None:
        pytest.skip("no npm and no built emoji set")
    ds = load_dataset("emoji", data_dir, image_size=64)
    counts = dict(zip(emoji.GROUPS, torch.bincount(ds.labels, minlength=10).tolist()))
    assert counts == {"faces": 130, "people": 2251, "animals": 130, "plants": 29, "food": 131,
                      "travel": 218, "activities": 85, "objects": 264, "symbols": 263,
                      "flags": 261}
    assert ds.data.dtype == torch.uint8 and ds.data.shape[1:] == (3, 64, 64)
    assert ds.data.float().std() > 40                 # real pictures, not a blank canvas
    assert (emoji.emoji_source_files(data_dir)[0].parent / "LICENSE.txt").is_file()
