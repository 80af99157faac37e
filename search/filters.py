"""Filters (topic, provider, type, dates, quality, published) and how they restrict a Whoosh query.

A filter never changes a score. Term filters (topic, provider, type, published) are intersected with
the text query by a matcher that leaves the text query in charge of scoring and pruning; date and
quality bounds are checked against the per-document columns of the documents the text query
visits, so a broad filter costs nothing up front and bounds are exact to the second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whoosh import matching, query

from search.schema import NO_QUALITY, NO_TIME, cached_column, keyword_value
from search.whoosh_ext import queries as fixed

DocPredicate = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions on which documents a search returns. Empty means no restriction."""

    topics: tuple[str, ...] = ()
    """Documents with at least one of these topics (case-insensitive)."""
    provider: str | None = None
    doc_type: str | None = None
    since: datetime | None = None
    """Published at or after this moment."""
    until: datetime | None = None
    """Published before this moment (exclusive)."""
    min_quality: int | None = None
    published: bool | None = None

    @property
    def is_empty(self) -> bool:
        return self == _NO_FILTERS

    def term_query(self) -> query.Query | None:
        """The part of the filters answered by the inverted index, or None."""
        parts: list[query.Query] = []
        topics = [keyword_value(topic) for topic in self.topics if keyword_value(topic)]
        if topics:
            parts.append(fixed.Or([query.Term("topic_key", topic) for topic in topics]))
        if self.provider is not None:
            parts.append(query.Term("provider_key", keyword_value(self.provider)))
        if self.doc_type is not None:
            parts.append(query.Term("type", keyword_value(self.doc_type)))
        if self.published is not None:
            parts.append(query.Term("published", self.published))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else fixed.And(parts)

    def array_predicate(
        self, quality: Sequence[int], published: Sequence[int]
    ) -> DocPredicate | None:
        """The date and quality bounds as a check on per-document arrays, or None."""
        return _array_checks(self, quality, published)

    def time_bounds(self) -> tuple[int, int] | None:
        """The stored publication times the date bounds let through, as [low, high), or None."""
        if self.since is None and self.until is None:
            return None
        low = int(self.since.timestamp()) if self.since is not None else NO_TIME + 1
        # `until` is exclusive; stored times are whole seconds.
        high = _ceil_timestamp(self.until) if self.until is not None else 2**63 - 1
        return low, high

    def quality_threshold(self) -> int | None:
        """The lowest stored quality `min_quality` lets through, or None."""
        if self.min_quality is None:
            return None
        # Documents without a quality (stored as NO_QUALITY) never pass a quality filter.
        return max(self.min_quality, NO_QUALITY + 1)

    def column_predicate(self, reader: Any) -> DocPredicate | None:
        """The date and quality bounds as a check on a segment's columns, or None."""
        return _array_checks(
            self,
            _column(reader, "quality_value", NO_QUALITY),
            _column(reader, "published_time", NO_TIME),
        )


_NO_FILTERS = Filters()


def _array_checks(
    filters: Filters, quality: Sequence[int], published: Sequence[int]
) -> DocPredicate | None:
    checks: list[DocPredicate] = []
    times = filters.time_bounds()
    if times is not None:
        low, high = times
        checks.append(lambda docnum: low <= published[docnum] < high)
    threshold = filters.quality_threshold()
    if threshold is not None:
        checks.append(lambda docnum: quality[docnum] >= threshold)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda docnum: all(check(docnum) for check in checks)


class _Constant:
    """Stands for a column no document of a segment has a value in."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __getitem__(self, docnum: int) -> int:
        return self.value


def _column(reader: Any, name: str, default: int) -> Any:
    return (
        cached_column(reader, name, translate=False)
        if reader.has_column(name)
        else _Constant(default)
    )


def _ceil_timestamp(moment: datetime) -> int:
    stamp = moment.timestamp()
    whole = int(stamp)
    return whole if whole == stamp else whole + 1


def restrict(text_query: query.Query, filters: Filters) -> query.Query:
    """`text_query` limited to the documents `filters` allow, with scores unchanged."""
    if filters.is_empty:
        return text_query
    return FilteredQuery(text_query, filters)


class FilteredQuery(query.Query):  # type: ignore[misc]
    """A scored query restricted by `Filters`; only the child contributes to scores."""

    def __init__(self, child: query.Query, filters: Filters) -> None:
        self.child = child
        self.filters = filters

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.child!r}, {self.filters!r})"

    def __str__(self) -> str:
        return str(self.child)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FilteredQuery)
            and other.child == self.child
            and other.filters == self.filters
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.child, self.filters))

    def is_leaf(self) -> bool:
        return False

    def children(self) -> Any:
        yield self.child

    def apply(self, fn: Any) -> FilteredQuery:
        return type(self)(fn(self.child), self.filters)

    def field(self) -> Any:
        return self.child.field()

    def estimate_size(self, ixreader: Any) -> int:
        return int(self.child.estimate_size(ixreader))

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        inner = self.child.matcher(searcher, context)
        if not inner.is_active():
            return matching.NullMatcher()
        term_query = self.filters.term_query()
        if term_query is not None:
            allowed = term_query.matcher(searcher, searcher.boolean_context())
            if not allowed.is_active():
                return matching.NullMatcher()
            inner = RestrictMatcher(inner, allowed)
            if not inner.is_active():
                return matching.NullMatcher()
        predicate = self.filters.column_predicate(searcher.reader())
        if predicate is not None:
            inner = PredicateMatcher(inner, predicate)
            if not inner.is_active():
                return matching.NullMatcher()
        return inner


class SkippingMatcher(matching.WrappingMatcher):  # type: ignore[misc]
    """A matcher that passes over some of its child's documents, keeping the child's scores.

    Subclasses decide which documents stay in `_settle`, which moves the child on to the next one
    to keep (returning True if that changed the child's block, as Whoosh's `next` does).
    """

    def _settle(self) -> bool:
        raise NotImplementedError

    def next(self) -> bool:
        moved = bool(self.child.next())
        return self._settle() or moved

    def skip_to(self, target: int) -> bool:
        moved = bool(self.child.skip_to(target))
        return self._settle() or moved

    def skip_to_quality(self, minquality: float) -> int:
        skipped = int(self.child.skip_to_quality(minquality))
        self._settle()
        return skipped

    def all_ids(self) -> Any:
        while self.is_active():
            yield self.child.id()
            self.next()

    def max_quality(self) -> float:
        return float(self.child.max_quality())

    def block_quality(self) -> float:
        return float(self.child.block_quality())

    def score(self) -> float:
        return float(self.child.score())


class RestrictMatcher(SkippingMatcher):
    """The documents of `child` that `allowed` also matches, with `child`'s scores and qualities."""

    def __init__(self, child: Any, allowed: Any, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self.allowed = allowed
        self._exhausted = False
        self._settle()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.child!r}, {self.allowed!r})"

    def copy(self) -> RestrictMatcher:
        return type(self)(self.child.copy(), self.allowed.copy())

    def _replacement(self, newchild: Any) -> RestrictMatcher:
        return type(self)(newchild, self.allowed)

    def _settle(self) -> bool:
        """Advance both matchers until they agree on a document."""
        child, allowed = self.child, self.allowed
        moved = False
        while child.is_active():
            if not allowed.is_active():
                self._exhausted = True
                return True
            child_id = child.id()
            allowed_id = allowed.id()
            if allowed_id == child_id:
                return moved
            if allowed_id < child_id:
                allowed.skip_to(child_id)
            else:
                moved = bool(child.skip_to(allowed_id)) or moved
        return moved

    def is_active(self) -> bool:
        return not self._exhausted and bool(self.child.is_active())

    def supports_block_quality(self) -> bool:
        return bool(self.child.supports_block_quality())


class PredicateMatcher(SkippingMatcher):
    """The documents of `child` for which `predicate(docnum)` holds, with `child`'s scores."""

    def __init__(self, child: Any, predicate: DocPredicate, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self.predicate = predicate
        self._settle()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.child!r})"

    def copy(self) -> PredicateMatcher:
        return type(self)(self.child.copy(), self.predicate)

    def _replacement(self, newchild: Any) -> PredicateMatcher:
        return type(self)(newchild, self.predicate)

    def _settle(self) -> bool:
        child, predicate = self.child, self.predicate
        moved = False
        while child.is_active() and not predicate(child.id()):
            moved = bool(child.next()) or moved
        return moved

    def all_ids(self) -> Any:
        predicate = self.predicate
        return (docnum for docnum in self.child.all_ids() if predicate(docnum))


def filters_from(
    *,
    topics: Sequence[str] | str | None = None,
    provider: str | None = None,
    doc_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_quality: int | None = None,
    published: bool | None = None,
) -> Filters:
    """Build `Filters` from loosely typed keyword arguments (a single topic may be a string)."""
    if isinstance(topics, str):
        topics = (topics,)
    return Filters(
        topics=tuple(topics or ()),
        provider=provider,
        doc_type=doc_type,
        since=since,
        until=until,
        min_quality=min_quality,
        published=published,
    )
