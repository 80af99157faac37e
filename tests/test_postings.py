"""Our posting format (`search.whoosh_ext.postings`) holds what Whoosh's would, and a damaged
posting list is reported, never served."""

from __future__ import annotations

import io
import itertools
import struct
import subprocess
import sys
from array import array
from pathlib import Path
from typing import Any

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import fields, index
from whoosh.codec.whoosh3 import W3TermInfo
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.formats import Existence, Frequency, Positions
from whoosh.system import pack_uint

from search import IndexCorruptError, SearchEngine, whoosh_ext
from search.evaluation import Evaluator
from search.querying import parse_query
from search.storage import CHECKSUMS_NAME, generation_dir, read_manifest
from search.whoosh_ext.postings import ArrayPostingsWriter, PostingArrays
from tests.conftest import WriteArticle

_HEADER = struct.Struct("<2sBIIII")


def _documents() -> list[dict[str, str]]:
    words = ["oil", "prices", "harbour", "storm", "market", "vote"]
    return [
        {
            "body": " ".join(words[(number * k) % 6] for k in range(1, 2 + number % 9)),
            "title": f"title {words[number % 6]} {number}",
            "tag": f"t{number % 4}",
        }
        for number in range(400)
    ]


def test_posting_lists_hold_exactly_what_whoosh_writes(tmp_path: Path) -> None:
    schema = fields.Schema(
        body=fields.TEXT(), title=fields.TEXT(field_boost=2.5), tag=fields.ID(stored=True)
    )
    (tmp_path / "ours").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = whoosh_ext.create_in(str(tmp_path / "ours"), schema)
    plain = index.create_in(str(tmp_path / "whoosh"), schema)
    for ix in (ours, plain):
        with ix.writer() as writer:
            for document in _documents():
                writer.add_document(**document)
    with ours.reader() as mine, plain.reader() as theirs:
        terms = list(theirs.all_terms())
        assert list(mine.all_terms()) == terms
        for fieldname, text in terms:
            info, expected = mine.term_info(fieldname, text), theirs.term_info(fieldname, text)
            assert (
                info.doc_frequency(),
                info.weight(),
                info.min_length(),
                info.max_length(),
                info.max_weight(),
            ) == (
                expected.doc_frequency(),
                expected.weight(),
                expected.min_length(),
                expected.max_length(),
                expected.max_weight(),
            )
            postings, reference = mine.postings(fieldname, text), theirs.postings(fieldname, text)
            assert list(postings.all_items()) == list(reference.all_items())
            postings, reference = mine.postings(fieldname, text), theirs.postings(fieldname, text)
            if reference.supports("positions"):  # kept as arrays of gaps, given back as numbers
                expected_positions = [list(p) for _, p in reference.items_as("positions")]
                arrays = postings.arrays
                assert arrays._gaps_of_positions
                assert [arrays.positions(i) for i in range(arrays.count)] == expected_positions
                reference = theirs.postings(fieldname, text)
            while reference.is_active():
                assert (postings.id(), postings.weight()) == (reference.id(), reference.weight())
                postings.next()
                reference.next()
            assert not postings.is_active()


def _posting_lists(segment: Path) -> list[tuple[int, int, int, int]]:
    """(offset, count, flags, offset of the values) of every posting list in a segment file."""
    ix = whoosh_ext.open_dir(str(segment.parent))
    data = segment.read_bytes()
    found = []
    with ix.reader() as reader:
        for fieldname, text in reader.all_terms():
            info = reader.term_info(fieldname, text)
            postings = reader.postings(fieldname, text)
            arrays = postings.arrays
            header = bytes(arrays._buf[arrays._offset : arrays._offset + _HEADER.size])
            start = data.index(header)  # unique: it holds the list's checksums
            _, flags, count, _, _, _ = _HEADER.unpack_from(data, start)
            assert count == info.doc_frequency()
            found.append((start, count, flags, start + arrays._values_start - arrays._offset))
    ix.close()
    return found


@pytest.fixture
def news_index(tmp_path: Path, corpus_dir: Path, write_article: WriteArticle) -> Path:
    for number in range(30):
        write_article(title=f"Oil prices rise in the harbour {number}", quality=50 + number)
    with SearchEngine(tmp_path / "index") as engine:
        engine.index([corpus_dir])
    return tmp_path / "index"


def _segment(index_dir: Path) -> Path:
    (segment,) = generation_dir(index_dir, read_manifest(index_dir)).glob("*.seg")
    return segment


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("with_checksum_file", [True, False])
def test_a_flipped_byte_in_document_numbers_is_a_corrupt_index(
    news_index: Path, with_checksum_file: bool
) -> None:
    segment = _segment(news_index)
    lists = _posting_lists(segment)
    assert len(lists) > 10
    for offset, count, _, _ in lists:
        # The gap to the second document's number, or the first document's number.
        _flip(segment, offset + _HEADER.size if count > 1 else offset + 7)
    if not with_checksum_file:  # then only the posting lists' own checksums can tell
        (segment.parent / CHECKSUMS_NAME).unlink()
    with SearchEngine(news_index) as engine, pytest.raises(IndexCorruptError) as raised:
        engine.search("oil")
    if with_checksum_file:
        assert raised.value.path == segment
    else:
        assert "does not match its checksum" in str(raised.value)


def test_positions_are_read_only_for_phrases(news_index: Path) -> None:
    segment = _segment(news_index)
    (segment.parent / CHECKSUMS_NAME).unlink()  # leave it to the posting lists' checksums
    with_positions = [values for _, _, flags, values in _posting_lists(segment) if flags & 1]
    assert with_positions
    for values in with_positions:  # the first stored byte of every list's positions
        _flip(segment, values)
    with SearchEngine(news_index) as engine:
        assert engine.search("oil harbour").total == 30
        with pytest.raises(IndexCorruptError, match="does not match its checksum"):
            engine.search('"oil prices"')


def test_check_reads_every_posting_list_against_its_checksums(news_index: Path) -> None:
    segment = _segment(news_index)
    (segment.parent / CHECKSUMS_NAME).unlink()  # leave it to the posting lists' checksums
    with SearchEngine(news_index) as engine:
        assert engine.check().ok
    values = next(values for _, _, flags, values in _posting_lists(segment) if flags & 1)
    _flip(segment, values)
    with SearchEngine(news_index) as engine:
        report = engine.check()
    assert not report.ok
    assert [problem.path for problem in report.problems] == [str(segment)]
    assert "does not match its checksum" in report.problems[0].message


def test_a_segment_file_that_grew_is_reported_when_the_index_is_opened(news_index: Path) -> None:
    segment = _segment(news_index)
    with segment.open("ab") as handle:  # Whoosh would read on without noticing
        handle.write(b"\0" * 64)
    with SearchEngine(news_index) as engine, pytest.raises(IndexCorruptError) as raised:
        engine.search("oil")
    assert raised.value.path == segment
    assert "bytes long, not" in str(raised.value)


def test_scoring_in_python_and_with_numpy_gives_the_same_scores(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    words = ["oil", "prices", "harbour", "storm", "market", "vote", "rain", "court"]
    paths = []
    for number in range(300):
        title = " ".join(words[(number * k + k * k) % 8] for k in range(1, 3 + number % 7))
        paths.append(write_article(title=title, excerpt=f"{title} {words[number % 8]}"))
    index_dir = tmp_path / "index"
    with SearchEngine(index_dir) as engine:
        engine.index([corpus_dir])
        for path in paths[::7]:  # deleted documents stay in the posting lists
            path.unlink()
        engine.index([corpus_dir])
    ix = whoosh_ext.open_dir(str(generation_dir(index_dir, read_manifest(index_dir))))
    with ix.searcher() as searcher:
        assert searcher.reader().has_deletions()
        texts = [*words, "oil prices", "storm OR court", '"oil prices"', "pri*"]
        for text in texts:
            parsed = parse_query(text)
            in_python = Evaluator(searcher, vectorise=False).matches(parsed)
            with_numpy = Evaluator(searcher, vectorise=True).matches(parsed)
            assert [m.scores for m in in_python] == [m.scores for m in with_numpy], text
            assert any(m.scores for m in in_python), text
    ix.close()


def test_threads_that_start_scoring_together_all_get_a_complete_numpy() -> None:
    # The first search of a server's threads may import numpy in one thread while the others
    # score: they must wait for the import, not use the half-made module (an HTTP 500 under load).
    script = """
import sys, threading
from search import evaluation
assert "numpy" not in sys.modules
barrier = threading.Barrier(8)
failures = []
def score():
    barrier.wait()
    try:
        evaluation._numpy(0, now=True).frombuffer(b"\\\\0\\\\0\\\\0\\\\0", "<u4")
    except Exception as exc:
        failures.append(repr(exc))
threads = [threading.Thread(target=score) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(failures)
"""
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize(
    ("ids", "weights"),
    [
        ([7], [1.0]),  # a single posting of a field that is not scored
        (list(range(0, 3000, 3)), [1.0] * 1000),  # gaps of one byte, no weights stored
        ([5, 300, 70_000, 4_000_000_000], [0.5, 1.5, 127.5, 3.0]),  # gaps of 2 and 4 bytes
        ([1, 2, 3], [0.5, 20_000.0, 32_767.5]),  # half-units that need two bytes
        ([1, 2, 3, 9], [0.3, 2.5, 1e30, 7.0]),  # weights that are not half-units: float32
        # Lists long enough to be encoded with numpy: the same choices.
        ([n * n for n in range(200)], [0.5 * (n % 700) + 0.5 for n in range(200)]),
        ([n * 70_000 for n in range(100)], [2.5 if n % 2 else 0.3 for n in range(100)]),
        (list(range(100)), [1.0] * 99 + [1e30]),
    ],
)
def test_the_compact_arrays_give_back_exactly_the_ids_and_float32_weights(
    ids: list[int], weights: list[float]
) -> None:
    stream = io.BytesIO()
    writer = ArrayPostingsWriter(StructFile(stream), blocklimit=128, compression=0)
    writer.start_postings(Frequency(), W3TermInfo())
    for id_, weight in zip(ids, weights, strict=True):
        writer.add_posting(id_, weight, b"")
    offset, length = writer.finish_postings().extent()
    expected_weights = array("f", weights)  # what Whoosh keeps: float32
    arrays = PostingArrays(BufferFile(stream.getvalue()), offset, length)
    assert (list(arrays.ids), arrays.weights) == (ids, expected_weights)
    numpy_ids, numpy_weights = arrays.numpy_arrays(numpy)
    assert numpy_ids.tolist() == ids
    assert numpy_weights.dtype == numpy.float32
    assert numpy_weights.tobytes() == expected_weights.tobytes()  # bit for bit


# -- joining the lists of consecutive segments ---------------------------------------------------

_Posting = tuple[int, float, bytes]


def _write_lists(lists: list[list[_Posting]], format_: Any) -> tuple[bytes, list[tuple[int, int]]]:
    """The bytes of a posting file holding `lists`, and each one's (offset, length)."""
    stream = io.BytesIO()
    writer = ArrayPostingsWriter(StructFile(stream), blocklimit=128, compression=0)
    extents = []
    for postings in lists:
        writer.start_postings(format_, W3TermInfo())
        for id_, weight, value in postings:
            writer.add_posting(id_, weight, value)
        extents.append(writer.finish_postings().extent())
    return stream.getvalue(), extents


@st.composite
def _segment_lists(draw: st.DrawFn) -> tuple[Any, list[int], list[list[_Posting]]]:
    """A format, then for each of a few segments its number of documents and one term's list."""
    kind = draw(st.sampled_from(["positions", "frequency", "existence", "mixed"]))
    formats = {"positions": Positions(), "frequency": Frequency(), "existence": Existence()}
    format_ = formats.get(kind, Positions())
    sizes, lists = [], []
    for _ in range(draw(st.integers(2, 4))):
        size = draw(st.sampled_from([1, 5, 200, 3_000, 100_000]))
        ids = sorted(draw(st.sets(st.integers(0, size - 1), min_size=1, max_size=150)))
        weight_kind = draw(st.sampled_from(["one", "halves", "large halves", "float"]))
        postings = []
        for id_ in ids:
            weight = {
                "one": 1.0,
                "halves": draw(st.integers(1, 40)) / 2,
                "large halves": draw(st.integers(1, 60_000)) / 2,
                "float": draw(st.floats(0.25, 1e6, width=32)),
            }[weight_kind]
            if kind == "frequency" or (kind == "mixed" and draw(st.booleans())):
                value = pack_uint(draw(st.integers(1, 300)))
            elif kind in ("positions", "mixed"):
                spread = draw(st.sampled_from([10, 1_000, 100_000]))
                positions = draw(st.sets(st.integers(0, spread), min_size=1, max_size=8))
                value = Positions().encode(sorted(positions))
            else:
                value = b""
            postings.append((id_, weight, value))
        sizes.append(size)
        lists.append(postings)
    return format_, sizes, lists


@settings(max_examples=300, deadline=None)
@given(_segment_lists())
def test_lists_joined_are_the_bytes_of_the_whole_list_written_at_once(
    case: tuple[Any, list[int], list[list[_Posting]]],
) -> None:
    # Segments are joined term by term (see search.whoosh_ext.merging): a term's lists, each
    # with its ids shifted by where its segment starts, must give exactly the list that writing
    # all the postings at once gives, whichever way they are joined (stored arrays end to end,
    # or decoded and encoded again when their widths or kinds differ).
    format_, sizes, lists = case
    starts = list(itertools.accumulate(sizes, initial=0))
    whole = [
        (id_ + start, weight, value)
        for postings, start in zip(lists, starts, strict=False)
        for id_, weight, value in postings
    ]
    expected, ((offset, length),) = _write_lists([whole], format_)
    data, extents = _write_lists(lists, format_)
    stream = io.BytesIO()
    writer = ArrayPostingsWriter(StructFile(stream), blocklimit=128, compression=0)
    writer._format = format_
    parts = [
        (PostingArrays(BufferFile(data), *extent), start)
        for extent, start in zip(extents, starts, strict=False)
    ]
    joined_offset, joined_length = writer.write_joined(parts)
    assert (joined_offset, joined_length) == (0, len(stream.getvalue()))
    assert stream.getvalue() == expected[offset : offset + length]
