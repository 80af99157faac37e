"""Matching over whole posting lists as numpy arrays, once numpy is imported.

`search.matching` evaluates a query's words into dictionaries and sets, which a one-off command
can afford without importing numpy. A process that answers many searches has numpy at hand (see
`search.evaluation._numpy`), and here the same steps run on arrays: each word's matches as
ascending document numbers with their scores, the candidates as one array, membership as boolean
masks, the text scores of a group summed word by word over all of its documents at once. The sums
are made in the same order as `search.matching` makes them (adding 0.0 for a word a document lacks
changes nothing), so the scores are the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from whoosh import query

from search.evaluation import ArrayScores, Evaluator, Segment, SegmentMatches, tree_sum
from search.filters import Filters
from search.matching import Groups, QueryWords, Weights
from search.schema import TEXT_FIELD
from search.whoosh_ext import queries as fixed
from search.whoosh_ext.postings import PostingArrays


@dataclass(slots=True)
class ArrayWords:
    """`search.matching.SegmentWords` with arrays: the candidates ascending."""

    segment: Segment
    parts: list[ArrayScores]
    base: ArrayScores | None
    candidates: Any


def evaluate_words(
    evaluator: Evaluator, words: QueryWords, filters: Filters, numpy: Any
) -> list[ArrayWords]:
    """`search.matching.evaluate_words` on arrays: the parts and the base are `ArrayScores`,
    the candidates an ascending array of document numbers."""
    found = []
    for segment in evaluator.segments():
        parts = [_scores(evaluator, segment, word, numpy) for word in words.words]
        base: ArrayScores | None = None
        if words.required:
            required = (
                words.required[0] if len(words.required) == 1 else fixed.And(list(words.required))
            )
            base = _scores(evaluator, segment, required, numpy)
            candidates = base.ids
        elif len(parts) == 1:
            candidates = parts[0].ids
        elif parts:
            candidates = _union(numpy, [part.ids for part in parts], len(segment.lengths))
        else:  # only filters and NOT clauses: all they let through
            every = words.filters[0] if words.filters else query.Every()
            candidates = _ascending(numpy, evaluator.docs(segment, every))
            base = ArrayScores(numpy, candidates, numpy.zeros(len(candidates)))
        for clause in words.filters:
            if len(candidates):
                candidates = candidates[_within(numpy, candidates, evaluator, segment, clause)]
        for clause in words.excluded:
            if len(candidates):
                candidates = candidates[~_within(numpy, candidates, evaluator, segment, clause)]
        if len(candidates) and not filters.is_empty:
            candidates = _allowed(numpy, evaluator, segment, candidates, filters)
        found.append(ArrayWords(segment, parts, base, candidates))
    return found


def group(strategy: str, found: list[ArrayWords], weights: Weights, numpy: Any) -> Groups:
    """`search.matching.group` on arrays."""
    n = len(found[0].parts) if found else 0
    total = sum(len(f.candidates) for f in found)
    segments = [_Members(numpy, f) for f in found]
    if n == 0:
        return Groups(
            total, total, iter([_scored(numpy, segments, [m.everything for m in segments])])
        )
    complete = [m.having(range(n)) for m in segments]
    every_word = sum(int(mask.sum()) for mask in complete)
    anything = [m.everything for m in segments]
    if strategy == "all":
        if every_word:
            return Groups(every_word, every_word, iter([_scored(numpy, segments, complete)]))
        return Groups(total, 0, iter([_scored(numpy, segments, anything)]))
    if strategy == "any":
        return Groups(total, every_word, iter([_scored(numpy, segments, anything)]))
    if strategy in ("last", "frequency"):
        order = list(range(n))
        if strategy == "frequency":
            order.sort(key=lambda index: -weights.words[index])
        return Groups(total, every_word, _prefix_groups(numpy, segments, complete, order))
    if strategy == "coverage":
        return Groups(
            total, every_word, _covered_groups(numpy, segments, complete, weights), scaled=True
        )
    raise ValueError(f"unknown matching strategy {strategy!r}")


class _Members:
    """One segment's candidates, and for each word which of them have it (and where)."""

    def __init__(self, numpy: Any, found: ArrayWords) -> None:
        self.found = found
        candidates = found.candidates
        documents = len(found.segment.lengths)
        self.everything = numpy.ones(len(candidates), dtype=bool)
        self.values: list[Any] = []  # each word's score of each candidate, 0.0 where it lacks it
        self.has: list[Any] = []
        for part in found.parts:
            values, has = _lookup(numpy, part, candidates, documents)
            self.values.append(values)
            self.has.append(has)
        if found.base is not None:
            # The base holds every candidate (they were drawn from it).
            self.base_values, _ = _lookup(numpy, found.base, candidates, documents)

    def having(self, indexes: Any) -> Any:
        mask = self.everything
        for index in indexes:
            mask = mask & self.has[index]
        return mask


def _lookup(numpy: Any, part: ArrayScores, wanted: Any, documents: int) -> tuple[Any, Any]:
    """The score in `part` of each of `wanted` (ascending documents of a segment of `documents`),
    0.0 where `part` lacks it, and whether it has it."""
    ids = part.ids
    if wanted is ids:
        return part.scores, numpy.ones(len(ids), dtype=bool)
    if not len(ids):
        return numpy.zeros(len(wanted)), numpy.zeros(len(wanted), dtype=bool)
    if len(wanted) * _DENSE_FROM >= documents:
        # Many: tables over the whole segment cost less than a binary search for each.
        present = numpy.zeros(documents, dtype=bool)
        present[ids] = True
        dense = numpy.zeros(documents)
        dense[ids] = part.scores
        return dense[wanted], present[wanted]
    at, has = _positions(numpy, ids, wanted)
    return numpy.where(has, part.scores[at], 0.0), has


_DENSE_FROM = 32
"""`_lookup` fills tables over a segment for at least 1/32 as many documents as it has."""


def _positions(numpy: Any, ids: Any, wanted: Any) -> tuple[Any, Any]:
    """Where each of `wanted` is in the ascending `ids`, and whether it is there at all."""
    if wanted is ids:  # a single word's matches are its own candidates
        return numpy.arange(len(ids)), numpy.ones(len(ids), dtype=bool)
    if not len(ids):
        return numpy.zeros(len(wanted), dtype=numpy.int64), numpy.zeros(len(wanted), dtype=bool)
    at = numpy.minimum(ids.searchsorted(wanted), len(ids) - 1)
    return at, ids[at] == wanted


def _scored(
    numpy: Any, segments: list[_Members], chosen: list[Any], weights: Weights | None = None
) -> list[SegmentMatches]:
    """The text scores of the chosen candidates (a mask per segment), times their coverage when
    `weights` are given: the sums `search.matching` makes, word by word in query order."""
    matches = []
    for members, mask in zip(segments, chosen, strict=True):
        found = members.found
        docs = found.candidates[mask]
        total = numpy.zeros(len(docs))
        share = numpy.zeros(len(docs)) if weights is not None else None
        for index, part in enumerate(found.parts):
            if not len(part):
                continue  # a word not in this segment adds nothing
            total = total + members.values[index][mask]
            if share is not None and weights is not None:
                share = share + numpy.where(members.has[index][mask], weights.words[index], 0.0)
        if found.base is not None:
            total = total + members.base_values[mask]
        if share is not None and weights is not None:
            whole = weights.required + sum(weights.words)
            if whole:
                total = total * ((weights.required + share) / whole)
        matches.append(SegmentMatches(found.segment, ArrayScores(numpy, docs, total)))
    return matches


def _covered_groups(
    numpy: Any, segments: list[_Members], complete: list[Any], weights: Weights
) -> Iterator[list[SegmentMatches]]:
    yield _scored(numpy, segments, complete)
    rest = [~mask for mask in complete]
    if any(mask.any() for mask in rest):
        yield _scored(numpy, segments, rest, weights)


def _prefix_groups(
    numpy: Any, segments: list[_Members], complete: list[Any], order: list[int]
) -> Iterator[list[SegmentMatches]]:
    yield _scored(numpy, segments, complete)
    seen = [mask.copy() for mask in complete]
    for keep in range(len(order) - 1, 0, -1):
        level = []
        for members, already in zip(segments, seen, strict=True):
            docs = members.having(order[:keep]) & ~already
            already |= docs
            level.append(docs)
        if any(mask.any() for mask in level):
            yield _scored(numpy, segments, level)
    rest = [~already for already in seen]
    if any(mask.any() for mask in rest):
        yield _scored(numpy, segments, rest)


# -- evaluating clauses -----------------------------------------------------------------------


def _scores(evaluator: Evaluator, segment: Segment, node: Any, numpy: Any) -> ArrayScores:
    """The documents of `segment` matching `node`, with their text scores."""
    if isinstance(node, query.Term) and node.fieldname == TEXT_FIELD:
        found = evaluator.term_arrays(numpy, segment, node.text, node.boost)
        if found is not None:
            return ArrayScores(numpy, *found)
    if isinstance(node, query.Phrase) and node.fieldname == TEXT_FIELD and len(node.words) > 1:
        phrase = _phrase(evaluator, segment, node, numpy)
        if phrase is not None:
            return phrase
    if (
        isinstance(node, query.Or)
        and node.subqueries
        and all(
            isinstance(child, query.Term) and child.fieldname == TEXT_FIELD
            for child in node.subqueries
        )
    ):  # the close spellings typo correction puts in place of a word, for one
        terms = [
            evaluator.term_arrays(numpy, segment, child.text, child.boost)
            for child in node.subqueries
        ]
        if all(term is not None for term in terms):
            return _sum(numpy, [ArrayScores(numpy, *term) for term in terms if term], segment)
    scores = evaluator.scores(segment, node)
    ids = numpy.fromiter(scores.keys(), dtype=numpy.int64, count=len(scores))
    values = numpy.fromiter(scores.values(), dtype=numpy.float64, count=len(scores))
    order = numpy.argsort(ids, kind="stable")
    return ArrayScores(numpy, ids[order], values[order])


_POSITION_STRIDE = 1 << 32
"""Larger than any position: (candidate, position) pairs are keyed candidate x stride + position."""


def _phrase(
    evaluator: Evaluator, segment: Segment, node: query.Phrase, numpy: Any
) -> ArrayScores | None:
    """`Evaluator`'s phrase matching on arrays: the documents where the words occur in order,
    each at most `slop` positions after the last, scored as the sum of the words' term scores
    (added up in Whoosh's binary tree). The positions of every candidate are read at once, as
    pairs (candidate, position) that one sorted lookup per word and gap carries forward. None
    when a posting list is not in our format."""
    words = list(node.words)
    lists: dict[str, PostingArrays] = {}
    for word in dict.fromkeys(words):
        postings = evaluator.posting_arrays(segment, word)
        if postings is None:  # not in the segment, or not in our format: Evaluator answers
            return None
        lists[word] = postings
    # Only the documents with every word are scored, once they are known to have the phrase.
    candidates = None
    for postings in sorted(lists.values(), key=lambda postings: postings.count):
        ids = postings.numpy_arrays(numpy)[0]
        candidates = (
            ids
            if candidates is None
            else _intersection(numpy, candidates, ids, len(segment.lengths))
        )
    if candidates is not None and segment.deleted:
        candidates = candidates[segment.live(numpy)[candidates]]
    if candidates is None or not len(candidates):
        return _empty(numpy)

    def keys(word: str) -> Any:
        postings = lists[word]
        indexes = postings.numpy_arrays(numpy)[0].searchsorted(candidates)
        found = postings.positions_of(numpy, indexes)
        if found is None:
            return None
        counts, positions = found
        owners = numpy.repeat(numpy.arange(len(candidates), dtype=numpy.int64), counts)
        return owners * _POSITION_STRIDE + positions

    ends = keys(words[0])
    for word in words[1:]:
        following = keys(word)
        if ends is None or following is None:
            return None
        kept = numpy.zeros(len(following), dtype=bool)
        for gap in range(1, node.slop + 1):
            kept |= _positions(numpy, ends, following - gap)[1]
        ends = following[kept]
        if not len(ends):
            return _empty(numpy)
    docs = candidates[_distinct(numpy, ends // _POSITION_STRIDE)]  # the keys are ascending
    score = tree_sum(
        [evaluator.scores_of(numpy, segment, lists[word], word, 1.0, docs) for word in words]
    )
    if node.boost != 1.0:
        score = score * node.boost
    return ArrayScores(numpy, docs, score)


def _empty(numpy: Any) -> ArrayScores:
    return ArrayScores(numpy, numpy.zeros(0, dtype=numpy.int64), numpy.zeros(0))


def _sum(numpy: Any, parts: list[ArrayScores], segment: Segment) -> ArrayScores:
    """The documents of any of `parts`, with the sum of their scores, added up in the order
    `Evaluator` adds them (the longest part first)."""
    parts = sorted(parts, key=len, reverse=True)
    ids = _union(numpy, [part.ids for part in parts], len(segment.lengths))
    total = numpy.zeros(len(ids))
    for part in parts:
        if len(part):
            total = total + _lookup(numpy, part, ids, len(segment.lengths))[0]
    return ArrayScores(numpy, ids, total)


def _union(numpy: Any, lists: list[Any], documents: int) -> Any:
    """The documents in any of `lists` (ascending arrays of documents numbered below
    `documents`), ascending."""
    if sum(len(ids) for ids in lists) * 32 < documents:  # few: merging them is cheaper
        # A stable sort merges the ascending runs instead of sorting from scratch.
        return _distinct(numpy, numpy.sort(numpy.concatenate(lists), kind="stable"))
    present = numpy.zeros(documents, dtype=bool)
    for ids in lists:
        present[ids] = True
    return numpy.flatnonzero(present)


def _distinct(numpy: Any, ascending: Any) -> Any:
    """The distinct numbers of the ascending array `ascending` (what `numpy.unique` gives, without
    sorting again)."""
    if len(ascending) < 2:
        return ascending
    return ascending[numpy.concatenate(([True], ascending[1:] != ascending[:-1]))]


def _intersection(numpy: Any, few: Any, many: Any, documents: int) -> Any:
    """The documents in both ascending arrays (`few` the shorter) of a segment of `documents`."""
    if len(few) * _DENSE_FROM >= documents:  # many: through a table over the segment
        present = numpy.zeros(documents, dtype=bool)
        present[many] = True
        return few[present[few]]
    return few[_positions(numpy, many, few)[1]]  # a binary search for each of the few


def _ascending(numpy: Any, docs: set[int]) -> Any:
    return numpy.sort(numpy.fromiter(docs, dtype=numpy.int64, count=len(docs)))


def _within(numpy: Any, candidates: Any, evaluator: Evaluator, segment: Segment, node: Any) -> Any:
    """A mask of the candidates that `node` matches."""
    return numpy.isin(candidates, _ascending(numpy, evaluator.docs(segment, node)))


def _allowed(
    numpy: Any, evaluator: Evaluator, segment: Segment, candidates: Any, filters: Filters
) -> Any:
    """The candidates that `filters` let through."""
    term_query = filters.term_query()
    if term_query is not None:
        candidates = candidates[_matching(numpy, evaluator, segment, candidates, term_query)]
    times = filters.time_bounds()
    if times is not None and len(candidates):
        published = numpy.frombuffer(segment.published, dtype=numpy.int64)[candidates]
        candidates = candidates[(published >= times[0]) & (published < times[1])]
    threshold = filters.quality_threshold()
    if threshold is not None and len(candidates):
        quality = numpy.frombuffer(segment.quality, dtype=numpy.int16)[candidates]
        candidates = candidates[quality >= threshold]
    return candidates


def _matching(
    numpy: Any, evaluator: Evaluator, segment: Segment, candidates: Any, node: Any
) -> Any:
    """A mask of the candidates (none deleted) that the filter query `node` matches; the terms of
    topics, providers and types are looked up in their posting lists."""
    if isinstance(node, query.And):
        mask = numpy.ones(len(candidates), dtype=bool)
        for child in node.subqueries:
            mask &= _matching(numpy, evaluator, segment, candidates, child)
        return mask
    if isinstance(node, query.Or) and all(isinstance(c, query.Term) for c in node.subqueries):
        mask = numpy.zeros(len(candidates), dtype=bool)
        for child in node.subqueries:
            mask |= _matching(numpy, evaluator, segment, candidates, child)
        return mask
    if isinstance(node, query.Term):
        ids = evaluator.keyword_ids(numpy, segment, node)
        if ids is not None:
            return _positions(numpy, ids, candidates)[1]
    return _within(numpy, candidates, evaluator, segment, node)
