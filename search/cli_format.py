"""How the command line prints results, reports and documents: text for people, JSON for programs.

Colour and bold are used only on a terminal, and never when NO_COLOR is set.
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import Any

import click

from search.models import Document, Hit, IndexReport, IndexStats, SearchResults
from search.serialize import hit_json, iso, results_json
from search.snippets import Snippet

_INDENT = "     "
_WIDTH = 100
_EXCERPT_CHARS = 200


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def index_summary(report: IndexReport) -> str:
    def count(number: int, noun: str) -> str:
        return f"{number:,} {noun}{'' if number == 1 else 's'}"

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
        f"{report.index_dir}: {count(report.documents, 'document')} ({built} in "
        f"{report.seconds:.1f} s): {', '.join(changes)}."
    )


def print_index_report(report: IndexReport, output_format: str, quiet: bool) -> None:
    for problem in report.skipped:
        click.echo(f"skipped: {problem.path}: {problem.message}", err=True)
    if not quiet:
        for duplicate in report.duplicates:
            click.echo(
                f"duplicate: {duplicate.path}: same URL as {duplicate.kept_path} (kept)", err=True
            )
        for warning in report.warnings:
            click.echo(f"warning: {warning.path}: {warning.message}", err=True)
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
            f"the index in {report.index_dir} was left as it was.",
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
            click.echo(json.dumps(hit_json(hit), ensure_ascii=False))
        return
    color = use_color()
    if results.suggestion:
        click.echo(f"Did you mean: {click.style(results.suggestion, bold=True)}", color=color)
        click.echo("(the results allow for the misspelling)")
    if results.total == 0:
        click.echo(f"No results for {results.query!r}.")
        return
    if results.matched == "any":
        click.echo("No article matched every word; showing articles that match any of them.")
    shown = len(results.hits)
    counted = f"{results.total:,} result{'' if results.total == 1 else 's'} for {results.query!r}"
    order = "" if results.sort == "relevance" else f", {results.sort} first"
    if shown:
        first = results.offset + 1
        click.echo(f"{counted} (showing {first}-{first + shown - 1}{order}):")
    elif results.limit == 0:
        click.echo(f"{counted}.")
    else:
        click.echo(f"{counted} (none at offset {results.offset}).")
    for hit in results.hits:
        _print_hit(hit, color)
    if results.facets:
        click.echo("")
        click.echo("Facets:")
        for name, counts in results.facets.items():
            click.echo(f"  {name}: {top_values(counts)}")


def _print_hit(hit: Hit, color: bool | None) -> None:
    click.echo("")
    click.echo(f"{hit.rank:>3}. " + click.style(hit.title, bold=True), color=color)
    details = [
        hit.published_at.strftime("%Y-%m-%d %H:%M UTC") if hit.published_at else "undated",
        hit.provider or "unknown provider",
        f"quality {hit.quality}" if hit.quality is not None else "quality n/a",
        f"score {hit.score:.3f}",
    ]
    click.echo(_INDENT + " · ".join(details))
    click.echo(_INDENT + hit.web_url)
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
        click.echo(f"{_INDENT}explain: text {explain.text:.3f} ({fields})")
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
            pieces.append(text[cursor:mark_start])
            pieces.append(click.style(text[mark_start:mark_end], bold=True, fg="yellow"))
            cursor = mark_end
        pieces.append(text[cursor:end])
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
    shown = [f"{name} ({count:,})" for name, count in list(counts.items())[:n]]
    more = len(counts) - n
    return ", ".join(shown) + (f", and {more} more" if more > 0 else "") if shown else "none"


def print_stats(stats: IndexStats) -> None:
    top = top_values
    click.echo(f"Index:      {stats.index_dir} ({stats.size_bytes / 1e6:.1f} MB)")
    click.echo(f"Documents:  {stats.documents:,}")
    if stats.oldest and stats.newest:
        click.echo(
            f"Published:  {stats.oldest:%Y-%m-%d} to {stats.newest:%Y-%m-%d}"
            + (f" ({stats.undated:,} undated)" if stats.undated else "")
        )
    click.echo(f"Topics:     {top(stats.topics)}")
    click.echo(f"Providers:  {top(stats.providers)}")
    click.echo(f"Types:      {top(stats.types)}")
    updated = f", updated {stats.updated_at:%Y-%m-%d %H:%M} UTC" if stats.updated_at else ""
    click.echo(
        f"Written by: news-search {stats.written_by} (schema {stats.schema_version}){updated}"
    )


def print_document(document: Document) -> None:
    click.echo(click.style(document.title, bold=True))
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
        click.echo(f"{label + ':':<11}{value}")
    if document.excerpt:
        click.echo("")
        click.echo(textwrap.fill(document.excerpt, 100))
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
            click.echo(f"  - {entry.title}" + (f" ({meta})" if meta else ""))
            click.echo(f"    {entry.url}")
