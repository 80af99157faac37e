"""The stored records' column (`search.whoosh_ext.columns`) gives back exactly what was written,
and a flipped byte anywhere in it is an error, never a wrong value."""

from __future__ import annotations

import io
import random

import pytest
from whoosh.filedb.structfile import BufferFile, StructFile

from search.whoosh_ext.columns import DICTIONARY_BYTES, CorruptColumnError
from search.whoosh_ext.columns import DictionaryCompressedColumn as Column


def _write(values: dict[int, bytes], doccount: int) -> bytes:
    stream = io.BytesIO()
    writer = Column().writer(StructFile(stream))
    for docnum in sorted(values):
        writer.add(docnum, values[docnum])
    writer.finish(doccount)
    return stream.getvalue()


def _read(data: bytes, doccount: int) -> list[bytes]:
    return list(Column().reader(BufferFile(data), 0, len(data), doccount))


def _article(rng: random.Random, number: int) -> bytes:
    words = ["oil", "prices", "harbour", "storm", "market", "vote", "court", "rain"]
    text = " ".join(rng.choice(words) for _ in range(rng.randrange(5, 80)))
    return f"https://example.com/news/{number}|{text}".encode()


@pytest.mark.parametrize("count", [1, 5, 2_000])  # below and well beyond the dictionary's size
def test_values_come_back_exactly_with_the_documents_without_one_empty(count: int) -> None:
    rng = random.Random(count)
    values = {n: _article(rng, n) for n in range(count) if n % 3 != 1}
    data = _write(values, count + 2)
    assert _read(data, count + 2) == [values.get(n, b"") for n in range(count + 2)]
    if count == 2_000:
        assert sum(map(len, values.values())) > 2 * DICTIONARY_BYTES
        assert len(data) < sum(map(len, values.values())) / 3  # the dictionary pays


def test_a_column_without_values_reads_as_empty() -> None:
    assert _read(_write({}, 3), 3) == [b"", b"", b""]


def test_a_flipped_byte_anywhere_is_an_error_never_a_wrong_value() -> None:
    rng = random.Random(7)
    values = {n: _article(rng, n) for n in range(12)}
    expected = [values[n] for n in range(12)]
    data = _write(values, 12)
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x20
        try:
            found = _read(bytes(damaged), 12)
        except CorruptColumnError:
            continue
        assert found == expected, offset
