"""A per-output lock of a long job: `<out>.lock` holds `<host> <pid>` of the process that
writes `out`. A second process refuses to start while that process lives (an orphan left by
a killed Snakemake, say); the lock of a dead process on this host is stale and taken over."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

from actseg.errors import ActsegError
from actseg.fileio import host_name, pid_alive

log = logging.getLogger(__name__)


class LockedError(ActsegError):
    """Another live process holds the lock of an output."""


def lock_path(out: str | os.PathLike) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".lock")


def _holder(path: Path) -> tuple[str, int] | None:
    """(host, pid) written in a lock file; None when unreadable (a writer died midway)."""
    try:
        host, pid = path.read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(f"{host_name()} {os.getpid()}\n")
    return True


def acquire(out: str | os.PathLike) -> Path:
    """Take the lock of `out`, replacing a stale one; LockedError if a live process has it."""
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        if _try_create(path):
            return path
        holder = _holder(path)
        if holder is not None and (holder[0] != host_name() or pid_alive(holder[1])):
            where = "" if holder[0] == host_name() else f" on host {holder[0]}"
            raise LockedError(
                f"{out}: process {holder[1]}{where} is still writing it (lock {path}); wait "
                "for it to end or kill it (after a killed Snakemake its jobs may live on), "
                "and delete the lock only if that process is gone")
        log.warning("%s: removing the stale lock of %s", path,
                    f"dead process {holder[1]}" if holder else "an unknown process")
        path.unlink(missing_ok=True)
    raise LockedError(f"{out}: cannot take the lock {path}")


def release(path: Path) -> None:
    if _holder(path) == (host_name(), os.getpid()):
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(out: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of `out` for the block."""
    path = acquire(out)
    try:
        yield path
    finally:
        release(path)
