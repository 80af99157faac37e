"""Our posting-list format: document numbers and weights as arrays, positions kept apart.

Whoosh's W3 format pickles and compresses blocks of 128 postings that interleave ids, weights and
encoded positions, so reading which documents contain a word means unpickling and decompressing
its positions too. Here each posting list is one extent of the posting file:

    magic "NSP1" | count | flags | CRC-32 of ids and weights | CRC-32 of the values
    ids      count x uint32, little-endian, ascending
    weights  count x float32, little-endian (the same float32 Whoosh keeps in memory)
    values   only with flag 1: count + 1 uint32 offsets, then the encoded positions; with flag 2
             both zlib-compressed (the checksum is of the stored bytes)

Ids and weights are read in one C-level copy each (or as numpy arrays straight from the
memory-mapped segment, `numpy_arrays`); positions are read only when a phrase, a part of the text
or a snippet asks for them. Each part's checksum is verified the first time it is read, so a flipped
byte is reported as a damaged index, never served as data.
"""

from __future__ import annotations

import bisect
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from typing import Any

from whoosh.codec import whoosh3
from whoosh.matching.mcore import LeafMatcher, ReadTooFar

MAGIC = b"NSP1"
_HEADER = struct.Struct("<4sIIII")
_HAS_VALUES = 1
_COMPRESSED = 2
_COMPRESSION_LEVEL = 3  # Whoosh's own default for its blocks
_LITTLE_ENDIAN = sys.byteorder == "little"


def _array(typecode: str, data: Any) -> array[Any]:
    """A little-endian array of 4-byte items from `data`, in this machine's order."""
    items = array(typecode)
    if items.itemsize != 4:  # pragma: no cover - no supported platform has another size
        raise RuntimeError(f"array({typecode!r}) items are not 4 bytes here")
    items.frombytes(data)
    if not _LITTLE_ENDIAN:
        items.byteswap()
    return items


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

    def start_postings(self, format_: Any, terminfo: Any) -> None:
        super().start_postings(format_, terminfo)
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
        start = self._postfile.tell()
        ids, weights = self._list_ids, self._list_weights
        count = len(ids)
        if not _LITTLE_ENDIAN:
            ids.byteswap()
            weights.byteswap()
        values = b""
        flags = 0
        if any(self._list_values):
            flags |= _HAS_VALUES
            offsets = array("I", [0])
            for value in self._list_values:
                offsets.append(offsets[-1] + len(value))
            if not _LITTLE_ENDIAN:
                offsets.byteswap()
            values = offsets.tobytes() + b"".join(self._list_values)
            # Positions are read only for phrases and parts of the text, and take more room than
            # the ids and weights: they are worth compressing, the arrays are not.
            packed = zlib.compress(values, _COMPRESSION_LEVEL)
            if len(packed) < len(values):
                flags |= _COMPRESSED
                values = packed
        id_bytes, weight_bytes = ids.tobytes(), weights.tobytes()
        main_crc = zlib.crc32(weight_bytes, zlib.crc32(id_bytes))
        self._postfile.write(_HEADER.pack(MAGIC, count, flags, main_crc, zlib.crc32(values)))
        self._postfile.write(id_bytes)
        self._postfile.write(weight_bytes)
        self._postfile.write(values)
        terminfo.set_extent(start, self._postfile.tell() - start)
        self._terminfo = None
        return terminfo


class PostingArrays:
    """One posting list as arrays over the posting file's buffer (no copy when memory-mapped)."""

    def __init__(self, postfile: Any, offset: int, length: int) -> None:
        buf = getattr(postfile, "_buf", None)
        if buf is None:  # not memory-mapped: read the extent once
            buf, base = postfile.get(offset, length), 0
        else:
            base = offset
        name = getattr(postfile, "_name", None)
        if length < _HEADER.size or base + length > len(buf):
            raise CorruptPostingsError(name, offset, "is cut short")
        magic, count, flags, main_crc, values_crc = _HEADER.unpack_from(buf, base)
        start = base + _HEADER.size
        if magic != MAGIC or start + 8 * count > base + length:
            raise CorruptPostingsError(name, offset, "is not in this tool's format")
        self.count = count
        verified = _verified(postfile)
        if offset not in verified:
            if zlib.crc32(memoryview(buf)[start : start + 8 * count]) != main_crc:
                raise CorruptPostingsError(name, offset, "does not match its checksum")
            verified.add(offset)
        self._buf = buf
        self._ids_start = start
        self._ids: array[int] | None = None
        self._weights: array[float] | None = None
        self._values_start = start + 8 * count
        self._values_end = base + length
        self._values_crc = values_crc
        self._has_values = bool(flags & _HAS_VALUES)
        self._compressed = bool(flags & _COMPRESSED)
        self._values: Any = None
        self._offsets: array[int] | None = None
        self._name = name
        self._offset = offset

    @property
    def ids(self) -> array[int]:
        """The document numbers, ascending."""
        if self._ids is None:
            start = self._ids_start
            self._ids = _array("I", self._buf[start : start + 4 * self.count])
        return self._ids

    @property
    def weights(self) -> array[float]:
        """The weights (float32, as Whoosh keeps them), in the order of `ids`."""
        if self._weights is None:
            start = self._ids_start + 4 * self.count
            self._weights = _array("f", self._buf[start : start + 4 * self.count])
        return self._weights

    def numpy_arrays(self, numpy: Any) -> tuple[Any, Any]:
        """`ids` and `weights` as numpy arrays over the file's buffer (no copy when mapped)."""
        start, count = self._ids_start, self.count
        ids = numpy.frombuffer(self._buf, numpy.dtype("<u4"), count, start)
        weights = numpy.frombuffer(self._buf, numpy.dtype("<f4"), count, start + 4 * count)
        return ids, weights

    def value(self, index: int) -> bytes:
        """The encoded value (positions) of the `index`-th posting."""
        if not self._has_values:
            return b""
        offsets = self._offsets
        if offsets is None:
            offsets = self._load_offsets()
        start = 4 * (self.count + 1)
        return bytes(self._values[start + offsets[index] : start + offsets[index + 1]])

    def _load_offsets(self) -> array[int]:
        region: Any = memoryview(self._buf)[self._values_start : self._values_end]
        if zlib.crc32(region) != self._values_crc:
            raise CorruptPostingsError(self._name, self._offset, "does not match its checksum")
        if self._compressed:
            try:
                region = zlib.decompress(region)
            except zlib.error as exc:
                raise CorruptPostingsError(
                    self._name, self._offset, f"cannot be decompressed ({exc})"
                ) from None
        offsets = _array("I", region[: 4 * (self.count + 1)])
        if offsets[-1] != len(region) - 4 * (self.count + 1):
            raise CorruptPostingsError(self._name, self._offset, "has inconsistent positions")
        self._values = region
        self._offsets = offsets
        return offsets


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
        return self.arrays.ids[self._i]

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
