"""Our extensions of Whoosh (`search.whoosh_ext`) do what they say, on small real indexes, and
only for our own objects: Whoosh's classes used directly behave as Whoosh ships them."""

from __future__ import annotations

import io
import pickle
import random
from array import array
from pathlib import Path
from typing import Any

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import fields, index, query
from whoosh.codec import whoosh3
from whoosh.matching import combo
from whoosh.reading import TermNotFound
from whoosh.support.levenshtein import damerau_levenshtein
from whoosh.util.numeric import byte_to_length

from search import whoosh_ext
from search.pipeline import prepare_file
from search.schema import build_schema
from search.vocabulary import Vocabulary, bounded_edits
from search.whoosh_ext import matchers
from search.whoosh_ext import queries as fixed
from search.whoosh_ext.codec import RECENT_TERMS, FieldLengthsReader, RecentTermsReader
from search.whoosh_ext.files import InPlaceBufferFile
from search.whoosh_ext.postings import ArrayLeafMatcher
from tests.conftest import article_text


@pytest.fixture
def small_index(tmp_path: Path) -> index.Index:
    ix = whoosh_ext.create_in(
        str(tmp_path), fields.Schema(body=fields.TEXT(), tag=fields.ID(stored=True))
    )
    with ix.writer() as writer:
        for number in range(300):
            words = ["alpha"] if number % 2 == 0 else ["beta"]
            if number % 3 == 0:
                words.append("gamma")
            if number >= 3 and number % 2 == 1:
                words.append("delta")  # starts at 3, which gamma also has
            writer.add_document(body=" ".join(words), tag=str(number))
    return ix


def test_and_not_drops_a_first_document_the_excluded_side_has(small_index: index.Index) -> None:
    # gamma starts earlier (0) than delta (3), and has delta's first document too.
    terms = (query.Term("body", "delta"), query.Term("body", "gamma"))
    with small_index.searcher() as searcher:
        found = {int(hit["tag"]) for hit in searcher.search(fixed.AndNot(*terms), limit=None)}
        # Whoosh's own query keeps its bug: we changed nothing of Whoosh's.
        upstream = {int(hit["tag"]) for hit in searcher.search(query.AndNot(*terms), limit=None)}
    assert found == {n for n in range(3, 300) if n % 2 == 1 and n % 3 != 0}
    assert upstream == found | {3}


def test_parsed_queries_use_the_fixed_classes(small_index: index.Index) -> None:
    from whoosh import qparser

    parser = qparser.QueryParser("body", small_index.schema)
    parsed = fixed.with_fixed_matchers(parser.parse("(delta OR alp*) ANDNOT gamma ANDMAYBE beta"))
    kinds = set()
    stack = [parsed]
    while stack:
        node = stack.pop()
        kinds.add(type(node))
        stack.extend(node.children() if not node.is_leaf() else ())
    assert {fixed.AndNot, fixed.Or, fixed.AndMaybe, fixed.Prefix} <= kinds
    assert not {query.AndNot, query.Or, query.AndMaybe, query.Prefix} & kinds
    with small_index.searcher() as searcher:
        expected = {n for n in range(300) if n % 3 != 0 and (n % 2 == 0 or n >= 3)}
        found = {int(hit["tag"]) for hit in searcher.search(parsed, limit=None)}
    assert found == expected


def test_and_maybe_keeps_the_optional_score_after_skip_to(small_index: index.Index) -> None:
    with small_index.searcher() as searcher:
        required = searcher.postings("body", "gamma")
        optional = searcher.postings("body", "alpha")
        matcher = matchers.AndMaybeMatcher(required, optional)
        matcher.skip_to(5)  # gamma's next document is 6, which alpha also has
        assert matcher.id() == 6
        both = matcher.score()
        alone = searcher.postings("body", "gamma")
        alone.skip_to(6)
        assert both > alone.score()


def test_array_union_bound_is_the_sum_of_its_parts(small_index: index.Index) -> None:
    with small_index.searcher() as searcher:
        parts = [searcher.postings("body", word) for word in ("alpha", "beta", "gamma")]
        union = matchers.ArrayUnionMatcher(parts, searcher.doc_count_all())
        assert union.max_quality() == pytest.approx(sum(part.max_quality() for part in parts))
        # Whoosh's own matcher, used directly, still returns the largest part's bound.
        parts = [searcher.postings("body", word) for word in ("alpha", "beta", "gamma")]
        upstream = combo.ArrayUnionMatcher(parts, searcher.doc_count_all())
        assert upstream.max_quality() == pytest.approx(max(part.max_quality() for part in parts))


def test_listing_ids_gives_what_stepping_through_gives(small_index: index.Index) -> None:
    with small_index.searcher() as searcher:
        for build in (
            lambda: searcher.postings("body", "gamma"),
            lambda: matchers.UnionMatcher(
                searcher.postings("body", "gamma"), searcher.postings("body", "beta")
            ),
        ):
            stepped = []
            matcher = build()
            while matcher.is_active():
                stepped.append(matcher.id())
                matcher.next()
            assert list(build().all_ids()) == stepped


def test_buffer_files_read_in_place_like_a_file() -> None:
    data = b"line one\nline two\n" + pickle.dumps({"a": [1, 2]}, 0) + b"x" * 10_000 + b"\nend"
    buffer = InPlaceBufferFile(memoryview(data))
    assert buffer.get(5, 3) == b"one"
    assert buffer.readline() == b"line one\n"
    assert buffer.read(9) == b"line two\n"
    assert buffer.read_pickle() == {"a": [1, 2]}
    assert buffer.readline() == b"x" * 10_000 + b"\n"
    assert buffer.read() == b"end"
    assert buffer.read() == b""
    buffer.seek(-3, io.SEEK_END)
    assert (buffer.tell(), buffer.read(2)) == (len(data) - 3, b"en")
    buffer.seek(0)
    assert buffer.read_int() == int.from_bytes(b"line", "big", signed=True)


def test_buffer_files_read_sequentially_without_copying() -> None:
    backing = bytearray(b"a" * 100)
    buffer = InPlaceBufferFile(memoryview(backing))
    assert buffer.read(10) == b"a" * 10
    backing[10:20] = b"b" * 10  # a copy made when reading started would not see this
    assert buffer.read(10) == b"b" * 10


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="abcde", max_size=12),
    st.text(alphabet="abcde", max_size=12),
    st.integers(1, 4),
)
def test_bounded_edits_agree_with_damerau_levenshtein(a: str, b: str, limit: int) -> None:
    exact = damerau_levenshtein(a, b)
    assert bounded_edits(a, b, limit) == min(exact, limit + 1)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcde", min_size=1, max_size=12), st.data())
def test_bounded_edits_agree_with_damerau_levenshtein_on_close_words(
    word: str, data: st.DataObject
) -> None:
    # Typos are a few edits, swapped neighbours among them: unrelated words seldom show them.
    typed = list(word)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, max(len(typed) - 1, 0)))
        edit = data.draw(st.sampled_from(["swap", "insert", "delete", "replace"]))
        if edit == "swap" and at + 1 < len(typed):
            typed[at], typed[at + 1] = typed[at + 1], typed[at]
        elif edit == "insert":
            typed.insert(at, data.draw(st.sampled_from("abcde")))
        elif edit == "delete" and typed:
            del typed[at]
        elif edit == "replace" and typed:
            typed[at] = data.draw(st.sampled_from("abcde"))
    other = "".join(typed)
    exact = damerau_levenshtein(word, other)
    for limit in (1, 2, 3):
        assert bounded_edits(word, other, limit) == min(exact, limit + 1)


_LETTERS = "abcq\u03b1"  # q and Greek alpha share a bit of the letter sets that screen candidates


@pytest.mark.parametrize("with_numpy", [False, True], ids=["python", "numpy"])
@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.text(alphabet=_LETTERS, min_size=1, max_size=9), max_size=60),
    st.text(alphabet=_LETTERS, min_size=1, max_size=9),
    st.integers(1, 2),
)
def test_the_vocabulary_finds_every_close_word(
    with_numpy: bool, words: set[str], word: str, limit: int
) -> None:
    everything = sorted(
        (known, edits)
        for known in words
        if known != word
        and known[0] == word[0]
        and (edits := damerau_levenshtein(word, known)) <= limit
    )
    found = Vocabulary(words).within(word, limit, numpy=numpy if with_numpy else None)
    assert found == sorted(everything, key=lambda p: (p[1], p[0]))


def test_field_lengths_read_once_agree_with_the_column(tmp_path: Path) -> None:
    schema = fields.Schema(body=fields.TEXT(), note=fields.TEXT(), tag=fields.ID(stored=True))
    ix = whoosh_ext.create_in(str(tmp_path), schema)
    with ix.writer() as writer:
        for number in range(50):
            body = " ".join(["word"] * (number % 7)) or None  # some documents without a body
            if body is None:
                writer.add_document(tag=str(number))
            else:
                writer.add_document(body=body, tag=str(number))
    with ix.searcher() as searcher:
        reader = searcher.reader()
        perdoc = reader._perdoc
        assert isinstance(perdoc, FieldLengthsReader)
        column = perdoc.column_reader("_body_len", whoosh3.LENGTHS_COLUMN)
        for docnum in range(reader.doc_count_all()):
            code = column[docnum]
            expected = byte_to_length(code) if code else None
            assert reader.doc_field_length(docnum, "body") == expected
            assert (expected or 0) == docnum % 7  # what was written
            # A field no document has gives the default.
            assert reader.doc_field_length(docnum, "note", 9) == 9
        # Searching still finds every document that has a body.
        hits = searcher.search(query.Term("body", "word"), limit=None)
        assert len(hits) == sum(1 for n in range(50) if n % 7)


def test_terms_remembered_answer_as_the_term_file_does(tmp_path: Path) -> None:
    """Twice as many distinct terms as the memo holds, each asked several ways, in rounds: what
    the remembering reader answers is what Whoosh's own reader of the same file answers."""
    words = [f"w{number}" for number in range(2 * RECENT_TERMS)]
    ix = whoosh_ext.create_in(str(tmp_path), fields.Schema(body=fields.TEXT()))
    with ix.writer() as writer:
        for number in range(len(words)):
            writer.add_document(body=" ".join(words[: number + 1]))
    with ix.searcher() as searcher:
        reader = searcher.reader()
        terms = reader._terms
        assert isinstance(terms, RecentTermsReader)
        name = reader._segment.make_filename(whoosh3.W3Codec.TERMS_EXT)
        storage = reader._storage
        plain = whoosh3.W3TermsReader(
            terms._codec, storage.open_file(name), storage.file_length(name), None
        )
        asked = [*words, "missing", *reversed(words), "missing"]
        for _ in range(2):
            for word in asked:
                key = ("body", word.encode())
                assert (key in terms) == (key in plain)
                assert reader.doc_frequency("body", word) == (
                    plain.doc_frequency(*key) if key in plain else 0
                )
                if key in plain:
                    assert vars(terms.term_info(*key)) == vars(plain.term_info(*key))
                else:
                    with pytest.raises(TermNotFound):
                        terms.term_info(*key)
        assert reader.doc_frequency("body", "w0") == len(words)


def test_posting_lists_are_read_in_place_from_the_memory_map(small_index: index.Index) -> None:
    with small_index.searcher() as searcher:
        postings = searcher.postings("body", "gamma")
        assert isinstance(postings, ArrayLeafMatcher)
        assert isinstance(postings.arrays._buf, memoryview)  # the map, not a copy
        ids, _ = postings.arrays.numpy_arrays(numpy)
        assert ids.tolist() == list(range(0, 300, 3))
        assert list(postings.all_ids()) == list(range(0, 300, 3))


def test_a_union_that_narrows_to_and_maybe_narrows_to_the_fixed_one(
    small_index: index.Index,
) -> None:
    with small_index.searcher() as searcher:
        weak, strong = sorted(
            (searcher.postings("body", word) for word in ("gamma", "alpha")),
            key=lambda postings: postings.max_quality(),
        )
        assert weak.max_quality() < strong.max_quality()
        between = (weak.max_quality() + strong.max_quality()) / 2
        narrowed = matchers.UnionMatcher(strong, weak).replace(between)
        assert type(narrowed) is matchers.AndMaybeMatcher


def test_postings_spilled_to_disk_come_back_complete(tmp_path: Path) -> None:
    schema = fields.Schema(body=fields.TEXT(), tag=fields.ID(stored=True))
    ix = whoosh_ext.create_in(str(tmp_path), schema)
    words = [f"w{number}" for number in range(40)]
    with ix.writer(limitmb=1) as writer:  # about 7,000 postings fill a megabyte: several runs
        assert isinstance(writer.pool, whoosh_ext.writing.TermPostingPool)
        for number in range(3_000):
            writer.add_document(
                body=" ".join(words[number % 40 : number % 40 + 5]), tag=str(number)
            )
        assert writer.pool.runs  # the buffer did spill
    with ix.searcher() as searcher:
        for position, word in enumerate(words):
            expected = sum(1 for n in range(3_000) if n % 40 <= position < n % 40 + 5)
            assert searcher.doc_frequency("body", word) == expected
            assert len(list(searcher.postings("body", word).all_ids())) == expected


def _everything_indexed(ix: index.Index) -> list[Any]:
    with ix.reader() as reader:
        found: list[Any] = []
        for fieldname, term in reader.all_terms():
            info = reader.term_info(fieldname, term)
            found.append((fieldname, term, info.weight(), info.min_length(), info.max_length()))
            postings = reader.postings(fieldname, term)
            while postings.is_active():
                found.append((postings.id(), postings.weight(), postings.value()))
                postings.next()
        found.append([reader.doc_field_length(n, "body") for n in range(reader.doc_count_all())])
        return found


def test_segments_merged_and_spilled_hold_what_one_writer_would_write(tmp_path: Path) -> None:
    schema = fields.Schema(body=fields.TEXT(phrase=True), tag=fields.KEYWORD(stored=True))
    texts = [
        (" ".join(f"w{(number * 7 + k) % 60}" for k in range(number % 9 + 1)), f"t{number % 5}")
        for number in range(1_500)
    ]
    (tmp_path / "once").mkdir()
    (tmp_path / "parts").mkdir()
    at_once = whoosh_ext.create_in(str(tmp_path / "once"), schema)
    with at_once.writer() as writer:
        for body, tag in texts:
            writer.add_document(body=body, tag=tag)
    in_parts = whoosh_ext.create_in(str(tmp_path / "parts"), schema)
    for start in range(0, len(texts), 500):
        with in_parts.writer(limitmb=0.05) as writer:  # spills while adding and while merging
            writer.merge = False
            for body, tag in texts[start : start + 500]:
                writer.add_document(body=body, tag=tag)
    assert len(in_parts._segments()) == 3
    with in_parts.writer(limitmb=0.05) as writer:
        writer.optimize = True  # merges the three segments' postings through the pool
    assert len(in_parts._segments()) == 1
    assert _everything_indexed(in_parts) == _everything_indexed(at_once)


@given(st.lists(st.integers(0, 300), max_size=6), st.integers(1, 130))
def test_a_terms_lists_from_several_runs_come_in_whole_blocks(sizes: list[int], limit: int) -> None:
    pieces, number = [], 0
    for size in sizes:
        numbers = range(number, number + size)
        pieces.append(
            (
                array("I", numbers),
                array("f", [n / 2 for n in numbers]),
                [b"%d" % n for n in numbers],
            )
        )
        number += size
    blocks = list(whoosh_ext.writing._blocks(pieces, limit))
    for part in range(3):  # ids, weights and values, each in order and together
        assert [item for block in blocks for item in block[part]] == [
            item for piece in pieces for item in piece[part]
        ]
    assert all(len(block[0]) == limit for block in blocks[:-1])
    assert all(0 < len(block[0]) == len(block[1]) == len(block[2]) <= limit for block in blocks)


def test_our_writer_keeps_whooshs_boosts_stored_values_and_field_checks(tmp_path: Path) -> None:
    from whoosh.fields import UnknownFieldError

    schema = fields.Schema(body=fields.TEXT(stored=True), tag=fields.ID(stored=True))
    ix = whoosh_ext.create_in(str(tmp_path), schema)
    with ix.writer() as writer:
        writer.add_document(body="alpha beta", tag="plain")
        writer.add_document(body="alpha", tag="boosted", _body_boost=3.0, _stored_tag="shown")
        writer.add_document(body="alpha", tag="whole", _boost=2.0)
        with pytest.raises(UnknownFieldError):
            writer.add_document(body="alpha", color="red")
    with ix.searcher() as searcher:
        postings, weights = searcher.postings("body", "alpha"), []
        while postings.is_active():
            weights.append((postings.id(), postings.weight()))
            postings.next()
        assert weights == [(0, 1.0), (1, 3.0), (2, 2.0)]
        assert [searcher.stored_fields(n)["tag"] for n in range(3)] == ["plain", "shown", "whole"]
        assert searcher.doc_count() == 3


class _PostingAtATimeFieldWriter(whoosh3.W3FieldWriter):  # type: ignore[misc]
    def add(self, docnum: int, weight: float, vbytes: bytes, length: int | None) -> None:
        super().add(docnum, weight, vbytes, length)


class _PostingAtATimeCodec(whoosh_ext.codec.NewsCodec):
    def field_writer(self, storage: Any, segment: Any) -> Any:
        return _PostingAtATimeFieldWriter(self, storage, segment)


def _segment_part(ix: index.Index, extension: str) -> bytes:
    (segment,) = ix._segments()
    parts = segment.open_compound_file(ix.storage)
    data: bytes = parts.open_file(segment.make_filename(extension)).read()
    return data


def test_blocks_written_whole_are_the_bytes_of_postings_added_one_by_one(tmp_path: Path) -> None:
    schema = fields.Schema(body=fields.TEXT(phrase=True), tag=fields.KEYWORD(), n=fields.NUMERIC())
    written = []
    for name, codec in (("whole", None), ("one-by-one", _PostingAtATimeCodec())):
        (tmp_path / name).mkdir()
        ix = whoosh_ext.create_in(str(tmp_path / name), schema)
        # Written whole, spilled in runs that each hold part of most terms' lists.
        options = {"codec": codec} if codec else {"limitmb": 0.05}
        with ix.writer(**options) as writer:
            for number in range(700):  # lists of many blocks, weights and lengths varying
                body = " ".join(f"w{(number * k) % 97}" for k in range(1, number % 23 + 2))
                writer.add_document(body=body, tag=f"t{number % 3} x{number % 250}", n=number)
            spilled = bool(writer.pool.runs)
        written.append([_segment_part(ix, ext) for ext in (".pst", ".trm")])
        assert spilled == (codec is None)
    assert written[0] == written[1]


def test_searching_adds_no_attribute_to_whoosh_readers(
    tmp_path: Path, corpus_dir: Path, write_article: Any
) -> None:
    from search import SearchEngine
    from search.evaluation import Evaluator, top_documents
    from search.querying import parse_query
    from search.ranking import DEFAULT_RANKING
    from search.schema import record_reader
    from search.storage import generation_dir, read_manifest

    for number in range(5):
        write_article(title=f"Oil prices {number}", quality=40 + number)
    with SearchEngine(tmp_path / "index") as engine:
        engine.index([corpus_dir])
    location = generation_dir(tmp_path / "index", read_manifest(tmp_path / "index"))
    ix = whoosh_ext.open_dir(str(location))
    with ix.searcher() as searcher:
        readers = [leaf.reader() for leaf, _ in searcher.leaf_searchers()]
        before = [sorted(vars(reader)) for reader in readers]
        matches = Evaluator(searcher).matches(parse_query("oil"))
        ranked = top_documents(matches, DEFAULT_RANKING, 1.6e9, "relevance", 3)
        assert [record_reader(searcher)(doc.docnum)["quality"] for doc in ranked] == [44, 43, 42]
        # Whoosh's own cached properties (deleted_docs_set) may appear; nothing of ours may.
        added = [
            set(vars(reader)) - set(names) - set(dir(type(reader)))
            for reader, names in zip(readers, before, strict=True)
        ]
        assert added == [set()] * len(readers)


def _news_documents(folder: Path, count: int) -> list[dict[str, Any]]:
    """`count` articles as a build adds them: words common and rare, dated or not, with or
    without a quality, topics and providers that repeat."""
    rng = random.Random(7)
    words = [f"word{number}" for number in range(400)]
    folder.mkdir()
    documents = []
    for number in range(count):
        fields_: dict[str, Any] = {
            "title": " ".join(rng.choices(words, weights=range(400, 0, -1), k=rng.randint(3, 9))),
            "excerpt": " ".join(rng.choices(words, k=rng.randint(0, 30))),
            "webUrl": f"https://example.com/{number}",
            "topics": rng.sample(["Sport", "Oil", "Elections", "Health"], rng.randint(0, 2)),
            "provider": {"name": rng.choice(["Wire", "Daily", "Courier"])},
        }
        if number % 3:
            fields_["quality"] = rng.randint(0, 100)
        if number % 5:
            fields_["publishedDateTime"] = f"2024-0{1 + number % 9}-1{number % 10}T08:00:00Z"
        path = folder / f"{number:04d}.md"
        path.write_text(article_text(**fields_), encoding="utf-8")
        prepared = prepare_file(str(path), 1 << 20)
        assert prepared.fields is not None
        documents.append(prepared.fields)
    return documents


def _whole_index(ix: index.Index) -> list[Any]:
    """Everything a segment holds: each term's statistics and postings, each document's value
    of every column and length of every field, the field totals and the deleted documents."""
    with ix.reader() as reader:
        found = _everything_indexed(ix)
        for fieldname, term in reader.all_terms():
            info = reader.term_info(fieldname, term)
            found.append((info.doc_frequency(), info.max_weight(), info.min_id(), info.max_id()))
        for fieldname, field in ix.schema.items():
            if field.column_type is not None:
                column = reader.column_reader(fieldname, translate=False)
                found.append([column[n] for n in range(reader.doc_count_all())])
            if field.scorable:
                found.append(reader.field_length(fieldname))
        count = reader.doc_count_all()
        found.append((count, [n for n in range(count) if reader.is_deleted(n)]))
        return found


@pytest.mark.parametrize("shared_dictionaries", [True, False])
@pytest.mark.parametrize("sizes", [[300, 300], [1, 420, 179]])
def test_segments_joined_hold_what_one_writer_would_write(
    tmp_path: Path, sizes: list[int], shared_dictionaries: bool
) -> None:
    # A parallel build's workers write a segment each, which the indexer then joins into one
    # (`append_segments`): the result must be the segment one writer would have written, even
    # when the workers compressed their stored records against different dictionaries.
    documents = _news_documents(tmp_path / "articles", sum(sizes))
    deleted = [2, 301, 598]
    (tmp_path / "once").mkdir()
    once = whoosh_ext.create_in(str(tmp_path / "once"), build_schema())
    with once.writer() as writer:
        for document in documents:
            writer.add_document(**document)
    with once.writer() as writer:
        for docnum in deleted:
            writer.delete_document(docnum)
    (tmp_path / "joined").mkdir()
    joined = whoosh_ext.create_in(str(tmp_path / "joined"), build_schema())
    primer = documents[:50] if shared_dictionaries else ()
    segments, start = [], 0
    for size in sizes:
        writer = joined.writer(_lk=False, primer=primer)
        for document in documents[start : start + size]:
            writer.add_document(**document)
        segment = writer._finalize_segment()
        for docnum in deleted:
            if start <= docnum < start + size:
                segment.delete_document(docnum - start)
        segments.append(segment)
        start += size
    writer = joined.writer()
    writer.append_segments(segments)
    writer._commit_toc([writer._finalize_segment()])
    writer._finish()
    assert len(joined._segments()) == 1
    assert _whole_index(joined) == _whole_index(once)
