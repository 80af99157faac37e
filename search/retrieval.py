"""Running a query on an open searcher and turning what it finds into `SearchResults`.

This is where the pieces meet: filters restrict the query, the ranked collector picks the page,
facets count all matches, snippets and explanations are built for the hits of the page only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from whoosh import classify, query

from search import arrays
from search.evaluation import Evaluator, SegmentMatches, numpy_at_hand, top_documents
from search.facets import count_facets
from search.filters import FilteredQuery, Filters
from search.matching import (
    FoundWords,
    QueryWords,
    coverage,
    evaluate_words,
    group,
    text_score,
    word_weights,
)
from search.models import Document, Explanation, Hit, ScoreParts, SearchResults
from search.ranking import RankingSettings
from search.schema import (
    FIELD_WEIGHTS,
    TEXT_FIELD,
    TEXT_FIELDS,
    StoredRecords,
    field_at,
    stored_record_reader,
)
from search.scoring import RankedDoc, TextBM25F, ZeroScoreQuery
from search.whoosh_ext import queries as fixed

_SECONDS_PER_DAY = 86_400.0
_RELATED_TERMS = 12
# Words, not numbers or fragments such as "000th": they carry the subject.
_RELATED_TERM = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True, slots=True)
class Request:
    """Everything about a search except the query itself."""

    filters: Filters
    settings: RankingSettings
    now: datetime
    limit: int
    offset: int
    order: str = "relevance"
    facets: tuple[str, ...] = ()
    explain: bool = False


def execute_words(
    searcher: Any,
    label: str,
    parsed: query.Query,
    words: QueryWords,
    strategy: str,
    request: Request,
    *,
    suggestion: str | None = None,
    typed: bool = True,
    known: frozenset[str] = frozenset(),
) -> SearchResults:
    """Run a query whose words an article may partly lack, under a matching strategy.

    `typed=False` when the words were not typed by a user (the terms `related` looks up): the
    results then do not count the matches with every word, which says nothing there. `known`:
    words (index terms) already found in the index, which need not be looked up again.

    Matches come in the groups of the strategy (see `search.matching`); within each group, and
    to fill the page, the best `offset + limit` are taken exactly under the requested order.
    """
    evaluator = Evaluator(searcher)
    numpy = numpy_at_hand()
    found: Sequence[FoundWords]
    if numpy is None:
        found = evaluate_words(evaluator, words, request.filters)
        weights = word_weights(evaluator, found)
        grouped = group(strategy, found, weights)
    else:
        found = arrays.evaluate_words(evaluator, words, request.filters, numpy)
        weights = word_weights(evaluator, found)
        grouped = arrays.group(strategy, found, weights, numpy)
    wanted = request.offset + request.limit
    ranked: list[tuple[RankedDoc, int]] = []
    members: list[list[SegmentMatches]] = []
    for number, matches in enumerate(grouped.groups, start=1):
        if request.facets:
            members.append(matches)
        if len(ranked) < wanted:
            best = top_documents(
                matches,
                request.settings,
                request.now.timestamp(),
                request.order,
                wanted - len(ranked),
            )
            ranked.extend((doc, number) for doc in best)
        if len(ranked) >= wanted and not request.facets:
            break  # before the next group is worked out: the page is full
    facets = (
        count_facets([m for level in members for m in level], request.facets)
        if request.facets
        else {}
    )
    terms = frozenset(matched_terms(parsed, searcher.reader(), known))
    stored = stored_record_reader(searcher)
    weighting = TextBM25F()
    hits = []
    for rank, (doc, number) in enumerate(ranked[request.offset :], start=request.offset + 1):
        segment_words, local = _locate(found, doc.docnum)
        indexes, relevance = text_score(segment_words, local)
        matched = tuple(words.labels[i] for i in indexes) + words.required_labels
        how = _HowMatched(
            query_words=words.labels + words.required_labels,
            matched_words=matched,
            group=number,
            coverage=coverage(weights, indexes) if grouped.scaled else None,
            relevance=relevance,
        )
        hits.append(_hit(searcher, stored, doc, rank, terms, parsed, request, weighting, how))
    return SearchResults(
        query=label,
        total=grouped.total,
        hits=tuple(hits),
        offset=request.offset,
        limit=request.limit,
        matched="any" if typed and grouped.total and not grouped.every_word else "all",
        now=request.now,
        suggestion=suggestion,
        facets=facets,
        sort=request.order,
        matching=strategy,
        every_word=grouped.every_word if typed else None,
    )


class _HowMatched(NamedTuple):
    """What the matching strategy made of one hit (see `Explanation`)."""

    query_words: tuple[str, ...]
    matched_words: tuple[str, ...]
    group: int
    coverage: float | None
    relevance: float


def _locate(found: Sequence[FoundWords], docnum: int) -> tuple[FoundWords, int]:
    """The segment holding the global document number `docnum`, and its local number there."""
    for segment_words in reversed(found):
        if docnum >= segment_words.segment.offset:
            return segment_words, docnum - segment_words.segment.offset
    raise ValueError(f"document {docnum} is in no segment")


def related_query(searcher: Any, record: dict[str, Any]) -> query.Query:
    """Articles on the same subject as the stored `record`, excluding the article itself.

    The most characteristic terms of its title, topics and excerpt (Whoosh's Bo1 expansion model
    against the index's statistics) are looked up in the other articles. Each term a document
    shares counts its Bo1 weight once, however often it occurs: documents that share many
    characteristic terms come first, rather than those with one of them many times.
    """
    title = record.get("title") or ""
    # The title twice: its words say most about the subject.
    text = " ".join([title, title, *(record.get("topics") or ()), record.get("excerpt") or ""])
    candidates = searcher.key_terms_from_text(
        TEXT_FIELD, text, numterms=_RELATED_TERMS * 2, model=classify.Bo1Model
    )
    terms = [(term, weight) for term, weight in candidates if _RELATED_TERM.fullmatch(term)]
    terms = terms[:_RELATED_TERMS]
    if not terms:
        return query.NullQuery
    strongest = terms[0][1] or 1.0
    shared = fixed.Or(
        [
            query.ConstantScoreQuery(query.Term(TEXT_FIELD, term), score=weight / strongest)
            for term, weight in terms
        ]
    )
    return fixed.AndNot(shared, query.Term("url", record["url"]))


def related_words(searcher: Any, record: dict[str, Any]) -> tuple[query.Query, QueryWords]:
    """`related_query` and its characteristic terms as the words of a query (the article
    itself excluded), for the matching strategies."""
    similar = related_query(searcher, record)
    if not isinstance(similar, query.AndNot):
        return similar, QueryWords(words=(), labels=(), required=(similar,), required_labels=())
    shared = similar.a
    terms = tuple(shared.subqueries)
    labels = tuple(str(term.child.text) for term in terms)
    if len(terms) < 2:
        return similar, QueryWords(
            words=(), labels=(), required=terms, required_labels=labels, excluded=(similar.b,)
        )
    return similar, QueryWords(words=terms, labels=labels, excluded=(similar.b,))


def matched_terms(
    parsed: query.Query, reader: Any, known: frozenset[str] = frozenset()
) -> set[str]:
    """The index terms (analysed forms) the query can match in text fields; NOT clauses excluded.
    `known`: terms the index is known to have."""
    terms: set[str] = set()
    for leaf in _scoring_leaves(parsed):
        if type(leaf) is query.Term and leaf.fieldname == TEXT_FIELD and leaf.text in known:
            terms.add(leaf.text)
            continue
        for fieldname, text in leaf.existing_terms(reader, expand=True):
            if fieldname == TEXT_FIELD:
                terms.add(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    return terms


def _scoring_leaves(node: Any) -> Iterator[Any]:
    """Leaf queries that contribute to the score (not filters, not negations).

    A constant-score query counts as one leaf: its score is not the sum of its parts.
    """
    if isinstance(node, query.Not | ZeroScoreQuery):
        return
    if isinstance(node, query.ConstantScoreQuery):
        yield node
        return
    if isinstance(node, query.AndNot):
        yield from _scoring_leaves(node.a)
        return
    if isinstance(node, FilteredQuery):
        yield from _scoring_leaves(node.child)
        return
    if node.is_leaf():
        if node.field() == TEXT_FIELD:
            yield node
        return
    for child in node.children():
        yield from _scoring_leaves(child)


def _shares(leaf: Any, matcher: Any) -> dict[str, float]:
    """Which parts of the article a matched leaf occurs in, as shares of its weight."""
    if isinstance(leaf, query.ConstantScoreQuery):
        return {"shared terms": 1.0}  # related articles: one share per characteristic word
    if isinstance(leaf, query.Term):
        positions = list(matcher.value_as("positions"))
    else:  # phrases, and words in one part of the article: where each match starts
        positions = [span.start for span in matcher.spans()]
    weights: dict[str, float] = {}
    for position in positions:
        field = field_at(position)
        weights[field] = weights.get(field, 0.0) + FIELD_WEIGHTS[field]
    total = sum(weights.values())
    return {field: weight / total for field, weight in weights.items()} if total else {}


def _hit(
    searcher: Any,
    stored: StoredRecords,
    doc: RankedDoc,
    rank: int,
    terms: frozenset[str],
    parsed: query.Query,
    request: Request,
    weighting: TextBM25F,
    how: _HowMatched,
) -> Hit:
    record = stored(doc.docnum, doc.url)
    explanation = None
    if request.explain:  # needs the article now: decode it once, for both
        article = Document.from_record(record())
        explanation = _explain(searcher, parsed, doc, article, request, weighting, how)

    def document() -> Document:
        return article if request.explain else Document.from_record(record())

    return Hit(
        rank=rank,
        score=doc.final,
        url=doc.url,
        score_parts=ScoreParts(
            text=doc.text,
            quality_factor=doc.quality_factor,
            recency_factor=doc.recency_factor,
            final=doc.final,
        ),
        stored=document,
        matched_terms=terms,
        explain=explanation,
        matched_words=how.matched_words,
    )


def _explain(
    searcher: Any,
    parsed: query.Query,
    doc: RankedDoc,
    stored: Document,
    request: Request,
    weighting: TextBM25F,
    how: _HowMatched,
) -> Explanation:
    """Score each leaf of the query on this document and share each leaf's score among the parts
    of the article it occurs in, in proportion to its field-weighted frequency there.

    `how.relevance` is the BM25F sum the leaves add up to (the text score before coverage)."""
    relevance = how.relevance
    context = searcher.context(weighting=weighting)
    fields = dict.fromkeys(TEXT_FIELDS, 0.0)
    for leaf in _scoring_leaves(parsed):
        matcher = leaf.matcher(searcher, context)
        if matcher.is_active():
            matcher.skip_to(doc.docnum)
            if matcher.is_active() and matcher.id() == doc.docnum:
                for field, share in _shares(leaf, matcher).items():
                    fields[field] = fields.get(field, 0.0) + matcher.score() * share
    attributed = sum(fields.values())
    if abs(attributed - relevance) > 1e-9 * max(1.0, relevance):
        fields["other"] = relevance - attributed
    age = None
    if doc.published_time is not None:
        age = (request.now.timestamp() - doc.published_time) / _SECONDS_PER_DAY
    return Explanation(
        fields={name: value for name, value in fields.items() if value},
        text=doc.text,
        quality=stored.quality,
        quality_factor=doc.quality_factor,
        published_at=(
            datetime.fromtimestamp(doc.published_time, tz=UTC)
            if doc.published_time is not None
            else None
        ),
        age_days=age,
        recency_factor=doc.recency_factor,
        final=doc.final,
        query_words=how.query_words,
        matched_words=how.matched_words,
        group=how.group,
        coverage=how.coverage,
        relevance=how.relevance,
    )
