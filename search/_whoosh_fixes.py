"""Fixes to Whoosh-Reloaded 2.7.5 (frozen upstream): one for correctness, two for speed.

Applied on import of `search.scoring` and `search.indexing`. The ranking fix is covered by the
oracle tests, which compare the engine with a brute-force ranking of every matching document; the
speed fixes change how work is done, not its result, and every indexing test runs through them.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

from whoosh import writing
from whoosh.codec import whoosh3
from whoosh.matching import combo


def _array_union_max_quality(self: Any) -> float:
    # A document can match several sub-queries and its score is their sum, so the upper bound of a
    # union is the sum of the parts' bounds. Upstream returns their maximum, which lets the top-k
    # collector discard documents that belong in the results (seen on indexes of at most 5,000
    # documents, where Whoosh picks this matcher for OR queries of three or more clauses).
    return float(sum(matcher.max_quality() for matcher in self._submatchers) * self._boost)


def _cached_reader(self: Any, fieldname: str, column: Any) -> Any:
    # Upstream caches a column reader only when the column exists, so every posting of a field
    # without lengths (IDs, keywords, numbers) costs an os.stat() while a segment is written: a
    # sixth of indexing time. A finished segment's columns never change; remember absences too.
    try:
        return self._readers[fieldname]
    except KeyError:
        reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        self._readers[fieldname] = reader
        return reader


_RUN_CHUNK = 16_384


def _write_run(self: Any, f: Any, items: Iterable[Any]) -> None:
    # Upstream pickles every posting on its own when the writer's buffer spills to disk, and
    # unpickles them one by one when merging: a fifth of the indexing process's time. The same
    # items, pickled a chunk at a time, read back in the same order.
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, _RUN_CHUNK)):
        pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
    f.close()


def _read_run(self: Any, path: str) -> Iterator[Any]:
    f = self._open_run(path)
    try:
        while True:
            try:
                chunk = pickle.load(f)
            except EOFError:
                return
            yield from chunk
    finally:
        f.close()
        self._remove_run(path)


def apply() -> None:
    """Install the fixes (idempotent)."""
    combo.ArrayUnionMatcher.max_quality = _array_union_max_quality
    whoosh3.W3PerDocReader._cached_reader = _cached_reader
    writing.PostingPool._write_run = _write_run
    writing.PostingPool._read_run = _read_run
