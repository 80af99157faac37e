"""The values the library hands to callers: small, frozen, free of Whoosh objects."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from search.schema import parse_iso
from search.snippets import Snippet, make_snippet


@dataclass(frozen=True, slots=True)
class RelatedEntry:
    """An article listed under another article's `related` field."""

    title: str
    url: str
    excerpt: str = ""
    provider: str | None = None
    quality: int | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """Everything the index stores about one article."""

    url: str
    """Canonical URL, the article's identity."""
    web_url: str
    title: str
    excerpt: str
    path: str
    topics: tuple[str, ...] = ()
    provider: str | None = None
    provider_domain: str | None = None
    doc_type: str | None = None
    category: str | None = None
    published: bool | None = None
    heat: int | None = None
    image_url: str | None = None
    quality: int | None = None
    published_at: datetime | None = None
    related: tuple[RelatedEntry, ...] = ()

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Document:
        """Rebuild a document from the record stored in the index."""
        return cls(
            url=record["url"],
            web_url=record.get("web_url") or record["url"],
            title=record.get("title") or "",
            excerpt=record.get("excerpt") or "",
            path=record.get("path") or "",
            topics=tuple(record.get("topics") or ()),
            provider=record.get("provider"),
            provider_domain=record.get("provider_domain"),
            doc_type=record.get("type"),
            category=record.get("category"),
            published=record.get("published"),
            heat=record.get("heat"),
            image_url=record.get("image_url"),
            quality=record.get("quality"),
            published_at=parse_iso(record.get("published_at")),
            related=tuple(
                RelatedEntry(
                    title=entry.get("title") or "",
                    url=entry.get("url") or "",
                    excerpt=entry.get("excerpt") or "",
                    provider=entry.get("provider"),
                    quality=entry.get("quality"),
                    published_at=parse_iso(entry.get("published_at")),
                )
                for entry in record.get("related") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class ScoreParts:
    """How a hit's score was made: final = text x quality_factor x recency_factor."""

    text: float
    quality_factor: float
    recency_factor: float
    final: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Every part of a hit's score: final = text x quality_factor x recency_factor."""

    fields: dict[str, float]
    """Text relevance contributed by each field (title, topic, excerpt, provider, body)."""
    text: float
    quality: int | None
    quality_factor: float
    published_at: datetime | None
    age_days: float | None
    """Age at the reference time `now`, in days (negative for a future date)."""
    recency_factor: float
    final: float
    query_words: tuple[str, ...] = ()
    """The words of the query an article may lack, as typed."""
    matched_words: tuple[str, ...] = ()
    """The words of the query the article has (required clauses included), as typed."""
    group: int = 1
    """The rank of the hit's group under the matching strategy (1: every word)."""
    coverage: float | None = None
    """Under the `coverage` strategy: the share of the query's word weight the article has;
    `text` = `relevance` x `coverage`."""
    relevance: float | None = None
    """BM25F relevance, the sum of `fields` (equal to `text` unless scaled by coverage)."""


@dataclass(frozen=True)
class Hit:
    """One search result.

    The article's stored fields (`title`, `excerpt`, `topics`, ...) are decoded when first read:
    a caller that only wants URLs does not pay for them."""

    rank: int
    """1-based position in the whole result list (offset included)."""
    score: float
    url: str
    score_parts: ScoreParts
    stored: Callable[[], Document] = field(repr=False, compare=False)
    """Decodes the stored article from the bytes read with the hit (`document` keeps it)."""
    matched_terms: frozenset[str] = frozenset()
    """The analysed terms (stemmed, folded) of the query that the hit can match."""
    explain: Explanation | None = None
    """The parts of the score, when the search asked for them."""
    matched_words: tuple[str, ...] = ()
    """The words of the query (and required clauses) this hit has, as typed."""

    @functools.cached_property
    def document(self) -> Document:
        """Everything the index stores about the article."""
        return self.stored()

    @property
    def title(self) -> str:
        return self.document.title

    @property
    def excerpt(self) -> str:
        return self.document.excerpt

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def quality(self) -> int | None:
        return self.document.quality

    @property
    def published_at(self) -> datetime | None:
        return self.document.published_at

    @property
    def topics(self) -> tuple[str, ...]:
        return self.document.topics

    @property
    def provider(self) -> str | None:
        return self.document.provider

    @property
    def doc_type(self) -> str | None:
        return self.document.doc_type

    @property
    def web_url(self) -> str:
        return self.document.web_url

    @functools.cached_property
    def snippet(self) -> Snippet:
        """The best-matching passage of the title or excerpt, with the query's words marked.

        Made when first asked for, so a caller that does not show snippets does not pay for them.
        """
        return make_snippet(self.matched_terms, self.title, self.excerpt)


Matched = Literal["all", "any"]


@dataclass(frozen=True, slots=True)
class SearchResults:
    """One page of results, plus what is needed to describe the whole result set."""

    query: str
    total: int
    """Number of matching documents (all pages)."""
    hits: tuple[Hit, ...]
    offset: int
    limit: int
    matched: Matched = "all"
    """"all" when some match has every word of the query; "any" when none has, and the matches
    have some of the words."""
    now: datetime | None = None
    """The reference time used for recency."""
    suggestion: str | None = None
    """The query with misspelled words corrected, when some were (the results already allow for
    the typos)."""
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    """For each facet asked for, the number of matching documents per value (all pages)."""
    sort: str = "relevance"
    matching: str = "coverage"
    """The matching strategy used (see `search.matching`)."""
    every_word: int | None = None
    """How many of the `total` matches have every word of the query (None: not counted)."""

    @property
    def fewer_words(self) -> int:
        """How many of the `total` matches lack some of the query's words."""
        return self.total - (self.total if self.every_word is None else self.every_word)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]
