"""Reading, parsing and analysing files, in worker processes when there are many.

Everything that can happen away from the index writer happens here: reading a file, its digest,
parsing and validating the frontmatter, analysing the text fields into postings, collecting the
vocabulary. The writer process then only adds ready postings, which is what lets indexing use
more than one core (Whoosh's writer itself is single-threaded Python).

Results come back in the order of the input, through a bounded window of chunks, so memory stays
flat however many files there are.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from search.catalog import FileRecord, FileState
from search.documents import RawFile, parse_article, read_file, read_limit
from search.errors import DocumentError
from search.locking import close_inherited_locks
from search.schema import to_index_fields
from search.vocabulary import extract_words

PARALLEL_MIN_FILES = 1_000
"""Below this many files, starting worker processes costs more than it saves."""
_CHUNK = 64
_PR_SET_PDEATHSIG = 1
_CHUNKS_IN_FLIGHT_PER_WORKER = 4


@dataclass(frozen=True, slots=True)
class PreparedFile:
    """One file, read and made ready for the index writer."""

    path: str
    record: FileRecord | None
    """What the catalog records; None when the file could not be read at all."""
    fields: dict[str, Any] | None
    """Keyword arguments for `add_document` (text already analysed) when the file is usable."""
    problem: str | None = None
    """Why the file cannot be indexed."""
    warnings: tuple[str, ...] = ()
    words: frozenset[str] = frozenset()


def digest(raw: RawFile) -> str:
    """The content digest recorded in the catalog (the size is part of it)."""
    return hashlib.blake2b(raw.data, digest_size=16).hexdigest() + f"-{raw.size}"


def load(path: str, max_frontmatter_bytes: int) -> RawFile | PreparedFile:
    """The file's bytes, or a `PreparedFile` saying why it cannot be read."""
    try:
        return read_file(path, max_bytes=read_limit(max_frontmatter_bytes))
    except DocumentError as exc:
        return PreparedFile(path, None, None, exc.reason)


def prepare_raw(raw: RawFile, path: str, max_frontmatter_bytes: int) -> PreparedFile:
    """Parse and analyse bytes already read from `path`."""
    checksum = digest(raw)
    try:
        result = parse_article(
            raw.data, path, max_frontmatter_bytes=max_frontmatter_bytes, truncated=raw.truncated
        )
    except DocumentError as exc:
        record = FileRecord(
            path, raw.size, raw.mtime_ns, checksum, FileState.SKIPPED, reason=exc.reason
        )
        return PreparedFile(path, record, None, exc.reason)
    article = result.article
    published = int(article.published_at.timestamp()) if article.published_at else None
    record = FileRecord(
        path,
        raw.size,
        raw.mtime_ns,
        checksum,
        FileState.INDEXED,
        article.url,
        article.quality,
        published,
    )
    words = extract_words((article.title, article.excerpt, article.provider or "", *article.topics))
    return PreparedFile(
        path,
        record,
        to_index_fields(article, analyse=True),
        warnings=result.warnings,
        words=frozenset(words),
    )


def prepare_file(path: str, max_frontmatter_bytes: int) -> PreparedFile:
    """Read, parse and analyse one file."""
    raw = load(path, max_frontmatter_bytes)
    if isinstance(raw, PreparedFile):
        return raw
    return prepare_raw(raw, path, max_frontmatter_bytes)


def _prepare_chunk(paths: Sequence[str], max_frontmatter_bytes: int) -> list[PreparedFile]:
    return [prepare_file(path, max_frontmatter_bytes) for path in paths]


def prepare_all(
    paths: Sequence[str], max_frontmatter_bytes: int, workers: int = 0
) -> Iterator[PreparedFile]:
    """Prepare `paths` in order; in `workers` processes (0: one per CPU) when there are many."""
    if workers <= 0:
        workers = os.cpu_count() or 1
    if workers == 1 or len(paths) < PARALLEL_MIN_FILES or not _can_fork():
        for path in paths:
            yield prepare_file(path, max_frontmatter_bytes)
        return
    with multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker) as pool:
        yield from _in_order(pool, _chunks(paths), max_frontmatter_bytes, workers)


def _start_worker() -> None:
    """Leave the indexer's locks to the indexer, and ask Linux to end this worker when the indexer
    dies, even by SIGKILL (no orphans)."""
    close_inherited_locks()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _can_fork() -> bool:
    """Whether worker processes can be forked safely.

    Forking copies the process as it is, so a program that calls `SearchEngine.index` from its
    top level needs no `if __name__ == "__main__"` guard (spawned workers would re-run it). It is
    only safe without other threads, which could hold locks the copy never releases; a threaded
    caller gets the serial path.
    """
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _chunks(paths: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(paths), _CHUNK):
        yield paths[start : start + _CHUNK]


def _in_order(
    pool: Any, chunks: Iterable[Sequence[str]], max_frontmatter_bytes: int, workers: int
) -> Iterator[PreparedFile]:
    pending: deque[Any] = deque()
    limit = workers * _CHUNKS_IN_FLIGHT_PER_WORKER
    chunk_iter = iter(chunks)
    for chunk in chunk_iter:
        pending.append(pool.apply_async(_prepare_chunk, (chunk, max_frontmatter_bytes)))
        if len(pending) >= limit:
            break
    while pending:
        done = pending.popleft().get()
        next_chunk = next(chunk_iter, None)
        if next_chunk is not None:
            pending.append(pool.apply_async(_prepare_chunk, (next_chunk, max_frontmatter_bytes)))
        yield from done
