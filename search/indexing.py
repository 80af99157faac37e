"""Building an index from folders of article files.

A build reads every file under the given paths into a fresh generation of the index and publishes
it only when it is complete, so a crash, a bad file or a run that finds nothing readable leaves the
previous index untouched. Files that describe the same article (same canonical URL) keep one
entry: the copy with the highest quality, then the newest, then the first path in sort order.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index

from search import storage
from search.documents import DEFAULT_MAX_FRONTMATTER_BYTES, is_document_name, read_article
from search.errors import DocumentError, InvalidArgumentError, SearchError
from search.models import DuplicateFile, FileProblem, IndexReport
from search.schema import build_schema, parse_iso, to_index_fields

ProgressCallback = Callable[[int, int, str], None]
"""Called after each file with (files done, files in total, path of the file)."""

_WRITER_MEMORY_MB = 128


@dataclass(frozen=True, slots=True)
class FileListing:
    """The files a build will read, and the entries it refused while walking."""

    files: tuple[Path, ...]
    problems: tuple[FileProblem, ...]


def list_files(paths: Iterable[Path | str]) -> FileListing:
    """Find the article files under `paths` (files are taken as given, folders are walked).

    Hidden files and folders (names starting with '.') are ignored; symbolic links are not followed.
    Raises `InvalidArgumentError` when a path does not exist.
    """
    # Absolute paths, so that stored paths do not depend on the directory the indexer ran in.
    roots = [Path(os.path.abspath(p)) for p in paths]
    for root in roots:
        if not os.path.lexists(root):
            raise InvalidArgumentError(f"{root}: no such file or directory")
    found: dict[str, Path] = {}
    problems: list[FileProblem] = []
    for root in roots:
        if root.is_dir():
            for path, problem in _walk(root):
                if problem is None:
                    found.setdefault(str(path), path)
                else:
                    problems.append(FileProblem(str(path), problem))
        else:
            found.setdefault(str(root), root)
    return FileListing(tuple(found[key] for key in sorted(found)), tuple(problems))


def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            yield folder, f"cannot list folder: {exc.strerror or exc}"
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                yield path, f"cannot stat: {exc.strerror or exc}"
                continue
            if stat.S_ISDIR(mode):
                pending.append(path)
            elif not is_document_name(entry.name):
                continue
            elif stat.S_ISLNK(mode):
                yield path, "symbolic link (not followed)"
            elif not stat.S_ISREG(mode):
                yield path, "not a regular file"
            else:
                yield path, None


def build_index(
    index_dir: Path,
    paths: Iterable[Path | str],
    *,
    max_frontmatter_bytes: int = DEFAULT_MAX_FRONTMATTER_BYTES,
    progress: ProgressCallback | None = None,
) -> IndexReport:
    """Index every article file under `paths` into `index_dir`, replacing what it held.

    The previous index stays live until the new one is complete; when no file could be indexed it
    is kept as it was.
    """
    started = time.perf_counter()
    listing = list_files(paths)
    skipped = list(listing.problems)
    warnings: list[FileProblem] = []
    previous_created = _previous_created_at(index_dir)
    generation = storage.new_generation(index_dir)
    try:
        ix = whoosh_index.create_in(str(generation), build_schema())
        indexed_files, duplicate_urls = _write_documents(
            ix, listing.files, max_frontmatter_bytes, skipped, warnings, progress
        )
        duplicates = _resolve_duplicates(ix, duplicate_urls) if duplicate_urls else []
        with ix.searcher() as searcher:
            documents = searcher.doc_count()
        ix.close()
        if indexed_files == 0:
            storage.discard(generation)
        else:
            manifest = storage.publish(
                index_dir,
                generation,
                build={
                    "max_frontmatter_bytes": max_frontmatter_bytes,
                    "roots": [str(p) for p in paths],
                },
                created_at=previous_created,
            )
            storage.remove_stale_generations(index_dir, keep=manifest.generation)
    except BaseException:
        storage.discard(generation)
        raise
    return IndexReport(
        documents=documents,
        files_seen=len(listing.files) + len(listing.problems),
        indexed_files=indexed_files,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
        duplicates=tuple(duplicates),
        seconds=time.perf_counter() - started,
        index_dir=str(index_dir),
    )


def _write_documents(
    ix: Any,
    files: tuple[Path, ...],
    max_frontmatter_bytes: int,
    skipped: list[FileProblem],
    warnings: list[FileProblem],
    progress: ProgressCallback | None,
) -> tuple[int, set[str]]:
    """Add one document per readable file; returns the count and the URLs seen more than once."""
    seen_urls: set[int] = set()
    repeated: set[str] = set()
    indexed = 0
    total = len(files)
    writer = ix.writer(limitmb=_WRITER_MEMORY_MB)
    try:
        for number, path in enumerate(files, start=1):
            try:
                result = read_article(path, max_frontmatter_bytes=max_frontmatter_bytes)
            except DocumentError as exc:
                skipped.append(FileProblem(str(path), exc.reason))
            else:
                article = result.article
                writer.add_document(**to_index_fields(article))
                indexed += 1
                warnings.extend(FileProblem(str(path), message) for message in result.warnings)
                # A hash is enough to notice repeats cheaply; repeats are confirmed on the index.
                key = hash(article.url)
                if key in seen_urls:
                    repeated.add(article.url)
                else:
                    seen_urls.add(key)
            if progress is not None:
                progress(number, total, str(path))
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    return indexed, repeated


def _copy_rank(record: dict[str, Any]) -> tuple[float, float, str]:
    """Sort key choosing which copy of an article to keep: best first."""
    quality = record.get("quality")
    published = parse_iso(record.get("published_at"))
    return (
        -(quality if quality is not None else float("-inf")),
        -(published.timestamp() if published is not None else float("-inf")),
        record.get("path") or "",
    )


def _resolve_duplicates(ix: Any, urls: set[str]) -> list[DuplicateFile]:
    duplicates: list[DuplicateFile] = []
    writer = ix.writer()
    try:
        with ix.searcher() as searcher:
            for url in sorted(urls):
                docnums = list(searcher.document_numbers(url=url))
                if len(docnums) < 2:
                    continue
                copies = sorted(
                    ((searcher.stored_fields(docnum)["record"], docnum) for docnum in docnums),
                    key=lambda pair: _copy_rank(pair[0]),
                )
                kept = copies[0][0]
                for record, docnum in copies[1:]:
                    writer.delete_document(docnum)
                    duplicates.append(DuplicateFile(record["path"], url, kept["path"]))
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    return sorted(duplicates, key=lambda duplicate: duplicate.path)


def _previous_created_at(index_dir: Path) -> str | None:
    if not storage.index_exists(index_dir):
        return None
    try:
        return storage.read_manifest(index_dir).created_at or None
    except SearchError:  # an unreadable old index is simply replaced
        return None
