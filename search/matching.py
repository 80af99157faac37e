"""Matching strategies: which articles a query of several words finds, and in which groups.

A query's words typed side by side (`nasa mars rover`) need not all be in an article. Every
article with at least one of them matches; articles are ranked in groups, and within a group by
the ranking formula (text relevance x quality factor x recency factor). The strategies:

* `all`: only articles with every word; when no article has them all, articles with any word.
* `last`: every word first; then articles with all but the last word, all but the last two, and
  so on (the first word is dropped last); then the remaining articles with any word.
* `frequency`: like `last`, but the most common word (in the most articles) is dropped first.
* `any`: one group; text relevance (BM25F summed over the words an article has) decides alone.
* `coverage` (the default): every word first; then the articles with some of the words, their
  text relevance multiplied by their coverage, the share of the query's word weight they have.
  Each word weighs its inverse document frequency, 1 + ln(N / (df + 1)), so an article missing a
  rare word falls further than one missing a common word, and one rare word alone cannot
  outrank the articles that have most of the query.

What stays required whatever the strategy: clauses written with operators (`"exact phrases"`,
`title:word`, `(a OR b)` groups, every word of a query that uses AND), filters (`type:video`,
`date:...`) and NOT clauses. A query of one word or clause matches as before.

The groups are computed from whole posting lists with set operations; documents are scored only
for the groups needed to fill the requested page (all of them count for totals and facets).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from whoosh import query

from search.evaluation import Evaluator, Segment, SegmentMatches
from search.filters import Filters
from search.querying import InField
from search.schema import TEXT_FIELD
from search.scoring import ZeroScoreQuery
from search.whoosh_ext import queries as fixed

STRATEGIES = ("coverage", "all", "last", "frequency", "any")
"""The matching strategies, the default first."""
DEFAULT_STRATEGY = STRATEGIES[0]
RELATED_STRATEGY = "any"
"""`related` looks up an article's characteristic terms: sharing more of them (by their weight)
already ranks higher, and no article is expected to share them all."""

_EXPLICIT_AND = re.compile(r"(?:^|[\s()])AND(?:[\s()]|$)")


@dataclass(frozen=True, slots=True)
class QueryWords:
    """The clauses of a query, by the part they play in matching."""

    words: tuple[Any, ...]
    """Words an article may lack (typed side by side), in query order."""
    labels: tuple[str, ...]
    """How each word was typed."""
    required: tuple[Any, ...] = ()
    """Scored clauses every match must satisfy."""
    required_labels: tuple[str, ...] = ()
    filters: tuple[Any, ...] = ()
    """Clauses that restrict without scoring (`type:video`, `date:2020`)."""
    excluded: tuple[Any, ...] = ()
    """What NOT clauses exclude."""


def split_words(parsed: Any, corrected: Any, text: str) -> QueryWords:
    """The words of `corrected` (the typo-widened form of `parsed`) an article may lack.

    `parsed` is the query as typed: its clauses carry the spans of their text, which label the
    words. Typo correction keeps the clauses in place, so the two line up clause by clause.
    """
    if isinstance(parsed, query.And) and isinstance(corrected, query.And):
        typed, clauses = list(parsed.children()), list(corrected.children())
    else:
        typed, clauses = [parsed], [corrected]
    if len(typed) != len(clauses):  # not expected; match strictly rather than guess
        typed = clauses
    strict = bool(_EXPLICIT_AND.search(text))
    words: list[Any] = []
    labels: list[str] = []
    required: list[Any] = []
    required_labels: list[str] = []
    filters: list[Any] = []
    excluded: list[Any] = []
    for original, clause in zip(typed, clauses, strict=True):
        if isinstance(clause, query.Not):
            excluded.append(clause.query)
        elif isinstance(clause, ZeroScoreQuery):
            filters.append(clause)
        elif not strict and _is_word(original):
            words.append(clause)
            labels.append(_label(original, text))
        else:
            required.append(clause)
            required_labels.append(_label(original, text))
    if len(words) == 1 and not required:
        # One word is all the text there is: it is required.
        required, required_labels, words, labels = words, labels, [], []
    return QueryWords(
        words=tuple(words),
        labels=tuple(labels),
        required=tuple(required),
        required_labels=tuple(required_labels),
        filters=tuple(filters),
        excluded=tuple(excluded),
    )


def _is_word(node: Any) -> bool:
    """A bare word of the text: a term, or a prefix or wildcard typed as one word.

    The terms of a word the analyser splits ("wi-fi") carry no span of their own: they stay
    required, as the one word they were typed as."""
    return (
        isinstance(node, query.Term | query.Prefix | query.Wildcard)
        and node.fieldname == TEXT_FIELD
        and getattr(node, "startchar", None) is not None
    )


def _label(node: Any, text: str) -> str:
    """The clause as typed, when the parser recorded where; else Whoosh's rendering of it."""
    start = getattr(node, "startchar", None)
    end = getattr(node, "endchar", None)
    if isinstance(node, query.Phrase) and node.char_ranges:
        start, end = node.char_ranges[0][0], node.char_ranges[-1][1]
        if isinstance(start, int) and isinstance(end, int):
            # With the quotes around it, when they are there.
            start -= text[start - 1 : start] == '"'
            end += text[end : end + 1] == '"'
    elif isinstance(node, InField):
        return f"{node.part}:{_label(node.child, text)}"
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        return text[start:end]
    return str(node).replace(f"{TEXT_FIELD}:", "")


# -- evaluation ------------------------------------------------------------------------------------


@dataclass(slots=True)
class SegmentWords:
    """One segment: which documents each word matches (with its text score) and the candidates."""

    segment: Segment
    parts: list[dict[int, float]]
    """Per word: document -> BM25F of the word."""
    base: dict[int, float] | None
    """Document -> score of the required clauses, when there are any."""
    candidates: set[int]
    """Documents that match: any word (or the required clauses), filters passed, none excluded."""


def evaluate_words(evaluator: Evaluator, words: QueryWords, filters: Filters) -> list[SegmentWords]:
    """Evaluate each word and the required clauses, segment by segment."""
    found = []
    for segment in evaluator.segments():
        parts = [evaluator.scores(segment, word) for word in words.words]
        base: dict[int, float] | None = None
        if words.required:
            required = (
                words.required[0] if len(words.required) == 1 else fixed.And(list(words.required))
            )
            base = evaluator.scores(segment, required)
            candidates = set(base)
        elif parts:
            candidates = set().union(*parts)
        else:  # only filters and NOT clauses (`date:2020-11`, `NOT sports`): all they let through
            every = words.filters[0] if words.filters else query.Every()
            candidates = evaluator.docs(segment, every)
            base = dict.fromkeys(candidates, 0.0)
        for clause in words.filters:
            if candidates:
                candidates &= evaluator.docs(segment, clause)
        for clause in words.excluded:
            if candidates:
                candidates -= evaluator.docs(segment, clause)
        if candidates and not filters.is_empty:
            candidates = evaluator.allowed(segment, candidates, filters)
        found.append(SegmentWords(segment, parts, base, candidates))
    return found


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each part of the query weighs in `coverage`: its inverse document frequency,
    1 + ln(N / (df + 1)), over the whole index."""

    words: tuple[float, ...]
    """Each word an article may lack."""
    required: float = 0.0
    """The required clauses together (0 without any); every match has them."""


class FoundWords(Protocol):
    """What is known of a query's words in one segment, as sets (`SegmentWords`) or as arrays
    (`search.arrays.ArrayWords`)."""

    @property
    def segment(self) -> Segment: ...

    @property
    def parts(self) -> Sequence[Mapping[int, float]]: ...

    @property
    def base(self) -> Mapping[int, float] | None: ...

    @property
    def candidates(self) -> Any: ...


def word_weights(evaluator: Evaluator, found: Sequence[FoundWords]) -> Weights:
    """The weights of the words and of the required clauses of an evaluated query."""
    count = max(evaluator.searcher.doc_count(), 1)

    def idf(df: int) -> float:
        return max(1.0 + math.log(count / (df + 1)), 0.0)

    n = len(found[0].parts) if found else 0
    words = tuple(idf(sum(len(f.parts[index]) for f in found)) for index in range(n))
    has_base = bool(found) and found[0].base is not None
    required = idf(sum(len(f.base or ()) for f in found)) if has_base else 0.0
    return Weights(words, required)


def text_score(found: FoundWords, docnum: int) -> tuple[tuple[int, ...], float]:
    """Which of the words a candidate has (their indexes), and its text score: those words'
    scores in query order, then the required part. Each word's matches are looked up once."""
    indexes = []
    total = 0.0
    for index, part in enumerate(found.parts):
        score = part.get(docnum)
        if score is not None:
            indexes.append(index)
            total += score
    if found.base is not None:
        total += found.base[docnum]
    return tuple(indexes), total


@dataclass(frozen=True, slots=True)
class Groups:
    """The matches in rank order of groups, and how many have every word."""

    total: int
    every_word: int
    groups: Iterator[list[SegmentMatches]]
    """Each group's matches with their text scores, best group first; made as consumed."""
    scaled: bool = False
    """True when text scores below the first group are multiplied by their coverage."""


def group(strategy: str, found: list[SegmentWords], weights: Weights) -> Groups:
    """Split the candidates into the groups of `strategy` (see the module's docstring)."""
    n = len(found[0].parts) if found else 0
    total = sum(len(f.candidates) for f in found)
    if n == 0:
        return Groups(total, total, iter([_scored(found, [f.candidates for f in found])]))
    complete = [_every_word(f) for f in found]
    every_word = sum(len(docs) for docs in complete)
    if strategy == "all":
        if every_word:
            return Groups(every_word, every_word, iter([_scored(found, complete)]))
        return Groups(total, 0, iter([_scored(found, [f.candidates for f in found])]))
    if strategy == "any":
        return Groups(total, every_word, iter([_scored(found, [f.candidates for f in found])]))
    if strategy in ("last", "frequency"):
        order = list(range(n))
        if strategy == "frequency":
            # Rarest first, so that the most common word is the first to go.
            order.sort(key=lambda index: -weights.words[index])
        return Groups(total, every_word, _prefix_groups(found, complete, order))
    if strategy == "coverage":
        return Groups(total, every_word, _covered_groups(found, complete, weights), scaled=True)
    raise ValueError(f"unknown matching strategy {strategy!r}")


def _every_word(found: SegmentWords) -> set[int]:
    if not found.parts:
        return set(found.candidates)
    smallest = min(found.parts, key=len)
    docs = found.candidates.intersection(smallest)
    for part in found.parts:
        if part is not smallest and docs:
            docs.intersection_update(part.keys())
    return docs


def _scored(
    found: list[SegmentWords], docs: list[set[int]], weights: Weights | None = None
) -> list[SegmentMatches]:
    """The text scores of the documents `docs` (per segment), times their coverage when
    `weights` are given: the same sums as `text_score` and `coverage`, a word at a time."""
    return [
        SegmentMatches(f.segment, _segment_scores(f, chosen, weights))
        for f, chosen in zip(found, docs, strict=True)
    ]


_MAX_PATTERN_WORDS = 4


def _segment_scores(
    found: SegmentWords, chosen: set[int], weights: Weights | None
) -> dict[int, float]:
    base = found.base
    parts = found.parts
    if not parts:
        base = base or {}
        return base if len(chosen) == len(base) else {d: base[d] for d in chosen}
    if len(parts) > _MAX_PATTERN_WORDS:
        return _accumulated_scores(found, chosen, weights)
    # Split the documents by the words they have (set operations), so that each pattern's scores
    # are one comprehension with one coverage factor.
    scores: dict[int, float] = {}
    remaining = chosen
    for pattern in range((1 << len(parts)) - 1, 0, -1):
        if not remaining:
            break
        indexes = [i for i in range(len(parts)) if pattern >> i & 1]
        docs = remaining
        for i in indexes:
            docs = docs.intersection(parts[i].keys())
            if not docs:
                break
        if not docs:
            continue
        remaining = remaining - docs
        factor = None if weights is None else coverage(weights, indexes)
        scores.update(_pattern_scores([parts[i] for i in indexes], base, docs, factor))
    if remaining and base is not None:  # none of the words, only the required clauses
        factor = None if weights is None else coverage(weights, [])
        scores.update(_pattern_scores([], base, remaining, factor))
    return scores


def _pattern_scores(
    parts: list[dict[int, float]],
    base: dict[int, float] | None,
    docs: set[int],
    factor: float | None,
) -> dict[int, float]:
    """`text_score` (times `factor`) of documents that have exactly the words of `parts`."""
    if len(parts) == 1 and base is None:
        (a,) = parts
        if factor is None or factor == 1.0:
            return {d: a[d] for d in docs}
        return {d: a[d] * factor for d in docs}
    if len(parts) == 2 and base is None:
        a, b = parts
        if factor is None or factor == 1.0:
            return {d: a[d] + b[d] for d in docs}
        return {d: (a[d] + b[d]) * factor for d in docs}
    totals = dict.fromkeys(docs, 0.0)
    for part in parts:
        for docnum in docs:
            totals[docnum] += part[docnum]
    if base is not None:
        for docnum in docs:
            totals[docnum] += base[docnum]
    if factor is None or factor == 1.0:
        return totals
    return {d: score * factor for d, score in totals.items()}


def _accumulated_scores(
    found: SegmentWords, chosen: set[int], weights: Weights | None
) -> dict[int, float]:
    """As `_segment_scores`, a word at a time (for queries of many words)."""
    base = found.base
    totals = dict.fromkeys(chosen, 0.0)
    matched = dict.fromkeys(chosen, 0.0) if weights is not None else None
    for index, part in enumerate(found.parts):
        for docnum in chosen.intersection(part.keys()):
            totals[docnum] += part[docnum]
            if matched is not None and weights is not None:
                matched[docnum] += weights.words[index]
    if base is not None:
        for docnum in totals:
            totals[docnum] += base[docnum]
    if matched is None or weights is None:
        return totals
    whole = weights.required + sum(weights.words)
    if not whole:
        return totals
    required = weights.required
    return {d: score * ((required + matched[d]) / whole) for d, score in totals.items()}


def _covered_groups(
    found: list[SegmentWords], complete: list[set[int]], weights: Weights
) -> Iterator[list[SegmentMatches]]:
    """Every word; then the rest, scored with their coverage (only when the page needs them)."""
    yield _scored(found, complete)
    rest = [f.candidates - whole for f, whole in zip(found, complete, strict=True)]
    if any(rest):
        yield _scored(found, rest, weights)


def _prefix_groups(
    found: list[SegmentWords], complete: list[set[int]], order: list[int]
) -> Iterator[list[SegmentMatches]]:
    """Every word; then all but the last of `order`, all but the last two, ...; then the rest."""
    yield _scored(found, complete)
    seen = [set(docs) for docs in complete]
    for keep in range(len(order) - 1, 0, -1):
        level = []
        for f, already in zip(found, seen, strict=True):
            docs = set(f.candidates)
            for index in order[:keep]:
                if docs:
                    docs.intersection_update(f.parts[index].keys())
            docs -= already
            already |= docs
            level.append(docs)
        if any(level):
            yield _scored(found, level)
    rest = [f.candidates - already for f, already in zip(found, seen, strict=True)]
    if any(rest):
        yield _scored(found, rest)


def coverage(weights: Weights, matched: Sequence[int]) -> float:
    """The share of the query's weight an article has: the required clauses' weight plus that of
    the words at indexes `matched`, over the weight of the whole query."""
    whole = weights.required + sum(weights.words)
    if not whole:
        return 1.0
    share = 0.0
    for index in matched:
        share += weights.words[index]
    return (weights.required + share) / whole
