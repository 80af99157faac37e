"""From the text a user types to a Whoosh query.

The query language is Whoosh's: AND / OR / NOT, "phrases", wildcards (`spaceshi*`), `field:value`
with the fields `title:`, `topic:`, `excerpt:`, `provider:`, `body:`, `type:`, `category:`,
`published:`, `quality:` (numbers and ranges: `quality:>=60`, `quality:[40 TO 70]`) and `date:`
(dates and ranges: `date:2020-11-13`, `date:[2020-01 TO 2020-06]`, `date:>=2020`). Words are all
required unless OR says otherwise; `relax` gives the fallback that requires any one of them (filter
clauses and NOT stay required).
"""

from __future__ import annotations

import threading
from typing import Any

from whoosh import fields, qparser, query

from search.dates import DateParseError, parse_bound
from search.errors import QuerySyntaxError
from search.filters import FilteredQuery, Filters
from search.schema import TEXT_FIELDS, build_schema, day_number
from search.scoring import ZeroScoreQuery

_FIELD_ALIASES = {"topic": ["topics"], "provider": ["source"], "type": ["kind"]}
_MAX_QUERY_CHARS = 2_000


class _DateQueryField(fields.FieldType):  # type: ignore[misc]
    """`date:` in the query language: publication dates. Exists only in the parser's schema."""

    indexed = False
    stored = False

    def __init__(self) -> None:
        super().__init__(format=None, analyzer=None)

    def self_parsing(self) -> bool:
        return True

    def parse_query(self, fieldname: str, qstring: str, boost: float = 1.0) -> query.Query:
        return _date_query(qstring, qstring)

    def parse_range(
        self,
        fieldname: str,
        start: str | None,
        end: str | None,
        startexcl: bool,
        endexcl: bool,
        boost: float = 1.0,
    ) -> query.Query:
        # An exclusive start means "after the period named", an inclusive end "to the end of it".
        return _date_query(start, end, start_after=startexcl, end_before=endexcl)


def _date_query(
    start: str | None, end: str | None, *, start_after: bool = False, end_before: bool = False
) -> query.Query:
    try:
        since = None if start is None else parse_bound(start, upper=start_after)
        until = None if end is None else parse_bound(end, upper=not end_before)
    except DateParseError as exc:
        raise qparser.QueryParserError(f"date: {exc}") from None
    # Whole days from the indexed `day` term drive the match; the column check makes it exact.
    first = None if since is None else day_number(since)
    last = None if until is None else day_number(until)
    days = query.NumericRange("day", first, last)
    return ZeroScoreQuery(FilteredQuery(days, Filters(since=since, until=until)))


def _query_schema() -> fields.Schema:
    schema = build_schema()
    schema.add("date", _DateQueryField())
    return schema


class _Parser(threading.local):
    """A parser is cheap to use but not to build; one per thread."""

    def __init__(self) -> None:
        self.parser = qparser.MultifieldParser(
            list(TEXT_FIELDS), _query_schema(), group=qparser.AndGroup
        )
        self.parser.add_plugin(qparser.GtLtPlugin())
        self.parser.add_plugin(qparser.FieldAliasPlugin(_FIELD_ALIASES))


_parser: _Parser | None = None


def parse_query(text: str) -> query.Query:
    """Parse `text` into a query; raises `QuerySyntaxError` with a readable reason."""
    global _parser
    if not text.strip():
        raise QuerySyntaxError("the query is empty")
    if len(text) > _MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"the query is longer than {_MAX_QUERY_CHARS} characters")
    if _parser is None:
        _parser = _Parser()
    parser = _parser.parser
    try:
        parsed = parser.parse(text)
    except QuerySyntaxError:
        raise
    except Exception as exc:  # Whoosh's parser raises assorted errors on odd input
        raise QuerySyntaxError(f"cannot parse the query: {exc}") from None
    error = _first_error(parsed)
    if error is not None:
        raise QuerySyntaxError(f"cannot parse the query: {error}")
    if parsed is query.NullQuery or isinstance(parsed, type(query.NullQuery)):
        raise QuerySyntaxError("the query has no searchable words (only stop words or punctuation)")
    return _neutralise_filters(parsed)


def _first_error(node: Any) -> str | None:
    error = getattr(node, "error", None)
    if error:
        return str(error)
    if isinstance(node, query.Query) and not node.is_leaf():
        for child in node.children():
            found = _first_error(child)
            if found is not None:
                return found
    return None


def _neutralise_filters(node: Any) -> Any:
    """Wrap clauses on non-text fields so they filter without adding to the score."""
    if isinstance(node, ZeroScoreQuery | FilteredQuery):
        return node
    if node.is_leaf():
        fieldname = node.field()
        if fieldname is not None and fieldname not in TEXT_FIELDS:
            return ZeroScoreQuery(node)
        return node
    return node.apply(_neutralise_filters)


def relax(parsed: query.Query) -> query.Query | None:
    """The any-word form of an all-words query, or None when there is nothing to relax.

    Text clauses joined by the implicit AND become alternatives; filter clauses (`type:`, `date:`,
    ...) and NOT clauses stay required.
    """
    if not isinstance(parsed, query.And):
        return None
    required = [c for c in parsed.children() if isinstance(c, ZeroScoreQuery | query.Not)]
    optional = [c for c in parsed.children() if not isinstance(c, ZeroScoreQuery | query.Not)]
    if len(optional) < 2:
        return None
    alternatives = query.Or(optional)
    return query.And([*required, alternatives]) if required else alternatives
