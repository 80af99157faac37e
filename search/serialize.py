"""The JSON shapes of a search result, a hit, an article, the index statistics, an index check and
an evaluation.

One description serves every interface: the command line's `--format json`, the web API and any
Python caller that wants plain data. Nothing here depends on how the values are printed or sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from search.models import Document, Hit, SearchResults

if TYPE_CHECKING:
    from search.judging import EvalReport
    from search.reports import IndexCheck, IndexStats

__all__ = [
    "check_json",
    "document_json",
    "evaluation_json",
    "hit_json",
    "iso",
    "results_json",
    "stats_json",
]


def iso(moment: datetime | None) -> str | None:
    """`moment` as ISO-8601 with `Z` for UTC, or None."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def hit_json(hit: Hit) -> dict[str, Any]:
    """One hit: its fields, the snippet as HTML (escaped text, words in `<mark>`), the explanation
    when asked for."""
    data: dict[str, Any] = {
        "rank": hit.rank,
        "url": hit.url,
        "title": hit.title,
        "excerpt": hit.excerpt,
        "snippet": hit.snippet.marked(),
        "score": hit.score,
        "quality": hit.quality,
        "published_at": iso(hit.published_at),
        "topics": list(hit.topics),
        "provider": hit.provider,
        "type": hit.doc_type,
        "path": hit.path,
        "web_url": hit.web_url,
        "matched_words": list(hit.matched_words),
    }
    if hit.explain is not None:
        explain = hit.explain
        data["explain"] = {
            "words": list(explain.query_words),
            "matched_words": list(explain.matched_words),
            "group": explain.group,
            "relevance": explain.relevance,
            "coverage": explain.coverage,
            "text": explain.text,
            "fields": explain.fields,
            "quality": explain.quality,
            "quality_factor": explain.quality_factor,
            "published_at": iso(explain.published_at),
            "age_days": explain.age_days,
            "recency_factor": explain.recency_factor,
            "final": explain.final,
        }
    return data


def results_json(results: SearchResults) -> dict[str, Any]:
    """A page of results: the request as understood, the counts, the hits and the facets."""
    data: dict[str, Any] = {
        "query": results.query,
        "total": results.total,
        "offset": results.offset,
        "limit": results.limit,
        "sort": results.sort,
        "matched": results.matched,
        "matching": results.matching,
        "matched_every_word": results.every_word,
        "matched_fewer_words": results.fewer_words,
        "suggestion": results.suggestion,
        "now": iso(results.now),
        "hits": [hit_json(hit) for hit in results.hits],
    }
    if results.facets:
        data["facets"] = results.facets
    return data


def stats_json(stats: IndexStats) -> dict[str, Any]:
    """What the index holds."""
    return {
        "documents": stats.documents,
        "index_dir": stats.index_dir,
        "size_bytes": stats.size_bytes,
        "oldest": iso(stats.oldest),
        "newest": iso(stats.newest),
        "undated": stats.undated,
        "topics": stats.topics,
        "providers": stats.providers,
        "types": stats.types,
        "schema_version": stats.schema_version,
        "written_by": stats.written_by,
        "updated_at": iso(stats.updated_at),
    }


def document_json(document: Document) -> dict[str, Any]:
    """Every stored field of one article, with its related articles."""
    return {
        "url": document.url,
        "web_url": document.web_url,
        "title": document.title,
        "excerpt": document.excerpt,
        "path": document.path,
        "topics": list(document.topics),
        "provider": document.provider,
        "provider_domain": document.provider_domain,
        "type": document.doc_type,
        "category": document.category,
        "published": document.published,
        "heat": document.heat,
        "image_url": document.image_url,
        "quality": document.quality,
        "published_at": iso(document.published_at),
        "related": [
            {
                "title": entry.title,
                "url": entry.url,
                "excerpt": entry.excerpt,
                "provider": entry.provider,
                "quality": entry.quality,
                "published_at": iso(entry.published_at),
            }
            for entry in document.related
        ],
    }


def check_json(report: IndexCheck) -> dict[str, Any]:
    """What `search check` found: each damaged part, and how much was read."""
    return {
        "index_dir": report.index_dir,
        "ok": report.ok,
        "problems": [{"path": p.path, "problem": p.message} for p in report.problems],
        "files": report.files,
        "segments": report.segments,
        "documents": report.documents,
        "terms": report.terms,
        "postings": report.postings,
        "catalog_files": report.catalog_files,
    }


def evaluation_json(report: EvalReport) -> dict[str, Any]:
    """The means over the judged queries, and each query's measures and ranked URLs."""
    return {
        "k": report.k,
        "ndcg": report.ndcg,
        "precision": report.precision,
        "mrr": report.mrr,
        "recall": report.recall,
        "measured": len(report.queries),
        "unjudged": list(report.unjudged),
        "queries": [
            {
                "qid": scores.qid,
                "query": scores.query,
                "ndcg": scores.ndcg,
                "precision": scores.precision,
                "mrr": scores.mrr,
                "recall": scores.recall,
                "relevant": scores.relevant,
                "urls": list(scores.urls),
            }
            for scores in report.queries
        ],
    }
