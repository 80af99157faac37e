"""Keeping an index in step with folders of article files.

A run holds the index's write lock from start to end. The first run, and any run with `rebuild`,
builds a new generation beside the live one and publishes it atomically when it is complete. Other
runs are incremental: they read only files whose size or modification time changed (and confirm
the change with a content digest), add, update and delete documents in the live generation, and
commit once at the end. Either way a crash leaves the last committed index, and a run that finds
nothing readable changes nothing.

Several files with the same canonical URL are one article: the index holds the copy with the
highest quality, then the newest, then the first path in sort order (`catalog.copy_rank`); the
others are recorded as duplicates and take over when the preferred copy goes away.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage

from search import storage, whoosh_ext
from search.catalog import Catalog, FileRecord, FileState, copy_rank
from search.errors import (
    IndexCorruptError,
    InvalidArgumentError,
    SearchError,
    access_error,
    rebuild_hint,
)
from search.files import FoundFile, list_files
from search.limits import DEFAULT_MAX_FRONTMATTER_BYTES, DEFAULT_WAIT_SECONDS
from search.locking import IndexLock
from search.pipeline import PreparedFile, digest, index_all, load, prepare_file, prepare_raw
from search.reports import DuplicateFile, FileProblem, IndexReport
from search.schema import build_schema, record_reader
from search.storage import CATALOG_NAME

ProgressCallback = Callable[[int, int, str], None]
"""Called after each file read with (files done, files to read, path of the file)."""

_WRITER_MEMORY_MB = 64
_CATALOG_BATCH = 2_000
# Documents prepared during an incremental run are kept for writing; beyond this many, a winning
# copy is read again when it is written, so that memory stays bounded on very large change sets.
_PREPARED_CACHE_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """How a run reads files and waits for the lock."""

    max_frontmatter_bytes: int = DEFAULT_MAX_FRONTMATTER_BYTES
    follow_links: bool = False
    rebuild: bool = False
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    workers: int = 0
    """Processes that read and analyse files (0: one per CPU); used for large runs only."""

    def __post_init__(self) -> None:
        if self.max_frontmatter_bytes <= 0:
            raise InvalidArgumentError("max_frontmatter_bytes must be positive")


@dataclass(slots=True)
class _Tally:
    """What a run did, file by file."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[FileProblem] = field(default_factory=list)
    warnings: list[FileProblem] = field(default_factory=list)
    words: set[str] = field(default_factory=set)
    """Vocabulary of the articles read, for typo tolerance."""

    def note(self, prepared: PreparedFile) -> None:
        """Record what reading a file said: why it was skipped, its warnings, its words."""
        if prepared.problem is not None:
            self.skipped.append(FileProblem(prepared.path, prepared.problem))
        self.warnings.extend(FileProblem(prepared.path, message) for message in prepared.warnings)
        self.words |= prepared.words


def run_index(
    index_dir: Path,
    paths: Iterable[Path | str],
    *,
    options: IndexOptions | None = None,
    progress: ProgressCallback | None = None,
) -> IndexReport:
    """Bring the index in `index_dir` in step with the article files under `paths`."""
    options = options or IndexOptions()
    started = time.perf_counter()
    roots = list(paths)
    if not roots:
        raise InvalidArgumentError("no path to index")
    listing = list_files(roots, follow_links=options.follow_links)
    try:
        with IndexLock(index_dir, options.wait_seconds):
            manifest = None
            if storage.index_exists(index_dir) and not options.rebuild:
                manifest = storage.read_manifest(index_dir)  # refuses incompatible indexes
            # Leftovers of runs that were killed before they published anything.
            storage.remove_unpublished_generations(
                index_dir, keep=storage.live_generation(index_dir)
            )
            if manifest is not None and _can_update(index_dir, manifest):
                report = _update(index_dir, manifest, listing.files, options, progress)
            else:
                report = _build(index_dir, listing.files, options, progress)
    except SearchError:
        raise
    except Exception as exc:
        raise _failure(index_dir, exc) from None

    walk_problems = list(listing.problems)
    return IndexReport(
        documents=report.documents,
        files_seen=len(listing.files) + len(walk_problems),
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        unchanged=report.unchanged,
        skipped=tuple(sorted([*walk_problems, *report.skipped], key=lambda p: p.path)),
        warnings=report.warnings,
        duplicates=report.duplicates,
        rebuilt=report.rebuilt,
        kept_previous=report.kept_previous,
        seconds=time.perf_counter() - started,
        index_dir=str(index_dir),
    )


def _can_update(index_dir: Path, manifest: storage.Manifest) -> bool:
    """Whether the live generation can be updated: it has a catalog, and no run died between
    committing the index and committing the catalog (then only a rebuild is sure to be right)."""
    generation = storage.generation_dir(index_dir, manifest)
    return (generation / CATALOG_NAME).is_file() and not storage.commit_pending(generation)


def _failure(index_dir: Path, exc: Exception) -> Exception:
    """What an exception that ended a run means: damage to the live index, found by checking its
    files; the operating system's refusal to write; or, when neither, a bug (`exc` itself)."""
    live = storage.live_generation(index_dir)
    if live is not None and (index_dir / live).is_dir():
        if not isinstance(exc, OSError):
            return storage.read_failure(index_dir, index_dir / live, exc) or exc
        damage = storage.verify_checksums(index_dir / live)
        if damage:
            return storage.damage_error(index_dir, damage)
    if isinstance(exc, OSError):
        # Reading articles never gets here (a file that cannot be read is skipped): this is the
        # index itself, and every path above leaves the live index as it was.
        kept = "the index was left as it was" if storage.index_exists(index_dir) else ""
        return access_error(exc, index_dir, doing="write the index in", note=kept)
    return exc


# -- a full build into a new generation -----------------------------------------------------------


def _build(
    index_dir: Path,
    files: tuple[FoundFile, ...],
    options: IndexOptions,
    progress: ProgressCallback | None,
) -> IndexReport:
    tally = _Tally()
    generation = storage.new_generation(index_dir)
    try:
        ix = whoosh_ext.create_in(str(generation), build_schema())
        with Catalog(generation / CATALOG_NAME, create=True) as catalog:
            paths = [found.path for found in files]
            written = index_all(
                ix, paths, options.max_frontmatter_bytes, options.workers, _WRITER_MEMORY_MB
            )
            # closing(): whatever fails here stops the workers before the generation is discarded.
            with catalog.transaction(), contextlib.closing(written):
                batch: list[FileRecord] = []
                for number, prepared in enumerate(written, start=1):
                    tally.note(prepared)
                    if prepared.fields is not None or prepared.indexed:
                        tally.added += 1
                    if prepared.record is not None:
                        batch.append(prepared.record)
                        if len(batch) >= _CATALOG_BATCH:
                            catalog.put(batch)
                            batch.clear()
                    if progress is not None:
                        progress(number, len(files), prepared.path)
                catalog.put(batch)
                catalog.add_words(tally.words)
            # Every copy of an article was added; keep the preferred one. (Nobody sees this
            # generation before it is published, so the second commit is invisible.)
            with catalog.transaction():
                duplicates = _drop_extra_copies(ix, catalog)
        documents = _document_count(ix)
        ix.close()
        if tally.added == 0:
            storage.discard(generation)
            return _report(
                tally, documents=_live_documents(index_dir), duplicates=[], kept_previous=True
            )
        manifest = storage.publish(
            index_dir, generation, build={"max_frontmatter_bytes": options.max_frontmatter_bytes}
        )
        storage.remove_unpublished_generations(index_dir, keep=manifest.generation)
    except BaseException:
        storage.discard(generation)
        raise
    return _report(tally, documents=documents, duplicates=duplicates, rebuilt=True)


def _drop_extra_copies(ix: Any, catalog: Catalog) -> list[DuplicateFile]:
    repeated = catalog.repeated_urls()
    if not repeated:
        return []
    duplicates: list[DuplicateFile] = []
    with ix.writer() as writer, ix.searcher() as searcher:
        records = record_reader(searcher)
        for url in repeated:
            copies = sorted(
                (r for r in catalog.records_for_url(url) if r.state is not FileState.SKIPPED),
                key=copy_rank,
            )
            kept = copies[0]
            losers = {record.path for record in copies[1:]}
            for docnum in searcher.document_numbers(url=url):
                if records(docnum)["path"] in losers:
                    writer.delete_document(docnum)
            for record in copies[1:]:
                catalog.set_state(record.path, FileState.DUPLICATE)
                duplicates.append(DuplicateFile(record.path, url, kept.path))
    return duplicates


# -- an incremental update of the live generation -------------------------------------------------


def _update(
    index_dir: Path,
    manifest: storage.Manifest,
    files: tuple[FoundFile, ...],
    options: IndexOptions,
    progress: ProgressCallback | None,
) -> IndexReport:
    tally = _Tally()
    generation = storage.generation_dir(index_dir, manifest)
    _remove_debris(generation)
    try:
        ix = whoosh_ext.open_dir(str(generation))
    except Exception as exc:  # unreadable index files: a rebuild is the way out
        raise storage.read_failure(index_dir, generation, exc) or IndexCorruptError(
            f"the index in {index_dir} cannot be read ({type(exc).__name__}: {exc}); "
            f"rebuild it with {rebuild_hint(index_dir)}"
        ) from None
    with Catalog(generation / CATALOG_NAME) as catalog:
        known = catalog.records()
        present = {found.path: found for found in files}
        removed = [record for path, record in known.items() if path not in present]
        to_read = [found for found in files if _looks_changed(known.get(found.path), found)]
        # Files skipped before and untouched since are still skipped: say so again.
        still_skipped = [
            FileProblem(record.path, record.reason or "could not be indexed")
            for record in known.values()
            if record.state is FileState.SKIPPED
            and record.path in present
            and not _looks_changed(record, present[record.path])
        ]
        tally.skipped.extend(still_skipped)
        tally.unchanged = len(files) - len(to_read) - len(still_skipped)

        updates: list[FileRecord] = []
        prepared_docs: dict[str, dict[str, Any]] = {}
        for number, found in enumerate(to_read, start=1):
            before = known.get(found.path)
            raw = load(found.path, options.max_frontmatter_bytes)
            if isinstance(raw, PreparedFile):  # vanished, or no longer a regular file
                tally.note(raw)
                if before is not None:
                    removed.append(before)
            elif before is not None and before.digest == digest(raw):
                # Touched but not changed: only the recorded size and time move on.
                updates.append(replace(before, size=raw.size, mtime_ns=raw.mtime_ns))
                if before.state is FileState.SKIPPED:
                    tally.skipped.append(
                        FileProblem(found.path, before.reason or "could not be indexed")
                    )
                else:
                    tally.unchanged += 1
            else:
                prepared = prepare_raw(raw, found.path, options.max_frontmatter_bytes)
                tally.note(prepared)
                assert prepared.record is not None
                updates.append(prepared.record)
                if prepared.fields is not None:
                    if before is None:
                        tally.added += 1
                    else:
                        tally.updated += 1
                    if len(prepared_docs) < _PREPARED_CACHE_LIMIT:
                        prepared_docs[found.path] = prepared.fields
            if progress is not None:
                progress(number, len(to_read), found.path)

        updated_paths = {record.path for record in updates}
        readable = sum(
            1
            for record in known.values()
            if record.path in present
            and record.path not in updated_paths
            and record.state is not FileState.SKIPPED
        ) + sum(1 for record in updates if record.state is not FileState.SKIPPED)
        if readable == 0:
            # Nothing readable at all (a wrong path, an unmounted share?): keep the index as it is.
            documents = _document_count(ix)
            ix.close()
            return _report(tally, documents=documents, duplicates=[], kept_previous=True)

        affected: set[str] = set()
        for record in updates:
            previous = known.get(record.path)
            if (
                previous is not None
                and previous.digest == record.digest
                and previous.url == record.url
            ):
                continue  # touched, not changed
            if record.url:
                affected.add(record.url)
            if previous is not None and previous.url and previous.url != record.url:
                affected.add(previous.url)  # the file now describes another article, or none
        affected.update(record.url for record in removed if record.url)
        tally.removed = len({record.path for record in removed})

        duplicates: list[DuplicateFile] = []
        writer: Any = None
        try:
            with catalog.transaction():
                catalog.delete(record.path for record in removed)
                catalog.put(updates)
                catalog.add_words(tally.words)
                for url in sorted(affected):
                    if writer is None:
                        writer = ix.writer(limitmb=_WRITER_MEMORY_MB)
                    duplicates.extend(
                        _settle(url, catalog, writer, prepared_docs, known, options, tally)
                    )
                if writer is not None:
                    storage.mark_commit_pending(generation)
                    writer.commit()  # the index first, then the catalog (on leaving the block)
                    writer = None
                    storage.record_checksums(generation)
            storage.clear_commit_pending(generation)
        except BaseException:
            if writer is not None:  # the index did not commit: it and the catalog still agree
                _abandon(writer)
                storage.clear_commit_pending(generation)
            _remove_debris(generation)  # a full disk must not stay full of half-written files
            raise
    documents = _document_count(ix)
    ix.close()
    return _report(tally, documents=documents, duplicates=duplicates)


def _settle(
    url: str,
    catalog: Catalog,
    writer: Any,
    prepared_docs: dict[str, dict[str, Any]],
    known: dict[str, FileRecord],
    options: IndexOptions,
    tally: _Tally,
) -> list[DuplicateFile]:
    """Make the index hold the preferred copy of the article at `url`, or nothing."""
    while True:
        copies = sorted(
            (r for r in catalog.records_for_url(url) if r.state is not FileState.SKIPPED),
            key=copy_rank,
        )
        if not copies:
            writer.delete_by_term("url", url)
            return []
        winner = copies[0]
        previous = known.get(winner.path)
        already_indexed = (
            previous is not None
            and previous.state is FileState.INDEXED
            and previous.digest == winner.digest
            and previous.url == url
        )
        if not already_indexed:
            fields = prepared_docs.get(winner.path) or _reread(winner, catalog, options, tally)
            if fields is None:
                continue  # the copy to promote is gone or changed; the catalog now says so
            # Not update_document(): it would read the URL back from the analysed fields.
            writer.delete_by_term("url", url)
            writer.add_document(**fields)
        catalog.set_state(winner.path, FileState.INDEXED)
        for record in copies[1:]:
            catalog.set_state(record.path, FileState.DUPLICATE)
        return [DuplicateFile(record.path, url, winner.path) for record in copies[1:]]


def _reread(
    record: FileRecord, catalog: Catalog, options: IndexOptions, tally: _Tally
) -> dict[str, Any] | None:
    """Read a copy again to promote it; returns None (and corrects the catalog) if it changed."""
    prepared = prepare_file(record.path, options.max_frontmatter_bytes)
    tally.note(prepared)
    if prepared.record is None:
        catalog.delete([record.path])
        return None
    if prepared.fields is None or prepared.record.url != record.url:
        catalog.put([prepared.record])
        return None
    return prepared.fields


def _abandon(writer: Any) -> None:
    """Cancel a failed writer; on a full disk cancelling can fail too, and must still unlock."""
    try:
        writer.cancel()
    except Exception:
        lock = getattr(writer, "writelock", None)
        if lock is not None:
            with contextlib.suppress(Exception):
                lock.release()


def _remove_debris(generation: Path) -> None:
    """Delete what failed or killed writers left in a live generation: segment files that no
    table of contents names, and Whoosh's temporary folders. Only with the write lock held."""
    store = FileStorage(str(generation))
    try:
        toc = whoosh_index.TOC.read(store, whoosh_index._DEF_INDEX_NAME)
    except Exception:  # no readable table of contents: leave everything for the error to name
        return
    whoosh_index.clean_files(store, whoosh_index._DEF_INDEX_NAME, toc.generation, toc.segments)
    for entry in generation.glob("*.tmp"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _looks_changed(record: FileRecord | None, found: FoundFile | None) -> bool:
    if record is None or found is None:
        return True
    return record.size != found.size or record.mtime_ns != found.mtime_ns


def _live_documents(index_dir: Path) -> int:
    """Documents in the live index, if there is a readable one."""
    try:
        manifest = storage.read_manifest(index_dir)
        ix = whoosh_ext.open_dir(str(storage.generation_dir(index_dir, manifest)))
    except Exception:  # no index, or not one we can read: nothing to count
        return 0
    try:
        return _document_count(ix)
    finally:
        ix.close()


def _document_count(ix: Any) -> int:
    with ix.searcher() as searcher:
        return int(searcher.doc_count())


def _report(
    tally: _Tally,
    *,
    documents: int,
    duplicates: list[DuplicateFile],
    rebuilt: bool = False,
    kept_previous: bool = False,
) -> IndexReport:
    return IndexReport(
        documents=documents,
        files_seen=0,
        added=tally.added,
        updated=tally.updated,
        removed=tally.removed,
        unchanged=tally.unchanged,
        skipped=tuple(tally.skipped),
        warnings=tuple(tally.warnings),
        duplicates=tuple(sorted(duplicates, key=lambda d: d.path)),
        rebuilt=rebuilt,
        kept_previous=kept_previous,
    )
