"""`./lab data` (gan_core.sources, gan_core.fetch, gan_core.datacli) against a local HTTP server.

There is no internet on the test machines, so each test serves small fixture archives in each
dataset's exact on-disk form (torchvision's MNIST IDX .gz files, CIFAR-10's python batches in a
tar.gz, CelebA's img_align_celeba zip) from 127.0.0.1, with the registry's URLs and checksums
pointed at them. Each failure must be one line, and leave nothing half-made behind.
"""
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core import kept, sources
from gan_core.data import DatasetError
from gan_core.datacli import data_command
from gan_core.datasets import load_dataset
from gan_core.fetch import FetchError, Progress, Resumable, fetch
from gan_core.photos import photo_sources
from gan_core.sources import SOURCES, RemoteFile, check, missing_line, on_disk

REPO = Path(__file__).resolve().parents[1]


# --- the server ------------------------------------------------------------------------------

class Server:
    """Serves `files` (path -> bytes) with Range support; `cut[path] = n` sends only the first n
    bytes of the next answer for `path` (an interrupted download) and then closes."""

    def __init__(self):
        self.files, self.cut, self.ranges, self.html = {}, {}, [], set()
        self.no_range = False            # True: answer every request with the whole file
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range") and not server.no_range:
                    server.ranges.append((self.path, self.headers["Range"]))
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                ctype = "text/html" if self.path in server.html else "application/octet-stream"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                n = server.cut.pop(self.path, None)
                self.wfile.write(body[start:] if n is None else body[start:start + n])
                if n is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, name: str, body: bytes) -> str:
        self.files["/" + name] = body
        return f"{self.url}/{name}"


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def point(monkeypatch, server, name: str, bodies: dict[str, bytes], md5s=None):
    """Point SOURCES[name] at the server: its files become `bodies`, with their MD5s (or md5s)."""
    files = tuple(RemoteFile(fn, (server.serve(fn, b),), (md5s or {}).get(fn, md5(b)), len(b))
                  for fn, b in bodies.items())
    monkeypatch.setitem(SOURCES, name, replace(SOURCES[name], files=files))


def everything(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- fixtures in each set's on-disk form -----------------------------------------------------

def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def mnist_files(n_train=30, n_test=10) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {"train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (n_train, 28, 28))),
            "train-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, n_train)),
            "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (n_test, 28, 28))),
            "t10k-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, n_test))}


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def cifar_batch(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return pickle.dumps({"batch_label": "fixture", "labels": rng.integers(0, 10, n).tolist(),
                         "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "filenames": [f"{i}.png" for i in range(n)]}, protocol=2)


def cifar_archive(**replace_batch) -> bytes:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    members = {f"cifar-10-batches-py/{n}": replace_batch.get(n, cifar_batch(4, i))
               for i, n in enumerate(names)}
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": ["a"] * 10})
    return tar_gz(members)


def jpg(w=178, h=218, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def celeba_zip(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(1, 6):
            z.writestr(f"img_align_celeba/{i:06d}.jpg", jpg(seed=i))
        for name, body in (extra or {}).items():
            z.writestr(name, body)
    return buf.getvalue()


# --- success ---------------------------------------------------------------------------------

def test_fetch_mnist_into_torchvisions_layout_then_loads_and_checks(server, monkeypatch, tmp_path):
    point(monkeypatch, server, "mnist", mnist_files())
    assert not on_disk("mnist", tmp_path)
    assert "./lab data fetch mnist" in missing_line("mnist", tmp_path)
    err = io.StringIO()
    said = fetch("mnist", tmp_path, progress=Progress(err))
    assert "fetched and checked" in said
    assert everything(tmp_path) == ["MNIST", "MNIST/raw"] + sorted(
        f"MNIST/raw/{n}" for n in mnist_files())
    assert "\r" not in err.getvalue() and "100%" in err.getvalue()     # plain lines in a pipe
    ds = load_dataset("mnist", tmp_path, download=False, part="train")
    assert ds.data.shape == (30, 1, 28, 28)
    assert on_disk("mnist", tmp_path) and missing_line("mnist", tmp_path) is None
    assert {v for _, v, _ in check("mnist", tmp_path)} == {"ok"}
    out = io.StringIO()
    assert data_command("check", "mnist", str(tmp_path), out, io.StringIO()) == 0
    assert out.getvalue().count(" ok ") == 4
    assert "already here" in fetch("mnist", tmp_path, progress=Progress(io.StringIO()))


def test_fetch_cifar10_converts_the_batches_once_and_never_reads_a_pickle_again(
        server, monkeypatch, tmp_path):
    point(monkeypatch, server, "cifar10", {"cifar-10-python.tar.gz": cifar_archive()})
    fetch("cifar10", tmp_path, progress=Progress(io.StringIO()))
    folder = tmp_path / "cifar-10-batches-py"
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob(".unpack-*"))
    assert not (folder / "cifar-10-python.tar.gz").exists()        # the archive is gone
    assert np.load(folder / "train_images.npy").shape == (20, 3, 32, 32)
    for batch in [*folder.glob("*_batch*"), folder / "batches.meta"]:   # the loader must
        batch.unlink()                                                      # not need them
    ds = load_dataset("cifar10", tmp_path, image_size=32, channels=3, download=False,
                      part="reference")
    assert ds.data.shape == (4, 3, 32, 32) and ds.num_classes == 10
    # the manifest vouches for what was unpacked: the deleted batches are reported
    rows = check("cifar10", tmp_path)
    assert rows[0][1] == "BAD" and "data_batch_1" in rows[0][2]


def test_fetch_celeba_unpacks_the_aligned_faces_and_crops_them_to_64(server, monkeypatch,
                                                                     tmp_path):
    point(monkeypatch, server, "celeba", {"img_align_celeba.zip": celeba_zip()})
    fetch("celeba", tmp_path, progress=Progress(io.StringIO()))
    assert len(list((tmp_path / "celeba" / "img_align_celeba").glob("*.jpg"))) == 5
    ds = load_dataset("celeba", tmp_path, image_size=64, channels=3, download=False)
    assert ds.data.shape == (5, 3, 64, 64)
    assert check("celeba", tmp_path)[0][1] == "ok"
    # a run's start keys the loaded set by the manifest, not by hashing every photo
    assert photo_sources("celeba", tmp_path) == [tmp_path / "celeba" / ".lab-manifest.json"]
    assert kept.dataset("celeba", tmp_path, image_size=64, channels=3).data.shape == (5, 3, 64, 64)
    (tmp_path / "celeba" / "img_align_celeba" / "000003.jpg").write_bytes(jpg(seed=99))
    assert check("celeba", tmp_path)[0][1] == "BAD"


def test_a_file_put_there_by_hand_is_checked_and_used(server, monkeypatch, tmp_path):
    body = celeba_zip()
    point(monkeypatch, server, "celeba", {"img_align_celeba.zip": body})
    server.files.clear()                             # offline: only the hand copy counts
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "img_align_celeba.zip").write_bytes(body)
    fetch("celeba", tmp_path, progress=Progress(io.StringIO()))
    assert on_disk("celeba", tmp_path)


# --- failures: one line, nothing left behind --------------------------------------------------

def test_wrong_checksum_deletes_the_download_and_unpacks_nothing(server, monkeypatch, tmp_path):
    point(monkeypatch, server, "cifar10", {"cifar-10-python.tar.gz": cifar_archive()},
          md5s={"cifar-10-python.tar.gz": "0" * 32})
    with pytest.raises(FetchError) as e:
        fetch("cifar10", tmp_path, progress=Progress(io.StringIO()))
    assert "failed its checksum" in str(e.value) and "\n" not in str(e.value)
    assert not isinstance(e.value, Resumable)
    assert everything(tmp_path) == []


def test_an_interrupted_download_resumes_with_a_range_request(server, monkeypatch, tmp_path):
    files = mnist_files(n_train=400)
    point(monkeypatch, server, "mnist", files)
    big = "/train-images-idx3-ubyte.gz"
    server.cut[big] = len(files[big[1:]]) // 2
    with pytest.raises(Resumable) as e:
        fetch("mnist", tmp_path, progress=Progress(io.StringIO()))
    part = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz.part"
    assert "run the same command again to resume" in str(e.value) and str(part) in str(e.value)
    assert part.stat().st_size == len(files[big[1:]]) // 2
    assert everything(tmp_path) == ["MNIST", "MNIST/raw", "MNIST/raw/train-images-idx3-ubyte.gz.part"]
    fetch("mnist", tmp_path, progress=Progress(io.StringIO()))
    assert (big, f"bytes={len(files[big[1:]]) // 2}-") in server.ranges
    assert not list(tmp_path.rglob("*.part"))
    assert {v for _, v, _ in check("mnist", tmp_path)} == {"ok"}


def test_a_server_that_ignores_range_starts_the_file_over(server, monkeypatch, tmp_path):
    files = mnist_files(n_train=400)
    point(monkeypatch, server, "mnist", files)
    big = "/train-images-idx3-ubyte.gz"
    server.cut[big] = 1000
    with pytest.raises(Resumable):
        fetch("mnist", tmp_path, progress=Progress(io.StringIO()))
    server.no_range = True
    fetch("mnist", tmp_path, progress=Progress(io.StringIO()))
    assert (tmp_path / "MNIST" / "raw" / big[1:]).read_bytes() == files[big[1:]]


@pytest.mark.parametrize("name, archive", [
    ("cifar10", lambda: cifar_archive()[:3000] + bytes(3000)),     # cut short
    ("cifar10", lambda: b"not a gzip file at all" * 100),
    ("celeba", lambda: celeba_zip()[:-200]),                       # no central directory
    ("celeba", lambda: celeba_zip().replace(b"JFIF", b"JFIX", 1)[:5000] + celeba_zip()[5000:]),
])
def test_a_corrupt_archive_leaves_nothing_half_unpacked(server, monkeypatch, tmp_path, name,
                                                        archive):
    body = archive()                                 # its MD5 is the "official" one here
    point(monkeypatch, server, name, {SOURCES[name].files[0].name: body})
    with pytest.raises(FetchError) as e:
        fetch(name, tmp_path, progress=Progress(io.StringIO()))
    assert "corrupt" in str(e.value) and "\n" not in str(e.value)
    assert everything(tmp_path) == []


def test_a_pickle_that_would_run_code_is_refused(server, monkeypatch, tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))
    evil = cifar_archive(data_batch_2=pickle.dumps({"data": Evil(), "labels": []}, protocol=2))
    point(monkeypatch, server, "cifar10", {"cifar-10-python.tar.gz": evil})
    with pytest.raises(FetchError) as e:
        fetch("cifar10", tmp_path, progress=Progress(io.StringIO()))
    assert "refused" in str(e.value) and "data_batch_2" in str(e.value)
    assert everything(tmp_path) == []                # no pwned file, no folder


def test_a_zip_member_outside_its_folder_is_refused(server, monkeypatch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    point(monkeypatch, server, "celeba",
          {"img_align_celeba.zip": celeba_zip({"../../escaped.txt": b"x"})})
    with pytest.raises(FetchError) as e:
        fetch("celeba", data, progress=Progress(io.StringIO()))
    assert "outside its folder" in str(e.value)
    assert everything(tmp_path) == ["data"]


def test_offline_says_what_is_missing_and_where_to_get_it_by_hand(monkeypatch, tmp_path):
    closed = "http://127.0.0.1:9/train-images-idx3-ubyte.gz"      # the discard port: refused
    files = tuple(replace(f, urls=(closed,)) for f in SOURCES["mnist"].files)
    monkeypatch.setitem(SOURCES, "mnist", replace(SOURCES["mnist"], files=files))
    err = io.StringIO()
    assert data_command("fetch", "mnist", str(tmp_path), io.StringIO(), err) == 1
    line = err.getvalue().splitlines()[-1]
    assert line.startswith("error: mnist: download failed") and closed in line
    assert str(tmp_path / "MNIST" / "raw") in line and "nothing was left behind" in line
    assert everything(tmp_path) == []


def test_unwritable_or_missing_data_folder(monkeypatch, tmp_path, server):
    point(monkeypatch, server, "mnist", mnist_files())
    a_file = tmp_path / "file"
    a_file.write_text("x")
    err = io.StringIO()
    assert data_command("fetch", "mnist", str(a_file), io.StringIO(), err) == 1
    assert "is a file, not a folder" in err.getvalue()
    err = io.StringIO()
    assert data_command("fetch", "mnist", str(tmp_path / "no" / "such"), io.StringIO(), err) == 1
    assert "does not exist" in err.getvalue() and len(err.getvalue().splitlines()) == 2
    assert everything(tmp_path) == ["file"]
    if os.geteuid() != 0:                            # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(FetchError, match="cannot write"):
            fetch("mnist", locked, progress=Progress(io.StringIO()))


def test_a_web_page_instead_of_the_file_is_refused(server, monkeypatch, tmp_path):
    point(monkeypatch, server, "celeba", {"img_align_celeba.zip": b"<html>sign in</html>"})
    server.html.add("/img_align_celeba.zip")
    with pytest.raises(FetchError, match="sent a web page") as e:
        fetch("celeba", tmp_path, progress=Progress(io.StringIO()))
    assert f"by hand, download {server.url}/img_align_celeba.zip into {tmp_path / 'celeba'}" \
        in str(e.value)
    assert everything(tmp_path) == []


def test_a_data_folder_made_by_a_failed_fetch_is_removed(server, monkeypatch, tmp_path):
    point(monkeypatch, server, "mnist", mnist_files(), md5s={"t10k-labels-idx1-ubyte.gz": "0" * 32})
    with pytest.raises(FetchError, match="failed its checksum"):
        fetch("mnist", tmp_path / "data", create=True, progress=Progress(io.StringIO()))
    assert everything(tmp_path) == []                # not the three good files either


# --- the command line, on the real files ------------------------------------------------------

def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gan_core", "data", *args], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_cli_no_such_folder_is_one_line_and_creates_nothing():
    r = run_cli("fetch", "mnist", "--data-dir", "/no/such/dir")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith("error: mnist: the data folder /no/such/dir")
    assert not Path("/no").exists()
    r = run_cli("fetch", "fer2013", "--data-dir", "/no/such/dir")
    assert r.returncode == 1 and "kaggle.com" in r.stderr and "fer2013.csv" in r.stderr
    r = run_cli("fetch", "imagenet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "mnist" in r.stderr


def test_cli_list_and_check_on_the_real_mnist_test_split():
    shared = Path(os.environ.get("GAN_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (shared / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("needs the real MNIST test split (GAN_DATA_DIR or ../shared/data)")
    r = run_cli("check", "mnist", "--data-dir", str(shared))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok        " + str(shared / "MNIST/raw/t10k-images-idx3-ubyte.gz") in r.stdout
    assert "absent" in r.stdout                      # the train split is not there
    r = run_cli("list", "--data-dir", str(shared))
    rows = {line.split()[0]: line for line in r.stdout.splitlines()[2:]}
    assert rows["mnist"].split()[1] == "partly" and rows["cifar10"].split()[1] == "no"
    assert "./lab data fetch cifar10" in rows["cifar10"]
    assert set(rows) == set(sources.SOURCES)


def test_emoji_is_fetched_by_its_own_builder(monkeypatch, tmp_path):
    import gan_core.fetch as fetch_module

    def no_npm(data_dir):
        raise DatasetError("emoji: npm is not installed; install Node.js or pass --from")
    monkeypatch.setattr(fetch_module, "build_emoji", no_npm)
    monkeypatch.setattr(sources, "emoji_source_files", lambda d: [])     # not built anywhere
    err = io.StringIO()
    assert data_command("fetch", "emoji", str(tmp_path), io.StringIO(), err) == 1
    assert err.getvalue().splitlines()[-1] == ("error: emoji: npm is not installed; install "
                                               "Node.js or pass --from")
    built = tmp_path / "emoji"
    monkeypatch.setattr(fetch_module, "build_emoji", lambda d: built)
    assert fetch("emoji", tmp_path, progress=Progress(io.StringIO())) == f"emoji: built into {built}"


def test_a_wrong_file_already_in_the_folder_is_named(server, monkeypatch, tmp_path):
    point(monkeypatch, server, "mnist", mnist_files())
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"not the labels")
    with pytest.raises(FetchError, match="train-labels-idx1-ubyte.gz is not the official file"):
        fetch("mnist", tmp_path, progress=Progress(io.StringIO()))
    assert not list(tmp_path.rglob("*.part"))



def test_training_with_download_on_fetches_through_the_checked_path(server, monkeypatch,
                                                                    tmp_path):
    point(monkeypatch, server, "kmnist", mnist_files())
    ds = load_dataset("kmnist", tmp_path, download=True, part="reference")
    assert ds.data.shape == (10, 1, 28, 28) and ds.class_names[0] == "o"
    assert (tmp_path / "KMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    files = tuple(replace(f, urls=("http://127.0.0.1:9/x",))   # offline (never the real site)
                  for f in SOURCES["fashion-mnist"].files)
    monkeypatch.setitem(SOURCES, "fashion-mnist", replace(SOURCES["fashion-mnist"], files=files))
    with pytest.raises(DatasetError) as e:                      # one line, nothing left
        load_dataset("fashion-mnist", tmp_path / "new", download=True)
    assert "download failed" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "new").exists()          # the folder it made is gone again
