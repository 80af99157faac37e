"""Scoring every match of a query, a posting list at a time.

Whoosh scores document by document through a tree of matcher objects: several Python calls per
posting per clause. Here the common shapes (terms combined with AND / OR / NOT, filters) are
evaluated a term at a time instead: each posting list is read a block at a time and turned into
a dictionary from document to BM25F score, and dictionaries and sets are combined with C-speed
operations. Scores are computed with Whoosh's own formula in the same order of operations, so
they are Whoosh's scores; any other clause (phrases, `title:` ranges, constant scores) is scored
by Whoosh's matchers and joins in the same way. Knowing every match also gives the exact total.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whoosh import query
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from search.filters import FilteredQuery, Filters
from search.ranking import (
    DEFAULT_RANKING,
    RankingSettings,
    max_boost,
    min_boost,
    quality_factor,
    recency_factor,
)
from search.schema import NO_QUALITY, NO_TIME, TEXT_FIELD, cached_column
from search.scoring import RankedDoc, TextBM25F, ZeroScoreQuery, order_key
from search.whoosh_ext import length_codes
from search.whoosh_ext.caches import reader_cache
from search.whoosh_ext.postings import ArrayLeafMatcher, PostingArrays


@dataclass(slots=True)
class SegmentMatches:
    """The matches of a query in one segment: local document number -> text score."""

    segment: Segment
    scores: Mapping[int, float]


class ArrayScores(Mapping[int, float]):
    """Documents (ascending numpy array) and their scores (another); reads like a dictionary."""

    __slots__ = ("_numpy", "ids", "scores")

    def __init__(self, numpy: Any, ids: Any, scores: Any) -> None:
        self._numpy = numpy
        self.ids = ids
        self.scores = scores

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def _index(self, docnum: object) -> int:
        if not isinstance(docnum, int):
            return -1
        ids = self.ids
        at = int(ids.searchsorted(docnum))
        return at if at < len(ids) and ids[at] == docnum else -1

    def __contains__(self, docnum: object) -> bool:
        return self._index(docnum) >= 0

    def __getitem__(self, docnum: int) -> float:
        at = self._index(docnum)
        if at < 0:
            raise KeyError(docnum)
        return float(self.scores[at])

    def get(self, docnum: int, default: Any = None) -> Any:  # one lookup, no KeyError
        at = self._index(docnum)
        return default if at < 0 else float(self.scores[at])

    def as_dict(self) -> dict[int, float]:
        return dict(zip(self.ids.tolist(), self.scores.tolist(), strict=True))


def _as_dicts(matches: list[SegmentMatches]) -> list[SegmentMatches]:
    return [
        SegmentMatches(found.segment, found.scores.as_dict())
        if isinstance(found.scores, ArrayScores)
        else found
        for found in matches
    ]


class Segment:
    """One segment of the index, with the per-document values scoring needs loaded as arrays.

    Built once per segment reader and kept beside it, so only the first search after a commit
    pays.
    """

    def __init__(self, subsearcher: Any, offset: int) -> None:
        self.searcher = subsearcher
        self.offset = offset
        reader = subsearcher.reader()
        self.reader = reader
        cached = reader_cache(reader)
        cache: tuple[bytes, array[int], array[int], frozenset[int]] | None = cached.get("arrays")
        if cache is None:
            cache = (
                _length_bytes(reader),
                _numeric_column(reader, "quality_value", "h", NO_QUALITY),
                _numeric_column(reader, "published_time", "q", NO_TIME),
                frozenset(reader.deleted_docs_set) if reader.has_deletions() else frozenset(),
            )
            cached["arrays"] = cache
        self.lengths, self.quality, self.published, self.deleted = cache
        self._urls: Any = None

    def numpy_norms(self, numpy: Any, norms: list[float]) -> Any:
        """Each document's BM25 length normalisation (`norms` by its length code), as an array."""
        cached = reader_cache(self.reader)
        found = cached.get("norms")
        if found is None or found[0] is not norms:  # the first search, or a new average length
            codes = numpy.frombuffer(self.lengths, dtype=numpy.uint8)
            found = cached["norms"] = (norms, numpy.array(norms, dtype=numpy.float64)[codes])
        return found[1]

    def live(self, numpy: Any) -> Any:
        """Whether each document is live (not deleted), as a boolean array."""
        cached = reader_cache(self.reader)
        found = cached.get("live")
        if found is None:
            found = numpy.ones(len(self.lengths), dtype=bool)
            found[numpy.fromiter(self.deleted, dtype=numpy.int64, count=len(self.deleted))] = False
            cached["live"] = found
        return found

    def boost_arrays(self, numpy: Any, quality_weight: float) -> tuple[Any, Any, Any]:
        """For every document: its quality factor under `quality_weight`, whether it is dated,
        and its publication time as a float (0 when undated), as numpy arrays."""
        cached = reader_cache(self.reader)
        factors = cached.get(("quality factors", quality_weight))
        if factors is None:
            factors = _quality_factors(
                numpy, numpy.frombuffer(self.quality, dtype=numpy.int16), quality_weight
            )
            cached[("quality factors", quality_weight)] = factors
        return factors, *self._times(numpy)

    def _times(self, numpy: Any) -> tuple[Any, Any]:
        """Whether each document is dated, and its publication time as a float (0 if not)."""
        cached = reader_cache(self.reader)
        times = cached.get("times")
        if times is None:
            published = numpy.frombuffer(self.published, dtype=numpy.int64)
            dated = published != NO_TIME
            times = cached["times"] = (dated, numpy.where(dated, published, 0).astype(float))
        return times

    def boost_terms(self, numpy: Any, settings: RankingSettings) -> tuple[Any, Any, float] | None:
        """Every document's boost as `a + b x 2^(-(now - latest) / half_life)`, for any `now` from
        `latest` on (the newest publication time here): arrays `a` and `b`, and `latest`.

        The recency factor 1 + w (2^(-(now - t) / h) - 0.5) splits into a part that does not
        depend on `now` and one that scales with it by the same number for every document, so a
        search multiplies instead of raising each of its matches to a power. Each setting's
        terms take 16 bytes per document and are kept for the segment's lifetime; None past
        `_BOOST_TERMS_KEPT` different settings (the searches with others compute as before).
        """
        cached = reader_cache(self.reader)
        kept = cached.setdefault("boost terms", {})
        key = (settings.quality_weight, settings.recency_weight, settings.half_life_days)
        found = kept.get(key)
        if found is None:
            if len(kept) >= _BOOST_TERMS_KEPT:
                return None
            dated, published = self._times(numpy)
            latest = float(published[dated].max()) if dated.any() else 0.0
            quality = numpy.frombuffer(self.quality, dtype=numpy.int16)
            q_factor = _quality_factors(numpy, quality, settings.quality_weight)
            weight = settings.recency_weight
            half_lives = (latest - numpy.where(dated, published, latest)) / (
                _SECONDS_PER_DAY * settings.half_life_days
            )
            decay_at_latest = numpy.power(0.5, half_lives)
            a = numpy.where(dated, q_factor * (1.0 - 0.5 * weight), q_factor)
            b = numpy.where(dated, q_factor * weight * decay_at_latest, 0.0)
            found = kept[key] = (a, b, latest)
        return found  # type: ignore[no-any-return]

    def url(self, docnum: int) -> str:
        urls = self._urls
        if urls is None:  # the column as stored: its bytes are decoded here, once each
            urls = self._urls = cached_column(self.reader, "url", translate=False)
        return str(urls[docnum], "utf-8")


class Evaluator:
    """Evaluates queries on one searcher, with its global BM25 statistics."""

    def __init__(self, searcher: Any, *, vectorise: bool | None = None) -> None:
        """`vectorise`: score posting lists with numpy (True), in Python (False), or as pays
        (None: see `_POSTINGS_BEFORE_NUMPY`); the scores are the same."""
        self.searcher = searcher
        self.vectorise = vectorise
        self.weighting = TextBM25F()
        self.k1, self.b = self.weighting.K1, self.weighting.B
        self.norms = _norms(self.k1, self.b, searcher.avg_field_length(TEXT_FIELD) or 1)

    def matches(self, q: query.Query) -> list[SegmentMatches]:
        """Every document matching `q`, with its text score, segment by segment."""
        return [SegmentMatches(segment, self._scores(segment, q)) for segment in self.segments()]

    def segments(self) -> list[Segment]:
        """The segments of the index, with the per-document values scoring needs."""
        return [Segment(sub, offset) for sub, offset in self.searcher.leaf_searchers()]

    def scores(self, segment: Segment, q: query.Query) -> dict[int, float]:
        """Every document of `segment` matching `q`, with its text score."""
        return self._scores(segment, q)

    def docs(self, segment: Segment, q: query.Query) -> set[int]:
        """The documents of `segment` matching `q` (not scored)."""
        return self._docs(segment, q)

    def allowed(self, segment: Segment, docs: set[int], filters: Filters) -> set[int]:
        """The documents of `docs` that `filters` let through."""
        term_query = filters.term_query()
        if term_query is not None and docs:
            docs = self._among(segment, docs, term_query)
        predicate = filters.array_predicate(segment.quality, segment.published)
        if predicate is not None and docs:
            docs = {d for d in docs if predicate(d)}
        return docs

    # -- the query shapes evaluated here ----------------------------------------------------------

    def _scores(self, segment: Segment, node: Any) -> dict[int, float]:
        if isinstance(node, query.Term) and node.fieldname == TEXT_FIELD:
            return self._term(segment, node.text, node.boost)
        if isinstance(node, query.Or) and not any(
            isinstance(c, query.Not) for c in node.subqueries
        ):
            return self._union([self._scores(segment, child) for child in node.subqueries])
        if isinstance(node, query.And):
            return self._intersection(segment, node.subqueries)
        if isinstance(node, query.AndNot):
            scores = self._scores(segment, node.a)
            return _without(scores, self._docs(segment, node.b))
        if isinstance(node, FilteredQuery):
            return self._filtered(segment, node)
        if isinstance(node, ZeroScoreQuery):
            return dict.fromkeys(self._docs(segment, node.child), 0.0)
        if isinstance(node, query.Phrase) and node.fieldname == TEXT_FIELD and len(node.words) > 1:
            return self._phrase(segment, node)
        if (
            isinstance(node, query.Prefix | query.Wildcard | query.FuzzyTerm)
            and node.field() == TEXT_FIELD
        ):
            words = list(node._btexts(segment.reader))
            return self._union([self._term(segment, word, node.boost) for word in words])
        return self._by_matcher(segment, node)

    def _term(self, segment: Segment, text: Any, boost: float) -> dict[int, float]:
        """BM25 of every document containing `text`."""
        return self._term_postings(segment, text, boost)[0]

    def _term_postings(
        self, segment: Segment, text: Any, boost: float, *, with_values: bool = False
    ) -> tuple[dict[int, float], Callable[[int], list[int]]]:
        """BM25 of every document containing `text`, and (`with_values`) a function giving the
        positions of the word in a document."""
        reader = segment.reader
        if (TEXT_FIELD, text) not in reader:
            return {}, _no_value
        parent = self.searcher
        idf = parent.idf(TEXT_FIELD, text)
        k1_plus_1 = self.k1 + 1
        norms, lengths, deleted = self.norms, segment.lengths, segment.deleted
        postings = reader.postings(TEXT_FIELD, text)
        arrays = _posting_arrays(postings)
        numpy: Any = None
        if arrays is not None and self.vectorise is not False:
            numpy = _numpy(arrays.count, now=bool(self.vectorise))
        if arrays is not None and numpy is not None:
            ids, computed = self.scored_arrays(numpy, segment, arrays, text, boost)
            whole = dict(zip(ids.tolist(), computed.tolist(), strict=True))
            # Positions are found by the place of a document among all the list's ids.
            return whole, _array_positions(arrays, arrays.ids) if with_values else _no_value
        scores: dict[int, float] = {}
        values: dict[int, bytes] = {}
        blocks = (
            _blocks(postings, with_values=with_values)
            if arrays is None
            else iter([(arrays.ids, arrays.weights, None)])
        )
        for ids, weights, block_values in blocks:
            for docnum, weight in zip(ids, weights, strict=True):
                if docnum in deleted:
                    continue
                # Whoosh's bm25(): idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
                score = idf * ((weight * k1_plus_1) / (weight + norms[lengths[docnum]]))
                scores[docnum] = score * boost if boost != 1.0 else score
            if with_values and block_values is not None:
                values.update(zip(ids, block_values, strict=True))
        if arrays is not None and with_values:
            return scores, _array_positions(arrays, arrays.ids)
        decode = reader.schema[TEXT_FIELD].format.decode_positions
        return scores, lambda docnum: list(decode(values[docnum]))

    def term_arrays(
        self, numpy: Any, segment: Segment, text: Any, boost: float
    ) -> tuple[Any, Any] | None:
        """BM25 of every document containing `text`, as numpy arrays of ascending document
        numbers and of scores; None when the posting list is not in our format (a short list
        kept in the term dictionary)."""
        try:
            postings = segment.reader.postings(TEXT_FIELD, text)
        except TermNotFound:
            return numpy.zeros(0, dtype=numpy.int64), numpy.zeros(0, dtype=numpy.float64)
        arrays = _posting_arrays(postings)
        if arrays is None:
            return None
        return self.scored_arrays(numpy, segment, arrays, text, boost)

    def posting_arrays(self, segment: Segment, text: Any) -> PostingArrays | None:
        """The posting list of `text` in `segment`'s text field (None when the segment lacks the
        word or the list is not in our format)."""
        try:
            return _posting_arrays(segment.reader.postings(TEXT_FIELD, text))
        except TermNotFound:
            return None

    def scored_arrays(
        self, numpy: Any, segment: Segment, arrays: PostingArrays, text: Any, boost: float
    ) -> tuple[Any, Any]:
        """The live documents of `text`'s posting list `arrays` and their BM25, computed over
        the whole list at once with Whoosh's formula and order of operations in float64 (its
        weights are float32 either way): the same scores, bit for bit."""
        ids, weights32 = arrays.numpy_arrays(numpy)
        computed = self._bm25(numpy, segment, ids, weights32, text, boost)
        if segment.deleted:
            live = segment.live(numpy)[ids]
            ids, computed = ids[live], computed[live]
        return ids, computed

    def scores_of(
        self,
        numpy: Any,
        segment: Segment,
        arrays: PostingArrays,
        text: Any,
        boost: float,
        docs: Any,
    ) -> Any:
        """`scored_arrays` of only `docs` (ascending, each in the posting list `arrays`): the
        same scores, computed for those documents alone."""
        ids, weights32 = arrays.numpy_arrays(numpy)
        return self._bm25(numpy, segment, docs, weights32[ids.searchsorted(docs)], text, boost)

    def _bm25(
        self, numpy: Any, segment: Segment, ids: Any, weights32: Any, text: Any, boost: float
    ) -> Any:
        """BM25 of `text` in the documents `ids` of `segment`, where its weights are `weights32`."""
        idf = self.searcher.idf(TEXT_FIELD, text)
        # In place, two arrays in all: a few operations over posting lists of hundreds of
        # thousands. Each step is Whoosh's (a sum or product of two numbers is the same either
        # way round).
        computed = weights32.astype(numpy.float64)
        denominator = segment.numpy_norms(numpy, self.norms)[ids]
        denominator += computed
        computed *= self.k1 + 1
        computed /= denominator
        computed *= idf
        if boost != 1.0:
            computed *= boost
        return computed

    def _phrase(self, segment: Segment, node: query.Phrase) -> dict[int, float]:
        """Documents where the words occur in order, each at most `slop` positions after the last.

        What Whoosh's SpanNear2 matcher finds and how it scores them (the sum of the words' term
        scores, added up in the same binary tree), from whole posting lists instead of a
        document-at-a-time walk; positions are decoded only for documents that have every word.
        """
        words = list(node.words)
        found: dict[str, tuple[dict[int, float], Callable[[int], list[int]]]] = {}
        for word in words:
            if word not in found:
                found[word] = self._term_postings(segment, word, 1.0, with_values=True)
                if not found[word][0]:
                    return {}
        by_size = sorted(found.values(), key=lambda pair: len(pair[0]))
        candidates = set(by_size[0][0]).intersection(*(pair[0] for pair in by_size[1:]))
        slop = node.slop
        scores: dict[int, float] = {}
        for docnum in candidates:
            positions: dict[str, list[int]] = {}
            ends = set(found[words[0]][1](docnum))
            for word in words[1:]:
                if word not in positions:
                    positions[word] = found[word][1](docnum)
                ends = {
                    q for q in positions[word] if any(q - gap in ends for gap in range(1, slop + 1))
                }
                if not ends:
                    break
            else:
                score: float = tree_sum([found[word][0][docnum] for word in words])
                scores[docnum] = score * node.boost if node.boost != 1.0 else score
        return scores

    def _union(self, parts: list[dict[int, float]]) -> dict[int, float]:
        if not parts:
            return {}
        parts.sort(key=len, reverse=True)
        total = dict(parts[0])
        for part in parts[1:]:
            for docnum, score in part.items():
                total[docnum] = total.get(docnum, 0.0) + score
        return total

    def _intersection(self, segment: Segment, children: list[Any]) -> dict[int, float]:
        scored = [c for c in children if not isinstance(c, query.Not | ZeroScoreQuery)]
        required = [c for c in children if isinstance(c, ZeroScoreQuery)]
        excluded = [c for c in children if isinstance(c, query.Not)]
        if not scored:
            scored_parts: list[dict[int, float]] = []
        else:
            scored_parts = sorted((self._scores(segment, c) for c in scored), key=len)
        if scored_parts:
            total = {
                d: s for d, s in scored_parts[0].items() if all(d in p for p in scored_parts[1:])
            }
            for part in scored_parts[1:]:
                for docnum in total:
                    total[docnum] += part[docnum]
        else:
            total = (
                dict.fromkeys(self._docs(segment, required.pop(0).child), 0.0) if required else {}
            )
        for child in required:
            allowed = self._docs(segment, child.child)
            total = {d: s for d, s in total.items() if d in allowed}
        for child in excluded:
            total = _without(total, self._docs(segment, child.query))
        return total

    def _filtered(self, segment: Segment, node: FilteredQuery) -> dict[int, float]:
        scores = self._scores(segment, node.child)
        term_query = node.filters.term_query()
        if term_query is not None and scores:
            allowed = self._docs(segment, term_query)
            scores = {d: s for d, s in scores.items() if d in allowed}
        predicate = node.filters.array_predicate(segment.quality, segment.published)
        if predicate is not None and scores:
            scores = {d: s for d, s in scores.items() if predicate(d)}
        return scores

    def _among(self, segment: Segment, docs: set[int], node: Any) -> set[int]:
        """The documents of `docs` (none deleted) that `node` matches.

        A filter's terms (a topic, a provider) often match far more documents than the query: each
        of `docs` is looked up in their posting lists instead of reading the lists whole."""
        if isinstance(node, query.And):
            for child in node.subqueries:
                if docs:
                    docs = self._among(segment, docs, child)
            return docs
        if isinstance(node, query.Or) and all(
            isinstance(child, query.Term) for child in node.subqueries
        ):
            kept: set[int] = set()
            for child in node.subqueries:
                kept |= self._among(segment, docs - kept, child)
            return kept
        if isinstance(node, query.Term) and node.fieldname in _KEYWORD_FIELDS:
            try:
                arrays = _posting_arrays(segment.reader.postings(node.fieldname, node.text))
            except TermNotFound:
                return set()
            if arrays is not None:
                return _members(docs, arrays)
        return docs & self._docs(segment, node)

    def keyword_ids(self, numpy: Any, segment: Segment, node: query.Term) -> Any:
        """The documents (deleted ones too) with the whole-value term of `node` (a topic, a
        provider, a type), as an ascending array; None for another field or a posting list not
        in our format."""
        if node.fieldname not in _KEYWORD_FIELDS:
            return None
        try:
            arrays = _posting_arrays(segment.reader.postings(node.fieldname, node.text))
        except TermNotFound:
            return numpy.zeros(0, dtype=numpy.int64)
        return None if arrays is None else arrays.numpy_arrays(numpy)[0]

    # -- everything else, through Whoosh's matchers --------------------------------------------

    def _docs(self, segment: Segment, node: Any) -> set[int]:
        return set(node.docs(segment.searcher))

    def _by_matcher(self, segment: Segment, node: Any) -> dict[int, float]:
        context = segment.searcher.context(weighting=self.weighting)
        matcher = node.matcher(segment.searcher, context)
        scores: dict[int, float] = {}
        while matcher.is_active():
            scores[matcher.id()] = matcher.score()
            matcher.next()
        return scores


def top_documents(
    matches: list[SegmentMatches],
    settings: RankingSettings,
    now_timestamp: float,
    order: str,
    wanted: int,
) -> list[RankedDoc]:
    """The `wanted` best of all matches under `order`, best first (ties broken by URL)."""
    if wanted <= 0:
        return []
    relevance = order == "relevance"
    matches = (
        _shortlist(matches, settings, now_timestamp, wanted) if relevance else _as_dicts(matches)
    )
    if relevance:
        cutoff = _text_cutoff(matches, settings, wanted)
        # Best text scores first: once even the largest boost cannot lift a text score to the
        # final score of the `wanted`-th best seen so far, no later match can reach the page.
        ordered = sorted(
            (
                (text, segment_index, docnum)
                for segment_index, found in enumerate(matches)
                for docnum, text in _above(found.scores, cutoff)
            ),
            key=lambda item: item[0],
            reverse=True,
        )
        reach = max_boost(settings) * (1 + 1e-9)  # a hair more, so a tie is never dropped
    else:
        ordered = [
            (text, segment_index, docnum)
            for segment_index, found in enumerate(matches)
            for docnum, text in found.scores.items()
        ]
        reach = _LAST
    candidates = []  # (key without the URL, segment, local document number, parts of the score)
    finals: list[float] = []  # the `wanted` best final scores so far, as a min-heap
    for text, segment_index, docnum in ordered:
        if len(finals) == wanted and text * reach < finals[0]:
            break
        segment = matches[segment_index].segment
        quality = segment.quality[docnum]
        published = segment.published[docnum]
        quality_or_none = None if quality == NO_QUALITY else quality
        published_or_none = None if published == NO_TIME else published
        q_factor = quality_factor(quality_or_none, settings.quality_weight)
        r_factor = recency_factor(
            None if published_or_none is None else now_timestamp - published,
            settings.recency_weight,
            settings.half_life_days,
        )
        final = text * q_factor * r_factor
        if relevance:
            key: tuple[Any, ...] = (-final, -published if published_or_none is not None else _LAST)
            if len(finals) < wanted:
                heapq.heappush(finals, final)
            elif final > finals[0]:
                heapq.heapreplace(finals, final)
        else:
            key = order_key(order, final, quality_or_none, published_or_none, "")[:-1]
        candidates.append((key, segment, docnum, text, q_factor, r_factor, final))
    if not candidates:
        return []
    best = heapq.nsmallest(wanted, candidates, key=lambda c: c[0])
    # Documents equal on everything but the URL: where the page ends among them, the URL decides.
    boundary = best[-1][0]
    tied = [c for c in candidates if c[0] == boundary] if len(candidates) > wanted else []
    if len(tied) > sum(1 for c in best if c[0] == boundary):
        best = [c for c in best if c[0] != boundary]
        tied.sort(key=lambda c: c[1].url(c[2]))
        best.extend(tied[: wanted - len(best)])
    ranked = []
    for key, segment, docnum, text, q_factor, r_factor, final in best:
        quality = segment.quality[docnum]
        published = segment.published[docnum]
        url = segment.url(docnum)
        ranked.append(
            RankedDoc(
                docnum=segment.offset + docnum,
                final=final,
                text=text,
                quality_factor=q_factor,
                recency_factor=r_factor,
                quality=None if quality == NO_QUALITY else quality,
                published_time=None if published == NO_TIME else published,
                url=url,
                key=(*key, url),
            )
        )
    ranked.sort(key=lambda doc: doc.key)
    return ranked


def _quality_factors(numpy: Any, quality: Any, weight: float) -> Any:
    """`quality_factor` of each of the stored qualities `quality`, within a hair."""
    return numpy.where(
        quality != NO_QUALITY, 1.0 + weight * (numpy.clip(quality, 0, 100) / 100.0 - 0.5), 1.0
    )


_USUAL_WEIGHTS = frozenset({0.0, DEFAULT_RANKING.quality_weight, 1.0})
"""Quality weights whose factors are kept for a whole segment (a request may name any other)."""
_BOOST_TERMS_KEPT = 4
"""Ranking settings a segment keeps its boost terms for (`Segment.boost_terms`)."""
_SHORTLIST_FROM = 64
"""Matches from which `_shortlist` narrows them with numpy before they are ranked one by one."""
_APPROXIMATION = 1e-9
"""How far apart numpy's boosted scores and the exact ones may be, relatively (they differ in the
last bits at most: numpy's vectorised `power` is not the C library's)."""


def _shortlist(
    matches: list[SegmentMatches], settings: RankingSettings, now_timestamp: float, wanted: int
) -> list[SegmentMatches]:
    """The matches that can make the `wanted` best by final score (and their ties), narrowed
    from all of them at once: every final score is computed with numpy, within a hair of the
    exact one, and whatever falls clearly below the `wanted`-th best is left out. The exact
    scores of the rest are then computed one by one, as for a few matches."""
    total = sum(len(found.scores) for found in matches)
    if total <= max(_SHORTLIST_FROM, wanted):
        return _as_dicts(matches)
    numpy = _numpy(total)
    if numpy is None:
        return _as_dicts(matches)
    parts = []
    for found in matches:
        if isinstance(found.scores, ArrayScores):
            ids, text = found.scores.ids, found.scores.scores
        else:
            count = len(found.scores)
            ids = numpy.fromiter(found.scores.keys(), dtype=numpy.int64, count=count)
            text = numpy.fromiter(found.scores.values(), dtype=numpy.float64, count=count)
        segment = found.segment
        terms = segment.boost_terms(numpy, settings)
        if terms is not None and now_timestamp >= terms[2]:  # nothing here is in the future
            a, b, latest = terms
            scale = 0.5 ** ((now_timestamp - latest) / (_SECONDS_PER_DAY * settings.half_life_days))
            parts.append((found, ids, text * (a[ids] + scale * b[ids])))
            continue
        if settings.quality_weight in _USUAL_WEIGHTS:
            q_factors, dated, published = segment.boost_arrays(numpy, settings.quality_weight)
            q_factor = q_factors[ids]
        else:  # a weight of the request's own: only for the matches
            _, dated, published = segment.boost_arrays(numpy, DEFAULT_RANKING.quality_weight)
            quality = numpy.frombuffer(segment.quality, dtype=numpy.int16)[ids]
            q_factor = _quality_factors(numpy, quality, settings.quality_weight)
        age_days = numpy.maximum(now_timestamp - published[ids], 0.0) / _SECONDS_PER_DAY
        decay = numpy.power(0.5, age_days / settings.half_life_days)
        r_factor = numpy.where(dated[ids], 1.0 + settings.recency_weight * (decay - 0.5), 1.0)
        parts.append((found, ids, text * q_factor * r_factor))
    finals = numpy.concatenate([final for _, _, final in parts])
    kth = float(numpy.partition(finals, total - wanted)[total - wanted])
    threshold = kth - abs(kth) * 4 * _APPROXIMATION
    narrowed = []
    for found, ids, final in parts:
        scores = found.scores
        kept = final >= threshold
        if isinstance(scores, ArrayScores):
            narrowed_scores = dict(
                zip(ids[kept].tolist(), scores.scores[kept].tolist(), strict=True)
            )
        else:
            narrowed_scores = {d: scores[d] for d in ids[kept].tolist()}
        narrowed.append(SegmentMatches(found.segment, narrowed_scores))
    return narrowed


_SECONDS_PER_DAY = 86_400.0


def _above(scores: Mapping[int, float], cutoff: float | None) -> Iterator[tuple[int, float]]:
    if cutoff is None:
        return iter(scores.items())
    return ((docnum, text) for docnum, text in scores.items() if text >= cutoff)


_LAST = float("inf")


def _text_cutoff(
    matches: list[SegmentMatches], settings: RankingSettings, wanted: int
) -> float | None:
    """A text score below which a match cannot make the top `wanted`, whatever its boost.

    The `wanted` best text scores all end with a final score of at least the k-th of them times
    the smallest boost; a text score that even the largest boost cannot lift that high is out.
    """
    if sum(len(found.scores) for found in matches) <= wanted:
        return None
    kth = heapq.nlargest(wanted, itertools.chain.from_iterable(f.scores.values() for f in matches))[
        -1
    ]
    # A hair lower, so that float rounding can never drop a document that would tie.
    return kth * min_boost(settings) / max_boost(settings) * (1 - 1e-9)


def _without(scores: dict[int, float], excluded: set[int]) -> dict[int, float]:
    return {d: s for d, s in scores.items() if d not in excluded} if excluded else scores


_POSTINGS_BEFORE_NUMPY = 250_000
"""Postings a process scores in Python before it imports numpy to score whole lists at once.

Importing numpy takes about 70 ms, as long as scoring some 700,000 postings in Python: a one-off
command (a cold `search query`) never pays it, a process that answers many searches soon does.
Both ways give the same scores, bit for bit. A program that has numpy imported already uses it."""
_postings_scored = 0


_numpy_module: Any = None
"""numpy, once this module has imported it completely."""


def _numpy(count: int, *, now: bool = False) -> Any:
    """numpy, when it is imported already, has become worth importing or is wanted `now`;
    otherwise None (and `count` postings are about to be scored in Python)."""
    global _postings_scored, _numpy_module
    if _numpy_module is not None:
        return _numpy_module
    if now or "numpy" in sys.modules or _postings_scored >= _POSTINGS_BEFORE_NUMPY:
        # Not sys.modules["numpy"]: while another thread imports numpy, that is a half-made
        # module. The import statement waits for the other thread's import to finish.
        import numpy

        _numpy_module = numpy
        return numpy
    _postings_scored += count
    return None


def numpy_at_hand() -> Any:
    """numpy when this process has it imported or has scored enough postings for it to pay
    (see `_POSTINGS_BEFORE_NUMPY`); None otherwise."""
    return _numpy(0)


def _posting_arrays(matcher: Any) -> PostingArrays | None:
    """The arrays of a posting list in our format (None for any other matcher)."""
    if isinstance(matcher, FilterMatcher):
        matcher = matcher.child
    return matcher.arrays if isinstance(matcher, ArrayLeafMatcher) else None


_KEYWORD_FIELDS = frozenset({"topic_key", "provider_key", "type"})
"""Fields of whole-value terms that filters look up."""


def _members(docs: set[int], arrays: PostingArrays) -> set[int]:
    """The documents of `docs` in the posting list `arrays`: a few are each looked up in its
    sorted ids, many are intersected with them. (With numpy loaded, `search.arrays` filters.)"""
    ids = arrays.ids
    if len(docs) * 8 >= len(ids):
        return docs.intersection(ids)
    end = len(ids)
    found = set()
    for docnum in docs:
        at = bisect.bisect_left(ids, docnum)
        if at < end and ids[at] == docnum:
            found.add(docnum)
    return found


@functools.lru_cache(maxsize=64)
def _norms(k1: float, b: float, average: float) -> list[float]:
    """The BM25 length normalisation for each of the 256 length codes, as Whoosh computes it."""
    return [k1 * ((1 - b) + b * byte_to_length(code) / average) for code in range(256)]


def _array_positions(arrays: PostingArrays, ids: Sequence[int]) -> Callable[[int], list[int]]:
    """Positions of a document in `arrays`, whose ids are `ids` (already decoded)."""

    def positions(docnum: int) -> list[int]:
        return arrays.positions(bisect.bisect_left(ids, docnum))

    return positions


def _no_value(docnum: int) -> list[int]:
    raise KeyError(docnum)


def _blocks(matcher: Any, *, with_values: bool = False) -> Iterator[tuple[Any, Any, Any]]:
    """(ids, weights, values or None) of a posting list, a block at a time (deleted documents
    included). Values (the encoded positions) are read only when asked for."""
    if isinstance(matcher, FilterMatcher):
        matcher = matcher.child
    if isinstance(matcher, W3LeafMatcher):
        while matcher.is_active():
            if matcher._ids is None:
                matcher._read_ids()
            if matcher._weights is None:
                matcher._read_weights()
            start, stop = matcher._i, matcher._blocklength
            values = None
            if with_values:
                if matcher._values is None:
                    matcher._read_values()
                values = matcher._values[start:stop]
            yield matcher._ids[start:stop], matcher._weights[start:stop], values
            matcher._i = stop - 1
            matcher.next()
        return
    ids, weights, all_values = [], [], []  # short lists kept inline in the term dictionary
    while matcher.is_active():
        ids.append(matcher.id())
        weights.append(matcher.weight())
        if with_values:
            all_values.append(matcher.value())
        matcher.next()
    yield ids, weights, all_values if with_values else None


def tree_sum(scores: list[Any]) -> Any:
    """The sum as Whoosh's binary tree of intersection matchers adds it up (same rounding); of
    numbers, or element by element of numpy arrays."""
    if len(scores) == 1:
        return scores[0]
    half = len(scores) // 2
    return tree_sum(scores[:half]) + tree_sum(scores[half:])


def _length_bytes(reader: Any) -> bytes:
    """The length code of every document's `text` (what Whoosh's BM25 reads per posting)."""
    codes = length_codes(reader._perdoc, TEXT_FIELD)
    return bytes(reader.doc_count_all()) if codes is None else codes  # None: nothing to score


def _numeric_column(reader: Any, name: str, typecode: str, default: int) -> array[int]:
    """A numeric column as an array indexed by document number."""
    count = reader.doc_count_all()
    values = array(typecode)
    if reader.has_column(name):
        column = reader.column_reader(name, translate=False)
        raw = getattr(column, "_dbfile", None)
        stored = getattr(column, "_count", None)
        if raw is not None and stored is not None:
            # Stored big-endian, one fixed-size value per document up to the last one written.
            values.frombytes(raw.get(column._basepos, stored * values.itemsize))
            if sys.byteorder == "little":
                values.byteswap()
        else:
            values.extend(column)
    if len(values) < count:
        values.extend([default] * (count - len(values)))
    return values
