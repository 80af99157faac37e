"""Our Whoosh codec: Whoosh's W3 format on disk, read with less Python work per posting.

What it changes, and only for indexes written through it:

* posting lists are read by `FastLeafMatcher`: a block's header is unpickled from the memory map
  in place, its ids are undone from delta coding in C, and listing every id goes a block at a
  time;
* segments open their compound file with `InPlaceCompoundStorage` (`search.whoosh_ext.files`), so
  nothing is copied out of the memory map;
* per-document readers read each field's length codes once (`FieldLengthsReader`), where Whoosh
  reads one byte through several calls for every posting a writer writes.

How Whoosh finds the codec of an index: the table of contents pickles each segment object, and a
segment carries its codec. A `NewsSegment` therefore brings `NewsCodec` back when an index is
opened, and plain Whoosh objects are never involved.

ON-DISK NAMES: `NewsCodec` and `NewsSegment`, in this module, are pickled by class path into every
table of contents this tool writes (see `ON_DISK_CLASSES`). Moving or renaming them makes existing
indexes unreadable: change them only together with `search.storage.FORMAT`.
"""

from __future__ import annotations

import io
import itertools
import pickle
import struct
from collections.abc import Iterator
from typing import Any

from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length

from search.whoosh_ext.files import InPlaceCompoundStorage

_BLOCK_LENGTH = struct.Struct("!i")


class FastLeafMatcher(whoosh3.W3LeafMatcher):  # type: ignore[misc]
    """Whoosh's reader of an on-disk posting list, with the hot paths done in C or in place."""

    # Set by Whoosh's methods: where the current block's postings start and end, its decoded
    # data (ids, weights, values) and ids.
    _i: int
    _blocklength: int
    _data: Any
    _ids: Any

    def all_ids(self) -> Iterator[int]:
        # Whoosh steps through a posting list one call at a time to list its documents; a
        # block's ids are already an array, so hand them out a block at a time (counting
        # matches is 10x faster).
        while self.is_active():
            if self._ids is None:
                self._read_ids()
            yield from self._ids[self._i : self._blocklength]
            self._i = self._blocklength - 1
            self.next()

    def _read_ids(self) -> None:
        # Whoosh undoes the delta coding of a block's ids with a Python generator: most of the
        # time of reading a posting list. itertools.accumulate gives the same running sums in C.
        if self._data is None:
            self._read_data()
        ids = self._data[0]
        self._ids = ids if self._byteids else tuple(itertools.accumulate(ids))

    def _goto(self, position: int) -> None:
        # Whoosh reads a block's length and pickled header through the posting file's stream,
        # and unpickling from a stream costs a Python call per read. A memory-mapped file's block
        # is sliced out of the map instead, and the header unpickled from it.
        buf = getattr(self._postfile, "_buf", None)
        if buf is None:
            super()._goto(position)
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


class FieldLengthsReader(whoosh3.W3PerDocReader):  # type: ignore[misc]
    """Whoosh's per-document reader, with field lengths read once per field."""

    def __init__(self, storage: Any, segment: Any) -> None:
        super().__init__(storage, segment)
        self._length_codes: dict[str, bytes | None] = {}

    def _cached_reader(self, fieldname: str, column: Any) -> Any:
        # Whoosh caches a column reader only when the column exists, so every posting of a field
        # without lengths (IDs, keywords, numbers) costs an os.stat() while a segment is
        # written: a sixth of indexing time. A finished segment's columns never change;
        # remember absences too.
        try:
            return self._readers[fieldname]
        except KeyError:
            reader = self.column_reader(fieldname, column) if self.has_column(fieldname) else None
            self._readers[fieldname] = reader
            return reader

    def length_codes(self, fieldname: str) -> bytes | None:
        """The one-byte length code of every document's `fieldname` (None when no document has
        the field)."""
        if fieldname not in self._length_codes:
            self._length_codes[fieldname] = _read_length_codes(self, fieldname)
        return self._length_codes[fieldname]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        # Whoosh reads one byte through several layers of Python calls, and writing a segment
        # asks once per posting written: a tenth of indexing time.
        if docnum > self._doccount:
            raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
        codes = self.length_codes(fieldname)
        if codes is None:
            return default
        code = codes[docnum] if docnum < len(codes) else 0
        return byte_to_length(code) if code else None  # None for no length, as Whoosh returns


def _read_length_codes(perdoc: Any, fieldname: str) -> bytes | None:
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


def length_codes(perdoc: Any, fieldname: str) -> bytes | None:
    """The one-byte length code of every document's `fieldname` in a finished segment (None when
    no document has the field), from any W3 per-document reader."""
    if isinstance(perdoc, FieldLengthsReader):
        return perdoc.length_codes(fieldname)
    return _read_length_codes(perdoc, fieldname)


class NewsCodec(whoosh3.W3Codec):  # type: ignore[misc]
    """Whoosh's W3 codec, read through the classes above."""

    def postings_reader(
        self, dbfile: Any, terminfo: Any, format_: Any, term: Any = None, scorer: Any = None
    ) -> Any:
        if terminfo.is_inlined():  # a short list kept in the term dictionary: Whoosh's matcher
            return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)
        offset, length = terminfo.extent()
        return FastLeafMatcher(dbfile, offset, length, format_, term=term, scorer=scorer)

    def per_document_reader(self, storage: Any, segment: Any) -> FieldLengthsReader:
        return FieldLengthsReader(storage, segment)

    def new_segment(self, storage: Any, indexname: str) -> NewsSegment:
        return NewsSegment(self, indexname)


class NewsSegment(whoosh3.W3Segment):  # type: ignore[misc]
    """A W3 segment that carries `NewsCodec` and reads its compound file in place."""

    def open_compound_file(self, storage: Any) -> InPlaceCompoundStorage:
        dbfile = storage.open_file(self.make_filename(self.COMPOUND_EXT))
        return InPlaceCompoundStorage(dbfile, use_mmap=storage.supports_mmap)


ON_DISK_CLASSES = (
    "search.whoosh_ext.codec.NewsCodec",
    "search.whoosh_ext.codec.NewsSegment",
)
"""The class paths a table of contents written by this tool names (pickled segments)."""
