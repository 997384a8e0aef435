"""Hostile image uploads for `folder:` datasets, each built here: escapes, bombs, junk, floods."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from gan_core.data import load_folder
from gan_core.uploads import UploadError, UploadLimits, save_uploads


def png(colour=(200, 30, 30), size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in links:
                info.external_attr = (0o120777 << 16)      # a symbolic link
            z.writestr(info, data)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: a decompression bomb's calling card."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def test_loose_images_are_saved_as_fresh_pngs_and_load_as_a_dataset(tmp_path):
    report = save_uploads([("a.png", png()), ("b.jpg", png((0, 0, 255))), ("c.PNG", png())],
                          tmp_path / "up")
    assert report.saved == 3 and report.classes == [] and report.skipped == []
    assert files_under(tmp_path / "up") == ["img_00001.png", "img_00002.png", "img_00003.png"]
    ds = load_folder(tmp_path / "up", size=28, channels=3)
    assert len(ds) == 3 and ds.labels is None


def test_a_zip_with_class_folders_becomes_a_labelled_set(tmp_path):
    z = make_zip({"faces/happy/1.png": png(), "faces/happy/2.png": png(),
                  "faces/sad/1.png": png((0, 0, 0)), "__MACOSX/faces/._1.png": b"junk"})
    report = save_uploads([("faces.zip", z)], tmp_path / "up")
    assert report.saved == 3 and report.classes == ["happy", "sad"]
    ds = load_folder(tmp_path / "up", size=28)
    assert ds.class_names == ["happy", "sad"] and ds.labels.tolist() == [0, 0, 1]


def test_zip_paths_that_escape_the_folder_or_are_links_are_skipped(tmp_path):
    z = make_zip({"../evil.png": png(), "/etc/abs.png": png(), "ok/../../../up.png": png(),
                  "C:/win.png": png(), "link.png": b"/etc/passwd", "good.png": png()},
                 links=("link.png",))
    report = save_uploads([("x.zip", z)], tmp_path / "inner" / "up")
    assert report.saved == 1
    assert files_under(tmp_path) == ["inner/up/img_00001.png"]      # nothing landed elsewhere
    reasons = " | ".join(report.skipped)
    for name in ("../evil.png", "/etc/abs.png", "ok/../../../up.png", "C:/win.png"):
        assert f"x.zip:{name}: path leaves the upload folder" in reasons
    assert "x.zip:link.png: a link, not a file" in reasons


def test_a_zip_bomb_is_refused_before_it_is_unpacked_and_nothing_is_kept(tmp_path):
    bomb = make_zip({"ok.png": png(), "bomb.png": b"\0" * (40 * 2**20)})
    assert len(bomb) < 200_000                                   # 40 MB packed into ~40 KB
    with pytest.raises(UploadError, match=r"x.zip:bomb.png unpacks to 40 MB from \d+ KB: a zip bomb"):
        save_uploads([("x.zip", bomb)], tmp_path / "up")
    assert not (tmp_path / "up").exists()


def test_an_upload_that_unpacks_beyond_the_total_limit_is_refused(tmp_path):
    limits = UploadLimits(max_total_bytes=2 * 2**20, max_ratio=10**6)
    z = make_zip({f"{i}.png": b"\0" * 2**19 for i in range(6)})    # 3 MB in all
    with pytest.raises(UploadError, match="would unpack to 3 MB, more than the 2 MB limit"):
        save_uploads([("big.zip", z)], tmp_path / "up", limits)
    loose = [(f"{i}.png", png(size=(400, 400))) for i in range(3)]
    with pytest.raises(UploadError, match="unpacks to more than 0 MB"):
        save_uploads(loose, tmp_path / "up2", UploadLimits(max_total_bytes=2000))


def test_thousands_of_files_are_refused_with_the_limit_named(tmp_path):
    z = make_zip({f"d/{i}.png": b"x" for i in range(101)})
    with pytest.raises(UploadError, match="more than 100 files; upload at most 100 images"):
        save_uploads([("many.zip", z)], tmp_path / "up", UploadLimits(max_files=100))
    many_loose = [(f"{i}.png", png()) for i in range(101)]
    with pytest.raises(UploadError, match="more than 100 files"):
        save_uploads(many_loose, tmp_path / "up2", UploadLimits(max_files=100))


def test_non_images_and_truncated_images_are_skipped_and_named(tmp_path):
    good = png(size=(64, 64))
    report = save_uploads([("notes.txt", b"hello"), ("fake.png", b"<html>not a png</html>"),
                           ("half.png", good[: len(good) // 2]), ("good.png", good)],
                          tmp_path / "up")
    assert report.saved == 1
    text = " | ".join(report.skipped)
    assert "notes.txt: not an image file" in text
    assert "fake.png: not a readable image" in text
    assert "half.png: damaged or truncated" in text
    assert "1 images saved; 3 skipped" in report.summary


def test_enormous_images_are_refused_before_decoding(tmp_path):
    header = png_header_only(100_000, 100_000)          # 10 gigapixels claimed, 100 bytes sent
    report = save_uploads([("huge.png", header), ("ok.png", png())], tmp_path / "up")
    assert report.saved == 1
    assert "huge.png: more pixels than the limit of 40,000,000" in report.skipped[0]
    header = png_header_only(8000, 6000)                 # 48 Mpx: under Pillow's own guard
    report = save_uploads([("big.png", header), ("ok.png", png())], tmp_path / "up3")
    assert "big.png: 8000x6000 pixels, more than the limit of 40,000,000" in report.skipped[0]
    small = UploadLimits(max_pixels=100)
    report = save_uploads([("big.png", png(size=(20, 20))), ("ok.png", png(size=(5, 5)))],
                          tmp_path / "up2", small)
    assert report.saved == 1 and "big.png: 20x20 pixels" in report.skipped[0]


def test_big_photos_are_stored_shrunk(tmp_path):
    save_uploads([("photo.jpg", png(size=(1200, 800)))], tmp_path / "up")
    with Image.open(tmp_path / "up" / "img_00001.png") as im:
        assert max(im.size) == 256


def test_an_upload_with_no_usable_image_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(UploadError, match=r"no image in the upload could be used \(a.txt: not an image"):
        save_uploads([("a.txt", b"x")], tmp_path / "up")
    assert not (tmp_path / "up").exists()
    with pytest.raises(UploadError, match="bad.zip is not a readable zip file"):
        save_uploads([("bad.zip", b"PK\x03\x04 broken")], tmp_path / "up")
    with pytest.raises(UploadError, match="is not empty"):
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "keep.txt").write_text("mine")
        save_uploads([("a.png", png())], tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"     # nothing lost


# --- issue 15: crafted zip layouts, pixel and time caps, TIFF, the isolated reader ----------

def _local(name: bytes, data: bytes) -> bytes:
    return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(data),
                       len(data), len(data), len(name), 0) + name + data


def _central(name: bytes, data: bytes, offset: int) -> bytes:
    return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0,
                       zlib.crc32(data), len(data), len(data), len(name), 0, 0, 0, 0, 0,
                       offset) + name


def raw_zip(body: bytes, entries: list[tuple[bytes, bytes, int]]) -> bytes:
    """A stored zip from hand-placed local records `body` and central entries
    (name, data, offset of its local header)."""
    cd = b"".join(_central(n, d, o) for n, d, o in entries)
    return body + cd + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries),
                                   len(entries), len(cd), len(body), 0)


def test_overlapping_zip_entries_are_refused(tmp_path):
    """Entry b.png's record lies inside a.png's data: 40 such entries made one large PNG
    decode 40 times (27 s of CPU for one small zip). Python's zipfile reads them all."""
    image = png(size=(64, 64))
    inner = _local(b"b.png", image)
    body = _local(b"a.png", inner)
    data = raw_zip(body, [(b"a.png", inner, 0), (b"b.png", image, 30 + 5)])
    with zipfile.ZipFile(io.BytesIO(data)) as z:          # this Python accepts it
        assert z.read("b.png") == image
    with pytest.raises(UploadError, match="overlap"):
        save_uploads([("x.zip", data)], tmp_path / "up")
    assert not (tmp_path / "up").exists()


def test_duplicate_zip_entries_are_refused(tmp_path):
    image = png()
    body = _local(b"a.png", image)
    data = raw_zip(body, [(b"a.png", image, 0)] * 40)
    with pytest.raises(UploadError, match="two entries named 'a.png'"):
        save_uploads([("x.zip", data)], tmp_path / "up")


def test_local_header_disagreeing_with_the_directory_is_refused(tmp_path):
    image = png()
    body = _local(b"b.png", image)
    data = raw_zip(body, [(b"a.png", image, 0)])
    with pytest.raises(UploadError, match="local header"):
        save_uploads([("x.zip", data)], tmp_path / "up")


def test_decoded_pixels_per_upload_are_capped(tmp_path):
    files = [(f"{i}.png", png(size=(20, 20))) for i in range(3)]
    with pytest.raises(UploadError, match="more than 1,000 pixels"):
        save_uploads(files, tmp_path / "up", UploadLimits(max_total_pixels=1000))
    assert save_uploads(files, tmp_path / "ok", UploadLimits(max_total_pixels=1200)).saved == 3


def test_decoding_time_per_upload_is_capped(tmp_path):
    with pytest.raises(UploadError, match="took more than 0 s"):
        save_uploads([("a.png", png())], tmp_path / "up", UploadLimits(max_seconds=0))


def test_tiff_images_are_decoded(tmp_path):
    """The uploader offers .tif/.tiff; they were all skipped as 'not an image file'."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buf, "TIFF")
    report = save_uploads([("a.tif", buf.getvalue()), ("b.tiff", buf.getvalue())],
                          tmp_path / "up")
    assert report.saved == 2 and not report.skipped
    assert len(load_folder(tmp_path / "up", size=16)) == 2


def test_isolated_upload_saves_the_same_and_refuses_the_same(tmp_path):
    from gan_core.uploads import save_uploads_isolated
    zipped = make_zip({"happy/a.png": png(), "sad/b.png": png((0, 0, 255))})
    report = save_uploads_isolated([("faces.zip", zipped)], tmp_path / "up", timeout_s=120)
    assert report.saved == 2 and report.classes == ["happy", "sad"]
    image = png()
    crafted = raw_zip(_local(b"a.png", image), [(b"a.png", image, 0)] * 2)
    with pytest.raises(UploadError, match="two entries"):
        save_uploads_isolated([("x.zip", crafted)], tmp_path / "up2", timeout_s=120)
    assert not (tmp_path / "up2").exists()


# --- issue 30: sizes judged before reading; the reader gets paths ---------------------------

class Unread(io.BytesIO):
    """An uploaded file as Streamlit hands it over (`.size`), that fails if anything reads it."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def read(self, *a):
        raise AssertionError("an upload over the limit was read")

    getvalue = getbuffer = read


def test_images_over_the_limit_are_refused_unread_and_start_no_reader(tmp_path, monkeypatch):
    """Three 150 MB images grew the server by 900 MB (copied, then sent to the reader) before
    each was refused for size: now they are judged by `.size` alone."""
    from gan_core import uploads
    monkeypatch.setattr(uploads, "run_isolated", lambda *a, **k: pytest.fail("a reader ran"))
    files = [(f"photo{i}.png", Unread(150 * 2**20)) for i in range(3)]
    with pytest.raises(UploadError, match="photo0.png: 150 MB, more than the 25 MB limit"):
        uploads.save_uploads_isolated(files, tmp_path / "up")
    big = [("a.zip", Unread(200 * 2**20)), ("b.zip", Unread(200 * 2**20))]
    with pytest.raises(UploadError, match="the upload is more than 300 MB"):
        uploads.save_uploads_isolated(big, tmp_path / "up")
    assert not (tmp_path / "up").exists()


def test_the_reader_gets_paths_and_big_images_are_skipped_unread(tmp_path, monkeypatch):
    from gan_core import uploads
    seen = []

    def spy(fn, files, *args, **kwargs):
        seen.extend(files)
        return uploads.run_isolated.__wrapped__(fn, files, *args, **kwargs)
    spy.__wrapped__ = uploads.run_isolated
    monkeypatch.setattr(uploads, "run_isolated", spy)
    small = io.BytesIO(png())
    small.size = len(small.getvalue())
    report = uploads.save_uploads_isolated([("big.png", Unread(150 * 2**20)),
                                            ("small.png", small)], tmp_path / "up")
    assert report.saved == 1
    assert report.skipped == ["big.png: 150 MB, more than the 25 MB limit"]
    assert [name for name, _ in seen] == ["small.png"]
    assert all(isinstance(path, str) for _, path in seen)          # a path, not the bytes


def test_streamlit_refuses_what_the_lab_would_refuse():
    """maxUploadSize is the lab's real largest: an image set of up to 300 MB."""
    import tomllib
    from pathlib import Path
    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" /
                            "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == UploadLimits().max_total_bytes // 2**20
