"""Running a query on an open searcher and turning what it finds into `SearchResults`.

This is where the pieces meet: filters restrict the query, the ranked collector picks the page,
facets count all matches, snippets and explanations are built for the hits of the page only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from whoosh import classify, query

from search.facets import count_facets
from search.filters import FilteredQuery, Filters, restrict
from search.models import Document, Explanation, Hit, Matched, ScoreParts, SearchResults
from search.ranking import RankingSettings
from search.schema import TEXT_FIELDS, record_reader
from search.scoring import FieldWeightedBM25F, RankedCollector, RankedDoc, ZeroScoreQuery
from search.snippets import SnippetMaker

_SECONDS_PER_DAY = 86_400.0
_RELATED_TERMS = 12
_RELATED_FIELDS = ("title", "topic", "excerpt")
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


def execute(
    searcher: Any,
    label: str,
    attempts: Sequence[tuple[query.Query, Matched]],
    request: Request,
    *,
    suggestion: str | None = None,
) -> SearchResults:
    """Run the first of `attempts` that matches anything, and describe its results.

    Each attempt is a query and what it means for the words ("all" of them, or "any").
    """
    weighting = FieldWeightedBM25F(request.settings)
    chosen, matched = attempts[0]
    total = 0
    ranked: list[RankedDoc] = []
    facets: dict[str, dict[str, int]] = {}
    for candidate, meaning in attempts:
        total, ranked, facets = _run(
            searcher, restrict(candidate, request.filters), request, weighting
        )
        if total:
            chosen, matched = candidate, meaning
            break
    snippets = SnippetMaker(matched_terms(chosen, searcher.reader()))
    records = record_reader(searcher)
    hits = tuple(
        _hit(searcher, records, doc, rank, snippets, chosen, request, weighting)
        for rank, doc in enumerate(ranked, start=request.offset + 1)
    )
    return SearchResults(
        query=label,
        total=total,
        hits=hits,
        offset=request.offset,
        limit=request.limit,
        matched=matched,
        now=request.now,
        suggestion=suggestion,
        facets=facets,
        sort=request.order,
    )


def related_query(searcher: Any, record: dict[str, Any]) -> query.Query:
    """Articles on the same subject as the stored `record`, excluding the article itself.

    The most characteristic terms of its title, topics and excerpt (Whoosh's Bo1 expansion model
    against the excerpt field's statistics) are looked up in the title, topic and excerpt fields.
    Each term a document shares counts its Bo1 weight once, whatever the field: documents that
    share many characteristic terms come first, rather than those with one term in their title.
    """
    title = record.get("title") or ""
    # The title twice: its words say most about the subject.
    text = " ".join([title, title, *(record.get("topics") or ()), record.get("excerpt") or ""])
    candidates = searcher.key_terms_from_text(
        "excerpt", text, numterms=_RELATED_TERMS * 2, model=classify.Bo1Model
    )
    terms = [(term, weight) for term, weight in candidates if _RELATED_TERM.fullmatch(term)]
    terms = terms[:_RELATED_TERMS]
    if not terms:
        return query.NullQuery
    strongest = terms[0][1] or 1.0
    shared = query.Or(
        [
            query.ConstantScoreQuery(
                query.Or([query.Term(field, term) for field in _RELATED_FIELDS]),
                score=weight / strongest,
            )
            for term, weight in terms
        ]
    )
    return query.AndNot(shared, query.Term("url", record["url"]))


def matched_terms(parsed: query.Query, reader: Any) -> set[str]:
    """The index terms (analysed forms) the query can match in text fields; NOT clauses excluded."""
    terms: set[str] = set()
    for leaf in _scoring_leaves(parsed):
        for fieldname, text in leaf.existing_terms(reader, expand=True):
            if fieldname in TEXT_FIELDS:
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
        if node.field() in TEXT_FIELDS:
            yield node
        return
    for child in node.children():
        yield from _scoring_leaves(child)


def _run(
    searcher: Any, restricted: query.Query, request: Request, weighting: FieldWeightedBM25F
) -> tuple[int, list[RankedDoc], dict[str, dict[str, int]]]:
    facets: dict[str, dict[str, int]] = {}
    counted: int | None = None
    if request.facets:
        counted, facets = count_facets(searcher, restricted, request.facets)
    wanted = request.offset + request.limit
    if wanted == 0:
        if counted is None:
            counted = sum(1 for _ in restricted.docs(searcher))
        return counted, [], facets
    collector = RankedCollector(wanted, request.settings, request.now.timestamp(), request.order)
    searcher.search_with_collector(
        restricted, collector, context=searcher.context(weighting=weighting)
    )
    total = counted if counted is not None else collector.count()
    return total, collector.ranked()[request.offset :], facets


def _hit(
    searcher: Any,
    records: Callable[[int], dict[str, Any]],
    doc: RankedDoc,
    rank: int,
    snippets: SnippetMaker,
    parsed: query.Query,
    request: Request,
    weighting: FieldWeightedBM25F,
) -> Hit:
    stored = Document.from_record(records(doc.docnum))
    return Hit(
        rank=rank,
        score=doc.final,
        url=stored.url,
        title=stored.title,
        excerpt=stored.excerpt,
        path=stored.path,
        quality=stored.quality,
        published_at=stored.published_at,
        topics=stored.topics,
        provider=stored.provider,
        doc_type=stored.doc_type,
        score_parts=ScoreParts(
            text=doc.text,
            quality_factor=doc.quality_factor,
            recency_factor=doc.recency_factor,
            final=doc.final,
        ),
        web_url=stored.web_url,
        snippet=snippets.snippet(stored.title, stored.excerpt),
        explain=_explain(searcher, parsed, doc, stored, request, weighting)
        if request.explain
        else None,
    )


def _explain(
    searcher: Any,
    parsed: query.Query,
    doc: RankedDoc,
    stored: Document,
    request: Request,
    weighting: FieldWeightedBM25F,
) -> Explanation:
    """Attribute the text score to fields by scoring each leaf of the query on this document."""
    context = searcher.context(weighting=weighting)
    fields = dict.fromkeys(TEXT_FIELDS, 0.0)
    for leaf in _scoring_leaves(parsed):
        matcher = leaf.matcher(searcher, context)
        if matcher.is_active():
            matcher.skip_to(doc.docnum)
            if matcher.is_active() and matcher.id() == doc.docnum:
                field = leaf.field() if leaf.field() in TEXT_FIELDS else "shared terms"
                fields[field] = fields.get(field, 0.0) + matcher.score()
    attributed = sum(fields.values())
    if abs(attributed - doc.text) > 1e-9 * max(1.0, doc.text):
        # Phrase and proximity scores are not a plain sum of their words; show the rest apart.
        fields["other"] = doc.text - attributed
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
    )
