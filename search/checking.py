"""`search check`: read every part of an index and say what is damaged.

The role of Lucene's CheckIndex and SQLite's `PRAGMA integrity_check`: the manifest; every index
file against the size and CRC-32 recorded at its commit; every segment's posting lists (with
positions), stored documents and columns, decoded; the file catalog, with SQLite's own check.
Reading goes on after a problem, so that one run lists everything that is damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import SegmentReader

from search import storage, whoosh_ext
from search.catalog import Catalog
from search.errors import SearchError
from search.reports import FileProblem, IndexCheck
from search.schema import decode_record


def check_index(index_dir: Path) -> IndexCheck:
    """Read all of the index in `index_dir`; raises `IndexNotFoundError` when there is none."""
    problems: list[FileProblem] = []
    try:
        manifest = storage.read_manifest(index_dir)
    except SearchError as exc:
        if not storage.index_exists(index_dir):
            raise
        return IndexCheck(
            str(index_dir), (FileProblem(str(storage.manifest_path(index_dir)), str(exc)),)
        )
    generation = storage.generation_dir(index_dir, manifest)
    damaged = storage.verify_checksums(generation, full=True)
    problems.extend(FileProblem(part.path, part.problem) for part in damaged)
    counts = {"segments": 0, "documents": 0, "postings": 0}
    terms: set[tuple[str, bytes]] = set()  # distinct over segments: the same however they split
    try:
        ix = whoosh_ext.open_dir(str(generation))
        toc = ix._read_toc()
    except Exception as exc:
        problem = f"the table of contents cannot be read ({_reason(exc)})"
        problems.append(FileProblem(str(generation), problem))
    else:
        for segment in toc.segments:  # one at a time: a damaged one does not hide the others
            path = str(generation / f"{segment.segment_id()}.seg")
            try:
                reader = SegmentReader(ix.storage, toc.schema, segment)
            except Exception as exc:
                problems.append(FileProblem(path, f"cannot be opened ({_reason(exc)})"))
                continue
            with closing(reader):
                problems.extend(_check_segment(path, reader, counts, terms))
        ix.close()
    catalog_files, catalog_problems = _check_catalog(storage.catalog_path(index_dir, manifest))
    problems.extend(catalog_problems)
    return IndexCheck(
        index_dir=str(index_dir),
        problems=tuple(dict.fromkeys(problems)),
        files=len(storage.recorded_files(generation)),
        catalog_files=catalog_files,
        terms=len(terms),
        **counts,
    )


def _check_segment(
    path: str, reader: Any, counts: dict[str, int], terms: set[tuple[str, bytes]]
) -> Iterator[FileProblem]:
    counts["segments"] += 1
    try:
        counts["documents"] += reader.doc_count()
        for fieldname, text in reader.all_terms():
            terms.add((fieldname, text))
            info = reader.term_info(fieldname, text)
            postings = reader.postings(fieldname, text)
            if isinstance(postings, FilterMatcher):
                # Deleted documents stay in the lists (and in their count) until a merge: read
                # the list as stored, from its start (the filter moved past a deleted first one).
                postings = postings.child
                postings.reset()
            if postings.supports("positions"):
                found = sum(1 for _ in postings.items_as("positions"))
            else:
                found = sum(1 for _ in postings.all_items())
            counts["postings"] += found
            if found != info.doc_frequency():
                yield FileProblem(
                    path,
                    f"the posting list of {fieldname}:{text!r} has {found} entries, "
                    f"not {info.doc_frequency()}",
                )
                return
    except Exception as exc:
        yield FileProblem(path, f"a posting list cannot be read ({_reason(exc)})")
        return
    try:
        for docnum in range(reader.doc_count_all()):
            reader.stored_fields(docnum)
        for name in reader.schema.names():
            if reader.has_column(name):
                column = reader.column_reader(name, translate=False)
                values = [column[docnum] for docnum in range(reader.doc_count_all())]
                if name == "record":
                    for value in values:
                        decode_record(value, "")
    except Exception as exc:
        yield FileProblem(path, f"a stored document cannot be read ({_reason(exc)})")


def _check_catalog(path: Path) -> tuple[int, list[FileProblem]]:
    try:
        with Catalog(path, read_only=True) as catalog:
            verdict = catalog.integrity()
            if verdict != "ok":
                return 0, [FileProblem(str(path), f"fails SQLite's integrity check ({verdict})")]
            files = len(catalog.records())
            catalog.words()
            return files, []
    except SearchError as exc:
        return 0, [FileProblem(str(path), str(exc))]
    except sqlite3.DatabaseError as exc:
        return 0, [FileProblem(str(path), f"cannot be read ({exc})")]


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
