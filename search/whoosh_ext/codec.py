"""Our Whoosh codec: Whoosh's W3 codec with posting lists in a format of our own.

What it changes, and only for indexes written through it:

* posting lists are written and read in the format of `search.whoosh_ext.postings`: ids and
  weights as arrays apart from positions, checksummed, read as numpy arrays from the memory map;
* segments open their compound file with `InPlaceCompoundStorage` (`search.whoosh_ext.files`), so
  nothing is copied out of the memory map;
* per-document readers read each field's length codes once (`FieldLengthsReader`), where Whoosh
  reads one byte through several calls for every posting a writer writes;
* term dictionaries remember where their last few terms are (`RecentTermsReader`), and are
  written without asking the file where each term goes (`NewsFieldWriter`).

How Whoosh finds the codec of an index: the table of contents pickles each segment object, and a
segment carries its codec. A `NewsSegment` therefore brings `NewsCodec` back when an index is
opened, and plain Whoosh objects are never involved.

ON-DISK NAMES: `NewsCodec` and `NewsSegment`, in this module, are pickled by class path into every
table of contents this tool writes (see `ON_DISK_CLASSES`). Moving or renaming them makes existing
indexes unreadable: change them only together with `search.storage.FORMAT`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from whoosh.codec import whoosh3
from whoosh.filedb import filetables
from whoosh.reading import TermNotFound
from whoosh.system import pack_ushort
from whoosh.util.numeric import byte_to_length

from search.whoosh_ext.files import InPlaceCompoundStorage
from search.whoosh_ext.postings import ArrayLeafMatcher, ArrayPostingsWriter, PostingArrays


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


class RecentTermsReader(whoosh3.W3TermsReader):  # type: ignore[misc]
    """Whoosh's W3 term dictionary, which remembers where its last few terms were found.

    A search looks each of its words up several times in every segment (does the index have it,
    in how many documents, where are its postings), and each lookup hashes the term and reads
    its hash table again. The last `RECENT_TERMS` terms (found or not) are remembered; the memo
    is emptied when full, so it holds what the latest searches asked for and no more.
    """

    def __init__(self, codec: Any, dbfile: Any, length: int, postfile: Any) -> None:
        super().__init__(codec, dbfile, length, postfile)
        self._recent: dict[bytes, tuple[int, int] | None] = {}

    def _range(self, key: bytes) -> tuple[int, int] | None:
        recent = self._recent
        if key in recent:
            return recent[key]
        found = next(iter(self._tindex.ranges_for_key(key)), None)
        if len(recent) >= RECENT_TERMS:
            recent.clear()
        recent[key] = found
        return found

    def _range_for_key(self, fieldname: str, tbytes: bytes) -> tuple[int, int]:
        key = self._keycoder(fieldname, tbytes)
        found = self._range(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, term: tuple[str, bytes]) -> bool:
        return self._range(self._keycoder(*term)) is not None

    def term_info(self, fieldname: str, tbytes: bytes) -> Any:
        found = self._range(self._keycoder(fieldname, tbytes))
        if found is None:
            raise TermNotFound(f"No term {fieldname}:{tbytes!r}")
        return whoosh3.W3TermInfo.from_bytes(self._tindex.dbfile.get(*found))

    def stored_items(self) -> Iterator[tuple[str, bytes, bytes]]:
        """(field name, term bytes, term info as stored) of every term, in order: the records
        of Whoosh's hash file read in one go, rather than two reads and a decoding per term."""
        tindex = self._tindex
        data = tindex.dbfile.get(tindex.startofdata, tindex.endofdata - tindex.startofdata)
        names = self._fieldunmap
        lengths = filetables._lengths
        position = 0
        while position < len(data):
            key_length, value_length = lengths.unpack_from(data, position)
            key = position + lengths.size
            term = key + _FIELD_NUMBER.size
            value = key + key_length
            position = value + value_length
            (number,) = _FIELD_NUMBER.unpack_from(data, key)
            yield names[number], bytes(data[term:value]), bytes(data[value:position])


class PlacedTermsWriter(filetables.OrderedHashWriter):  # type: ignore[misc]
    """Whoosh's ordered hash of term infos, writing the same bytes, but keeping count of where
    it writes rather than asking the file twice per term (a system call each time)."""

    def __init__(self, dbfile: Any) -> None:
        super().__init__(dbfile)
        self._position: int = dbfile.tell()
        self.lastkey: bytes = b""

    def tell(self) -> int:
        return self._position

    def add(self, key: bytes, value: bytes) -> None:
        if key <= self.lastkey:
            raise ValueError(f"Keys must increase: {self.lastkey!r}..{key!r}")
        position = self._position
        record = filetables._lengths.pack(len(key), len(value)) + key + value
        self.dbfile.write(record)
        self._position += len(record)
        self.index.append(position)
        hashed = self.hashfn(key)
        self.buckets[hashed & 255].append((hashed, position))
        self.lastkey = key


class NewsFieldWriter(whoosh3.W3FieldWriter):  # type: ignore[misc]
    """Whoosh's W3 field writer, with its term dictionary written by `PlacedTermsWriter`."""

    def __init__(self, codec: Any, storage: Any, segment: Any) -> None:
        # W3FieldWriter.__init__, but for the class of the term dictionary.
        self._codec = codec
        self._storage = storage
        self._segment = segment
        self._fieldname = None
        self._fieldid = None
        self._btext = None
        self._fieldobj = None
        self._format = None
        self._tindex = PlacedTermsWriter(self._create_file(whoosh3.W3Codec.TERMS_EXT))
        self._fieldmap: dict[str, int] = {}
        self._tindex.extras["fieldmap"] = self._fieldmap
        self._postfile = self._create_file(whoosh3.W3Codec.POSTS_EXT)
        self._postwriter = None
        self._infield = False
        self.is_closed = False

    def add_term(self, tbytes: bytes, terminfo: bytes) -> None:
        """Add a term of the current field whose postings were written already (by the field's
        postings writer), with its term info as stored (see `TERM_INFO`)."""
        self._tindex.add(pack_ushort(self._fieldid) + tbytes, terminfo)


TERM_INFO = struct.Struct("!BfIBBfIIqi")
"""A term's info as `W3TermInfo.to_bytes` stores it for a list in the posting file: flags (0),
total weight, document frequency, shortest and longest field length (Whoosh's byte codes),
highest weight, first and last document number, and the list's offset and length."""
_FIELD_NUMBER = struct.Struct("!H")


RECENT_TERMS = 64
"""Terms a segment's term dictionary remembers the place of (see `RecentTermsReader`)."""


class NewsCodec(whoosh3.W3Codec):  # type: ignore[misc]
    """Whoosh's W3 codec, read through the classes above."""

    def terms_reader(self, storage: Any, segment: Any) -> RecentTermsReader:
        # W3Codec.terms_reader, with the reader above.
        name = segment.make_filename(self.TERMS_EXT)
        length = storage.file_length(name)
        terms_file = storage.open_file(name)
        postfile = segment.open_file(storage, self.POSTS_EXT)
        return RecentTermsReader(self, terms_file, length, postfile)

    def field_writer(self, storage: Any, segment: Any) -> NewsFieldWriter:
        return NewsFieldWriter(self, storage, segment)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        if byteids:  # term vectors: Whoosh's format
            return super().postings_writer(dbfile, byteids=True)
        return ArrayPostingsWriter(
            dbfile, blocklimit=self._blocklimit, compression=0, inlinelimit=self._inlinelimit
        )

    def postings_reader(
        self, dbfile: Any, terminfo: Any, format_: Any, term: Any = None, scorer: Any = None
    ) -> Any:
        if terminfo.is_inlined():  # never written by this codec; Whoosh's matcher reads them
            return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)
        arrays = PostingArrays(dbfile, *term_extent(terminfo))
        return ArrayLeafMatcher(arrays, format_, term=term, scorer=scorer, terminfo=terminfo)

    def per_document_reader(self, storage: Any, segment: Any) -> FieldLengthsReader:
        return FieldLengthsReader(storage, segment)

    def new_segment(self, storage: Any, indexname: str) -> NewsSegment:
        return NewsSegment(self, indexname)


def term_extent(terminfo: Any) -> tuple[int, int]:
    """(offset, length) of a term's posting list in the posting file."""
    offset, length = terminfo.extent()
    if isinstance(length, tuple):  # Whoosh's term info reads the length back as a 1-tuple
        (length,) = length
    return offset, length


class NewsSegment(whoosh3.W3Segment):  # type: ignore[misc]
    """A W3 segment that carries `NewsCodec` and reads its compound file in place."""

    def open_compound_file(self, storage: Any) -> InPlaceCompoundStorage:
        dbfile = storage.open_file(self.make_filename(self.COMPOUND_EXT))
        return InPlaceCompoundStorage(dbfile, use_mmap=storage.supports_mmap)


ON_DISK_CLASSES = (
    "search.whoosh_ext.codec.NewsCodec",
    "search.whoosh_ext.codec.NewsSegment",
    "search.whoosh_ext.columns.DictionaryCompressedColumn",
    "search.whoosh_ext.columns.ValueTableColumn",
)
"""The class paths from this package that a table of contents written by this tool names (pickled
segments, and the column types of the pickled schema)."""
