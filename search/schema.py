"""The index schema, declared once: the fields, how text is analysed, what an article becomes.

Text fields are indexed with field boost 1; how much each field counts is decided at query time by
the ranking settings, so weights can change per query without re-indexing. Quality and publication
time live in columns (one fixed-size value per document) because the ranking reads them for every
scored document; `day` and `quality` are also indexed as a single term each so the query language
can filter on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from whoosh import analysis, columns, fields
from whoosh.support.charset import accent_map

from search.documents import MAX_STORED_EXCERPT_CHARS, MAX_STORED_TITLE_CHARS, Article

SCHEMA_VERSION = 2
"""Bump when documents written by an older version can no longer be read or searched correctly."""

TEXT_FIELDS = ("title", "topic", "excerpt", "provider", "body")
"""Analysed fields, searched by default, in the order of their default weight."""

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
    analyzer = text_analyzer()
    keyword = fields.KEYWORD(commas=True, lowercase=True, scorable=False)
    return fields.Schema(
        url=fields.ID(unique=True, sortable=True),
        path=fields.ID(),
        # spelling=True keeps the unstemmed words too (in spell_* fields): the vocabulary that typo
        # correction draws its suggestions from.
        title=fields.TEXT(analyzer=analyzer, spelling=True),
        topic=fields.TEXT(analyzer=analyzer, spelling=True),
        excerpt=fields.TEXT(analyzer=analyzer, spelling=True),
        provider=fields.TEXT(analyzer=analyzer, spelling=True),
        body=fields.TEXT(analyzer=analyzer),
        topic_key=keyword,
        provider_key=keyword,
        type=keyword,
        category=keyword,
        published=fields.BOOLEAN(),
        quality=fields.NUMERIC(int, bits=32, signed=True, shift_step=0),
        day=fields.NUMERIC(int, bits=32, signed=True, shift_step=0),
        quality_value=fields.COLUMN(columns.NumericColumn("h", default=NO_QUALITY)),
        published_time=fields.COLUMN(columns.NumericColumn("q", default=NO_TIME)),
        facet_topics=fields.COLUMN(columns.VarBytesColumn()),
        facet_provider=fields.COLUMN(columns.VarBytesColumn()),
        facet_type=fields.COLUMN(columns.VarBytesColumn()),
        record=fields.STORED(),
    )


def keyword_value(text: str) -> str:
    """The exact-match form of a topic, provider or type: case-folded, single-spaced, comma-free."""
    return " ".join(text.replace(",", " ").casefold().split())


def day_number(moment: datetime) -> int:
    """Days since 1970-01-01 UTC: the granularity of the indexed `day` term."""
    return int(moment.timestamp()) // _SECONDS_PER_DAY


def to_index_fields(article: Article) -> dict[str, Any]:
    """The keyword arguments for `writer.add_document` that represent `article`."""
    doc: dict[str, Any] = {
        "url": article.url,
        "path": article.path,
        "title": article.title,
        "record": to_record(article),
    }
    if article.excerpt:
        doc["excerpt"] = article.excerpt
    if article.body:
        doc["body"] = article.body
    if article.topics:
        doc["topic"] = " ; ".join(article.topics)
        doc["topic_key"] = ",".join(keyword_value(topic) for topic in article.topics)
        doc["facet_topics"] = _facet_bytes(article.topics)
    if article.provider:
        doc["provider"] = article.provider
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
        "published_at": _iso(article.published_at),
        "related": [
            {
                "title": entry.title,
                "url": entry.url,
                "excerpt": entry.excerpt,
                "provider": entry.provider,
                "quality": entry.quality,
                "published_at": _iso(entry.published_at),
            }
            for entry in article.related
        ],
    }


def _facet_bytes(values: Sequence[str]) -> bytes:
    return FACET_SEPARATOR.join(value.replace(FACET_SEPARATOR, " ") for value in values).encode(
        "utf-8"
    )


def parse_iso(value: object) -> datetime | None:
    """Read back a datetime stored by `to_record`."""
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
