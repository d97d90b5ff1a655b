"""Atomic file writes, temporaries tagged with their writer, disk-full errors, and the
provenance attributes shared by every writer.

A temporary is named `.<name>.<host>-<pid>.<random><suffix>` beside its target, so the
temporaries of a writer that died (kill -9) are recognised and removed by the next writer
in that folder (`remove_stale_temporaries`), and two processes never share one."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import platform
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from actseg.errors import ActsegError

TEMP_SUFFIXES = (".tmp", ".old")
_TAG = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)\.[^.]+(?:\.[^.]+)*$")
MIN_FREE_BYTES = 1 << 20  # a failed write with less room than this is reported as disk full


class NoSpaceError(ActsegError, OSError):
    """The device ran out of space while writing a file; the message names it."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, f"no space left on device while writing {path}")

    def __str__(self) -> str:
        return self.strerror


def host_name() -> str:
    """This host's name, safe inside a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def temp_prefix(path: Path) -> str:
    """`.<name>.<host>-<pid>.`: what this process's temporaries for `path` start with."""
    return f".{path.name}.{host_name()}-{os.getpid()}."


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete temporaries in `folder` left by dead processes of this host; returns them."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            match = _TAG.match(entry.name)
            if not match or not entry.name.endswith(TEMP_SUFFIXES):
                continue
            if match["host"] != host_name() or pid_alive(int(match["pid"])):
                continue
            target = Path(entry.path)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
            removed.append(target)
    return removed


def make_temp_dir(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A fresh temporary folder beside `path`, tagged with this process."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent))


def is_disk_full(error: BaseException, path: str | os.PathLike) -> bool:
    """Whether `error`, raised while writing `path`, means the device is full: ENOSPC, or a
    library error (torch, HDF5) raised when the folder's file system has no room left."""
    if isinstance(error, NoSpaceError):
        return False  # already reported
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not isinstance(error, (OSError, RuntimeError)):
        return False
    try:
        stats = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES


@contextlib.contextmanager
def disk_full_named(path: str | os.PathLike) -> Iterator[None]:
    """Turn a disk-full failure inside the block into NoSpaceError naming `path`."""
    try:
        yield
    except (OSError, RuntimeError) as err:
        if is_disk_full(err, path):
            raise NoSpaceError(path) from err
        raise


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it onto `path` only on success.

    A writer killed midway leaves at most a temporary that no reader trusts and that the
    next writer in the folder removes; a full disk is reported as NoSpaceError.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=temp_prefix(path), suffix=suffix or (path.suffix + ".tmp"), dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
    try:
        with disk_full_named(path):
            yield tmp_path
            os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def file_digest(path: str | os.PathLike) -> str:
    """`sha256:<hex>` of a file's content: what a resume key holds for each input."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def provenance(**extra) -> dict:
    """Attributes stamped on every store: versions plus caller-supplied settings."""
    import numpy

    from actseg import __version__

    attrs = {
        "actseg_version": __version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
    }
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs
