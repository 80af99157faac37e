"""The index schema, declared once: the fields, how text is analysed, what an article becomes.

All the searchable text of an article (title, topics, excerpt, provider name, body) goes into one
positional field, `text`, the way BM25F intends: a term's frequency is the sum over fields of its
frequency times the field's weight (`FIELD_WEIGHTS`), and so is the document length. One posting
list per term, instead of one per term and field, is what makes a search several times cheaper.
Each field owns a range of positions (`POSITIONS_PER_FIELD` apart), so phrases never run from one
field into the next and `title:word` can still ask for the word in the title.

Quality and publication time live in columns (one fixed-size value per document) because the
ranking reads them for every scored document; `day` and `quality` are also indexed as a single
term each so the query language can filter on them.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import pickle
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from whoosh import analysis, columns, fields, query
from whoosh.lang.porter import stem as porter_stem
from whoosh.support.charset import accent_map
from whoosh.system import pack_uint

from search.limits import MAX_STORED_EXCERPT_CHARS, MAX_STORED_TITLE_CHARS
from search.whoosh_ext.caches import reader_cache
from search.whoosh_ext.columns import DictionaryCompressedColumn, ValueTableColumn

if TYPE_CHECKING:
    from search.documents import Article

SCHEMA_VERSION = 3
"""Bump when documents written by an older version can no longer be read or searched correctly."""

TEXT_FIELD = "text"
"""The one analysed, positional, searched field."""
TEXT_FIELDS = ("title", "topic", "excerpt", "provider", "body")
"""The parts of an article that make up `text`, which queries can name (`title:word`)."""
FIELD_WEIGHTS = {"title": 3.0, "topic": 2.0, "excerpt": 1.0, "provider": 1.0, "body": 0.5}
"""How much an occurrence counts in each part (multiples of 0.5: see `analyse_document`)."""
POSITIONS_PER_FIELD = 1 << 16
"""Positions reserved for each part; words beyond this many in one part share its last position."""
_FIELD_ORDER = ("excerpt", "title", "topic", "provider", "body")
"""Parts in the order of their position ranges (the most common first: smaller numbers)."""

KEYWORD_FIELDS = ("topic_key", "provider_key", "type", "category")
"""Exact-value fields (case-folded) used by filters."""

FACET_COLUMNS = {"topics": "facet_topics", "provider": "facet_provider", "type": "facet_type"}
"""Facet -> column with each document's values as written (several joined by FACET_SEPARATOR)."""
FACET_SEPARATOR = "\x1f"

NO_QUALITY = -32768
"""Column value of a document without a quality."""
NO_TIME = -(2**63)
"""Column value of a document without a publication time."""
_QUALITY_COLUMN_RANGE = (-32767, 32767)
_SECONDS_PER_DAY = 86_400


Postings = list[tuple[bytes, int, float, bytes]]
"""What `FieldType.index` yields, as a list: (term bytes, frequency, weight, value bytes)."""


class _AcceptsPreAnalysed:
    """Field mixin: `index()` also accepts a list of ready postings, so that the analysis of a
    document can run in another process than the index writer. (A plain list crosses process
    boundaries faster than any wrapper object; no field of this schema is given a list of tokens.)
    """

    def index(self, value: Any, **kwargs: Any) -> Any:
        if isinstance(value, list):
            return iter(value)
        return super().index(value, **kwargs)  # type: ignore[misc]


class AnalysedText(_AcceptsPreAnalysed, fields.TEXT):  # type: ignore[misc]
    pass


class AnalysedKeyword(_AcceptsPreAnalysed, fields.KEYWORD):  # type: ignore[misc]
    pass


class AnalysedID(_AcceptsPreAnalysed, fields.ID):  # type: ignore[misc]
    pass


class AnalysedBoolean(_AcceptsPreAnalysed, fields.BOOLEAN):  # type: ignore[misc]
    # Upstream reads any word but "false", "no", "f" and "0" as true (`published:maybe` found the
    # published articles), and fails with an internal error on a range.

    def parse_query(self, fieldname: str, qstring: str, boost: float = 1.0) -> query.Query:
        if qstring != "*" and qstring.lower() not in self.trues | self.falses:
            raise _query_error(f"{fieldname}: takes true or false, not {qstring!r}")
        return super().parse_query(fieldname, qstring, boost=boost)

    def parse_range(self, fieldname: str, *args: Any, **kwargs: Any) -> query.Query:
        raise _query_error(f"{fieldname}: takes true or false, not a range")


def _query_error(message: str) -> Exception:
    """The error Whoosh's query parser reports as a bad clause (imported only when parsing)."""
    from whoosh.qparser.common import QueryParserError

    error: Exception = QueryParserError(message)
    return error


class AnalysedNumeric(_AcceptsPreAnalysed, fields.NUMERIC):  # type: ignore[misc]
    pass


def text_analyzer() -> analysis.Analyzer:
    """Tokenise, lower-case, fold accents (`café` = `cafe`), drop stop words, stem English."""
    return (
        analysis.RegexTokenizer()
        | analysis.LowercaseFilter()
        | analysis.CharsetFilter(accent_map)
        | analysis.StopFilter()
        | analysis.StemFilter()
    )


def build_schema() -> fields.Schema:
    """The schema of a new index."""
    keyword = AnalysedKeyword(commas=True, lowercase=True, scorable=False)
    return fields.Schema(
        url=AnalysedID(unique=True, sortable=True),
        text=AnalysedText(analyzer=text_analyzer()),
        topic_key=keyword,
        provider_key=keyword,
        type=keyword,
        category=keyword,
        published=AnalysedBoolean(),
        quality=AnalysedNumeric(int, bits=32, signed=True, shift_step=0),
        day=AnalysedNumeric(int, bits=32, signed=True, shift_step=0),
        quality_value=fields.COLUMN(columns.NumericColumn("h", default=NO_QUALITY)),
        published_time=fields.COLUMN(columns.NumericColumn("q", default=NO_TIME)),
        # Facet values repeat across documents: each distinct one is stored once per segment.
        facet_topics=fields.COLUMN(ValueTableColumn()),
        facet_provider=fields.COLUMN(ValueTableColumn()),
        facet_type=fields.COLUMN(ValueTableColumn()),
        # The stored record lives in a column of pickles made by `encode_record` (where the
        # document is analysed), compressed against a dictionary per segment, rather than in
        # Whoosh's stored fields, which pickle a dictionary per document and compress it alone.
        record=fields.COLUMN(DictionaryCompressedColumn()),
    )


def keyword_value(text: str) -> str:
    """The exact-match form of a topic, provider or type: case-folded, single-spaced, comma-free."""
    return " ".join(text.replace(",", " ").casefold().split())


def day_number(moment: datetime) -> int:
    """Days since 1970-01-01 UTC: the granularity of the indexed `day` term."""
    return int(moment.timestamp()) // _SECONDS_PER_DAY


# `field_tokens` does in one loop what `text_analyzer()` does through a chain of generators: the
# same terms at the same positions, several times faster. A test compares the two on real and
# random text; change both together.
_WORD = re.compile(r"[\w\*]+(?:\.?[\w\*]+)*", re.UNICODE)
"""Whoosh's `default_pattern` without its group, so that `findall` gives tokens."""
_STOP_WORDS = analysis.STOP_WORDS


@functools.lru_cache(maxsize=200_000)
def _term(token: str) -> str | None:
    """The term a token of text becomes (lower-cased, accents folded, stemmed), or None for a stop
    word or a single letter. Cached whole: news text repeats its words, and this is the per-word
    cost of indexing and of marking the words of every snippet."""
    word = token.lower().translate(accent_map)
    if len(word) < 2 or word in _STOP_WORDS:
        return None
    return str(porter_stem(word))


def field_terms(text: str) -> tuple[int, list[str]]:
    """The terms the text analyser keeps from `text`, in order, and the position of the first:
    the others follow it one by one (stop words are dropped and the rest renumbered from the
    first kept token's position)."""
    terms = list(map(_term, _WORD.findall(text)))
    for first, term in enumerate(terms):
        if term is not None:
            return first, [term for term in terms[first:] if term is not None]
    return 0, []


def word_term(word: str) -> str | None:
    """The term the text analyser makes of one token (`word` has no separator in it), or None
    when it drops it (a stop word, a single letter)."""
    return _term(word)


def field_tokens(text: str) -> Iterator[tuple[str, int]]:
    """The (term, position) pairs the text analyser gives for `text`."""
    first, terms = field_terms(text)
    for position, term in enumerate(terms, first):
        yield term, position


def matched_spans(text: str, terms: Collection[str]) -> list[tuple[int, int, str]]:
    """(start, end, term) of each word of `text` that the analyser turns into one of `terms`.

    Snippets mark the query's words in every hit's title and excerpt: the tokens are listed and
    analysed in C-level loops (through the cached `_term`), and only the tokens up to the last
    match are then located in the text, each by a search from the end of the one before it.
    """
    tokens = _WORD.findall(text)
    found = {number: term for number, term in enumerate(map(_term, tokens)) if term in terms}
    if not found:
        return []
    spans = []
    end = 0
    for number in range(max(found) + 1):
        token = tokens[number]
        start = text.find(token, end)  # no word character lies between two tokens
        end = start + len(token)
        term = found.get(number)
        if term is not None:
            spans.append((start, end, term))
    return spans


def field_range(field: str) -> tuple[int, int]:
    """The positions of `text` that belong to one part of the article."""
    start = _FIELD_ORDER.index(field) * POSITIONS_PER_FIELD
    return start, start + POSITIONS_PER_FIELD


def field_at(position: int) -> str:
    """The part of the article a position of `text` belongs to."""
    return _FIELD_ORDER[min(position // POSITIONS_PER_FIELD, len(_FIELD_ORDER) - 1)]


def analyse_document(parts: dict[str, str]) -> Postings:
    """The postings of an article's `text` field from its parts (title, topic, excerpt, ...).

    Each term gets the sum of its field-weighted frequencies as its weight, and twice that as its
    frequency: Whoosh adds frequencies up into the document length, which thereby becomes the
    (doubled) weighted length BM25F normalises by, and twice any sum of multiples of 0.5 is whole.
    """
    positions: dict[str, list[int]] = {}
    weights: dict[str, float] = {}
    for number, field in enumerate(_FIELD_ORDER):
        text = parts.get(field)
        if not text:
            continue
        first, terms = field_terms(text)
        start = number * POSITIONS_PER_FIELD
        weight = FIELD_WEIGHTS[field]
        last = start + POSITIONS_PER_FIELD - 1
        for position, term in enumerate(terms, start + first):
            if position > last:
                position = last
            places = positions.get(term)
            if places is None:
                positions[term] = [position]
                weights[term] = weight
            else:
                places.append(position)
                weights[term] += weight
    return [
        (term.encode("utf-8"), round(2 * weights[term]), weights[term], _encode_positions(places))
        for term, places in positions.items()
    ]


def _encode_positions(places: list[int]) -> bytes:
    """Positions as Whoosh's Positions format encodes them."""
    if len(places) == 1:
        return _single_position(places[0])
    deltas = [places[0], *(b - a for a, b in itertools.pairwise(places))]
    return bytes(pack_uint(len(places))) + pickle.dumps(deltas, 2)


@functools.lru_cache(maxsize=8_192)
def _single_position(position: int) -> bytes:
    return bytes(pack_uint(1)) + pickle.dumps([position], 2)


_schema_for_analysis: fields.Schema | None = None


def _analysis_schema() -> fields.Schema:
    global _schema_for_analysis
    if _schema_for_analysis is None:
        _schema_for_analysis = build_schema()
    return _schema_for_analysis


@functools.lru_cache(maxsize=16_384, typed=True)
def _repeated_value_postings(name: str, value: Any) -> Postings:
    """The postings of a value of a field whose values repeat from article to article (topics,
    provider, type, day, quality): analysed once each. The list is shared, and only ever read."""
    return list(_analysis_schema()[name].index(value))


def to_index_fields(article: Article, *, analyse: bool = False) -> dict[str, Any]:
    """The keyword arguments for `writer.add_document` that represent `article`.

    The text is always analysed here (`analyse_document`); with `analyse=True` the other indexed
    fields are too, into lists of postings, which lets a worker process do all that work for the
    process that writes the index.
    """
    doc = _index_fields(article)
    doc[TEXT_FIELD] = analyse_document(_text_parts(article))
    if analyse:
        schema = _analysis_schema()
        for name, value in list(doc.items()):
            field = schema[name]
            if field.indexed and name != TEXT_FIELD:
                if field.column_type is not None:
                    doc[f"_stored_{name}"] = value  # the column keeps the plain value
                if field.unique:  # one value per article: nothing to share
                    doc[name] = list(field.index(value))
                else:
                    doc[name] = _repeated_value_postings(name, value)
    return doc


def _text_parts(article: Article) -> dict[str, str]:
    return {
        "title": article.title,
        "topic": " ; ".join(article.topics),
        "excerpt": article.excerpt,
        "provider": article.provider or "",
        "body": article.body,
    }


def _index_fields(article: Article) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "url": article.url,
        "record": encode_record(to_record(article)),
    }
    if article.topics:
        doc["topic_key"] = ",".join(keyword_value(topic) for topic in article.topics)
        doc["facet_topics"] = _facet_bytes(article.topics)
    if article.provider:
        doc["provider_key"] = keyword_value(article.provider)
        doc["facet_provider"] = _facet_bytes([article.provider])
    if article.doc_type:
        doc["type"] = keyword_value(article.doc_type)
        doc["facet_type"] = _facet_bytes([article.doc_type])
    if article.category:
        doc["category"] = keyword_value(article.category)
    if article.published is not None:
        doc["published"] = article.published
    if article.quality is not None:
        low, high = _QUALITY_COLUMN_RANGE
        quality = min(max(article.quality, low), high)
        doc["quality"] = quality
        doc["quality_value"] = quality
    if article.published_at is not None:
        doc["published_time"] = int(article.published_at.timestamp())
        doc["day"] = day_number(article.published_at)
    return doc


def to_record(article: Article) -> dict[str, Any]:
    """What is stored for display: plain values only, long text truncated."""
    return {
        "url": article.url,
        "web_url": article.web_url,
        "path": article.path,
        "title": _truncate(article.title, MAX_STORED_TITLE_CHARS),
        "excerpt": _truncate(article.excerpt, MAX_STORED_EXCERPT_CHARS),
        "topics": list(article.topics),
        "provider": article.provider,
        "provider_domain": article.provider_domain,
        "type": article.doc_type,
        "category": article.category,
        "published": article.published,
        "heat": article.heat,
        "image_url": article.image_url,
        "quality": article.quality,
        "published_at": _stored_time(article.published_at),
        "related": [
            {
                "title": entry.title,
                "url": entry.url,
                "excerpt": entry.excerpt,
                "provider": entry.provider,
                "quality": entry.quality,
                "published_at": _stored_time(entry.published_at),
            }
            for entry in article.related
        ],
    }


def _facet_bytes(values: Sequence[str]) -> bytes:
    return FACET_SEPARATOR.join(value.replace(FACET_SEPARATOR, " ") for value in values).encode(
        "utf-8"
    )


_RECORD_FIELDS = (
    "web_url",
    "path",
    "title",
    "excerpt",
    "topics",
    "provider",
    "provider_domain",
    "type",
    "category",
    "published",
    "heat",
    "image_url",
    "quality",
    "published_at",
    "related",
)
"""The fields of a record as `encode_record` stores them, in this order (`url` is the `url`
column's). An on-disk format: change it only with `SCHEMA_VERSION`."""
_RELATED_FIELDS = ("title", "url", "excerpt", "provider", "quality", "published_at")


def encode_record(record: dict[str, Any]) -> bytes:
    """The bytes kept in the `record` column: the values of `record` without their names, and
    the URL (kept in the `url` column) left out."""
    values = dict(record)
    if values["web_url"] == values["url"]:
        values["web_url"] = None
    values["topics"] = tuple(values["topics"])
    values["related"] = tuple(
        tuple(entry[name] for name in _RELATED_FIELDS) for entry in values["related"]
    )
    return pickle.dumps(
        tuple(values[name] for name in _RECORD_FIELDS), protocol=pickle.HIGHEST_PROTOCOL
    )


def decode_record(data: bytes, url: str) -> dict[str, Any]:
    """The record stored by `encode_record` for the article at `url`."""
    values = pickle.loads(data)
    if not isinstance(values, tuple) or len(values) != len(_RECORD_FIELDS):
        raise pickle.UnpicklingError("a stored record has an unknown shape")
    record: dict[str, Any] = {"url": url, **dict(zip(_RECORD_FIELDS, values, strict=True))}
    record["web_url"] = record["web_url"] or url
    record["topics"] = list(record["topics"])
    record["related"] = [
        dict(zip(_RELATED_FIELDS, entry, strict=True)) for entry in record["related"]
    ]
    return record


def record_reader(searcher: Any) -> Callable[[int], dict[str, Any]]:
    """A function from a document number of `searcher` to the document's stored record."""
    stored = stored_record_reader(searcher)
    return lambda docnum: stored(docnum)()


class StoredRecords(Protocol):
    """See `stored_record_reader`."""

    def __call__(self, docnum: int, url: str | None = None) -> Callable[[], dict[str, Any]]: ...


def stored_record_reader(searcher: Any) -> StoredRecords:
    """A function from a document number of `searcher` (and its URL, when known) to a function
    giving the document's stored record: the record is read and checked at once, and decoded
    when asked for, which may be after the searcher is closed."""
    # The segments' own columns: a column of the whole index looks the segment up again on
    # every read. Untranslated: the records are bytes as stored, and URLs are decoded here.
    leaves = searcher.reader().leaf_readers()
    segments = [
        (
            cached_column(reader, "record", translate=False),
            cached_column(reader, "url", translate=False),
        )
        for reader, _ in leaves
    ]
    starts = [start for _, start in leaves]

    def stored(docnum: int, url: str | None = None) -> Callable[[], dict[str, Any]]:
        number = bisect.bisect_right(starts, docnum) - 1
        records, urls = segments[number]
        local = docnum - starts[number]
        if url is None:
            url = str(urls[local], "utf-8")
        data = records[local]
        return lambda: decode_record(data, url)

    return stored


def cached_column(reader: Any, name: str, *, translate: bool = True) -> Any:
    """`reader.column_reader(name)`, made once per reader.

    Opening a column reads its whole table of offsets (a few hundred kilobytes at 100,000
    documents); a reader's columns never change, so each search need not pay that again. The
    readers only read from the segment's memory-mapped files, so threads can share them.
    """
    cache = reader_cache(reader)
    key = ("column", name, translate)
    column = cache.get(key)
    if column is None:
        column = cache[key] = reader.column_reader(name, translate=translate)
    return column


def parse_iso(value: object) -> datetime | None:
    """Read back a time stored by `to_record`: epoch seconds, or an ISO-8601 string when the time
    has a fraction of a second."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def _stored_time(moment: datetime | None) -> int | str | None:
    """A time as `to_record` stores it: epoch seconds when whole (most are), else ISO-8601."""
    if moment is None:
        return None
    if moment.microsecond == 0:
        return int(moment.timestamp())
    return _iso(moment)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
