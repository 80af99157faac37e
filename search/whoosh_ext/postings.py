"""Our posting-list format: document numbers and weights as compact arrays, positions apart.

Whoosh's W3 format pickles and compresses blocks of 128 postings that interleave ids, weights and
encoded positions, so reading which documents contain a word means unpickling and decompressing
its positions too. Here each posting list is one extent of the posting file:

    magic "NP" | flags | count | first id | CRC-32 of the header and arrays | CRC-32 of the values
    ids      count - 1 gaps between ascending document numbers, little-endian, each 1, 2 or 4
             bytes wide: the narrowest width that holds the list's largest gap (flags bits 2-3)
    weights  by flags bits 4-5: count float32 (the same float32 Whoosh keeps in memory); count
             uint8 or uint16 holding twice each weight, when every weight is a multiple of 0.5
             that fits (text weights are sums of field weights, all multiples of 0.5); or
             nothing, when every weight is 1.0 (fields that are not scored)
    values   only with flag 1: with flag 64 (the positions of Whoosh's `Positions` format), the
             typecode of the counts and of the gaps ("B", "H" or "I"), each posting's number of
             positions, then the gaps between the positions of each posting (the first from 0);
             otherwise count + 1 uint32 offsets, then the encoded values; with flag 2 either
             zlib-compressed (the checksum is of the stored bytes)

Half-units and gaps restore the float32 weights and the ids exactly, so scores are the same bit
for bit. Ids and weights are decoded whole: as numpy arrays with one cumulative sum
(`numpy_arrays`), or as Python arrays when numpy is not loaded; positions are read only when a
phrase, a part of the text or a snippet asks for them: `positions` gives them as numbers,
`value` in Whoosh's encoding (what its matchers and formats read). Each part's checksum is
verified the first time it is read, so a flipped byte is reported as a damaged index, never
served as data.
"""

from __future__ import annotations

import bisect
import itertools
import pickle
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from whoosh.codec import whoosh3
from whoosh.formats import Positions
from whoosh.matching.mcore import LeafMatcher, ReadTooFar
from whoosh.system import pack_uint, unpack_uint

MAGIC = b"NP"
_HEADER = struct.Struct("<2sBIIII")
_CHECKED_HEADER = 11
"""The header's bytes covered by the first checksum: magic, flags, count and first id."""
_HAS_VALUES = 1
_COMPRESSED = 2
_GAPS_OF_POSITIONS = 64
_GAP_SHIFT = 2
_GAP_TYPECODES = ("B", "H", "I")
"""Typecodes of the gaps between ids, by the 2-bit code at flags bits 2-3."""
_WEIGHT_SHIFT = 4
_WEIGHTS_FLOAT = 0
_WEIGHTS_HALVES_BYTE = 1
_WEIGHTS_HALVES_SHORT = 2
_WEIGHTS_ONE = 3
_WEIGHT_TYPECODES = {_WEIGHTS_FLOAT: "f", _WEIGHTS_HALVES_BYTE: "B", _WEIGHTS_HALVES_SHORT: "H"}
_COMPRESSION_LEVEL = 3  # Whoosh's own default for its blocks
_LITTLE_ENDIAN = sys.byteorder == "little"
_FEW = 64
"""Postings decoded faster in Python than by calling numpy."""


def _array(typecode: str, data: Any) -> array[Any]:
    """An array of `typecode` items from little-endian `data`, in this machine's order."""
    items = array(typecode)
    items.frombytes(data)
    if not _LITTLE_ENDIAN:
        items.byteswap()
    return items


def _little_endian(items: array[Any]) -> bytes:
    if not _LITTLE_ENDIAN:
        items = array(items.typecode, items)
        items.byteswap()
    return items.tobytes()


def _narrowest(largest: int) -> int:
    """The code in `_GAP_TYPECODES` of the narrowest unsigned type that holds `largest`."""
    return 0 if largest < 1 << 8 else 1 if largest < 1 << 16 else 2


def _encode_ids(ids: array[int]) -> tuple[int, bytes]:
    """(gap width code, gap bytes) of ascending `ids`."""
    if len(ids) <= 1:
        return 0, b""
    if len(ids) > _FEW:
        numpy = _numpy()
        gaps_array = numpy.diff(numpy.frombuffer(ids, numpy.uint32))
        code = _narrowest(int(gaps_array.max()))
        dtype = numpy.dtype(_GAP_TYPECODES[code]).newbyteorder("<")
        return code, bytes(gaps_array.astype(dtype).tobytes())
    gaps = array("I", (b - a for a, b in itertools.pairwise(ids)))
    code = _narrowest(max(gaps, default=0))
    return code, _little_endian(array(_GAP_TYPECODES[code], gaps))


def _encode_weights(weights: array[float]) -> tuple[int, bytes]:
    """(encoding, bytes) of the float32 `weights`: the smallest that gives them back exactly."""
    if len(weights) > _FEW:
        return _encode_many_weights(weights)
    if all(weight == 1.0 for weight in weights):
        return _WEIGHTS_ONE, b""
    halves = [2 * weight for weight in weights]  # exact: doubling a float32 loses nothing
    if all(half.is_integer() and 0 <= half < 1 << 16 for half in halves):
        code = _narrowest(int(max(halves)))
        kind = _WEIGHTS_HALVES_BYTE if code == 0 else _WEIGHTS_HALVES_SHORT
        return kind, _little_endian(array(_WEIGHT_TYPECODES[kind], map(int, halves)))
    return _WEIGHTS_FLOAT, _little_endian(weights)


def _encode_many_weights(weights: array[float]) -> tuple[int, bytes]:
    """`_encode_weights` with numpy: the same choices, without Python work per posting."""
    numpy = _numpy()
    stored = numpy.frombuffer(weights, numpy.float32)
    if bool((stored == 1.0).all()):
        return _WEIGHTS_ONE, b""
    halves = stored.astype(numpy.float64) * 2
    if bool((numpy.floor(halves) == halves).all()) and 0 <= halves.min() <= halves.max() < 1 << 16:
        code = _narrowest(int(halves.max()))
        kind = _WEIGHTS_HALVES_BYTE if code == 0 else _WEIGHTS_HALVES_SHORT
        dtype = numpy.dtype(_WEIGHT_TYPECODES[kind]).newbyteorder("<")
        return kind, bytes(halves.astype(dtype).tobytes())
    return _WEIGHTS_FLOAT, _little_endian(weights)


def _numpy() -> Any:
    """numpy, imported when a writer first meets a long posting list."""
    import numpy

    return numpy


_PARSED_LIMIT = 16_384
"""Distinct position values a writer keeps parsed (news text repeats the same few)."""


class _PositionsParser:
    """Whoosh's `Positions` values (a count, then a pickled list of gaps) read back as numbers,
    each distinct value once."""

    def __init__(self) -> None:
        self._parsed: dict[bytes, list[int] | None] = {}

    def gaps(self, value: bytes) -> list[int] | None:
        parsed = self._parsed
        if value in parsed:
            return parsed[value]
        if len(parsed) >= _PARSED_LIMIT:
            parsed.clear()
        found: Any = None
        if len(value) > 4:
            try:
                found = pickle.loads(value[4:])
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError):
                found = None
        valid = (
            type(found) is list
            and len(found) == unpack_uint(value[:4])[0]
            and all(type(gap) is int and 0 <= gap < 1 << 32 for gap in found)
        )
        parsed[value] = found if valid else None
        return parsed[value]

    def encode(self, values: list[bytes]) -> bytes | None:
        """The positions of `values` as two arrays: the number of positions of each posting,
        and all their gaps. None when a value is not in that encoding."""
        counts = array("I")
        gaps: list[int] = []
        for value in values:
            found = self.gaps(value)
            if found is None:
                return None
            counts.append(len(found))
            gaps.extend(found)
        return _positions_bytes(counts, gaps)


class CorruptPostingsError(ValueError):
    """A posting list that does not hold what was written (checksum or structure)."""

    def __init__(self, filename: str | None, offset: int, reason: str) -> None:
        super().__init__(
            f"the posting list at {offset} of {filename or 'the posting file'} {reason}"
        )
        self.filename = filename
        self.offset = offset


class ArrayPostingsWriter(whoosh3.W3PostingsWriter):  # type: ignore[misc]
    """Writes each posting list in the format above.

    Whoosh's writer still groups postings into blocks of 128 and hands each block's statistics
    to the term info, in the same order, so the term statistics (total weight, lengths, maximum
    weight) are exactly Whoosh's; only the bytes written differ.
    """

    _terminfo: Any

    _positions: _PositionsParser | None = None

    def __init__(self, postfile: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(postfile, *args, **kwargs)
        self._position = postfile.tell()
        """Where the next list goes: the writer keeps count of what it writes, since asking the
        file is a system call (Whoosh asks twice per term). A field's lists are written by one
        writer, with nothing else written to the file in between."""

    def start_postings(self, format_: Any, terminfo: Any) -> None:
        # Whoosh's, but for asking the file where it is.
        if self._terminfo:
            raise ValueError("a posting list was started inside another")
        self._format = format_
        self._blockcount = 0
        self._new_block()
        self._terminfo = terminfo
        if self._positions is None:
            self._positions = _PositionsParser()
        self._list_ids = array("I")
        self._list_weights = array("f")
        self._list_values: list[bytes] = []

    def add_posting(
        self, id_: int, weight: float, vbytes: bytes, length: int | None = None
    ) -> None:
        super().add_posting(id_, weight, vbytes, length)
        if not vbytes:  # Whoosh keeps only non-empty values; every posting needs its place
            self._values.append(vbytes)

    def _write_block(self, last: bool = False) -> None:
        self._terminfo.add_block(self)
        self._list_ids.extend(self._ids)
        self._list_weights.extend(self._weights)
        self._list_values.extend(self._values)
        self._blockcount += 1
        self._new_block()

    def finish_postings(self) -> Any:
        terminfo = self._terminfo
        if self._ids:
            self._write_block(last=True)
        start = self._position
        flags, values = self._encode_values(self._list_values)
        self._write_list(self._list_ids, self._list_weights, flags, values)
        terminfo.set_extent(start, self._position - start)
        self._terminfo = None
        return terminfo

    def write_joined(self, parts: list[tuple[PostingArrays, int]]) -> tuple[int, int]:
        """Write the lists of `parts` one after the other as one list, each with the number
        given with it added to its document numbers (a term's lists in consecutive segments, and
        where each segment starts); return where it was written (offset, length), for the
        term's info. Between terms only."""
        start = self._position
        if len(parts) == 1:  # the same bytes, but for the first id and the checksum over it
            arrays, shift = parts[0]
            self._write(arrays.shifted(shift))
            return start, self._position - start
        stored = _joined_as_stored(parts)
        if stored is not None:
            self._write_encoded(*stored)
            return start, self._position - start
        ids, weights = _joined_arrays(parts)
        if not any(arrays.has_values for arrays, _ in parts):
            flags, values = 0, b""
        elif all(arrays.has_positions for arrays, _ in parts):
            flags, values = _HAS_VALUES | _GAPS_OF_POSITIONS, _joined_positions(parts)
        elif all(arrays.has_values and not arrays.has_positions for arrays, _ in parts):
            flags, values = _HAS_VALUES, _joined_values(parts)
        else:
            every = [arrays.value(index) for arrays, _ in parts for index in range(arrays.count)]
            flags, values = self._encode_values(every)
        self._write_list(ids, weights, flags, values)
        return start, self._position - start

    def _encode_values(self, values: list[bytes]) -> tuple[int, bytes]:
        """(flags, bytes) of the values of a list's postings, before compression."""
        if not any(values):
            return 0, b""
        # Whoosh's own class only: a subclass may encode its values otherwise.
        if type(self._format) is Positions and self._positions is not None:
            gaps = self._positions.encode(values)
            if gaps is not None:
                return _HAS_VALUES | _GAPS_OF_POSITIONS, gaps
        offsets = array("I", [0])
        for value in values:
            offsets.append(offsets[-1] + len(value))
        return _HAS_VALUES, _little_endian(offsets) + b"".join(values)

    def _write_list(
        self, ids: array[int], weights: array[float], flags: int, values: bytes
    ) -> None:
        gap_code, gap_bytes = _encode_ids(ids)
        weight_kind, weight_bytes = _encode_weights(weights)
        flags |= gap_code << _GAP_SHIFT | weight_kind << _WEIGHT_SHIFT
        self._write_encoded(flags, len(ids), ids[0] if ids else 0, gap_bytes, weight_bytes, values)

    def _write_encoded(
        self,
        flags: int,
        count: int,
        first: int,
        gap_bytes: bytes,
        weight_bytes: bytes,
        values: bytes,
    ) -> None:
        if values:
            # Positions are read only for phrases and parts of the text, and take more room than
            # the ids and weights: they are worth compressing, the arrays are not.
            packed = zlib.compress(values, _COMPRESSION_LEVEL)
            if len(packed) < len(values):
                flags |= _COMPRESSED
                values = packed
        checked = _HEADER.pack(MAGIC, flags, count, first, 0, 0)
        main_crc = zlib.crc32(
            weight_bytes, zlib.crc32(gap_bytes, zlib.crc32(checked[:_CHECKED_HEADER]))
        )
        header = _HEADER.pack(MAGIC, flags, count, first, main_crc, zlib.crc32(values))
        self._write(b"".join((header, gap_bytes, weight_bytes, values)))

    def _write(self, data: bytes) -> None:
        self._postfile.write(data)
        self._position += len(data)


def _joined_as_stored(
    parts: list[tuple[PostingArrays, int]],
) -> tuple[int, int, int, bytes, bytes, bytes] | None:
    """(flags, count, first id, gap bytes, weight bytes, values) of the lists of `parts` one
    after the other, made by putting their stored arrays end to end, with the gap between one
    list's last id and the next one's first in between: when they are stored alike (gaps as
    wide, weights of one kind, no values or positions of the same widths). Else None."""
    head, head_shift = parts[0]
    kind = head._weight_kind
    positions = head.has_positions
    if head.has_values and not positions:
        return None
    widths = {arrays._gap_typecode for arrays, _ in parts if arrays.count > 1}
    if len(widths) > 1 or any(
        arrays._weight_kind != kind or arrays.has_positions != positions for arrays, _ in parts
    ):
        return None
    typecode = widths.pop() if widths else "B"
    largest = (1 << 8 * array(typecode).itemsize) - 1
    gaps: list[bytes] = []
    weights: list[bytes] = []
    last = None
    for arrays, shift in parts:
        if last is not None:
            step = arrays.first + shift - last
            if not 0 < step <= largest:
                return None
            gaps.append(_little_endian(array(typecode, [step])))
        buf = arrays._buf
        gaps.append(buf[arrays._gaps_start : arrays._weights_start])
        weights.append(buf[arrays._weights_start : arrays._values_start])
        last = arrays.ids[-1] + shift
    values = b""
    if positions:
        regions = [arrays._checked_values() for arrays, _ in parts]
        if len({region[:2] for region in regions}) > 1:
            return None
        width = array(chr(regions[0][0])).itemsize
        ends = [2 + width * arrays.count for arrays, _ in parts]
        counts = [region[2:end] for region, end in zip(regions, ends, strict=True)]
        position_gaps = [region[end:] for region, end in zip(regions, ends, strict=True)]
        values = b"".join([regions[0][:2], *counts, *position_gaps])
    flags = _narrowest(largest) << _GAP_SHIFT | kind << _WEIGHT_SHIFT
    if positions:
        flags |= _HAS_VALUES | _GAPS_OF_POSITIONS
    count = sum(arrays.count for arrays, _ in parts)
    return flags, count, head.first + head_shift, b"".join(gaps), b"".join(weights), values


def _joined_arrays(parts: list[tuple[PostingArrays, int]]) -> tuple[array[int], array[float]]:
    """The ids (shifted) and weights of the lists of `parts`, one after the other."""
    if sum(arrays.count for arrays, _ in parts) <= _FEW:
        ids = array("I")
        weights = array("f")
        for arrays, shift in parts:
            ids.extend([number + shift for number in arrays.ids])
            weights.extend(arrays.weights)
        return ids, weights
    numpy = _numpy()
    id_parts, weight_parts = [], []
    for arrays, shift in parts:
        part_ids, part_weights = arrays.numpy_arrays(numpy)
        id_parts.append(part_ids + shift)
        weight_parts.append(part_weights)
    joined_ids = numpy.concatenate(id_parts).astype(numpy.uint32)
    joined_weights = numpy.concatenate(weight_parts).astype(numpy.float32)
    return array("I", joined_ids.tobytes()), array("f", joined_weights.tobytes())


def _joined_positions(parts: list[tuple[PostingArrays, int]]) -> bytes:
    """The positions of the lists of `parts`, one after the other, encoded as a list's."""
    numpy = _numpy()
    counts, gaps = [], []
    for arrays, _ in parts:
        _, part_counts, part_gaps = arrays._numpy_positions(numpy)
        counts.append(part_counts)
        gaps.append(part_gaps)
    joined_counts = numpy.concatenate(counts).astype(numpy.uint32)
    joined_gaps = numpy.concatenate(gaps).astype(numpy.uint32)
    return _positions_bytes(array("I", joined_counts.tobytes()), array("I", joined_gaps.tobytes()))


def _joined_values(parts: list[tuple[PostingArrays, int]]) -> bytes:
    """The values (not positions) of the lists of `parts`, one after the other, encoded as a
    list's: every posting's offset, then the values."""
    numpy = _numpy()
    offsets, values = [numpy.zeros(1, numpy.uint32)], []
    size = 0
    for arrays, _ in parts:
        region = arrays._checked_values()
        head = 4 * (arrays.count + 1)
        offsets.append(numpy.frombuffer(region, _dtype(numpy, "I"), arrays.count, 4) + size)
        values.append(region[head:])
        size += len(region) - head
    joined_offsets = numpy.concatenate(offsets).astype(_dtype(numpy, "I"))
    return bytes(joined_offsets.tobytes()) + b"".join(values)


def _positions_bytes(counts: Sequence[int], gaps: Sequence[int]) -> bytes:
    """Positions as a list keeps them: the typecodes of the counts and of the gaps, then each
    posting's number of positions, then every gap, each in the narrowest type that holds them."""
    count_code = _GAP_TYPECODES[_narrowest(max(counts, default=0))]
    gap_code = _GAP_TYPECODES[_narrowest(max(gaps, default=0))]
    return (
        count_code.encode()
        + gap_code.encode()
        + _little_endian(array(count_code, counts))
        + _little_endian(array(gap_code, gaps))
    )


class PostingArrays:
    """One posting list, read from the posting file's buffer (in place when memory-mapped)."""

    def __init__(self, postfile: Any, offset: int, length: int) -> None:
        buf = getattr(postfile, "_buf", None)
        if buf is None:  # not memory-mapped: read the extent once
            buf, base = postfile.get(offset, length), 0
        else:
            base = offset
        name = getattr(postfile, "_name", None)
        if length < _HEADER.size or base + length > len(buf):
            raise CorruptPostingsError(name, offset, "is cut short")
        magic, flags, count, first, main_crc, values_crc = _HEADER.unpack_from(buf, base)
        gap_typecode = _GAP_TYPECODES[(flags >> _GAP_SHIFT) & 3] if count else "B"
        weight_kind = (flags >> _WEIGHT_SHIFT) & 3
        gap_size = array(gap_typecode).itemsize * max(count - 1, 0)
        weight_size = (
            0 if weight_kind == _WEIGHTS_ONE else array(_WEIGHT_TYPECODES[weight_kind]).itemsize
        ) * count
        start = base + _HEADER.size
        end = start + gap_size + weight_size
        if magic != MAGIC or (flags >> _GAP_SHIFT) & 3 == 3 or end > base + length:
            raise CorruptPostingsError(name, offset, "is not in this tool's format")
        self.count = count
        verified = _verified(postfile)
        if offset not in verified:
            crc = zlib.crc32(memoryview(buf)[base : base + _CHECKED_HEADER])
            if zlib.crc32(memoryview(buf)[start:end], crc) != main_crc:
                raise CorruptPostingsError(name, offset, "does not match its checksum")
            verified.add(offset)
        self._buf = buf
        self._first = first
        self._gap_typecode = gap_typecode
        self._gaps_start = start
        self._weight_kind = weight_kind
        self._weights_start = start + gap_size
        self._ids: array[int] | None = None
        self._weights: array[float] | None = None
        self._values_start = end
        self._values_end = base + length
        self._values_crc = values_crc
        self._has_values = bool(flags & _HAS_VALUES)
        self._compressed = bool(flags & _COMPRESSED)
        self._gaps_of_positions = bool(flags & _GAPS_OF_POSITIONS)
        self._values: Any = None
        self._offsets: array[int] | None = None
        self._numpy_values: tuple[Any, Any, Any] | None = None
        self._numpy_id_array: Any = None
        self._name = name
        self._offset = offset

    @property
    def has_values(self) -> bool:
        """Whether the postings have values (positions, in the text field)."""
        return self._has_values

    @property
    def has_positions(self) -> bool:
        """Whether the values are positions, kept as gaps (see `positions`)."""
        return self._has_values and self._gaps_of_positions

    def shifted(self, by: int) -> bytes:
        """This list as written, with `by` added to its document numbers: only the first id and
        the checksum that covers it change (the values and their checksum are kept as they are)."""
        header = self._gaps_start - _HEADER.size
        magic, flags, count, first, _, values_crc = _HEADER.unpack_from(self._buf, header)
        checked = _HEADER.pack(magic, flags, count, first + by, 0, values_crc)
        main_crc = zlib.crc32(
            memoryview(self._buf)[self._gaps_start : self._values_start],
            zlib.crc32(checked[:_CHECKED_HEADER]),
        )
        return _HEADER.pack(magic, flags, count, first + by, main_crc, values_crc) + bytes(
            self._buf[self._gaps_start : self._values_end]
        )

    @property
    def first(self) -> int:
        """The first document number (of a list that is not empty)."""
        return int(self._first)

    @property
    def ids(self) -> array[int]:
        """The document numbers, ascending."""
        if self._ids is None:
            if not self.count:
                self._ids = array("I")
            elif "numpy" in sys.modules and self.count > _FEW:
                # When loaded, one cumulative sum in C. (Through the import statement, which waits
                # while another thread is still importing numpy: sys.modules may hold it half-made.)
                numpy = _numpy()
                self._ids = array("I", self._numpy_ids(numpy).astype(numpy.uint32).tobytes())
            else:
                gaps = _array(self._gap_typecode, self._buf[self._gaps_start : self._weights_start])
                self._ids = array("I", itertools.accumulate(gaps, initial=self._first))
        return self._ids

    @property
    def weights(self) -> array[float]:
        """The weights (float32, as Whoosh keeps them), in the order of `ids`."""
        if self._weights is None:
            kind = self._weight_kind
            if kind == _WEIGHTS_ONE:
                self._weights = array("f", [1.0]) * self.count
            else:
                stored = _array(
                    _WEIGHT_TYPECODES[kind], self._buf[self._weights_start : self._values_start]
                )
                self._weights = (
                    stored if kind == _WEIGHTS_FLOAT else array("f", [half / 2 for half in stored])
                )
        return self._weights

    def numpy_arrays(self, numpy: Any) -> tuple[Any, Any]:
        """`ids` (int64) and `weights` (float32) as numpy arrays, decoded from the file's buffer
        with a cumulative sum and a scaling, without Python work per posting."""
        count = self.count
        ids = self._numpy_ids(numpy)
        kind = self._weight_kind
        if kind == _WEIGHTS_ONE:
            return ids, numpy.ones(count, numpy.float32)
        typecode = _WEIGHT_TYPECODES[kind]
        stored = numpy.frombuffer(self._buf, _dtype(numpy, typecode), count, self._weights_start)
        if kind == _WEIGHTS_FLOAT:
            return ids, stored
        # Exact: a whole number below 2**16 and its half are float32 numbers.
        return ids, numpy.multiply(stored, numpy.float32(0.5), dtype=numpy.float32)

    def _numpy_ids(self, numpy: Any) -> Any:
        ids = self._numpy_id_array
        if ids is None:
            count = self.count
            # int64, like every array of document numbers they meet: no conversion later.
            ids = numpy.empty(count, numpy.int64)
            if count:
                ids[0] = self._first
                ids[1:] = numpy.frombuffer(
                    self._buf, _dtype(numpy, self._gap_typecode), count - 1, self._gaps_start
                )
                numpy.add.accumulate(ids, out=ids)
            self._numpy_id_array = ids
        return ids

    def value(self, index: int) -> bytes:
        """The encoded value (positions) of the `index`-th posting, as Whoosh's format has it."""
        if not self._has_values:
            return b""
        offsets = self._offsets
        if offsets is None:
            offsets = self._load_offsets()
        if self._gaps_of_positions:
            gaps = self._values[offsets[index] : offsets[index + 1]]
            return bytes(pack_uint(len(gaps))) + pickle.dumps(gaps.tolist(), 2)
        start = 4 * (self.count + 1)
        return bytes(self._values[start + offsets[index] : start + offsets[index + 1]])

    def positions(self, index: int) -> list[int]:
        """The positions of the `index`-th posting of a list in Whoosh's `Positions` format."""
        if not self._gaps_of_positions:
            value = self.value(index)
            return list(itertools.accumulate(pickle.loads(value[4:]))) if value else []
        offsets = self._offsets
        if offsets is None:
            offsets = self._load_offsets()
        return list(itertools.accumulate(self._values[offsets[index] : offsets[index + 1]]))

    def positions_of(self, numpy: Any, indexes: Any) -> tuple[Any, Any] | None:
        """The positions of the postings at `indexes` (a numpy array) at once: how many each has,
        and all of them in order, posting after posting, as numpy arrays. None for a list whose
        values are not positions."""
        if not (self._has_values and self._gaps_of_positions):
            return None
        starts, every_count, gaps = self._numpy_positions(numpy)
        counts = every_count[indexes]
        total = int(counts.sum())
        if not total:
            return counts, numpy.zeros(0, dtype=numpy.int64)
        firsts = numpy.cumsum(counts) - counts  # where each posting's positions begin in the result
        chosen = gaps[numpy.repeat(starts[indexes] - firsts, counts) + numpy.arange(total)]
        running = numpy.cumsum(chosen)
        before = (running - chosen)[numpy.minimum(firsts, total - 1)]
        return counts, running - numpy.repeat(before, counts)

    def _numpy_positions(self, numpy: Any) -> tuple[Any, Any, Any]:
        """(where each posting's gaps start, how many it has, every gap) as numpy arrays."""
        if self._numpy_values is None:
            region = self._checked_values()
            count_code, gap_code = region[:1].decode("latin-1"), region[1:2].decode("latin-1")
            if count_code not in _GAP_TYPECODES or gap_code not in _GAP_TYPECODES:
                raise CorruptPostingsError(self._name, self._offset, "has inconsistent positions")
            counts_end = 2 + array(count_code).itemsize * self.count
            counts = numpy.frombuffer(region, _dtype(numpy, count_code), self.count, 2)
            gaps = numpy.frombuffer(region, _dtype(numpy, gap_code), offset=counts_end)
            counts = counts.astype(numpy.int64)
            ends = numpy.cumsum(counts)
            if len(counts) != self.count or (len(ends) and int(ends[-1]) != len(gaps)):
                raise CorruptPostingsError(self._name, self._offset, "has inconsistent positions")
            self._numpy_values = (ends - counts, counts, gaps.astype(numpy.int64))
        return self._numpy_values

    def _checked_values(self) -> bytes:
        """The bytes of the values, checked against their checksum and inflated."""
        region: Any = memoryview(self._buf)[self._values_start : self._values_end]
        if zlib.crc32(region) != self._values_crc:
            raise CorruptPostingsError(self._name, self._offset, "does not match its checksum")
        if self._compressed:
            try:
                return zlib.decompress(region)
            except zlib.error as exc:
                raise CorruptPostingsError(
                    self._name, self._offset, f"cannot be decompressed ({exc})"
                ) from None
        return bytes(region)

    def _load_offsets(self) -> array[int]:
        region = self._checked_values()
        if self._gaps_of_positions:
            return self._load_gaps(region)
        offsets = _array("I", region[: 4 * (self.count + 1)])
        if offsets[-1] != len(region) - 4 * (self.count + 1):
            raise CorruptPostingsError(self._name, self._offset, "has inconsistent positions")
        self._values = region
        self._offsets = offsets
        return offsets

    def _load_gaps(self, region: bytes) -> array[int]:
        count_code, gap_code = region[:1].decode("latin-1"), region[1:2].decode("latin-1")
        try:
            if count_code not in _GAP_TYPECODES or gap_code not in _GAP_TYPECODES:
                raise ValueError("unknown typecode")
            counts_end = 2 + array(count_code).itemsize * self.count
            counts = _array(count_code, region[2:counts_end])
            gaps = _array(gap_code, region[counts_end:])
            offsets = array("Q", itertools.accumulate(counts, initial=0))
            if len(counts) != self.count or offsets[-1] != len(gaps):
                raise ValueError("counts and positions disagree")
        except ValueError:
            raise CorruptPostingsError(
                self._name, self._offset, "has inconsistent positions"
            ) from None
        self._values = gaps
        self._offsets = offsets
        return offsets


_NUMPY_TYPES: dict[str, Any] = {}


def _dtype(numpy: Any, typecode: str) -> Any:
    """The little-endian numpy type of an array typecode (made once)."""
    found = _NUMPY_TYPES.get(typecode)
    if found is None:
        found = _NUMPY_TYPES[typecode] = numpy.dtype(typecode).newbyteorder("<")
    return found


def _verified(postfile: Any) -> set[int]:
    """The posting lists of `postfile` whose ids and weights were checked already (a file that
    cannot remember them has every list checked each time it is read)."""
    found: set[int] | None = getattr(postfile, "verified_extents", None)
    return set() if found is None else found


class ArrayLeafMatcher(LeafMatcher):  # type: ignore[misc]
    """Whoosh's matcher interface over one posting list in our format.

    The whole list is one block for Whoosh's quality optimisations, bounded by the term's maximum
    weight and shortest document. `arrays` gives the engine's own evaluator the list at once.
    """

    def __init__(
        self,
        arrays: PostingArrays,
        format_: Any,
        term: Any = None,
        scorer: Any = None,
        terminfo: Any = None,
        position: int = 0,
    ) -> None:
        self.arrays = arrays
        self.format = format_
        self._term = term
        self.scorer = scorer
        self._terminfo = terminfo
        self._i = position
        self._count = arrays.count
        self._valueless = format_.fixed_value_size() == 0  # Whoosh's value is then None

    def copy(self) -> ArrayLeafMatcher:
        return ArrayLeafMatcher(
            self.arrays, self.format, self._term, self.scorer, self._terminfo, self._i
        )

    _i: int
    _count: int

    def is_active(self) -> bool:
        return self._i < self._count

    def reset(self) -> None:
        self._i = 0

    def id(self) -> int:
        # The first id without decoding the list: Whoosh's deletion filter asks for it whenever
        # a segment reader hands out a list, and the engine then reads the list as an array.
        return self.arrays.first if self._i == 0 else self.arrays.ids[self._i]

    def next(self) -> bool:
        if self._i >= self._count:
            raise ReadTooFar
        self._i += 1
        return False

    def skip_to(self, target: int) -> bool:
        if self._i >= self._count:
            raise ReadTooFar
        ids = self.arrays.ids
        if target > ids[self._i]:
            self._i = bisect.bisect_left(ids, target, self._i)
        return False

    def all_ids(self) -> Iterator[int]:
        position, self._i = self._i, self._count
        return iter(self.arrays.ids[position:])

    def weight(self) -> float:
        return self.arrays.weights[self._i]

    def value(self) -> bytes | None:
        return None if self._valueless else self.arrays.value(self._i)

    def block_min_length(self) -> int:
        return int(self._terminfo.min_length()) if self._terminfo is not None else 1

    def block_max_length(self) -> int:
        return int(self._terminfo.max_length()) if self._terminfo is not None else 2**31

    def block_max_weight(self) -> float:
        return float(self._terminfo.max_weight()) if self._terminfo is not None else float("inf")

    def block_max_id(self) -> int:
        return self.arrays.ids[-1] if self._count else 0

    def skip_to_quality(self, minquality: float) -> int:
        # The list is one block: either its bound can reach `minquality`, or nothing in it can.
        if self.is_active() and self.block_quality() <= minquality:
            self._i = self._count
            return 1
        return 0
