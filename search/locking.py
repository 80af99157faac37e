"""One writer per index: Whoosh's file lock, taken on the index folder for a whole indexing run.

The lock is an advisory `flock` (Whoosh's `FileStorage.lock`), so the operating system releases it
when its holder dies, however it dies: a lock is never left behind by a killed process. The holder
writes who it is beside the lock, so that a process that gives up waiting can say who holds it.

A `flock` belongs to the open file, which forked children share: worker processes close their copy
(`close_inherited_locks`) so that the lock ends with the indexer, not with its slowest child.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from whoosh.filedb.filestore import FileStorage

from search.errors import IndexLockedError
from search.limits import DEFAULT_WAIT_SECONDS

LOCK_NAME = "WRITELOCK"
HOLDER_NAME = "WRITELOCK.holder.json"
_POLL_SECONDS = 0.05
_held: list[Any] = []
"""The locks this process holds (Whoosh lock objects)."""


class IndexLock:
    """Context manager holding the write lock of `index_dir`, waiting up to `wait_seconds`."""

    def __init__(self, index_dir: Path, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        self.index_dir = index_dir
        self.wait_seconds = max(0.0, wait_seconds)
        self._lock: Any = None

    def __enter__(self) -> IndexLock:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileStorage(str(self.index_dir)).lock(LOCK_NAME)
        deadline = time.monotonic() + self.wait_seconds
        while not lock.acquire(blocking=False):
            if time.monotonic() >= deadline:
                holder = describe_holder(self.index_dir)
                raise IndexLockedError(
                    f"the index in {self.index_dir} is being written by {holder}; "
                    f"gave up after {self.wait_seconds:g} s (use --wait to wait longer)"
                )
            time.sleep(_POLL_SECONDS)
        self._lock = lock
        _held.append(lock)
        _write_holder(self.index_dir)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            (self.index_dir / HOLDER_NAME).unlink(missing_ok=True)
        finally:
            _held.remove(self._lock)
            self._lock.release()
            self._lock = None


def close_inherited_locks() -> None:
    """In a forked child, close its copies of the parent's lock files.

    Closing a copy never releases the parent's lock (only unlocking, or closing the last copy,
    does); it only stops the child from keeping the lock alive after the parent has died.
    """
    for lock in _held:
        if lock.fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock.fd)
            lock.fd = None  # this copy of the object must never unlock the parent's lock
            lock.locked = False
    _held.clear()


def describe_holder(index_dir: Path) -> str:
    """Who holds the lock, as far as the holder told us."""
    try:
        holder = json.loads((index_dir / HOLDER_NAME).read_text(encoding="utf-8"))
        pid = int(holder["pid"])
        host = str(holder["host"])
        since = str(holder["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    if host == socket.gethostname() and not _alive(pid):
        return "another process"  # the note is older than the lock's current holder
    return f"process {pid} on {host} (since {since})"


def _write_holder(index_dir: Path) -> None:
    note = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": " ".join(sys.argv)[:500],
    }
    temporary = index_dir / (HOLDER_NAME + f".{os.getpid()}")
    temporary.write_text(json.dumps(note), encoding="utf-8")
    os.replace(temporary, index_dir / HOLDER_NAME)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
