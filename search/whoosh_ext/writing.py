"""Where an index is created, opened and written: our storage, index and writer classes.

`create_in` and `open_dir` are Whoosh's functions of the same names, giving an index whose writers
write segments with `NewsCodec` (`search.whoosh_ext.codec`) and buffer postings grouped by term.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import pickle
from array import array
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from whoosh import index as whoosh_index
from whoosh.codec import whoosh3
from whoosh.filedb.filestore import FileStorage
from whoosh.util import random_name
from whoosh.util.numeric import byte_to_length
from whoosh.util.text import utf8encode
from whoosh.writing import SegmentWriter

from search.whoosh_ext.codec import NewsCodec, length_codes
from search.whoosh_ext.columns import DictionaryCompressedColumn, dictionary_of
from search.whoosh_ext.merging import append_segments
from search.whoosh_ext.postings import ArrayPostingsWriter

_INDEX_NAME = whoosh_index._DEF_INDEX_NAME
_RUN_CHUNK = 16_384
"""Postings pickled together when a writer's buffer spills to disk."""
_POSTING_BYTES = 16
"""Memory a buffered posting takes besides its value: its document number and float32 weight in
arrays, and a reference to its value (values repeat: most are shared)."""
_TERM_BYTES = 300
"""Memory a buffered term takes besides its text: its key, arrays, list and dictionary entry."""
_LENGTHS = [None, *(byte_to_length(code) for code in range(1, 256))]
"""Field length by Whoosh's one-byte length code (0: no length, read back as None)."""

Postings = tuple["array[int]", "array[float]", list[bytes]]
"""A term's postings, in document order: document numbers (uint32), float32 weights, values."""
TermPostings = tuple[str, bytes, Postings]
"""(field name, term bytes, the term's postings)."""
TermPieces = tuple[str, bytes, list[Postings]]
"""(field name, term bytes, the term's postings in document order as consecutive pieces)."""


def _new_postings() -> Postings:
    return array("I"), array("f"), []


class TermPostingPool:
    """The postings a writer buffers, grouped by field and term as they are added.

    Whoosh's own pool keeps one tuple per posting and sorts them all when the segment is written
    (and again whenever the buffer spills to disk), then hands them one by one to the codec: with
    thirty-odd postings per article, most of the time a writer spends. A document's postings
    arrive in document order, so each term's list is already sorted: only the terms need sorting.
    Each term's postings are kept as arrays (about 16 bytes a posting, where a tuple of Python
    numbers takes over 100), handed to the codec a block at a time. When the buffer passes
    `limitmb`, the terms written so far are spilled to a run file, a chunk of terms at a time;
    runs hold consecutive documents, so merging them joins each term's lists in run order. Runs
    are private to the writer that made them.
    """

    def __init__(self, tempstore: Any, limitmb: float = 128) -> None:
        self.tempstore = tempstore
        self.limit = limitmb * 1024 * 1024
        self.currentsize = 0
        self.fields: dict[str, dict[bytes, Postings]] = {}
        self.runs: list[str] = []
        self.unordered = False
        """Postings arrived outside document order (merged segments): sort each term's list."""

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        """Add one (field name, term bytes, document number, weight, value bytes) posting, in any
        order (Whoosh's interface, used when segments are merged). Whoosh's marks of a word for
        spelling alone (document number -1) leave the term without a posting."""
        fieldname, tbytes, docnum, weight, vbytes = item
        self.unordered = True
        terms = self.fields.setdefault(fieldname, {})
        postings = terms.get(tbytes)
        if postings is None:
            terms[tbytes] = postings = _new_postings()
            self.currentsize += _TERM_BYTES + len(tbytes)
        if docnum < 0:
            return
        ids, weights, values = postings
        ids.append(docnum)
        weights.append(weight)
        values.append(vbytes or b"")
        self.currentsize += _POSTING_BYTES + len(vbytes or b"")
        if self.currentsize > self.limit:
            self.save()

    def add_document_field(
        self, fieldname: str, docnum: int, items: Iterable[Any], boost: float, scorable: bool
    ) -> int:
        """Add the (term bytes, frequency, weight, value bytes) postings of one document's field,
        whose terms are distinct, after the document's earlier ones; returns the field's length
        (the sum of the frequencies when the field is scorable, else 0)."""
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        length = 0
        size = 0
        for tbytes, freq, weight, vbytes in items:
            if scorable:
                length += freq
            postings = terms.get(tbytes)
            if postings is None:
                terms[tbytes] = postings = _new_postings()
                size += _TERM_BYTES + len(tbytes)
            ids, weights, values = postings
            ids.append(docnum)
            weights.append(weight * boost)
            if vbytes:
                values.append(vbytes)
                size += _POSTING_BYTES + len(vbytes)
            else:
                values.append(b"")
                size += _POSTING_BYTES
        self.currentsize += size
        if self.currentsize > self.limit:
            self.save()
        return length

    def save(self) -> None:
        """Spill the buffered terms to a new run file, in order."""
        if not self.fields:
            return
        path = f"{random_name()}.run"
        with self.tempstore.create_file(path).raw_file() as f:
            chunk: list[TermPostings] = []
            count = 0
            for item in self._buffered_terms():
                chunk.append(item)
                count += len(item[2][0])
                if count >= _RUN_CHUNK:
                    pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
                    chunk, count = [], 0
            if chunk:
                pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        self.runs.append(path)
        self.fields = {}
        self.currentsize = 0

    def _buffered_terms(self) -> Iterator[TermPostings]:
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for tbytes in sorted(terms):
                yield fieldname, tbytes, terms[tbytes]

    def _read_run(self, path: str) -> Iterator[TermPostings]:
        f = self.tempstore.open_file(path).raw_file()
        try:
            while True:
                try:
                    chunk = pickle.load(f)
                except EOFError:
                    return
                yield from chunk
        finally:
            f.close()
            self.tempstore.delete_file(path)

    def iter_terms(self) -> Iterator[TermPieces]:
        """Every term's postings, by field name and term, in document order: as the pieces of
        the runs that hold the term, in run order, so that no term's whole list is ever copied
        into one (a word in most articles of a large build has millions of postings)."""
        if not self.runs:
            merged: Iterator[TermPieces] = (
                (fieldname, tbytes, [postings])
                for fieldname, tbytes, postings in self._buffered_terms()
            )
        else:
            streams = [self._read_run(path) for path in self.runs]
            streams.append(self._buffered_terms())
            self.runs = []
            merged = _join_runs(streams)
        for fieldname, tbytes, pieces in merged:
            if self.unordered:  # merged segments: sort
                pieces = [_sorted_postings(pieces)]
            yield fieldname, tbytes, pieces

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes]]:
        """Every posting as Whoosh's pool gives them: (field name, term bytes, document number,
        weight, value bytes), sorted."""
        for fieldname, tbytes, pieces in self.iter_terms():
            for ids, weights, values in pieces:
                for docnum, weight, vbytes in zip(ids, weights, values, strict=True):
                    yield fieldname, tbytes, docnum, weight, vbytes

    def cleanup(self) -> None:
        for path in self.runs:
            with contextlib.suppress(OSError):
                self.tempstore.delete_file(path)
        self.runs = []
        self.fields = {}


def _sorted_postings(pieces: list[Postings]) -> Postings:
    """The postings of `pieces` in one list, sorted by document number."""
    ids = array("I", itertools.chain.from_iterable(piece[0] for piece in pieces))
    weights = array("f", itertools.chain.from_iterable(piece[1] for piece in pieces))
    values = list(itertools.chain.from_iterable(piece[2] for piece in pieces))
    order = sorted(range(len(ids)), key=ids.__getitem__)
    return (
        array("I", [ids[i] for i in order]),
        array("f", [weights[i] for i in order]),
        [values[i] for i in order],
    )


def _join_runs(streams: list[Iterator[TermPostings]]) -> Iterator[TermPieces]:
    """Merge runs sorted by term; a term in several runs gets their lists in run order."""
    numbered = [
        ((fieldname, tbytes, number, postings) for fieldname, tbytes, postings in stream)
        for number, stream in enumerate(streams)
    ]
    current: tuple[str, bytes] | None = None
    pieces: list[Postings] = []
    for fieldname, tbytes, _, postings in heapq.merge(*numbered, key=itemgetter(0, 1, 2)):
        if current == (fieldname, tbytes):
            pieces.append(postings)
            continue
        if current is not None:
            yield current[0], current[1], pieces
        current, pieces = (fieldname, tbytes), [postings]
    if current is not None:
        yield current[0], current[1], pieces


def _blocks(pieces: list[Postings], limit: int) -> Iterator[Postings]:
    """A term's postings, from the pieces that hold them, in blocks of `limit` (the last one
    shorter)."""
    pending: Postings | None = None
    for ids, weights, values in pieces:
        start = 0
        if pending is not None:
            start = limit - len(pending[0])
            pending = (
                pending[0] + ids[:start],
                pending[1] + weights[:start],
                pending[2] + values[:start],
            )
            if len(pending[0]) < limit:
                continue
            yield pending
            pending = None
        for offset in range(start, len(ids), limit):
            end = offset + limit
            block = ids[offset:end], weights[offset:end], values[offset:end]
            if len(block[0]) < limit:
                pending = block
            else:
                yield block
    if pending is not None:
        yield pending


def write_term_postings(
    fieldwriter: Any, schema: Any, lengths: Any, terms: Iterable[TermPieces]
) -> None:
    """Hand every term's postings to a codec's field writer: what Whoosh's
    `FieldWriter.add_postings` does with postings one at a time, here a block at a time, with
    the field lengths read once per field."""
    lastfn: str | None = None
    postwriter: Any = None
    codes: bytes | None = None
    count = 0
    for fieldname, tbytes, pieces in terms:
        if fieldname != lastfn:
            if lastfn is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, schema[fieldname])
            lastfn = fieldname
            codes = length_codes(lengths, fieldname) if lengths is not None else None
            count = len(codes) if codes is not None else 0
            postwriter = _block_writer(fieldwriter)
        fieldwriter.start_term(tbytes)
        limit = postwriter._blocklimit if postwriter is not None else 1024
        for number, block in enumerate(_blocks(pieces, limit)):
            ids, weights, values = block
            if codes is None:  # no lengths, or no document has a length in this field
                field_lengths: list[int | None] = [0] * len(ids)
            else:
                field_lengths = [
                    _LENGTHS[codes[docnum]] if docnum < count else None for docnum in ids
                ]
            if postwriter is not None:
                if number:
                    postwriter._write_block()
                _fill_block(postwriter, block, field_lengths)
            else:
                add = fieldwriter.add
                for docnum, weight, vbytes, length in zip(
                    ids, weights, values, field_lengths, strict=True
                ):
                    add(docnum, weight, vbytes, length)
        fieldwriter.finish_term()
    if lastfn is not None:
        fieldwriter.finish_field()


def _block_writer(fieldwriter: Any) -> Any:
    """The field's postings writer, when blocks of postings can be handed to it whole: Whoosh's
    field writer passing postings on to our `ArrayPostingsWriter` unchanged; else None."""
    if type(fieldwriter).add is not whoosh3.W3FieldWriter.add:
        return None
    postwriter = fieldwriter._postwriter
    if type(postwriter).add_posting is not ArrayPostingsWriter.add_posting:
        return None
    return postwriter


def _fill_block(postwriter: Any, block: Postings, field_lengths: list[int | None]) -> None:
    """Set `postwriter`'s buffered block as adding the postings of `block` one by one would:
    ids, float32 weights, values (empty ones too, in our format), the highest weight and the
    shortest and longest field length, for the term's statistics. Whoosh's writer writes a full
    block before it adds the next posting, and the last one when the term ends."""
    ids, weights, values = block
    postwriter._ids = ids
    postwriter._weights = weights
    postwriter._values = values
    postwriter._maxweight = max(0.0, max(weights))
    present = [length for length in field_lengths if length]
    postwriter._minlength = min(present) if present else None
    postwriter._maxlength = max(present) if present else 0


class _FieldPlan:
    """What a writer asks of a field's type for every document, asked once."""

    __slots__ = (
        "boost_key",
        "column",
        "field",
        "indexed",
        "scorable",
        "spelling",
        "stored",
        "stored_key",
        "vector",
    )

    def __init__(self, fieldname: str, field: Any) -> None:
        self.field = field
        self.indexed = field.indexed
        self.scorable = field.scorable
        self.spelling = field.separate_spelling()
        self.vector = field.vector
        self.stored = field.stored
        self.column = field.column_type
        self.boost_key = f"_{fieldname}_boost"
        self.stored_key = f"_stored_{fieldname}"


class NewsSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's segment writer, with our codec and our pool of postings."""

    def __init__(
        self,
        ix: Any,
        *,
        limitmb: float = 128,
        primer: Sequence[dict[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        """`primer`: documents (as for `add_document`) whose values make the dictionaries of
        this writer's dictionary-compressed columns from the start, rather than its own first
        documents. Writers of one index given the same primer write segments that
        `append_segments` joins without recompressing."""
        kwargs.setdefault("codec", NewsCodec())
        super().__init__(ix, limitmb=limitmb, **kwargs)
        # Whoosh's writer ignores its `poolclass` argument and always makes a PostingPool.
        self.pool = TermPostingPool(self._tempstorage, limitmb=limitmb)
        self._plans: dict[str, _FieldPlan] = {}
        if primer:
            self._preset_dictionaries(primer)

    def _preset_dictionaries(self, primer: Sequence[dict[str, Any]]) -> None:
        for fieldname, field in self.schema.items():
            column = field.column_type
            if isinstance(column, DictionaryCompressedColumn):
                values = [
                    bytes(field.to_column_value(value))
                    for document in primer
                    if (value := document.get(f"_stored_{fieldname}", document.get(fieldname)))
                    is not None
                ]
                self.perdocwriter._create_column(fieldname, column)
                self.perdocwriter._get_column(fieldname).preset(dictionary_of(values))

    def append_segments(self, segments: Sequence[Any]) -> None:
        """Add every document of `segments`, whole segments of this index, to this writer's new
        segment, which has no document yet (see `search.whoosh_ext.merging`)."""
        append_segments(self, segments)

    def add_document(self, **fields: Any) -> None:
        # Whoosh's `SegmentWriter.add_document`, handing each field's postings to the pool at
        # once, with what it asks of each field's type looked up once per writer (the schema
        # cannot change once documents are added).
        self._check_state()
        perdocwriter = self.perdocwriter
        docnum = self.docnum
        pool = self.pool
        plans = self._plans

        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        for fieldname in fieldnames:
            if fieldname not in plans:
                self._check_fields(self.schema, [fieldname])
                plans[fieldname] = _FieldPlan(fieldname, self.schema[fieldname])

        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                plan = plans[fieldname]
                field = plan.field

                length = 0
                if plan.indexed:
                    boost_key = plan.boost_key
                    fieldboost = float(fields[boost_key]) if boost_key in fields else docboost
                    length = pool.add_document_field(
                        fieldname, docnum, field.index(value), fieldboost, plan.scorable
                    )

                if plan.spelling:
                    spellfield = field.spelling_fieldname(fieldname)
                    for word in field.spellable_words(value):
                        pool.add((spellfield, utf8encode(word)[0], 0, 1, None))

                vformat = plan.vector
                if vformat:
                    vitems = vformat.word_values(value, field.analyzer, mode="index")
                    vitems = sorted((text, weight, vbytes) for text, _, weight, vbytes in vitems)
                    perdocwriter.add_vector_items(fieldname, field, vitems)

                customval = fields.get(plan.stored_key, value)
                perdocwriter.add_field(fieldname, field, customval if plan.stored else None, length)

                column = plan.column
                if column and customval is not None:
                    perdocwriter.add_column_value(
                        fieldname, column, field.to_column_value(customval)
                    )
        except Exception:
            perdocwriter.cancel_doc()
            raise

        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        write_term_postings(self.fieldwriter, self.schema, lengths, self.pool.iter_terms())
        self.fieldwriter.close()
        if lengths is not None:
            lengths.close()


class NewsIndex(whoosh_index.FileIndex):  # type: ignore[misc]
    """A Whoosh index on disk whose writers are `NewsSegmentWriter`s."""

    def writer(self, procs: int = 1, **kwargs: Any) -> NewsSegmentWriter:
        if procs != 1:  # Whoosh's MpWriter would write segments with Whoosh's own codec
            raise ValueError("NewsIndex writes with one process; see search.pipeline for more")
        return NewsSegmentWriter(self, **kwargs)


class NewsStorage(FileStorage):  # type: ignore[misc]
    """A folder holding a `NewsIndex`."""

    def create_index(
        self, schema: Any, indexname: str = _INDEX_NAME, indexclass: Any = None
    ) -> Any:
        return super().create_index(schema, indexname, indexclass or NewsIndex)

    def open_index(
        self, indexname: str = _INDEX_NAME, schema: Any = None, indexclass: Any = None
    ) -> Any:
        return super().open_index(indexname, schema, indexclass or NewsIndex)


def create_in(dirname: str, schema: Any) -> NewsIndex:
    """Create an empty index in the folder `dirname` (Whoosh's `create_in`, with our classes)."""
    index: NewsIndex = NewsStorage(dirname).create_index(schema)
    return index


def open_dir(dirname: str, *, readonly: bool = False) -> NewsIndex:
    """Open the index in the folder `dirname` (Whoosh's `open_dir`, with our classes)."""
    index: NewsIndex = NewsStorage(dirname, readonly=readonly).open_index()
    return index
