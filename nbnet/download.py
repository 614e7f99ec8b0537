"""Downloading files into the Keras cache: get_file and validate_file (Keras 3 semantics).

The cache is `$KERAS_HOME` when that environment variable is set, else `~/.keras`
(read at call time, so a script may set it after importing nbnet), with the file in
`<cache>/<cache_subdir>`. A download streams into a temporary file in that folder; the
byte count (against Content-Length) and the hash are checked on the way, and only a
complete, verified file is renamed onto the target. A failed, truncated or tampered
download leaves nothing behind.
"""
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from .errors import DataError
from .fileio import atomic_write

_CHUNK = 1 << 16
_TIMEOUT_S = 60.0          # per socket operation, not for the whole download


class DownloadError(OSError):
    """A file could not be fetched (no network, unknown host, HTTP error)."""


# --------------------------------------------------------------------------- hashes
def _hasher(algorithm, file_hash=None):
    """hashlib object for "sha256" / "md5" / "auto" (sha256 for a 64-hex-digit hash,
    else md5, as Keras)."""
    if algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"hash_algorithm must be 'auto', 'sha256' or 'md5'; got {algorithm!r}")
    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None
                                 and len(str(file_hash)) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def _algorithm_name(algorithm, file_hash):
    return _hasher(algorithm, file_hash).name


def hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """Hex digest of the file at `fpath` ("sha256" or "md5")."""
    hasher = _hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=_CHUNK):
    """True when the file at `fpath` has hash `file_hash` (sha256 or md5; "auto" picks
    by the hash's length, as Keras)."""
    hasher = _hasher(algorithm, file_hash)
    return hash_file(fpath, hasher, chunk_size) == str(file_hash).lower()


# --------------------------------------------------------------------------- cache paths
def keras_home():
    """The Keras cache root: $KERAS_HOME if set, else ~/.keras."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    return os.path.join(os.path.expanduser("~"), ".keras")


def _cache_base(cache_dir):
    base = os.path.expanduser(os.fspath(keras_home() if cache_dir is None else cache_dir))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        # as Keras: an unwritable cache falls back to <tmp>/.keras
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base


# --------------------------------------------------------------------------- download
def _progress(total, name):
    """A tqdm bar on a terminal, else None (quiet in logs and under pytest)."""
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                leave=True)


def _download(origin, target, file_hash, algorithm):
    """Stream `origin` into `target` atomically; check length and hash on the way."""
    by_hand = (f"If this machine is offline, download {origin} elsewhere and place it at "
               f"{target}")

    def write(f):
        hasher = _hasher(algorithm, file_hash)
        try:
            response = urllib.request.urlopen(origin, timeout=_TIMEOUT_S)
        except urllib.error.HTTPError as e:
            raise DownloadError(f"URL fetch failure on {origin}: HTTP {e.code} {e.reason}. "
                                f"{by_hand}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"URL fetch failure on {origin}: {reason}. {by_hand}") from None
        with response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.strip().isdigit() else None
            bar = _progress(expected, os.path.basename(target))
            got = 0
            try:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as e:
                        got += len(e.partial)
                        break
                    except OSError as e:
                        raise DownloadError(f"download of {origin} interrupted after {got} "
                                            f"bytes: {e}. {by_hand}") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    hasher.update(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
        if expected is not None and got != expected:
            raise DataError(f"truncated download of {origin}: got {got} of {expected} bytes "
                            f"(Content-Length); nothing was written to {target}")
        if file_hash is not None and hasher.hexdigest() != str(file_hash).lower():
            raise DataError(
                f"Incomplete or corrupted file downloaded from {origin}: its {hasher.name} "
                f"hash {hasher.hexdigest()} does not match the expected {file_hash}; "
                f"nothing was written to {target}")

    print(f"Downloading data from {origin}")
    atomic_write(target, write)


# --------------------------------------------------------------------------- extraction
def _inside(base, name):
    """True when `name` (relative) resolves to a path inside `base` (resolved)."""
    path = os.path.realpath(os.path.join(base, name))
    try:
        return os.path.commonpath([path, base]) == base
    except ValueError:
        return False


def _safe_tar_members(archive, base):
    for info in archive:
        ok = _inside(base, info.name)
        if ok and info.islnk():
            ok = _inside(base, info.linkname)
        elif ok and info.issym():
            ok = _inside(base, os.path.join(os.path.dirname(info.name), info.linkname))
        if ok and not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
            ok = False          # devices, fifos: never
        if ok:
            yield info
        else:
            warnings.warn(f"Skipping invalid path during archive extraction: {info.name!r}",
                          stacklevel=3)


def _extract(archive_path, folder, archive_format):
    """Extract a tar (any compression) or zip archive into `folder`, skipping members
    whose paths would escape it. False when the file is none of the formats tried."""
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    formats = [formats] if isinstance(formats, str) else list(formats)
    for fmt in formats:
        if fmt not in ("tar", "zip"):
            raise ValueError(f"archive_format must be 'auto', 'tar', 'zip', a list of them "
                             f"or None; got {archive_format!r}")
    base = os.path.realpath(folder)
    for fmt in formats:
        try:
            if fmt == "tar" and tarfile.is_tarfile(archive_path):
                with tarfile.open(archive_path) as archive:
                    kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    archive.extractall(base, members=_safe_tar_members(archive, base), **kwargs)
                return True
            if fmt == "zip" and zipfile.is_zipfile(archive_path):
                with zipfile.ZipFile(archive_path) as archive:
                    members = []
                    for info in archive.infolist():
                        if _inside(base, info.filename):
                            members.append(info)
                        else:
                            warnings.warn("Skipping invalid path during archive extraction: "
                                          f"{info.filename!r}", stacklevel=2)
                    archive.extractall(base, members=members)
                return True
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise DataError(f"cannot extract archive {archive_path}: {e}") from None
    return False


def _extract_into(archive_path, extraction_dir, archive_format):
    """Extract into a temporary sibling folder, then rename it onto `extraction_dir`, so
    that an existing extraction folder is always complete."""
    parent = os.path.dirname(extraction_dir)
    tmp = tempfile.mkdtemp(prefix=".nbnet-extract-", dir=parent)
    try:
        if not _extract(archive_path, tmp, archive_format):
            warnings.warn(f"Could not extract archive {archive_path}.", stacklevel=3)
            return
        if os.path.isdir(extraction_dir) and not os.path.islink(extraction_dir):
            shutil.rmtree(extraction_dir)
        elif os.path.lexists(extraction_dir):
            os.remove(extraction_dir)
        os.replace(tmp, extraction_dir)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- get_file
def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Download `origin` into the cache unless a file with the right hash is there; return
    its path (or, with extract=True, the folder it was extracted into). Keras 3 semantics:

    - the file goes to `<cache_dir or $KERAS_HOME or ~/.keras>/<cache_subdir>/<fname>`;
      fname defaults to the last part of the URL path and may not contain a folder.
    - file_hash (sha256, or md5; hash_algorithm "auto" picks by length) is checked on a
      cached file (a mismatch re-downloads) and on the download (a mismatch raises
      DataError and keeps nothing). md5_hash is the deprecated spelling of an md5 hash.
    - extract=True (or untar=True, tar only) extracts the archive: with fname "x.tar.gz"
      the archive is `x.tar.gz` and the folder `x_extracted`; with fname "x" (or none)
      the archive is `x_archive` and the folder `x`. The folder's path is returned.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if not isinstance(origin, str):
        raise TypeError(f"origin must be a URL string; got {type(origin).__name__}")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    _hasher(hash_algorithm, file_hash)         # validates hash_algorithm
    datadir = os.path.join(_cache_base(cache_dir), os.fspath(cache_subdir))
    os.makedirs(datadir, exist_ok=True)

    provided_fname = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: {origin!r}. "
                             "Please specify the `fname` argument.")
    elif os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError("fname may not be a path; to choose the file's folder use cache_dir "
                         f"/ cache_subdir. Received: fname={fname!r}")

    extracting = bool(extract or untar)
    if extracting:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, fname[:fname.find(".")] + "_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, f"{fname}_archive")
    else:
        download_target = os.path.join(datadir, fname)

    download = True
    if not force_download and os.path.exists(download_target):
        download = False
        if file_hash is not None and not validate_file(download_target, file_hash,
                                                      hash_algorithm):
            print(f"A local file was found at {download_target}, but its "
                  f"{_algorithm_name(hash_algorithm, file_hash)} hash does not match "
                  f"{file_hash}, so it will be downloaded again.")
            download = True
    if download:
        _download(origin, download_target, file_hash, hash_algorithm)

    if extracting:
        if untar:
            archive_format = "tar"
        if download or not os.path.isdir(extraction_dir):
            _extract_into(download_target, extraction_dir, archive_format)
        return extraction_dir
    return download_target


__all__ = ["DownloadError", "get_file", "validate_file", "hash_file", "keras_home"]
