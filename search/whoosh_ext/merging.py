"""Joining whole segments of our codec into a writer's new one, list by list and column by column.

Whoosh merges segments by reading every posting back and adding it to a writer again, as if the
documents were new: for a 100,000-article index, most of the time it took to write them. Segments
of the same index written by `NewsCodec` can be joined far faster, as what they are: each term's
posting lists one after the other with their document numbers shifted (a list found in one
segment only is copied as it is, but for its first id and checksum), and each column's values
one after the other (columns of our own types copy theirs whole; see `append_column` in
`search.whoosh_ext.columns`). The term statistics are those of the segments added together, as
Whoosh sums them over segments when it reads several.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
from collections.abc import Iterator, Sequence
from typing import Any

from whoosh import columns
from whoosh.codec import whoosh3
from whoosh.reading import SegmentReader

from search.whoosh_ext.codec import TERM_INFO, NewsFieldWriter
from search.whoosh_ext.postings import ArrayPostingsWriter, PostingArrays

Part = tuple[int, tuple[Any, ...]]
"""(number of a segment, a term's info there, unpacked: see `TERM_INFO`)."""


def append_segments(writer: Any, segments: Sequence[Any]) -> None:
    """Add every document of `segments` (of `writer`'s index, written by `NewsCodec`), in their
    order, to the new segment of `writer` (a `NewsSegmentWriter`), which must have none yet.
    Deleted documents stay deleted."""
    if writer.docnum or writer.pool.fields or writer.pool.runs:
        raise ValueError("segments are joined into a writer that has no document yet")
    with contextlib.ExitStack() as stack:
        readers = [
            stack.enter_context(SegmentReader(writer.storage, writer.schema, segment))
            for segment in segments
        ]
        starts = list(itertools.accumulate((r.doc_count_all() for r in readers), initial=0))
        perdocwriter = writer.perdocwriter
        for docnum in range(starts[-1]):  # the per-document writer counts its documents
            perdocwriter.start_doc(docnum)
            perdocwriter.finish_doc()
        for reader, start in zip(readers, starts, strict=False):
            _append_columns(writer, reader, start)
            for docnum in reader.segment().deleted_docs():
                writer.newsegment.delete_document(start + docnum)
        _append_postings(writer, readers, starts, stack)
        writer.docnum = starts[-1]


def _columns(schema: Any) -> Iterator[tuple[str, Any]]:
    """(name, column type) of every column a segment of `schema` may have."""
    yield "_stored", whoosh3.STORED_COLUMN
    for fieldname, field in schema.items():
        if field.column_type is not None:
            yield fieldname, field.column_type
        if field.scorable:
            yield whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN


def _append_columns(writer: Any, reader: Any, start: int) -> None:
    perdocwriter = writer.perdocwriter
    perdoc = reader.codec().per_document_reader(reader.storage(), reader.segment())
    try:
        for name, column in _columns(writer.schema):
            if not perdoc.has_column(name):
                continue
            if not perdocwriter._has_column(name):
                perdocwriter._create_column(name, column)
            target = perdocwriter._get_column(name)
            source = perdoc.column_reader(name, column)
            if hasattr(target, "append_column"):
                target.append_column(source, start)
                continue
            add = target.add
            default = _default_value(column)
            for number, value in enumerate(_values(source)):
                if value is not None and value != default:
                    add(start + number, value)
        for fieldname, field in writer.schema.items():
            if field.scorable:
                perdocwriter._fieldlengths[fieldname] += perdoc.field_length(fieldname)
    finally:
        perdoc.close()


def _values(reader: Any) -> Iterator[Any]:
    """Every value of a column of one of Whoosh's types, in document order."""
    if isinstance(reader, columns.NumericColumn.Reader):  # read at once, not one by one
        size = reader._fixedlen
        stored = reader._dbfile.get(reader._basepos, reader._count * size)
        yield from (value for (value,) in struct.iter_unpack("!" + reader._typecode, stored))
        yield from itertools.repeat(reader._default, len(reader) - reader._count)
    else:  # by number: iterating Whoosh's compressed columns fails on empty values
        yield from (reader[number] for number in range(len(reader)))


def _default_value(column: Any) -> Any:
    """What a column reads for a document given no value (not written again when copied)."""
    try:
        return column.default_value()
    except AttributeError:  # Whoosh's PickleColumn has none: it reads None
        return None


def _append_postings(
    writer: Any, readers: list[Any], starts: list[int], stack: contextlib.ExitStack
) -> None:
    fieldwriter = writer.fieldwriter
    postfiles = []
    found: dict[tuple[str, bytes], list[Part]] = {}
    for number, reader in enumerate(readers):
        segment = reader.segment()
        terms = stack.enter_context(
            contextlib.closing(reader.codec().terms_reader(reader.storage(), segment))
        )
        postfiles.append(segment.open_file(reader.storage(), whoosh3.W3Codec.POSTS_EXT))
        stack.callback(postfiles[-1].close)
        for fieldname, tbytes, info in terms.stored_items():
            if len(info) != TERM_INFO.size or info[0]:
                raise ValueError("a segment to join holds postings in Whoosh's own format")
            parts = found.get((fieldname, tbytes))
            if parts is None:
                found[fieldname, tbytes] = [(number, TERM_INFO.unpack(info))]
            else:
                parts.append((number, TERM_INFO.unpack(info)))
    current = None
    postwriter: Any = None
    for fieldname, tbytes in sorted(found):
        parts = found[fieldname, tbytes]
        if fieldname != current:
            if current is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(fieldname, writer.schema[fieldname])
            current = fieldname
            postwriter = fieldwriter._postwriter
            if not isinstance(fieldwriter, NewsFieldWriter) or not isinstance(
                postwriter, ArrayPostingsWriter
            ):
                raise TypeError("segments are joined by a writer of our codec")
        lists = [
            (PostingArrays(postfiles[number], info[-2], info[-1]), starts[number])
            for number, info in parts
        ]
        offset, length = postwriter.write_joined(lists)
        fieldwriter.add_term(tbytes, _joined_info(parts, starts, offset, length))
    if current is not None:
        fieldwriter.finish_field()


def _joined_info(parts: list[Part], starts: list[int], offset: int, length: int) -> bytes:
    """The term info (as stored) of the lists of `parts` one after the other, written at
    `offset`: their statistics taken together, as Whoosh takes those of several segments."""
    (first_number, first), (last_number, last) = parts[0], parts[-1]
    minid, maxid = first[6] + starts[first_number], last[7] + starts[last_number]
    if len(parts) == 1:
        return TERM_INFO.pack(*first[:6], minid, maxid, offset, length)
    infos = [info for _, info in parts]
    return TERM_INFO.pack(
        0,
        sum(info[1] for info in infos),
        sum(info[2] for info in infos),
        min(info[3] for info in infos),  # byte codes, in the order of the lengths
        max(info[4] for info in infos),
        max(info[5] for info in infos),
        minid,
        maxid,
        offset,
        length,
    )
