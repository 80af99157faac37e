"""Keeping an index in step with folders while a server runs: file events, batched index runs.

Each batch of file events (added, changed or deleted article files) triggers one incremental
`SearchEngine.index` run over all the watched folders. That run holds the index's write lock,
reads only the files that changed and commits once, so searches carry on meanwhile and a crash
leaves the last commit. A run that cannot take the lock (another `search index` is writing) is
retried shortly after, so no event is lost.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import watchfiles

from search.documents import is_document_name
from search.engine import SearchEngine
from search.errors import IndexLockedError, SearchError
from search.reports import IndexReport

logger = logging.getLogger("search.web.watch")

DEBOUNCE_MS = 300
"""Events closer together than this are indexed in one run."""
RETRY_SECONDS = 1.0
"""How soon a run that could not take the index lock is tried again."""
LOCK_WAIT_SECONDS = 1.0


def is_relevant(change: watchfiles.Change, path: str) -> bool:
    """Whether a file event may change the index: an article file or a folder, not hidden."""
    name = os.path.basename(path)
    if not name or name.startswith("."):
        return False
    return is_document_name(name) or os.path.splitext(name)[1] == "" or os.path.isdir(path)


class Watcher:
    """A thread that indexes `paths` once, then again after each batch of file events."""

    def __init__(
        self,
        engine: SearchEngine,
        paths: Sequence[Path],
        *,
        on_report: Callable[[IndexReport], None] | None = None,
    ) -> None:
        self.engine = engine
        self.paths = list(paths)
        self.on_report = on_report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiting_for_lock = False
        self.ready = threading.Event()
        """Set once the first run is done (or failed) and events are being watched."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="search-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching; an index run in progress finishes first (it commits or leaves nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:  # a watched folder removed or unmounted, a watcher limit reached, ...
            logger.exception("watching %s stopped", ", ".join(map(str, self.paths)))
        finally:
            self.ready.set()

    def _watch(self) -> None:
        # The first run waits for the watcher to be in place (the first pass of the loop), so a
        # file written while it runs is seen by the watcher and indexed by the next run.
        pending = True
        first = True
        events = watchfiles.watch(
            *self.paths,
            watch_filter=is_relevant,
            debounce=DEBOUNCE_MS,
            step=50,
            stop_event=self._stop,
            rust_timeout=int(RETRY_SECONDS * 1000),
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        for changes in events:
            if self._stop.is_set():
                break
            if changes or pending:
                pending = not self._index()
            if first:
                first = False
                self.ready.set()
        self.ready.set()

    def _index(self) -> bool:
        """One incremental run over every watched path; False when it should be tried again."""
        try:
            report = self.engine.index(self.paths, wait_seconds=LOCK_WAIT_SECONDS)
        except IndexLockedError as exc:
            if not self._waiting_for_lock:  # once per wait, not once a second
                logger.info("%s; indexing the watched folders when it is done", exc)
                self._waiting_for_lock = True
            return False
        except SearchError as exc:
            logger.error("indexing the watched folders failed: %s", exc)
            return False
        except Exception:
            logger.exception("indexing the watched folders failed unexpectedly")
            return False
        self._waiting_for_lock = False
        if self.on_report is not None:
            self.on_report(report)
        return True
