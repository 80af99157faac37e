"""Reading, parsing, analysing and writing files into a new index, in worker processes when
there are many.

Each worker takes chunks of paths from a queue, reads each file (and its digest), parses and
validates the frontmatter, analyses the text fields, and adds the document to a Whoosh segment of
its own, which it finishes when the paths run out; the parent then joins the workers' segments
into one (`NewsSegmentWriter.append_segments`, when together they are no larger than a worker's
may be) and commits the index. Whoosh's writer is single-threaded Python, so this is what lets a
build use every core, and analysed documents never travel between processes: only each file's
outcome (its catalog record, problems, warnings and vocabulary) comes back. A bounded window of
chunks keeps memory flat however many files there are.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from search.catalog import FileRecord, FileState
from search.documents import RawFile, parse_article, read_file, read_limit
from search.errors import DocumentError, IndexingFailedError
from search.locking import close_inherited_locks
from search.schema import to_index_fields
from search.vocabulary import extract_words

PARALLEL_MIN_FILES = 1_000
"""Below this many files, starting worker processes costs more than it saves."""
_CHUNK = 64
SEGMENT_DOCUMENTS = 200_000
"""Documents a worker writes into one segment before it starts another."""
_PR_SET_PDEATHSIG = 1
_CHUNKS_IN_FLIGHT_PER_WORKER = 4
_WORKER_GC_THRESHOLDS = (50_000, 20, 100)
"""Allocations between collections in a worker (Python's defaults: 700, 10, 10)."""
_PRIMER_FILES = 200
"""Files read ahead for the workers' shared compression dictionaries (about 300 bytes of each
one's stored record go into a dictionary of at most 32 KiB)."""
_WORKER_CHECK_SECONDS = 1.0
"""How often a parent waiting for its workers checks that they are all still alive."""


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
    """The article's words, for the vocabulary of typo tolerance. From a worker process, only
    those it had not sent before: their union, the run's vocabulary, is the same."""
    indexed: bool = False
    """Already added to the index by the worker process that prepared it (`fields` then None)."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers send every file's outcome to the indexer: as the constructor's arguments,
        # these load in a third of the time of a frozen dataclass's generic state.
        return (
            PreparedFile,
            (
                self.path,
                self.record,
                self.fields,
                self.problem,
                self.warnings,
                self.words,
                self.indexed,
            ),
        )


def digest(raw: RawFile) -> bytes:
    """The content digest recorded in the catalog: 16 bytes of BLAKE2b over the bytes read and the
    file's size (a file longer than the read limit is read in part)."""
    hasher = hashlib.blake2b(raw.data, digest_size=16)
    hasher.update(raw.size.to_bytes(8, "little"))
    return hasher.digest()


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


def index_all(
    ix: Any, paths: Sequence[str], max_frontmatter_bytes: int, workers: int = 0, limitmb: int = 64
) -> Generator[PreparedFile, None, None]:
    """Read, analyse and add every file of `paths` to the new, empty index `ix`, and commit it.

    Yields each file's outcome as it is done (when a worker process wrote it, without its fields
    and with `indexed` set). The commit happens once every file is done; a failure, or a consumer
    that stops early, leaves the index empty. Many files are shared among `workers` processes (0:
    one per CPU), each of which writes segments of its own (a new one every `SEGMENT_DOCUMENTS`):
    reading, analysis and Whoosh's writing then all run in parallel, and analysed documents never
    travel between processes.
    """
    if workers <= 0:
        workers = os.cpu_count() or 1
    if workers == 1 or len(paths) < PARALLEL_MIN_FILES or not _can_fork():
        with ix.writer(limitmb=limitmb) as writer:
            for path in paths:
                prepared = prepare_file(path, max_frontmatter_bytes)
                if prepared.fields is not None:
                    writer.add_document(**prepared.fields)
                yield prepared
        return
    yield from _index_in_workers(ix, paths, max_frontmatter_bytes, workers, limitmb)


def _index_in_workers(
    ix: Any, paths: Sequence[str], max_frontmatter_bytes: int, workers: int, limitmb: int
) -> Generator[PreparedFile, None, None]:
    context = multiprocessing.get_context("fork")
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    primer = _primer(paths, max_frontmatter_bytes)
    processes = [
        context.Process(
            target=_segment_worker,
            args=(number, ix.storage, ix.indexname, tasks, results, max_frontmatter_bytes, limitmb),
            kwargs={"primer": primer},
            daemon=True,
        )
        for number in range(workers)
    ]
    writer = None
    try:
        for process in processes:
            process.start()
        # Holds Whoosh's lock on the new index while the workers write; commits their segments.
        writer = ix.writer()
        chunks = _chunks(paths)
        sent_all = False

        def send_next() -> None:
            nonlocal sent_all
            chunk = next(chunks, None)
            if chunk is not None:
                tasks.put(chunk)
            elif not sent_all:
                sent_all = True
                for _ in processes:
                    tasks.put(None)  # after the last chunk: each worker finishes its segment

        for _ in range(workers * _CHUNKS_IN_FLIGHT_PER_WORKER):
            send_next()
        segments: dict[int, list[Any]] = {number: [] for number in range(workers)}
        finished: dict[int, bool] = {}
        while len(finished) < workers:
            number, kind, payload = _next_result(results, processes, finished)
            if kind == "files":
                send_next()
                yield from payload
            elif kind == "segment":
                segments[number].append(payload)
            elif kind == "done":
                finished[number] = True
            else:
                raise IndexingFailedError(f"an indexing worker failed: {payload}")
        written = [segment for number in sorted(segments) for segment in segments[number]]
        if len(written) > 1 and sum(s.doc_count_all() for s in written) <= SEGMENT_DOCUMENTS:
            # One segment answers faster than several: this writer's own joins them, when it is
            # no larger than a worker's may be.
            writer.append_segments(written)
            written = [writer._finalize_segment()]
        else:
            writer._close_segment()
        writer._commit_toc(written)
        writer._finish()
    except BaseException:
        if writer is not None and not writer.is_closed:
            writer.cancel()
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            if process.pid is not None:
                process.join()
        tasks.cancel_join_thread()  # chunks nobody will read must not keep this process alive
        tasks.close()
        results.close()


def _primer(paths: Sequence[str], max_frontmatter_bytes: int) -> list[dict[str, Any]]:
    """The first usable files' documents, from which every worker's segments take the same
    compression dictionaries, so that their segments are joined without recompressing."""
    primer: list[dict[str, Any]] = []
    for path in paths[:_PRIMER_FILES]:
        try:
            fields = prepare_file(path, max_frontmatter_bytes).fields
        except Exception:  # reported by the worker that takes the file; the primer only helps
            break
        if fields is not None:
            primer.append(fields)
    return primer


def _next_result(results: Any, processes: list[Any], finished: dict[int, Any]) -> Any:
    """The next message from a worker; raises if a worker ended without finishing its segment."""
    while True:
        try:
            return results.get(timeout=_WORKER_CHECK_SECONDS)
        except queue.Empty:
            pass
        ended = [
            process.exitcode
            for number, process in enumerate(processes)
            if number not in finished and process.exitcode is not None
        ]
        if ended:
            try:  # what it sent just before it ended may still be on its way
                return results.get(timeout=_WORKER_CHECK_SECONDS)
            except queue.Empty:
                raise IndexingFailedError(
                    f"an indexing worker process ended unexpectedly (exit code {ended[0]}); "
                    "the index was left as it was"
                ) from None


def _segment_worker(
    number: int,
    storage: Any,
    indexname: str,
    tasks: Any,
    results: Any,
    max_frontmatter_bytes: int,
    limitmb: int,
    primer: Sequence[dict[str, Any]] = (),
) -> None:
    """One worker process: prepare the files of each chunk it takes, write them into a segment of
    its own, report each file, and at the end hand the finished segment to the parent."""
    _start_worker()
    sent_words: set[str] = set()
    try:
        writer = storage.open_index(indexname).writer(_lk=False, limitmb=limitmb, primer=primer)
        while (chunk := tasks.get()) is not None:
            done = []
            for path in chunk:
                prepared = prepare_file(path, max_frontmatter_bytes)
                if prepared.fields is not None:
                    writer.add_document(**prepared.fields)
                    # Most words are in many articles: each goes to the indexer once.
                    words = prepared.words - sent_words
                    sent_words |= words
                    prepared = replace(prepared, fields=None, indexed=True, words=words)
                done.append(prepared)
            if writer.docnum >= SEGMENT_DOCUMENTS:
                # A segment's writer holds some of every document until it is finished: finish
                # it and start another, so that memory stays bounded whatever the corpus.
                results.put((number, "segment", writer._finalize_segment()))
                writer = storage.open_index(indexname).writer(
                    _lk=False, limitmb=limitmb, primer=primer
                )
            results.put((number, "files", done))
        if writer.docnum:
            results.put((number, "segment", writer._finalize_segment()))
        else:
            writer._close_segment()
        results.put((number, "done", None))
    except BaseException as exc:  # reported to the parent, which fails the run
        results.put((number, "error", f"{type(exc).__name__}: {exc}"))


def _start_worker() -> None:
    """Leave the indexer's locks to the indexer, and ask Linux to end this worker when the indexer
    dies, even by SIGKILL (no orphans)."""
    close_inherited_locks()
    # This process is ours alone and short-lived: the objects inherited from the indexer never
    # need collecting, and the millions of small postings buffered by the writer make every full
    # collection long. (The indexer's own settings are never touched.)
    gc.freeze()
    gc.set_threshold(*_WORKER_GC_THRESHOLDS)
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
