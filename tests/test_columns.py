"""The stored records' column (`search.whoosh_ext.columns`) gives back exactly what was written,
and a flipped byte anywhere in it is an error, never a wrong value."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from whoosh.filedb.structfile import BufferFile, StructFile

from search import IndexCorruptError, SearchEngine, whoosh_ext
from search.storage import CHECKSUMS_NAME, generation_dir, read_manifest
from search.whoosh_ext.columns import (
    DICTIONARY_BYTES,
    CorruptColumnError,
    DictionaryCompressedColumn,
    ValueTableColumn,
)
from tests.conftest import WriteArticle

Column = DictionaryCompressedColumn | ValueTableColumn


def _write(values: dict[int, bytes], doccount: int, column: Column | None = None) -> bytes:
    stream = io.BytesIO()
    writer = (column or DictionaryCompressedColumn()).writer(StructFile(stream))
    for docnum in sorted(values):
        writer.add(docnum, values[docnum])
    writer.finish(doccount)
    return stream.getvalue()


def _read(data: bytes, doccount: int, column: Column | None = None) -> list[bytes]:
    reader = (column or DictionaryCompressedColumn()).reader(
        BufferFile(data), 0, len(data), doccount
    )
    return list(reader)


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


@pytest.mark.parametrize("distinct", [3, 300, 70_000])  # numbers of 1, 2 and 4 bytes
def test_a_value_table_gives_back_every_value_however_many_distinct_ones(distinct: int) -> None:
    values = {n: f"provider {n % distinct}".encode() for n in range(0, 75_000) if n % 5}
    data = _write(values, 75_003, ValueTableColumn())
    assert _read(data, 75_003, ValueTableColumn()) == [values.get(n, b"") for n in range(75_003)]
    if distinct == 3:
        assert len(data) < 76_000  # a byte per document, and three values


@pytest.mark.parametrize("column", [DictionaryCompressedColumn(), ValueTableColumn()])
def test_a_flipped_byte_anywhere_is_an_error_never_a_wrong_value(column: Column) -> None:
    rng = random.Random(7)
    values = {n: _article(rng, n % 5) for n in range(12)}
    expected = [values[n] for n in range(12)]
    data = _write(values, 12, column)
    for offset in range(len(data)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x20
        try:
            found = _read(bytes(damaged), 12, column)
        except CorruptColumnError:
            continue
        assert found == expected, offset


def test_a_damaged_stored_article_is_a_corrupt_index_not_a_wrong_hit(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    for number in range(5):
        write_article(title=f"Oil prices rise in the harbour {number}", quality=50 + number)
    index_dir = tmp_path / "index"
    with SearchEngine(index_dir) as engine:
        engine.index([corpus_dir])
        assert engine.search("oil", limit=10).total == 5
    generation = generation_dir(index_dir, read_manifest(index_dir))
    (generation / CHECKSUMS_NAME).unlink()  # leave it to the column's own checksums
    ix = whoosh_ext.open_dir(str(generation))
    (segment,) = ix._read_toc().segments
    files = segment.open_compound_file(ix.storage)
    start, _ = files.range(f"{segment.segment_id()}.record.col")
    files.close()
    ix.close()
    (path,) = generation.glob("*.seg")
    data = bytearray(path.read_bytes())
    data[start + 8] ^= 0x01  # inside the first article's compressed record
    path.write_bytes(bytes(data))
    damaged = pytest.raises(IndexCorruptError, match="stored value of document")
    with SearchEngine(index_dir) as engine, damaged:
        engine.search("oil", limit=10)
