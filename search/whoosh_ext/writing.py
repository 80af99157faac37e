"""Where an index is created, opened and written: our storage, index and writer classes.

`create_in` and `open_dir` are Whoosh's functions of the same names, giving an index whose writers
write segments with `NewsCodec` (`search.whoosh_ext.codec`) and spill postings in chunks.
"""

from __future__ import annotations

import itertools
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.writing import PostingPool, SegmentWriter

from search.whoosh_ext.codec import NewsCodec

_INDEX_NAME = whoosh_index._DEF_INDEX_NAME
_RUN_CHUNK = 16_384
"""Postings pickled together when a writer's buffer spills to disk."""


class ChunkedPostingPool(PostingPool):  # type: ignore[misc]
    """Whoosh's pool of postings, whose spilled runs are pickled a chunk at a time.

    Whoosh pickles every posting on its own when the buffer spills to disk, and unpickles them one
    by one when merging: a fifth of the indexing process's time. The same items, pickled a chunk
    at a time, read back in the same order. Runs are private to the writer that made them.
    """

    def _write_run(self, f: Any, items: Iterable[Any]) -> None:
        iterator = iter(items)
        while chunk := list(itertools.islice(iterator, _RUN_CHUNK)):
            pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        f.close()

    def _read_run(self, path: str) -> Iterator[Any]:
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


class NewsSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer, with our codec and our pool of postings."""

    def __init__(self, ix: Any, *, limitmb: int = 128, **kwargs: Any) -> None:
        kwargs.setdefault("codec", NewsCodec())
        super().__init__(ix, limitmb=limitmb, **kwargs)
        # Whoosh's writer ignores its `poolclass` argument and always makes a PostingPool.
        self.pool = ChunkedPostingPool(self._tempstorage, self.newsegment, limitmb=limitmb)


class NewsIndex(whoosh_index.FileIndex):  # type: ignore[misc]
    """A Whoosh index on disk whose writers are `NewsSegmentWriter`s."""

    def writer(self, procs: int = 1, **kwargs: Any) -> NewsSegmentWriter:
        if procs != 1:  # Whoosh's MpWriter would write segments with Whoosh's own codec
            raise ValueError("NewsIndex writes with one process; see search.pipeline for more")
        return NewsSegmentWriter(self, **kwargs)


class NewsStorage(FileStorage):  # type: ignore[misc]
    """A folder holding a `NewsIndex`."""

    def create_index(
        self, schema: Any, indexname: str = _INDEX_NAME, indexclass: Any = None
    ) -> Any:
        return super().create_index(schema, indexname, indexclass or NewsIndex)

    def open_index(
        self, indexname: str = _INDEX_NAME, schema: Any = None, indexclass: Any = None
    ) -> Any:
        return super().open_index(indexname, schema, indexclass or NewsIndex)


def create_in(dirname: str, schema: Any) -> NewsIndex:
    """Create an empty index in the folder `dirname` (Whoosh's `create_in`, with our classes)."""
    index: NewsIndex = NewsStorage(dirname).create_index(schema)
    return index


def open_dir(dirname: str, *, readonly: bool = False) -> NewsIndex:
    """Open the index in the folder `dirname` (Whoosh's `open_dir`, with our classes)."""
    index: NewsIndex = NewsStorage(dirname, readonly=readonly).open_index()
    return index
