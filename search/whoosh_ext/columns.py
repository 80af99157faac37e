"""Columns of our own: stored records compressed against a dictionary shared by their segment
(`DictionaryCompressedColumn`), and values shared by many documents stored once
(`ValueTableColumn`).

Stored documents are a few hundred bytes each: compressed one by one, they shrink little, since
every one spells out the same field layout, the same sites and the same kinds of words again.
zlib can start a stream from a preset dictionary; here each segment's column makes one from its
first values (or is given one, `preset`: the workers of a build share one, so that their segments
are joined without recompressing), and compresses every value against it, so a value still
decompresses on its own (reading the ten hits of a page stays ten small decompressions). The
column's layout:

    values      per document: CRC-32 of the value, then the value as raw deflate (nothing for b"")
    dictionary  the preset dictionary (at most `DICTIONARY_BYTES`)
    offsets     document count + 1 offsets of the values from the column's start, 4 or 8 bytes
    trailer     magic "NZC1" | offset width | dictionary length | document count |
                CRC-32 of the dictionary and the offsets

Every value is checked against its CRC-32 after decompression, and the dictionary and offsets
when the column is opened, so a flipped byte is reported as a damaged index, never served.

ON-DISK NAMES: both classes are pickled by class path into the schema of every table of
contents (see `search.whoosh_ext.codec.ON_DISK_CLASSES`).
"""

from __future__ import annotations

import itertools
import struct
import sys
import zlib
from array import array
from typing import Any

from whoosh import columns

DICTIONARY_BYTES = 32_768
"""Bytes of a segment's first values that make its dictionary (zlib's largest window)."""
_LEVEL = 3
"""zlib's level: on 20,000 stored articles, 201 bytes each in 19 us, against 191 bytes in 30 us at
level 6 (zlib's default)."""
_WINDOW_BITS = -15  # raw deflate: the checksum is ours, and a dictionary is set up front
_MAGIC = b"NZC1"
_TRAILER = struct.Struct("<4sBIII")
_CRC = struct.Struct("<I")
_LITTLE_ENDIAN = sys.byteorder == "little"


class CorruptColumnError(ValueError):
    """A column value that does not hold what was written."""


class DictionaryCompressedColumn(columns.Column):  # type: ignore[misc]
    """Byte strings compressed against a dictionary made per segment (see the module)."""

    _default = b""
    reversible = False

    def writer(self, dbfile: Any) -> _Writer:
        return _Writer(dbfile)

    def reader(self, dbfile: Any, basepos: int, length: int, doccount: int) -> _Reader:
        return _Reader(dbfile, basepos, length, doccount)


def dictionary_of(values: list[bytes]) -> bytes:
    """The preset dictionary a column makes from its first values."""
    return b"".join(values)[:DICTIONARY_BYTES]


def _compressor(dictionary: bytes) -> Any:
    if not dictionary:  # zlib refuses an empty one
        return zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS)
    return zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS, zdict=dictionary)


class _Writer(columns.ColumnWriter):  # type: ignore[misc]
    def __init__(self, dbfile: Any) -> None:
        self._dbfile = dbfile
        self._offsets = array("Q", [0])
        self._pending: list[bytes] = []
        """The first values, kept until they make the dictionary."""
        self._pending_bytes = 0
        self._dictionary: bytes | None = None
        self._compressor: Any = None

    def fill(self, docnum: int) -> None:
        while len(self._offsets) + len(self._pending) <= docnum:
            self._store(b"")

    def add(self, docnum: int, value: bytes) -> None:
        self.fill(docnum)
        self._store(bytes(value))

    def _store(self, value: bytes) -> None:
        if self._dictionary is None:
            self._pending.append(value)
            self._pending_bytes += len(value)
            if self._pending_bytes >= DICTIONARY_BYTES:
                self._start_dictionary()
        else:
            self._write(value)

    def _start_dictionary(self, dictionary: bytes | None = None) -> None:
        self._dictionary = dictionary_of(self._pending) if dictionary is None else dictionary
        self._compressor = _compressor(self._dictionary)
        pending, self._pending = self._pending, []
        for value in pending:
            self._write(value)

    def preset(self, dictionary: bytes) -> None:
        """Compress against `dictionary` (at most `DICTIONARY_BYTES`) rather than one made from
        the first values. Columns written with the same dictionary are joined without
        recompressing (see `append_column`)."""
        if self._dictionary is not None or len(self._offsets) > 1:
            raise ValueError("a column's dictionary is set before its first value")
        self._start_dictionary(dictionary[:DICTIONARY_BYTES])

    def append_column(self, reader: _Reader, docnum: int) -> None:
        """Add the values of `reader`, a column of this type, as those of documents `docnum`
        onwards. When both were compressed against the same dictionary (or this one has no value
        yet and takes the reader's), the stored values are copied as they are."""
        if self._dictionary is None and not self._pending and len(self._offsets) == 1:
            self._start_dictionary(reader.dictionary)
        self.fill(docnum)
        if self._dictionary != reader.dictionary:
            for value in reader:
                self._store(value)
            return
        offsets = reader.offsets
        self._dbfile.write(reader.stored(offsets[0], offsets[-1]))
        shift = self._offsets[-1] - offsets[0]
        self._offsets.extend([offset + shift for offset in offsets[1:]])

    def _write(self, value: bytes) -> None:
        if value:
            compressor = self._compressor.copy()  # the dictionary is set once, copied per value
            stored = _CRC.pack(zlib.crc32(value)) + compressor.compress(value) + compressor.flush()
            self._dbfile.write(stored)
            self._offsets.append(self._offsets[-1] + len(stored))
        else:
            self._offsets.append(self._offsets[-1])

    def finish(self, doccount: int) -> None:
        self.fill(doccount)
        if self._dictionary is None:
            self._start_dictionary()
        dictionary = self._dictionary or b""
        offsets = self._offsets[: doccount + 1]
        width = 4 if offsets[-1] < 1 << 32 else 8
        table = array("I" if width == 4 else "Q", offsets)
        if not _LITTLE_ENDIAN:
            table.byteswap()
        table_bytes = table.tobytes()
        crc = zlib.crc32(table_bytes, zlib.crc32(dictionary))
        self._dbfile.write(dictionary)
        self._dbfile.write(table_bytes)
        self._dbfile.write(_TRAILER.pack(_MAGIC, width, len(dictionary), doccount, crc))


class _Reader(columns.ColumnReader):  # type: ignore[misc]
    def __init__(self, dbfile: Any, basepos: int, length: int, doccount: int) -> None:
        super().__init__(dbfile, basepos, length, doccount)
        if length < _TRAILER.size:
            raise CorruptColumnError("a compressed column is cut short")
        trailer = bytes(dbfile.get(basepos + length - _TRAILER.size, _TRAILER.size))
        magic, width, dictionary_length, count, crc = _TRAILER.unpack(trailer)
        table_length = width * (count + 1)
        table_start = basepos + length - _TRAILER.size - table_length
        dictionary_start = table_start - dictionary_length
        if magic != _MAGIC or width not in (4, 8) or dictionary_start < basepos:
            raise CorruptColumnError("a compressed column is not in this tool's format")
        dictionary = bytes(dbfile.get(dictionary_start, dictionary_length))
        table_bytes = bytes(dbfile.get(table_start, table_length))
        if zlib.crc32(table_bytes, zlib.crc32(dictionary)) != crc:
            raise CorruptColumnError("a compressed column does not match its checksum")
        offsets = array("I" if width == 4 else "Q")
        offsets.frombytes(table_bytes)
        if not _LITTLE_ENDIAN:
            offsets.byteswap()
        if offsets[-1] != dictionary_start - basepos:
            raise CorruptColumnError("a compressed column has inconsistent offsets")
        self.dictionary = dictionary
        self.offsets = offsets
        """Where each document's stored value starts, from the column's start, and where the
        last one ends."""
        self._count = count
        buf = getattr(dbfile, "_buf", None)  # Whoosh's file over a memory map, or bytes
        self._buf = memoryview(buf) if buf is not None else None
        self._decompressor = (
            zlib.decompressobj(_WINDOW_BITS, zdict=dictionary)
            if dictionary
            else zlib.decompressobj(_WINDOW_BITS)
        )

    def __len__(self) -> int:
        return int(self._doccount)

    def __getitem__(self, docnum: int) -> bytes:
        if not 0 <= docnum < self._count:
            if 0 <= docnum < self._doccount:
                return b""
            raise IndexError(docnum)
        start, end = self.offsets[docnum], self.offsets[docnum + 1]
        if start == end:
            return b""
        stored = self.stored(start, end)
        decompressor = self._decompressor.copy()
        try:
            value = decompressor.decompress(stored[_CRC.size :])
        except zlib.error:
            value = None
        if (
            value is None
            or not decompressor.eof
            or _CRC.unpack_from(stored)[0] != zlib.crc32(value)
        ):
            raise CorruptColumnError(f"the stored value of document {docnum} is damaged")
        return value

    def __iter__(self) -> Any:
        return (self[docnum] for docnum in range(self._doccount))

    def stored(self, start: int, end: int) -> Any:
        """The column's bytes from `start` to `end` (from its start), in place when mapped."""
        buf = self._buf
        if buf is None:
            return memoryview(self._dbfile.get(self._basepos + start, end - start))
        return buf[self._basepos + start : self._basepos + end]


class ValueTableColumn(columns.Column):  # type: ignore[misc]
    """Byte strings of which many documents share a few: each distinct value stored once.

    Facet values (providers, types, sets of topics) repeat across thousands of documents. The
    column keeps a table of the distinct values and, per document, the number of its value in
    the table, in 1, 2 or 4 bytes as the table's size needs (Whoosh's `RefBytesColumn` stops at
    65,535 values and drops the rest). Layout: the values; their count + 1 offsets (uint32); the
    numbers; a trailer (magic "NVT1", the numbers' width, the table's size, the document count,
    CRC-32 of everything before it), checked when the column is opened.

    ON-DISK NAME: pickled by class path into the schema of every table of contents.
    """

    _default = b""
    reversible = False

    def writer(self, dbfile: Any) -> _TableWriter:
        return _TableWriter(dbfile)

    def reader(self, dbfile: Any, basepos: int, length: int, doccount: int) -> _TableReader:
        return _TableReader(dbfile, basepos, length, doccount)


_TABLE_MAGIC = b"NVT1"
_TABLE_TRAILER = struct.Struct("<4sBIII")
_NUMBER_TYPECODES = {1: "B", 2: "H", 4: "I"}


class _TableWriter(columns.ColumnWriter):  # type: ignore[misc]
    def __init__(self, dbfile: Any) -> None:
        self._dbfile = dbfile
        self._table: dict[bytes, int] = {b"": 0}
        self._numbers = array("I")

    def fill(self, docnum: int) -> None:
        if len(self._numbers) < docnum:
            self._numbers.extend(bytes(docnum - len(self._numbers)))

    def add(self, docnum: int, value: bytes) -> None:
        self.fill(docnum)
        self._numbers.append(self._table.setdefault(bytes(value), len(self._table)))

    def append_column(self, reader: _TableReader, docnum: int) -> None:
        """Add the values of `reader`, a column of this type, as those of documents `docnum`
        onwards: each of its distinct values is looked up once."""
        self.fill(docnum)
        table = self._table
        numbers = [table.setdefault(value, len(table)) for value in reader.values]
        self._numbers.extend([numbers[number] for number in reader.numbers])

    def finish(self, doccount: int) -> None:
        self.fill(doccount)
        values = list(self._table)  # in the order of their numbers
        offsets = array("I", [0])
        for value in values:
            offsets.append(offsets[-1] + len(value))
        width = 1 if len(values) <= 1 << 8 else 2 if len(values) <= 1 << 16 else 4
        numbers = array(_NUMBER_TYPECODES[width], self._numbers[:doccount])
        if not _LITTLE_ENDIAN:
            offsets.byteswap()
            numbers.byteswap()
        body = b"".join(values) + offsets.tobytes() + numbers.tobytes()
        trailer = _TABLE_TRAILER.pack(_TABLE_MAGIC, width, len(values), doccount, zlib.crc32(body))
        self._dbfile.write(body + trailer)


class _TableReader(columns.ColumnReader):  # type: ignore[misc]
    def __init__(self, dbfile: Any, basepos: int, length: int, doccount: int) -> None:
        super().__init__(dbfile, basepos, length, doccount)
        data = bytes(dbfile.get(basepos, length))
        try:
            magic, width, size, count, crc = _TABLE_TRAILER.unpack_from(
                data, length - _TABLE_TRAILER.size
            )
            body = memoryview(data)[: length - _TABLE_TRAILER.size]
            if magic != _TABLE_MAGIC or width not in _NUMBER_TYPECODES:
                raise CorruptColumnError("a value table column is not in this tool's format")
            if zlib.crc32(body) != crc:
                raise CorruptColumnError("a value table column does not match its checksum")
            numbers_start = len(body) - width * count
            offsets_start = numbers_start - 4 * (size + 1)
            offsets = array("I")
            offsets.frombytes(body[offsets_start:numbers_start])
            numbers = array(_NUMBER_TYPECODES[width])
            numbers.frombytes(body[numbers_start:])
        except (struct.error, ValueError) as exc:
            if isinstance(exc, CorruptColumnError):
                raise
            raise CorruptColumnError("a value table column is cut short") from None
        if not _LITTLE_ENDIAN:
            offsets.byteswap()
            numbers.byteswap()
        if offsets_start < 0 or offsets[-1] != offsets_start or max(numbers, default=0) >= size:
            raise CorruptColumnError("a value table column has inconsistent offsets")
        self.values = [bytes(body[a:b]) for a, b in itertools.pairwise(offsets)]
        """The distinct values, by number."""
        self.numbers = numbers
        """Each document's value's number."""

    def __len__(self) -> int:
        return int(self._doccount)

    def __getitem__(self, docnum: int) -> bytes:
        if 0 <= docnum < len(self.numbers):
            return self.values[self.numbers[docnum]]
        if 0 <= docnum < self._doccount:
            return b""
        raise IndexError(docnum)

    def __iter__(self) -> Any:
        return (self[docnum] for docnum in range(self._doccount))
