"""Where Whoosh meets the ranking formula.

Two pieces:

* `TextBM25F` scores text: Whoosh's BM25 on the `text` field, whose postings carry field-weighted
  frequencies (see `search.schema`), which makes it BM25F. Other fields (filters such as `type:`
  or `quality:`) score 0, so a filter in the query language never changes relevance.
* `RankedDoc` and `order_key`: a ranked document and the orders results can come in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from whoosh import matching, scoring
from whoosh.query import qcore

from search.schema import TEXT_FIELD


class TextBM25F(scoring.BM25F):  # type: ignore[misc]
    """BM25F on the `text` field (whose postings carry field-weighted frequencies and lengths);
    every other field scores 0, so a filter clause (`type:`, `quality:`) never changes relevance."""

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> scoring.BaseScorer:
        if fieldname != TEXT_FIELD:
            return _ZeroScorer()
        return super().scorer(searcher, fieldname, text, qf=qf)


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


class RankedDoc(NamedTuple):
    """One collected document: its global number, the parts of its score, and its order key.

    (A named tuple: a search makes one per hit, and a tuple is several times quicker to make
    than a frozen dataclass.)"""

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


class ZeroScoreQuery(qcore.Query):  # type: ignore[misc]
    """Matches what its child matches but adds nothing to the score: a filter inside a query."""

    def __init__(self, child: Any, boost: float = 1.0) -> None:
        self.child = child
        self.boost = boost  # read by Whoosh's boolean queries when they normalise their children

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
