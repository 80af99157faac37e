"""How the command line prints results, reports and documents: text for people, JSON for programs.

Colour and bold are used only on a terminal, and never when NO_COLOR is set.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from search.errors import rebuild_hint
from search.models import Document, Hit, SearchResults
from search.serialize import check_json, evaluation_json, hit_json, iso, results_json
from search.snippets import Snippet
from search.terminal import json_text, printable

if TYPE_CHECKING:
    from search.judging import EvalReport
    from search.reports import IndexCheck, IndexReport, IndexStats

_INDENT = "     "
_WIDTH = 100
_EXCERPT_CHARS = 200


def echo_json(value: Any) -> None:
    click.echo(json_text(json.dumps(value, ensure_ascii=False, indent=2)))


def day(moment: datetime) -> str:
    """`2020-11-13`; also for years before 1000, which strftime's %Y prints unpadded (`1-01-01`)."""
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def _count(number: int, noun: str, plural: str | None = None) -> str:
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def index_summary(report: IndexReport) -> str:
    count = _count

    changes = [
        f"{report.added:,} added",
        f"{report.updated:,} updated",
        f"{report.removed:,} removed",
        f"{report.unchanged:,} unchanged",
        f"{len(report.skipped):,} skipped",
    ]
    if report.duplicates:
        changes.append(count(len(report.duplicates), "duplicate"))
    changes.append(count(len(report.warnings), "warning"))
    built = "built a new index" if report.rebuilt else "updated"
    return (
        f"{printable(report.index_dir)}: {count(report.documents, 'document')} ({built} in "
        f"{report.seconds:.1f} s): {', '.join(changes)}."
    )


def print_index_report(report: IndexReport, output_format: str, quiet: bool) -> None:
    for problem in report.skipped:
        click.echo(f"skipped: {printable(problem.path)}: {printable(problem.message)}", err=True)
    if not quiet:
        for duplicate in report.duplicates:
            click.echo(
                f"duplicate: {printable(duplicate.path)}: same URL as "
                f"{printable(duplicate.kept_path)} (kept)",
                err=True,
            )
        for warning in report.warnings:
            click.echo(
                f"warning: {printable(warning.path)}: {printable(warning.message)}", err=True
            )
    if output_format == "json":
        echo_json(
            {
                "index_dir": report.index_dir,
                "documents": report.documents,
                "files_seen": report.files_seen,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "unchanged": report.unchanged,
                "skipped": len(report.skipped),
                "duplicates": len(report.duplicates),
                "rebuilt": report.rebuilt,
                "kept_previous": report.kept_previous,
                "seconds": round(report.seconds, 3),
                "skipped_files": [{"path": p.path, "reason": p.message} for p in report.skipped],
                "duplicate_files": [
                    {"path": d.path, "url": d.url, "kept_path": d.kept_path}
                    for d in report.duplicates
                ],
                "warnings": [{"path": p.path, "message": p.message} for p in report.warnings],
            }
        )
    elif report.kept_previous:
        click.echo(
            f"Nothing could be indexed from {report.files_seen:,} files; "
            f"the index in {printable(report.index_dir)} was left as it was.",
            err=True,
        )
    else:
        click.echo(index_summary(report))


def print_results(results: SearchResults, output_format: str) -> None:
    if output_format == "json":
        echo_json(results_json(results))
        return
    if output_format == "jsonl":
        for hit in results.hits:
            click.echo(json_text(json.dumps(hit_json(hit), ensure_ascii=False)))
        return
    color = use_color()
    if results.suggestion:
        suggestion = click.style(printable(results.suggestion), bold=True)
        click.echo(f"Did you mean: {suggestion}", color=color)
        click.echo("(the results allow for the misspelling)")
    query = printable(repr(results.query))
    if results.total == 0:
        click.echo(f"No results for {query}.")
        return
    if results.matched == "any":
        click.echo("No article matched every word; showing articles that match any of them.")
    shown = len(results.hits)
    counted = f"{results.total:,} result{'' if results.total == 1 else 's'} for {query}"
    order = "" if results.sort == "relevance" else f", {results.sort} first"
    split = ""
    if results.fewer_words and results.every_word:
        split = f"{results.every_word:,} with every word, {results.fewer_words:,} with fewer; "
    if shown:
        first = results.offset + 1
        click.echo(f"{counted} ({split}showing {first}-{first + shown - 1}{order}):")
    elif results.limit == 0:
        click.echo(f"{counted}{f' ({split[:-2]})' if split else ''}.")
    else:
        click.echo(f"{counted} ({split}none at offset {results.offset}).")
    for hit in results.hits:
        _print_hit(hit, color)
    if results.facets:
        click.echo("")
        click.echo("Facets:")
        for name, counts in results.facets.items():
            click.echo(f"  {name}: {top_values(counts)}")


def _print_hit(hit: Hit, color: bool | None) -> None:
    click.echo("")
    click.echo(f"{hit.rank:>3}. " + click.style(printable(hit.title), bold=True), color=color)
    details = [
        f"{day(hit.published_at)} {hit.published_at:%H:%M} UTC" if hit.published_at else "undated",
        printable(hit.provider) if hit.provider else "unknown provider",
        f"quality {hit.quality}" if hit.quality is not None else "quality n/a",
        f"score {hit.score:.3f}",
    ]
    click.echo(_INDENT + " · ".join(details))
    click.echo(_INDENT + printable(hit.web_url))
    snippet = hit.snippet
    if snippet.source == "title":
        # The title is printed above; show the start of the excerpt rather than the title again.
        snippet = Snippet(_shorten(hit.excerpt, _EXCERPT_CHARS))
    for line in _wrap_marked(snippet.text, snippet.marks, _WIDTH - len(_INDENT)):
        click.echo(_INDENT + line, color=color)
    if hit.explain is not None:
        explain = hit.explain
        fields = " + ".join(f"{name} {value:.3f}" for name, value in explain.fields.items())
        quality = "unknown" if explain.quality is None else str(explain.quality)
        age = "undated" if explain.age_days is None else f"{max(explain.age_days, 0):,.1f} days old"
        words = explain.query_words
        if len(words) > 1:
            matched = [word for word in explain.matched_words if word in words]
            missing = [word for word in words if word not in matched]
            which = f"{len(matched)} of {len(words)} words ({', '.join(matched) or 'none'}"
            which += f"; not {', '.join(missing)})" if missing else ")"
            click.echo(f"{_INDENT}explain: group {explain.group}, {printable(which)}")
            lead = f"{_INDENT}         "
        else:
            lead = f"{_INDENT}explain: "
        if explain.coverage is not None and explain.coverage < 1 and explain.relevance is not None:
            click.echo(
                f"{lead}text {explain.text:.3f} = BM25F {explain.relevance:.3f} ({fields})"
                f" x coverage {explain.coverage:.3f}"
            )
        else:
            click.echo(f"{lead}text {explain.text:.3f} ({fields})")
        click.echo(
            f"{_INDENT}         x quality factor {explain.quality_factor:.3f} (quality {quality})"
            f" x recency factor {explain.recency_factor:.3f} ({age}) = {explain.final:.3f}"
        )


def _wrap_marked(text: str, marks: tuple[tuple[int, int], ...], width: int) -> list[str]:
    """Wrap `text` to `width` and style the marked spans (styling is dropped when not wanted)."""
    lines: list[str] = []
    position = 0
    for line in textwrap.wrap(text, width, break_on_hyphens=False):
        start = text.index(line, position)
        end = start + len(line)
        position = end
        pieces: list[str] = []
        cursor = start
        for mark_start, mark_end in marks:
            if mark_end <= start or mark_start >= end:
                continue
            mark_start, mark_end = max(mark_start, start), min(mark_end, end)
            pieces.append(printable(text[cursor:mark_start]))
            pieces.append(click.style(printable(text[mark_start:mark_end]), bold=True, fg="yellow"))
            cursor = mark_end
        pieces.append(printable(text[cursor:end]))
        lines.append("".join(pieces))
    return lines


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + " …"


def use_color() -> bool | None:
    """False when NO_COLOR is set; otherwise let click decide (colour only on a terminal)."""
    return False if os.environ.get("NO_COLOR") else None


def top_values(counts: dict[str, int], n: int = 10) -> str:
    shown = [f"{printable(name)} ({count:,})" for name, count in list(counts.items())[:n]]
    more = len(counts) - n
    return ", ".join(shown) + (f", and {more} more" if more > 0 else "") if shown else "none"


def print_stats(stats: IndexStats) -> None:
    top = top_values
    click.echo(f"Index:      {printable(stats.index_dir)} ({stats.size_bytes / 1e6:.1f} MB)")
    click.echo(f"Documents:  {stats.documents:,}")
    if stats.oldest and stats.newest:
        click.echo(
            f"Published:  {day(stats.oldest)} to {day(stats.newest)}"
            + (f" ({stats.undated:,} undated)" if stats.undated else "")
        )
    click.echo(f"Topics:     {top(stats.topics)}")
    click.echo(f"Providers:  {top(stats.providers)}")
    click.echo(f"Types:      {top(stats.types)}")
    updated = (
        f", updated {day(stats.updated_at)} {stats.updated_at:%H:%M} UTC"
        if stats.updated_at
        else ""
    )
    click.echo(
        f"Written by: news-search {stats.written_by} (schema {stats.schema_version}){updated}"
    )


def print_document(document: Document) -> None:
    click.echo(click.style(printable(document.title), bold=True))
    rows = [
        ("URL", document.web_url),
        ("Published", iso(document.published_at) or "unknown"),
        (
            "Provider",
            " ".join(
                filter(
                    None,
                    [
                        document.provider,
                        f"({document.provider_domain})" if document.provider_domain else None,
                    ],
                )
            )
            or "unknown",
        ),
        ("Quality", "unknown" if document.quality is None else str(document.quality)),
        ("Topics", ", ".join(document.topics) or "none"),
        ("Type", document.doc_type or "unknown"),
        ("Category", document.category or "unknown"),
        (
            "Status",
            {True: "published", False: "not published", None: "unknown"}[document.published],
        ),
        ("Heat", "unknown" if document.heat is None else str(document.heat)),
        ("Image", document.image_url or "none"),
        ("File", document.path),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<11}{printable(value)}")
    if document.excerpt:
        click.echo("")
        for line in textwrap.wrap(document.excerpt, 100):
            click.echo(printable(line))
    if document.related:
        click.echo("")
        click.echo("Related:")
        for entry in document.related:
            meta = ", ".join(
                filter(
                    None,
                    [
                        entry.provider,
                        f"quality {entry.quality}" if entry.quality is not None else None,
                    ],
                )
            )
            click.echo(f"  - {printable(entry.title)}" + (f" ({printable(meta)})" if meta else ""))
            click.echo(f"    {printable(entry.url)}")


def print_check(report: IndexCheck, output_format: str) -> None:
    if output_format == "json":
        echo_json(check_json(report))
        return
    read = ", ".join(
        [
            _count(report.files, "file") + " checksummed",
            _count(report.segments, "segment"),
            _count(report.documents, "document"),
            _count(report.terms, "term"),
            _count(report.postings, "posting"),
            _count(report.catalog_files, "catalog entry", "catalog entries"),
        ]
    )
    if report.ok:
        click.echo(f"{printable(report.index_dir)}: sound ({read}).")
        return
    for problem in report.problems:
        click.echo(f"damaged: {printable(problem.path)}: {printable(problem.message)}")
    click.echo(
        f"{printable(report.index_dir)}: DAMAGED ({_count(len(report.problems), 'problem')}; "
        f"read {read}). Rebuild it with "
        f"{printable(rebuild_hint(report.index_dir))}"
    )


def print_evaluation(report: EvalReport, output_format: str) -> None:
    if output_format == "json":
        echo_json(evaluation_json(report))
        return
    k = report.k
    click.echo(
        f"nDCG@{k} {report.ndcg:.3f} · precision@{k} {report.precision:.3f} · "
        f"MRR {report.mrr:.3f} · recall@{k} {report.recall:.3f} "
        f"({len(report.queries):,} quer{'y' if len(report.queries) == 1 else 'ies'})"
    )
    if report.queries:
        width = max(len("query id"), *(len(printable(s.qid)) for s in report.queries))
        click.echo("")
        click.echo(
            f"{'query id':<{width}}  {'nDCG@' + str(k):>8}  {'P@' + str(k):>6}  "
            f"{'RR':>6}  {'R@' + str(k):>6}  query"
        )
        for scores in report.queries:
            click.echo(
                f"{printable(scores.qid):<{width}}  {scores.ndcg:>8.3f}  "
                f"{scores.precision:>6.3f}  {scores.mrr:>6.3f}  {scores.recall:>6.3f}  "
                f"{printable(scores.query)}"
            )
    if report.unjudged:
        click.echo("")
        click.echo(
            "Not measured (nothing judged relevant): "
            + ", ".join(printable(qid) for qid in report.unjudged)
        )
