"""Fixes to Whoosh-Reloaded 2.7.5 (frozen upstream): three for correctness, five for speed.

Applied on import of `search.scoring` and `search.indexing`. The ranking fix is covered by the
oracle tests, which compare the engine with a brute-force ranking of every matching document; the
speed fixes change how work is done, not its result, and every indexing test runs through them.
"""

from __future__ import annotations

import io
import itertools
import pickle
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from whoosh import writing
from whoosh.codec import whoosh3
from whoosh.filedb import structfile
from whoosh.matching import binary, combo
from whoosh.matching.mcore import ReadTooFar
from whoosh.util.numeric import byte_to_length


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


def length_codes(perdoc: Any, fieldname: str) -> bytes | None:
    """The one-byte length code of every document's `fieldname` in a finished segment (None when
    no document has the field)."""
    count = perdoc._doccount
    column = perdoc._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
    if column is None:
        return None
    raw = getattr(column, "_dbfile", None)
    stored = getattr(column, "_count", None)
    if raw is not None and stored is not None:
        # One byte per document, up to the last document that has the field.
        data = bytes(raw.get(column._basepos, stored))
    else:
        data = bytes(column[docnum] for docnum in range(count))
    return data if len(data) >= count else data + bytes(count - len(data))


def _doc_field_length(self: Any, docnum: int, fieldname: str, default: int = 0) -> int | None:
    # Upstream reads one byte through several layers of Python calls, and writing a segment asks
    # once per posting written: a tenth of indexing time. The codes are read once per field.
    if docnum > self._doccount:
        raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
    cache = self.__dict__.setdefault("_length_codes", {})
    if fieldname not in cache:
        cache[fieldname] = length_codes(self, fieldname)
    codes = cache[fieldname]
    if codes is None:
        return default
    code = codes[docnum] if docnum < len(codes) else 0
    return byte_to_length(code) if code else None  # None for no length, as upstream returns


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


def _and_maybe_skip_to(self: Any, target: int) -> bool:
    # Upstream moves the optional side to `target` instead of to where the required side landed,
    # which can leave it behind: its share of the score is then lost for that document.
    if not self.a.is_active():
        raise ReadTooFar
    moved = bool(self.a.skip_to(target))
    if self.a.is_active() and self.b.is_active():
        moved = bool(self.b.skip_to(self.a.id())) or moved
    return moved


def _and_not_find_first(self: Any) -> None:
    # Upstream only looks for an excluded first document when both sides start on the same one;
    # when the excluded side starts earlier, a first document it also contains slips through.
    if self.a.is_active() and self.b.is_active():
        self._find_next()


def _leaf_all_ids(self: Any) -> Iterator[int]:
    # Upstream steps through a posting list one call at a time to list its documents; a block's
    # ids are already an array, so hand them out a block at a time (counting matches is 10x faster).
    while self.is_active():
        if self._ids is None:
            self._read_ids()
        yield from self._ids[self._i : self._blocklength]
        self._i = self._blocklength - 1
        self.next()


def _leaf_read_ids(self: Any) -> None:
    # Upstream undoes the delta coding of a block's ids with a Python generator: most of the time
    # of reading a posting list. itertools.accumulate gives the same running sums in C.
    if self._data is None:
        self._read_data()
    ids = self._data[0]
    self._ids = ids if self._byteids else tuple(itertools.accumulate(ids))


_upstream_goto = whoosh3.W3LeafMatcher._goto
_BLOCK_LENGTH = struct.Struct("!i")


def _leaf_goto(self: Any, position: int) -> None:
    # Upstream reads a block's length and pickled header through the posting file's stream, and
    # unpickling from a stream costs a Python call per read. A memory-mapped file's block is
    # sliced out of the map instead, and the header unpickled from it; the rest is upstream's.
    buf = getattr(self._postfile, "_buf", None)
    if buf is None:
        _upstream_goto(self, position)
        return
    self._data = self._ids = self._weights = self._values = None
    self._i = 0
    (length,) = _BLOCK_LENGTH.unpack_from(buf, position)
    if length < 0:
        self._lastblock = True
        length = -length
    start = position + _BLOCK_LENGTH.size
    self._nextoffset = start + length
    block = io.BytesIO(buf[start : self._nextoffset])
    info = pickle.load(block)
    self._dataoffset = start + block.tell()
    (
        self._blocklength,
        self._maxid,
        self._maxweight,
        self._compression,
        shortest,
        longest,
    ) = info
    self._minlength = byte_to_length(shortest)
    self._maxlength = byte_to_length(longest)


def _union_all_ids(self: Any) -> Iterator[int]:
    # Upstream has this commented out and steps through both sides instead.
    return iter(sorted(set(self.a.all_ids()) | set(self.b.all_ids())))


def _buffer_file_init(self: Any, buf: Any, name: str | None = None, onclose: Any = None) -> None:
    # Upstream wraps every part of a memory-mapped segment in a BytesIO, which copies it: opening
    # a searcher read the whole index into memory (76 ms and 150 MB for 100,000 articles; the
    # first query on 1,000,000 articles copied its 1 GB posting file). Reads, random or
    # sequential, now go straight to the memory map.
    self._buf = buf
    self._name = name
    self._sequential = None
    self.onclose = onclose
    self.is_real = False
    self.is_closed = False


class _MemoryStream(io.RawIOBase):
    """A read-only file over a buffer (a slice of a memory map), without copying it."""

    def __init__(self, buf: Any) -> None:
        super().__init__()
        self._view = memoryview(buf)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        start = self._position
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._position = max(start, end)
        return bytes(self._view[start:end])

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        start = self._position
        end = len(self._view)
        if size is not None and size >= 0:
            end = min(end, start + size)
        stop = end
        for chunk_start in range(start, end, 4_096):
            found = bytes(self._view[chunk_start : min(chunk_start + 4_096, end)]).find(b"\n")
            if found >= 0:
                stop = chunk_start + found + 1
                break
        return self.read(stop - start)


def _buffer_file_stream(self: Any) -> Any:
    if self._sequential is None:
        self._sequential = _MemoryStream(self._buf)
    return self._sequential


def _buffer_file_set_stream(self: Any, stream: Any) -> None:
    self._sequential = stream


def apply() -> None:
    """Install the fixes (idempotent)."""
    combo.ArrayUnionMatcher.max_quality = _array_union_max_quality
    binary.AndMaybeMatcher.skip_to = _and_maybe_skip_to
    binary.AndNotMatcher._find_first = _and_not_find_first
    whoosh3.W3LeafMatcher.all_ids = _leaf_all_ids
    whoosh3.W3LeafMatcher._read_ids = _leaf_read_ids
    whoosh3.W3LeafMatcher._goto = _leaf_goto
    structfile.BufferFile.__init__ = _buffer_file_init
    structfile.BufferFile.file = property(_buffer_file_stream, _buffer_file_set_stream)
    binary.UnionMatcher.all_ids = _union_all_ids
    whoosh3.W3PerDocReader._cached_reader = _cached_reader
    whoosh3.W3PerDocReader.doc_field_length = _doc_field_length
    writing.PostingPool._write_run = _write_run
    writing.PostingPool._read_run = _read_run
