"""nbnet.download.get_file against a local HTTP server (127.0.0.1, never the network):
caching, hash checks, truncated and tampered downloads, offline errors, extraction,
KERAS_HOME."""
import hashlib
import io
import os
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

import nbnet as nb
from nbnet.download import DownloadError, get_file, validate_file
from nbnet.errors import DataError

PAYLOAD = b"nbnet test payload\n" * 500


class Server:
    """Serves `routes` {"/name": bytes}; `lie_length` {"/name": extra bytes announced in
    Content-Length but never sent}. `hits` counts GETs per path."""

    def __init__(self):
        self.routes, self.lie_length, self.hits = {}, {}, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                announced = len(body) + server.lie_length.get(self.path, 0)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_download_is_cached_and_reused(server, tmp_path):
    server.routes["/data/file.bin"] = PAYLOAD
    url = server.url("/data/file.bin")
    path = get_file(origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    # fname defaults to the URL's last part, in <cache_dir>/datasets
    assert path == os.path.join(str(tmp_path), "datasets", "file.bin")
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    again = get_file("file.bin", origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    assert again == path and server.hits["/data/file.bin"] == 1
    # also without a hash: an existing file is used as it is
    get_file("file.bin", origin=url, cache_dir=tmp_path)
    assert server.hits["/data/file.bin"] == 1
    assert os.listdir(tmp_path / "datasets") == ["file.bin"]      # no temp file left
    # force_download fetches it again
    get_file("file.bin", origin=url, cache_dir=tmp_path, force_download=True)
    assert server.hits["/data/file.bin"] == 2


def test_md5_hash_and_cache_subdir(server, tmp_path):
    server.routes["/a.txt"] = PAYLOAD
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = get_file("a.txt", origin=server.url("/a.txt"), md5_hash=md5, cache_dir=tmp_path,
                    cache_subdir="models")
    assert path == os.path.join(str(tmp_path), "models", "a.txt")
    assert get_file("a.txt", origin=server.url("/a.txt"), file_hash=md5, cache_dir=tmp_path,
                    cache_subdir="models") == path
    assert server.hits["/a.txt"] == 1


def test_stale_cached_file_is_downloaded_again(server, tmp_path):
    server.routes["/f.bin"] = PAYLOAD
    target = tmp_path / "datasets" / "f.bin"
    target.parent.mkdir()
    target.write_bytes(b"an old, different file")
    path = get_file("f.bin", origin=server.url("/f.bin"), file_hash=sha256(PAYLOAD),
                    cache_dir=tmp_path)
    assert server.hits["/f.bin"] == 1
    assert open(path, "rb").read() == PAYLOAD


def test_tampered_download_is_refused_and_leaves_nothing(server, tmp_path):
    server.routes["/f.bin"] = PAYLOAD[:-1] + b"X"
    url = server.url("/f.bin")
    with pytest.raises(DataError) as e:
        get_file("f.bin", origin=url, file_hash=sha256(PAYLOAD), cache_dir=tmp_path)
    msg = str(e.value)
    assert url in msg and sha256(PAYLOAD) in msg
    assert os.listdir(tmp_path / "datasets") == []


def test_truncated_download_is_refused_and_leaves_nothing(server, tmp_path):
    server.routes["/f.bin"] = PAYLOAD
    server.lie_length["/f.bin"] = 1000          # announced, never sent
    url = server.url("/f.bin")
    with pytest.raises(DataError) as e:
        get_file("f.bin", origin=url, cache_dir=tmp_path)     # no hash: the length catches it
    assert url in str(e.value) and str(len(PAYLOAD) + 1000) in str(e.value)
    assert os.listdir(tmp_path / "datasets") == []


def test_http_error_names_the_url(server, tmp_path):
    url = server.url("/missing.npz")
    with pytest.raises(DownloadError) as e:
        get_file(origin=url, cache_dir=tmp_path)
    assert url in str(e.value) and "404" in str(e.value)
    assert os.listdir(tmp_path / "datasets") == []


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_offline_names_the_url_and_where_to_put_the_file(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/tf-keras-datasets/mnist.npz"
    with pytest.raises(OSError) as e:
        get_file("mnist.npz", origin=url, cache_dir=tmp_path)
    assert isinstance(e.value, DownloadError)
    msg = str(e.value)
    assert url in msg
    assert os.path.join(str(tmp_path), "datasets", "mnist.npz") in msg
    assert os.listdir(tmp_path / "datasets") == []


def test_keras_home_and_home_are_respected(server, tmp_path, monkeypatch):
    server.routes["/k.bin"] = PAYLOAD
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    path = get_file("k.bin", origin=server.url("/k.bin"))
    assert path == os.path.join(str(tmp_path / "kh"), "datasets", "k.bin")
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = get_file("k.bin", origin=server.url("/k.bin"))
    assert path == os.path.join(str(tmp_path / "home"), ".keras", "datasets", "k.bin")
    assert nb.utils.get_file is get_file


def make_tar_gz(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_extract_tar_gz(server, tmp_path):
    blob = make_tar_gz({"pack/a.txt": b"alpha", "pack/sub/b.txt": b"beta"})
    server.routes["/pack.tar.gz"] = blob
    url = server.url("/pack.tar.gz")
    # fname without an extension: the archive is "<fname>_archive", the folder "<fname>"
    out = get_file("pack", origin=url, extract=True, file_hash=sha256(blob), cache_dir=tmp_path)
    assert out == os.path.join(str(tmp_path), "datasets", "pack")
    assert open(os.path.join(out, "pack", "a.txt"), "rb").read() == b"alpha"
    assert open(os.path.join(out, "pack", "sub", "b.txt"), "rb").read() == b"beta"
    assert sorted(os.listdir(tmp_path / "datasets")) == ["pack", "pack_archive"]
    # reused from the cache
    assert get_file("pack", origin=url, extract=True, file_hash=sha256(blob),
                    cache_dir=tmp_path) == out
    assert server.hits["/pack.tar.gz"] == 1
    # untar=True is the deprecated spelling
    out2 = get_file("pack2", origin=url, untar=True, cache_dir=tmp_path)
    assert open(os.path.join(out2, "pack", "a.txt"), "rb").read() == b"alpha"


def test_extract_zip_with_extension_in_fname(server, tmp_path):
    blob = make_zip({"z/one.csv": b"1,2\n"})
    server.routes["/z.zip"] = blob
    # fname with an extension: archive kept under that name, folder "<stem>_extracted"
    out = get_file("z.zip", origin=server.url("/z.zip"), extract=True, cache_dir=tmp_path)
    assert out == os.path.join(str(tmp_path), "datasets", "z_extracted")
    assert open(os.path.join(out, "z", "one.csv"), "rb").read() == b"1,2\n"
    assert os.path.isfile(tmp_path / "datasets" / "z.zip")


def test_extract_skips_paths_escaping_the_folder(server, tmp_path):
    server.routes["/evil.tar.gz"] = make_tar_gz({"ok.txt": b"fine", "../../evil.txt": b"x"})
    server.routes["/evil.zip"] = make_zip({"ok.txt": b"fine", "../../evil2.txt": b"x"})
    with pytest.warns(UserWarning, match="evil"):
        out = get_file("evil", origin=server.url("/evil.tar.gz"), extract=True, cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="evil2"):
        out2 = get_file("evil2", origin=server.url("/evil.zip"), extract=True,
                        cache_dir=tmp_path)
    assert open(os.path.join(out, "ok.txt"), "rb").read() == b"fine"
    assert open(os.path.join(out2, "ok.txt"), "rb").read() == b"fine"
    for name in ("evil.txt", "evil2.txt"):
        assert not os.path.exists(tmp_path / name)
        assert not os.path.exists(tmp_path.parent / name)


def test_validate_file(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(PAYLOAD)
    assert validate_file(p, sha256(PAYLOAD))
    assert validate_file(p, hashlib.md5(PAYLOAD).hexdigest())            # "auto": by length
    assert validate_file(p, hashlib.md5(PAYLOAD).hexdigest(), algorithm="md5")
    assert not validate_file(p, sha256(PAYLOAD + b"!"))
    assert not validate_file(p, sha256(PAYLOAD), algorithm="md5")
    with pytest.raises(ValueError, match="sha1"):
        validate_file(p, sha256(PAYLOAD), algorithm="sha1")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="origin"):
        get_file("x", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="fname"):
        get_file(os.path.join("a", "b.npz"), origin="http://127.0.0.1/b.npz", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="fname"):
        get_file(origin="http://127.0.0.1/", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm"):
        get_file("x", origin="http://127.0.0.1/x", hash_algorithm="crc", cache_dir=tmp_path)


def test_paths_match_keras(server, tmp_path):
    keras_utils = pytest.importorskip("keras.utils")
    server.routes["/p.tar.gz"] = make_tar_gz({"p/a.txt": b"alpha"})
    for i, fname in enumerate(("p", "p.tar.gz", None)):
        mine, keras_dir = tmp_path / f"ours{i}", tmp_path / f"keras{i}"
        keras_dir.mkdir()          # Keras falls back to /tmp/.keras for a missing folder
        ours = get_file(fname, origin=server.url("/p.tar.gz"), extract=True, cache_dir=mine)
        theirs = keras_utils.get_file(fname, origin=server.url("/p.tar.gz"), extract=True,
                                      cache_dir=str(keras_dir))
        assert os.path.relpath(ours, mine) == os.path.relpath(theirs, keras_dir)
        assert sorted(os.listdir(mine / "datasets")) == sorted(os.listdir(keras_dir / "datasets"))
        assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))
