"""Where Whoosh meets the ranking formula.

Two pieces:

* `FieldWeightedBM25F` scores text: BM25 per field (Whoosh's implementation) times the field's
  weight from the ranking settings. Fields that are not text fields (filters such as `type:` or
  `quality:`) score 0, so a filter in the query language never changes relevance.
* `RankedCollector` keeps the top k documents under the *final* score of `search.ranking`. Text
  scores are multiplied by each document's boost as documents are collected; pruning stays exact
  because Whoosh is only ever told to skip documents whose text score could not reach the current
  k-th best final score even with the largest possible boost. Ties break on publication time (newer
  first), then URL (ascending).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from whoosh import collectors, matching, scoring
from whoosh.query import qcore

from search import _whoosh_fixes
from search.ranking import RankingSettings, max_boost, quality_factor, recency_factor
from search.schema import NO_QUALITY, NO_TIME, TEXT_FIELDS

_whoosh_fixes.apply()

# Slack on the pruning bound so that float rounding (a sum of products computed in another order)
# can never hide a document that would tie or win.
_PRUNING_SLACK = 1e-9


class FieldWeightedBM25F(scoring.BM25F):  # type: ignore[misc]
    """BM25F with per-field weights applied to each field's BM25 score at query time."""

    def __init__(self, settings: RankingSettings, B: float = 0.75, K1: float = 1.2) -> None:
        super().__init__(B=B, K1=K1)
        self.settings = settings
        self._weights = {name: settings.field_weight(name) for name in TEXT_FIELDS}

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> scoring.BaseScorer:
        weight = self._weights.get(fieldname, 0.0)
        if weight <= 0.0 or not searcher.schema[fieldname].scorable:
            return _ZeroScorer()
        return _WeightedBM25Scorer(searcher, fieldname, text, self.B, self.K1, weight, qf=qf)


class _WeightedBM25Scorer(scoring.BM25FScorer):  # type: ignore[misc]
    def __init__(
        self,
        searcher: Any,
        fieldname: str,
        text: bytes,
        B: float,
        K1: float,
        weight: float,
        qf: int = 1,
    ) -> None:
        self.field_weight = weight
        super().__init__(searcher, fieldname, text, B, K1, qf=qf)

    def _score(self, weight: float, length: float) -> float:
        return self.field_weight * float(
            scoring.bm25(self.idf, weight, length, self.avgfl, self.B, self.K1)
        )


class _ZeroScorer(scoring.BaseScorer):  # type: ignore[misc]
    def supports_block_quality(self) -> bool:
        return True

    def score(self, matcher: Any) -> float:
        return 0.0

    def max_quality(self) -> float:
        return 0.0

    def block_quality(self, matcher: Any) -> float:
        return 0.0


ORDERS = ("relevance", "newest", "oldest", "quality")
"""Result orders: by final score, by publication time either way, by quality. Ties always break
newer first, then by URL, so that pages never repeat or skip a document."""


@dataclass(frozen=True, slots=True)
class RankedDoc:
    """One collected document: its global number, the parts of its score, and its order key."""

    docnum: int
    final: float
    text: float
    quality_factor: float
    recency_factor: float
    quality: int | None
    published_time: int | None
    url: str
    key: tuple[Any, ...]
    """Smaller is better."""


class _Entry:
    """A heap entry ordered so that the *worst* document sits at the top of a min-heap."""

    __slots__ = ("doc",)

    def __init__(self, doc: RankedDoc) -> None:
        self.doc = doc

    def __lt__(self, other: _Entry) -> bool:
        return self.doc.key > other.doc.key


def order_key(
    order: str, final: float, quality: int | None, published: int | None, url: str
) -> tuple[Any, ...]:
    """The sort key of a document under `order` (smaller is better)."""
    newest = -published if published is not None else float("inf")
    if order == "relevance":
        return (-final, newest, url)
    if order == "newest":
        return (newest, url)
    if order == "oldest":
        return (published if published is not None else float("inf"), url)
    if order == "quality":
        return (-quality if quality is not None else float("inf"), newest, url)
    raise ValueError(f"unknown order {order!r}")


class RankedCollector(collectors.TopCollector):  # type: ignore[misc]
    """Collects the `limit` best documents under the final (boosted) score, or another order."""

    def __init__(
        self, limit: int, settings: RankingSettings, now_timestamp: float, order: str = "relevance"
    ) -> None:
        super().__init__(limit=limit)
        self.settings = settings
        self.now_timestamp = now_timestamp
        self.order = order
        self._pruning_divisor = max_boost(settings) * (1.0 + _PRUNING_SLACK)

    def _use_block_quality(self) -> bool:
        # Skipping low-scoring blocks is only right when the order is the score.
        return self.order == "relevance" and bool(super()._use_block_quality())

    def prepare(self, top_searcher: Any, q: Any, context: Any) -> None:
        super().prepare(top_searcher, q, context)
        self._heap: list[_Entry] = []

    def set_subsearcher(self, subsearcher: Any, offset: int) -> None:
        super().set_subsearcher(subsearcher, offset)
        reader = subsearcher.reader()
        self._quality_column = _column(reader, "quality_value")
        self._time_column = _column(reader, "published_time")
        self._url_column = _column(reader, "url")

    def collect(self, sub_docnum: int) -> int:
        self.total += 1
        settings = self.settings
        text = self.matcher.score()
        quality = (
            self._quality_column[sub_docnum] if self._quality_column is not None else NO_QUALITY
        )
        published = self._time_column[sub_docnum] if self._time_column is not None else NO_TIME
        quality_or_none = None if quality == NO_QUALITY else quality
        published_or_none = None if published == NO_TIME else published
        q_factor = quality_factor(quality_or_none, settings.quality_weight)
        r_factor = recency_factor(
            None if published_or_none is None else self.now_timestamp - published,
            settings.recency_weight,
            settings.half_life_days,
        )
        final = text * q_factor * r_factor
        heap = self._heap
        relevance = self.order == "relevance"
        if relevance and len(heap) >= self.limit and final < heap[0].doc.final:
            return 0  # the common case, decided without reading the URL
        raw_url = self._url_column[sub_docnum] if self._url_column is not None else b""
        url = raw_url.decode("utf-8") if isinstance(raw_url, bytes) else str(raw_url)
        entry = _Entry(
            RankedDoc(
                docnum=self.offset + sub_docnum,
                final=final,
                text=text,
                quality_factor=q_factor,
                recency_factor=r_factor,
                quality=quality_or_none,
                published_time=published_or_none,
                url=url,
                key=order_key(self.order, final, quality_or_none, published_or_none, url),
            )
        )
        if len(heap) < self.limit:
            heapq.heappush(heap, entry)
        elif heap[0] < entry:
            heapq.heapreplace(heap, entry)
        else:
            return 0
        if relevance and len(heap) == self.limit:
            # Text scores at or below this cannot reach the k-th best final score with any boost.
            self.minscore = heap[0].doc.final / self._pruning_divisor
        return 0

    def ranked(self) -> list[RankedDoc]:
        """The collected documents, best first."""
        return sorted((entry.doc for entry in self._heap), key=lambda doc: doc.key)


def _column(reader: Any, name: str) -> Any:
    return reader.column_reader(name) if reader.has_column(name) else None


class ZeroScoreQuery(qcore.Query):  # type: ignore[misc]
    """Matches what its child matches but adds nothing to the score: a filter inside a query."""

    def __init__(self, child: Any) -> None:
        self.child = child

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.child!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZeroScoreQuery) and other.child == self.child

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.child))

    def __str__(self) -> str:
        return str(self.child)

    def is_leaf(self) -> bool:
        return False

    def children(self) -> Any:
        yield self.child

    def apply(self, fn: Any) -> ZeroScoreQuery:
        return type(self)(fn(self.child))

    def field(self) -> Any:
        return self.child.field()

    def estimate_size(self, ixreader: Any) -> int:
        return int(self.child.estimate_size(ixreader))

    def estimate_min_size(self, ixreader: Any) -> int:
        return int(self.child.estimate_min_size(ixreader))

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        inner = self.child.matcher(searcher, searcher.boolean_context())
        if not inner.is_active():
            return matching.NullMatcher()
        return _ZeroScoreMatcher(inner)


class _ZeroScoreMatcher(matching.WrappingMatcher):  # type: ignore[misc]
    def _replacement(self, newchild: Any) -> _ZeroScoreMatcher:
        return type(self)(newchild)

    def replace(self, minquality: float = 0) -> Any:
        # The child's own qualities say nothing about this matcher's (zero) contribution.
        replaced = self.child.replace(0)
        if not replaced.is_active():
            return matching.NullMatcher()
        return self if replaced is self.child else self._replacement(replaced)

    def supports_block_quality(self) -> bool:
        return False

    def max_quality(self) -> float:
        return 0.0

    def block_quality(self) -> float:
        return 0.0

    def score(self) -> float:
        return 0.0

    def weight(self) -> float:
        return 0.0
