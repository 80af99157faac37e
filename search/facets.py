"""Facet counts: how many of *all* matching documents have each topic, provider, type or year.

The search knows every match (see `search.evaluation`); their values are read from per-document
columns (no stored record is loaded), so the counts cover every match, not just the page shown.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from search.errors import InvalidArgumentError
from search.schema import FACET_COLUMNS, FACET_SEPARATOR, NO_TIME, cached_column, keyword_value

if TYPE_CHECKING:
    from search.evaluation import SegmentMatches

FACETS = ("topics", "provider", "type", "year")


def check_facets(names: Sequence[str]) -> tuple[str, ...]:
    """Validate facet names (duplicates dropped, order kept)."""
    unknown = [name for name in names if name not in FACETS]
    if unknown:
        raise InvalidArgumentError(
            f"unknown facet {', '.join(map(repr, unknown))}: choose from {', '.join(FACETS)}"
        )
    return tuple(dict.fromkeys(names))


def count_facets(
    matches: Sequence[SegmentMatches], names: Sequence[str]
) -> dict[str, dict[str, int]]:
    """For each facet, the number of matching documents with each value."""
    counters = {name: Counter[str]() for name in names}
    spellings: dict[str, dict[str, str]] = {name: {} for name in names}
    for found in matches:
        segment = found.segment
        reader = segment.reader
        columns = {name: _column(reader, FACET_COLUMNS[name]) for name in names if name != "year"}
        for docnum in found.scores:
            for name, column in columns.items():
                if column is not None:
                    value = column[docnum]
                    if value:
                        _count_values(value, counters[name], spellings[name])
            if "year" in counters:
                published = segment.published[docnum]
                if published != NO_TIME:
                    counters["year"][_year(published)] += 1
    return {
        name: dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
        for name, counter in counters.items()
    }


@functools.lru_cache(maxsize=4_096)
def _year_of_day(day: int) -> str:
    return str(datetime.fromtimestamp(day * 86_400, tz=UTC).year)


def _year(timestamp: int) -> str:
    return _year_of_day(timestamp // 86_400)


def _count_values(raw: bytes, counter: Counter[str], spellings: dict[str, str]) -> None:
    """Count each distinct value of one document once, under its first-seen spelling."""
    seen = set()
    for value in raw.decode("utf-8").split(FACET_SEPARATOR):
        key = keyword_value(value)
        if key and key not in seen:
            seen.add(key)
            counter[spellings.setdefault(key, value)] += 1


def _column(reader: Any, name: str) -> Any:
    return cached_column(reader, name) if reader.has_column(name) else None
