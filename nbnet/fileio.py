"""Writing files atomically: a temporary file in the same folder, fsync'ed, then renamed
over the target, so a crash mid-write leaves the previous file intact.

The temporary file of a write to FOLDER/NAME is FOLDER/.NAME.nbnet-tmp-PID-RANDOM (PID:
the writing process). A process killed mid-write (kill -9, a power cut) cannot remove
it; the next write to the same NAME removes every such file whose process is gone.
"""
import errno
import os
import re
import secrets

TAG = ".nbnet-tmp-"
_MAX_NAME = 200   # keeps .NAME + TAG + PID-RANDOM under the usual 255-byte limit


def temp_prefix(path):
    """The start of the temporary files' names for a write to `path` (no folder)."""
    return "." + os.path.basename(path)[:_MAX_NAME] + TAG


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True   # someone else's process (or a number we cannot test): keep its file
    return True


def stale_temp_files(path):
    """The temporary files left next to `path` by writers that are no longer running."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix = temp_prefix(path)
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[0-9a-f]+\Z")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    out = []
    for name in names:
        m = pattern.match(name) if name.startswith(prefix) else None
        if m and not _alive(int(m.group(1))):
            out.append(os.path.join(folder, name))
    return out


def remove_stale_temp_files(path):
    for tmp in stale_temp_files(path):
        try:
            os.remove(tmp)
        except OSError:
            pass   # gone already (another writer cleaned it), or not ours to remove


def atomic_write(path, write):
    """Call write(fileobj) on a temp file next to `path`, then rename it over `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write {path}: the folder {folder} "
                                              f"does not exist", path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder", path)
    remove_stale_temp_files(path)
    tmp = os.path.join(folder, f"{temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        # mode 0o666 less the umask: the permissions a plain open() would give
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o666)
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {path}: {e.strerror}", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
