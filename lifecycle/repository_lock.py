"""One change of the served model at a time: retrain, export, deploy, promote and rollback all hold the
same exclusive lock, WIG80_HOME/retrain.lock (the retraining's lock before the others took it too), so
two exports never compute the same next version nor share a staging folder, and a rollback never lands
in the middle of a promotion.

The file is opened with O_NOFOLLOW and must be a regular file: a symbolic link put in its place (to a
file of someone else's, or to the repository's config) is refused, never followed, created or written.
A second holder is refused at once (RepositoryBusy, naming the lock and its holder) rather than queued
behind a retraining that may train for an hour. Re-entrant within a thread: a retraining holds it
through its promotion's export and deploy.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "retrain.lock"
_held = threading.local()  # {lock path: depth} of the locks this thread holds


class RepositoryBusy(RuntimeError):
    """Another retrain, export, deploy or rollback holds the lock; nothing was changed."""


class UnsafeLockFile(RuntimeError):
    """The lock's path is a symbolic link or not a regular file: refused, nothing was changed."""


def lock_path(home: Path) -> Path:
    return Path(home) / LOCK_FILE


@contextlib.contextmanager
def repository_lock(home: Path, action: str) -> Iterator[None]:
    """Hold the lock of `home` while `action` (e.g. "export") runs; RepositoryBusy when another holds it."""
    path = lock_path(home)
    depths: dict[str, int] = _held.__dict__.setdefault("depths", {})
    key = str(path.absolute())
    if depths.get(key):
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    descriptor = _open_lock_file(path)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RepositoryBusy(f"{action} refused: {_holder(descriptor)} holds the repository lock {path} "
                                 "(retrain, export, deploy and rollback run one at a time); nothing was changed, "
                                 "try again when it has finished") from error
        _record_holder(descriptor, action)
        depths[key] = 1
        try:
            yield
        finally:
            del depths[key]
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeLockFile(f"the repository lock {path} is a symbolic link (to {os.readlink(path)}): "
                                 "refused, not followed; remove the link") from error
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UnsafeLockFile(f"the repository lock {path} is not a regular file: refused; remove it")
    return descriptor


def _record_holder(descriptor: int, action: str) -> None:
    """Who holds the lock, for the message of the one refused."""
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{action} (pid {os.getpid()}: {' '.join(sys.argv)[:200]})\n".encode(), 0)


def _holder(descriptor: int) -> str:
    text = os.pread(descriptor, 512, 0).decode(errors="replace").strip()
    return f"another {text}" if text else "another process"
