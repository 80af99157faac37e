"""From the text a user types to a Whoosh query.

The query language is Whoosh's: AND / OR / NOT, "phrases", wildcards (`spaceshi*`), `field:value`
with the parts of the text `title:`, `topic:`, `excerpt:`, `provider:`, `body:` (all in the one
`text` field, each in its own range of positions), and the fields `type:`, `category:`,
`published:`, `quality:` (numbers and ranges: `quality:>=60`, `quality:[40 TO 70]`) and `date:`
(dates and ranges: `date:2020-11-13`, `date:[2020-01 TO 2020-06]`, `date:>=2020`). Words typed
side by side parse as an AND; `search.matching` decides which of them a match may lack.
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

from whoosh import fields, matching, query

from search.dates import DateParseError, parse_bound
from search.errors import QuerySyntaxError
from search.filters import FilteredQuery, Filters, SkippingMatcher
from search.schema import (
    TEXT_FIELD,
    TEXT_FIELDS,
    build_schema,
    day_number,
    field_range,
    text_analyzer,
    word_term,
)
from search.scoring import ZeroScoreQuery
from search.whoosh_ext import queries as fixed
from search.whoosh_ext import with_fixed_matchers

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
        from whoosh.qparser import QueryParserError  # loaded: this runs inside Whoosh's parser

        raise QueryParserError(f"date: {exc}") from None
    # Whole days from the indexed `day` term drive the match; the column check makes it exact.
    first = None if since is None else day_number(since)
    last = None if until is None else day_number(until)
    days = fixed.NumericRange("day", first, last)
    return ZeroScoreQuery(FilteredQuery(days, Filters(since=since, until=until)))


def _query_schema() -> fields.Schema:
    """The index schema, plus what only the parser knows: `date:` and the parts of `text`."""
    schema = build_schema()
    schema.add("date", _DateQueryField())
    for part in TEXT_FIELDS:
        # Analysed like `text`; `_onto_text` then turns `title:word` into `word` in the title range.
        schema.add(part, fields.TEXT(analyzer=text_analyzer()))
    return schema


_PHRASE = re.compile(r'"[^"]*"?')
_FIELD_NAMES = sorted(
    {*_query_schema().names(), *(alias for aliases in _FIELD_ALIASES.values() for alias in aliases)}
)
# A field name with nothing after it (`quality:`, `date:>=`), which Whoosh reads as the plain word.
_EMPTY_FIELD = re.compile(
    rf"(?<![\w:])({'|'.join(map(re.escape, _FIELD_NAMES))}):(?:[<>]=?|=<|=>)?(?=$|[\s)])"
)
_FIELD_EXAMPLES = {
    "quality": "quality:>=60",
    "date": "date:2020-11",
    "published": "published:true",
    "type": "type:video",
}


_NOT = r"((^|(?<=(\s|[()])))NOT(?=\s))|((^|(?<=[\s(]))-(?=[\w\"(]))"
"""NOT as Whoosh spells it, or a minus sign starting a word, phrase or group (`oil -gas`), as in
web search; a hyphen inside a word (`x-ray`) or before a number in a field (`quality:-5`) is not
one."""


class _Parser(threading.local):
    """A parser is cheap to use but not to build; one per thread. Whoosh's parser is built (and
    imported) only for a query that is more than plain words."""

    def __init__(self) -> None:
        self.schema = _query_schema()
        self._parser: Any = None

    @property
    def parser(self) -> Any:
        if self._parser is None:
            from whoosh import qparser

            parser = qparser.QueryParser(TEXT_FIELD, self.schema, group=qparser.AndGroup)
            parser.add_plugin(qparser.GtLtPlugin())
            parser.add_plugin(qparser.FieldAliasPlugin(_FIELD_ALIASES))
            parser.replace_plugin(qparser.OperatorsPlugin(Not=_NOT))
            self._parser = parser
        return self._parser


_parser: _Parser | None = None


def parse_query(text: str) -> query.Query:
    """Parse `text` into a query; raises `QuerySyntaxError` with a readable reason."""
    global _parser
    if not text.strip():
        raise QuerySyntaxError("the query is empty")
    if _SURROGATE.search(text):
        raise QuerySyntaxError("the query is not valid text (it has undecodable bytes)")
    if len(text) > _MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"the query is longer than {_MAX_QUERY_CHARS} characters")
    plain = _plain_words(text)
    if plain is None:
        plain = _plain_phrase(text)
    if plain is not None:  # terms of the text field only: nothing below would find or change
        return plain
    if _parser is None:
        _parser = _Parser()
    try:
        parsed = _parser.parser.parse(text)
    except QuerySyntaxError:
        raise
    except Exception as exc:  # Whoosh's parser raises assorted errors on odd input
        raise QuerySyntaxError(f"cannot parse the query: {exc}") from None
    empty = _EMPTY_FIELD.search(_PHRASE.sub("_", text))  # a phrase is a value
    if empty is not None:
        raise QuerySyntaxError(
            f"cannot parse the query: {empty.group(0).strip()} needs a value "
            f"(for example {_FIELD_EXAMPLES.get(empty.group(1), 'title:word')})"
        )
    error = _first_error(parsed)
    if error is not None:
        raise QuerySyntaxError(f"cannot parse the query: {error}")
    if parsed is query.NullQuery or isinstance(parsed, type(query.NullQuery)):
        raise QuerySyntaxError("the query has no searchable words (only stop words or punctuation)")
    return with_fixed_matchers(_onto_text(parsed))


_SURROGATE = re.compile("[\ud800-\udfff]")
"""A lone surrogate: what decoding undecodable bytes with `surrogateescape` leaves."""
_PLAIN_WORD = re.compile(r"[^\W_]+")
_PLAIN_WORDS = re.compile(r"\s*[^\W_]+(?:\s+[^\W_]+)*\s*")
_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"})


def _plain_words(text: str) -> query.Query | None:
    """The query Whoosh's parser makes of words of letters and digits typed side by side (the
    most common query), made directly: each word analysed alone (one token: the analyser's
    tokens are runs of word characters), the terms ANDed (our `And`), a repeated term once, as
    Whoosh's normalising leaves them. None for any other text: the parser reads that."""
    if not _PLAIN_WORDS.fullmatch(text):
        return None
    terms: dict[query.Term, None] = {}
    for match in _PLAIN_WORD.finditer(text):
        word = match.group()
        if word in _OPERATORS:
            return None
        analysed = word_term(word)
        if analysed is not None:
            term = query.Term(TEXT_FIELD, analysed)
            term.startchar, term.endchar = match.span()
            terms.setdefault(term)  # the first of equal terms stays, with its span
    if not terms:
        return None
    return next(iter(terms)) if len(terms) == 1 else fixed.And(list(terms))


# Inside quotes, as Whoosh's phrase tagger reads them: any character but a line break.
_PLAIN_PHRASE = re.compile(r'\s*"([^\S\n]*[^\W_]+(?:[^\S\n]+[^\W_]+)*[^\S\n]*)"\s*')


def _plain_phrase(text: str) -> query.Query | None:
    """The query Whoosh's parser makes of one phrase of words of letters and digits in quotes
    (`"oil prices"`), made directly: each word analysed alone, with the span of the text it
    was typed in. None for any other text: the parser reads that."""
    match = _PLAIN_PHRASE.fullmatch(text)
    if match is None:
        return None
    words = []
    char_ranges = []
    for word_match in _PLAIN_WORD.finditer(text, match.start(1), match.end(1)):
        word = word_match.group()
        if word in _OPERATORS:
            return None
        analysed = word_term(word)
        if analysed is not None:
            words.append(analysed)
            char_ranges.append(word_match.span())
    if not words:
        return None
    return query.Phrase(TEXT_FIELD, words, char_ranges=char_ranges).normalize()


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


def _onto_text(node: Any) -> Any:
    """Map clauses on article parts (`title:word`) onto their range of `text`, and wrap clauses on
    other fields (`type:video`) so that they filter without adding to the score."""
    if isinstance(node, ZeroScoreQuery | FilteredQuery | InField):
        return node
    if node.is_leaf():
        fieldname = node.field()
        if fieldname in TEXT_FIELDS:
            retargeted = copy.copy(node)
            retargeted.fieldname = TEXT_FIELD
            return InField(fieldname, retargeted)
        if fieldname is not None and fieldname != TEXT_FIELD:
            return ZeroScoreQuery(node)
        return node
    return node.apply(_onto_text)


class InField(query.Query):  # type: ignore[misc]
    """What a query on `text` matches inside one part of the article (`title:oil`).

    Scores are those of the query on the whole text; only the matching is restricted, by the
    positions the part owns (see `search.schema.field_range`).
    """

    def __init__(self, part: str, child: Any) -> None:
        self.part = part
        self.child = child

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.part!r}, {self.child!r})"

    def __str__(self) -> str:
        return f"{self.part}:({self.child})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InField) and (other.part, other.child) == (self.part, self.child)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.part, self.child))

    def is_leaf(self) -> bool:
        return False

    def children(self) -> Any:
        yield self.child

    def apply(self, fn: Any) -> InField:
        return InField(self.part, fn(self.child))

    def field(self) -> str:
        return TEXT_FIELD

    def estimate_size(self, ixreader: Any) -> int:
        return int(self.child.estimate_size(ixreader))

    def estimate_min_size(self, ixreader: Any) -> int:
        return 0

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        low, high = field_range(self.part)
        child = self.child
        if isinstance(child, query.Term):
            inner = child.matcher(searcher, context)
            return _InRange(inner, low, high, spans=False) if inner.is_active() else inner
        if isinstance(child, query.Phrase):
            inner = child.matcher(searcher, context)
            return _InRange(inner, low, high, spans=True) if inner.is_active() else inner
        if isinstance(child, query.MultiTerm):
            # Prefixes, wildcards, ranges: each expansion restricted on its own.
            terms = [query.Term(TEXT_FIELD, text) for text in child._btexts(searcher.reader())]
            if not terms:
                return matching.NullMatcher()
            return fixed.Or([InField(self.part, term) for term in terms]).matcher(searcher, context)
        if not child.is_leaf():  # e.g. the alternatives typo correction puts in place of a word
            return child.apply(lambda part: InField(self.part, part)).matcher(searcher, context)
        return child.matcher(searcher, context)


class _InRange(SkippingMatcher):
    """The documents of `child` with a position (or a matched span) in [low, high)."""

    def __init__(self, child: Any, low: int, high: int, spans: bool, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self.low, self.high, self.use_spans = low, high, spans
        self._settle()

    def copy(self) -> _InRange:
        return _InRange(self.child.copy(), self.low, self.high, self.use_spans)

    def _replacement(self, newchild: Any) -> _InRange:
        return _InRange(newchild, self.low, self.high, self.use_spans)

    def _inside(self) -> bool:
        low, high = self.low, self.high
        if self.use_spans:
            return any(low <= span.start < high for span in self.child.spans())
        return any(low <= position < high for position in self.child.value_as("positions"))

    def _settle(self) -> bool:
        moved = False
        while self.child.is_active() and not self._inside():
            moved = bool(self.child.next()) or moved
        return moved
