"""Facet counts: how many of *all* matching documents have each topic, provider, type or year.

One pass over the matching documents of each segment reads their values from per-document columns
(no stored fields are loaded), so the counts cover every match, not just the page shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from search.errors import InvalidArgumentError
from search.schema import FACET_COLUMNS, FACET_SEPARATOR, NO_TIME, keyword_value

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
    searcher: Any, q: Any, names: Sequence[str]
) -> tuple[int, dict[str, dict[str, int]]]:
    """The number of documents matching `q`, and per facet the count of each value among them."""
    counters = {name: Counter[str]() for name in names}
    spellings: dict[str, dict[str, str]] = {name: {} for name in names}
    total = 0
    for subsearcher, _ in searcher.leaf_searchers():
        reader = subsearcher.reader()
        columns = {
            name: _column(reader, FACET_COLUMNS.get(name, "published_time")) for name in names
        }
        matcher = q.matcher(subsearcher, subsearcher.boolean_context())
        for docnum in matcher.all_ids():
            total += 1
            for name in names:
                column = columns[name]
                if column is None:
                    continue
                value = column[docnum]
                if name == "year":
                    if value != NO_TIME:
                        counters[name][str(datetime.fromtimestamp(value, tz=UTC).year)] += 1
                    continue
                if value:
                    _count_values(value, counters[name], spellings[name])
    facets = {
        name: dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
        for name, counter in counters.items()
    }
    return total, facets


def _count_values(raw: bytes, counter: Counter[str], spellings: dict[str, str]) -> None:
    """Count each distinct value of one document once, under its first-seen spelling."""
    seen = set()
    for value in raw.decode("utf-8").split(FACET_SEPARATOR):
        key = keyword_value(value)
        if key and key not in seen:
            seen.add(key)
            counter[spellings.setdefault(key, value)] += 1


def _column(reader: Any, name: str) -> Any:
    return reader.column_reader(name) if reader.has_column(name) else None
