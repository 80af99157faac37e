"""The `search` command line: parse options, call the library once, print the result.

Library errors (`SearchError`) become `Error: ...` with exit status 1; invalid options are usage
errors with exit status 2. No traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from click.core import ParameterSource

from search._version import __version__
from search.dates import DateParseError, parse_bound, parse_datetime_text
from search.documents import DEFAULT_MAX_FRONTMATTER_BYTES
from search.engine import DEFAULT_INDEX_DIR, SearchEngine
from search.errors import InvalidArgumentError, SearchError
from search.locking import DEFAULT_WAIT_SECONDS
from search.models import Document, Hit, IndexReport, IndexStats, SearchResults

DEFAULT_SEED_DIR = Path("seeds")
INDEX_DIR_ENV = "SEARCH_INDEX_DIR"
_EXCERPT_CHARS = 220
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _moment(*, upper: bool = False, exact: bool = False) -> Callable[..., datetime | None]:
    """An option callback reading a point in time: ISO-8601, a date, a month or a year."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_datetime_text(value) if exact else parse_bound(value, upper=upper)
        except DateParseError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return convert


_index_dir_option = click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_INDEX_DIR,
    envvar=INDEX_DIR_ENV,
    show_default=True,
    show_envvar=True,
    help="Where the index lives.",
)


def _format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="search")
def cli() -> None:
    """Search folders of news articles (Markdown or text files with YAML frontmatter).

    \b
    Start with:
      search index seeds/                      build the index
      search query "facial recognition"        search it
      search query --help                      filters, ranking and output options
    """


@cli.command("index", context_settings=CONTEXT_SETTINGS)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_index_dir_option
@click.option(
    "--rebuild", is_flag=True, help="Build a fresh index instead of updating the existing one."
)
@click.option("--follow-links", is_flag=True, help="Follow symbolic links to files and folders.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another indexing run to finish.",
)
@click.option(
    "--max-frontmatter-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_FRONTMATTER_BYTES,
    show_default=True,
    metavar="N",
    help="Skip files whose frontmatter is larger than this.",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was skipped.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, duplicates or warnings.")
@_format_option("text", "json")
def index_command(
    paths: tuple[Path, ...],
    index_dir: Path,
    rebuild: bool,
    follow_links: bool,
    wait_seconds: float,
    max_frontmatter_bytes: int,
    strict: bool,
    quiet: bool,
    output_format: str,
) -> None:
    """Index the article files (.md, .markdown, .txt) under PATHS (default: seeds/).

    The first run builds the index; later runs read only the files that changed and remove the
    articles of files that are gone, so the index holds exactly the articles under PATHS. Bad
    files are skipped and listed with the reason on stderr: they never stop the run, and a run
    that finds nothing readable leaves the index as it was. Files with the same URL count as one
    article (the best copy is kept). Searches keep working while this runs.

    \b
    Exit status: 0 when every readable file was indexed, 1 when nothing could be indexed
    (or, with --strict, when any file was skipped) or the index is locked, 2 for invalid options.

    \b
    Examples:
      search index
      search index ~/news --index-dir ~/.cache/news-index
      search index ~/news --rebuild --wait 60
    """
    roots = list(paths) or [DEFAULT_SEED_DIR]
    for root in roots:
        if not os.path.lexists(root):
            raise click.BadParameter(f"{root}: no such file or directory", param_hint="PATHS")
    engine = SearchEngine(index_dir, max_frontmatter_bytes=max_frontmatter_bytes)
    with _errors():
        report = _run_index(
            engine,
            roots,
            show_progress=not quiet and sys.stderr.isatty(),
            rebuild=rebuild,
            follow_links=follow_links,
            wait_seconds=wait_seconds,
        )
    _print_index_report(report, output_format, quiet)
    if not report.ok or (strict and report.skipped):
        sys.exit(1)


@cli.command("query", context_settings=CONTEXT_SETTINGS)
@click.argument("text")
@_index_dir_option
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC",
    help="Only articles with this topic (repeatable: any of them).",
)
@click.option("--provider", metavar="NAME", help="Only articles from this provider.")
@click.option(
    "--type", "doc_type", metavar="TYPE", help="Only articles of this type (article, video, ...)."
)
@click.option(
    "--since",
    metavar="DATE",
    callback=_moment(),
    help="Published on or after DATE (2020-11-13, 2020-11, 2020 or ISO-8601).",
)
@click.option(
    "--until",
    metavar="DATE",
    callback=_moment(upper=True),
    help="Published on or before DATE (the whole day, month or year).",
)
@click.option("--min-quality", type=int, metavar="N", help="Only articles with quality >= N.")
@click.option(
    "--published/--unpublished", default=None, help="Only published (or only unpublished) articles."
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Number of hits to show.",
)
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Number of hits to skip.",
)
@click.option(
    "--now",
    metavar="DATE",
    callback=_moment(exact=True),
    help="Reference time for recency (ISO-8601; default: now).",
)
@click.option(
    "--no-boost", is_flag=True, help="Rank by text relevance only (no quality or recency boost)."
)
@click.option(
    "--quality-weight",
    type=click.FloatRange(0, 1),
    metavar="W",
    help="Strength of the quality boost, 0-1 [default: 0.3].",
)
@click.option(
    "--recency-weight",
    type=click.FloatRange(0, 1),
    metavar="W",
    help="Strength of the recency boost, 0-1 [default: 0.3].",
)
@click.option(
    "--half-life",
    type=click.FloatRange(min=0, min_open=True),
    metavar="DAYS",
    help="Age at which the recency boost halves [default: 30].",
)
@_format_option("text", "json", "jsonl")
@click.pass_context
def query_command(
    ctx: click.Context,
    text: str,
    index_dir: Path,
    topics: tuple[str, ...],
    provider: str | None,
    doc_type: str | None,
    since: datetime | None,
    until: datetime | None,
    min_quality: int | None,
    published: bool | None,
    limit: int,
    offset: int,
    now: datetime | None,
    no_boost: bool,
    quality_weight: float | None,
    recency_weight: float | None,
    half_life: float | None,
    output_format: str,
) -> None:
    """Search the index for TEXT.

    Every word is required; when that finds nothing, documents matching any word are shown (and
    the output says so). TEXT uses the Whoosh query language: AND, OR, NOT, "exact phrases",
    wildcards (spaceshi*), and fields: title:, topic:, excerpt:, provider:, type:, quality:>=60,
    date:2020-11-13, date:[2020-01 TO 2020-06].

    \b
    Ranking: text relevance (BM25F) x quality factor x recency factor.

    \b
    Examples:
      search query "facial recognition New Orleans police"
      search query 'oil AND (prices OR output)' --since 2004-09 --limit 5
      search query "title:olympics" --topic Sports --format json
    """
    engine = SearchEngine(index_dir)
    with _errors():
        _ensure_index(ctx, engine)
        results = engine.search(
            text,
            topics=topics,
            provider=provider,
            doc_type=doc_type,
            since=since,
            until=until,
            min_quality=min_quality,
            published=published,
            limit=limit,
            offset=offset,
            now=now,
            boost=not no_boost,
            quality_weight=quality_weight,
            recency_weight=recency_weight,
            half_life_days=half_life,
        )
    _print_results(results, output_format)


@cli.command("stats", context_settings=CONTEXT_SETTINGS)
@_index_dir_option
@_format_option("text", "json")
def stats_command(index_dir: Path, output_format: str) -> None:
    """Summarise the index: documents, dates, topics, providers, size."""
    with _errors():
        stats = SearchEngine(index_dir).stats()
    if output_format == "json":
        _echo_json(_stats_json(stats))
    else:
        _print_stats(stats)


@cli.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("url")
@_index_dir_option
@_format_option("text", "json")
def show_command(url: str, index_dir: Path, output_format: str) -> None:
    """Print the stored document with this URL (or file path, for articles without a URL)."""
    with _errors():
        document = SearchEngine(index_dir).document(url)
    if output_format == "json":
        _echo_json(_document_json(document))
    else:
        _print_document(document)


# -- running ---------------------------------------------------------------------------------------


@contextmanager
def _errors() -> Iterator[None]:
    """Turn library errors into click errors: usage problems exit 2, everything else 1."""
    try:
        yield
    except InvalidArgumentError as exc:
        raise click.UsageError(str(exc)) from None
    except SearchError as exc:
        raise click.ClickException(str(exc)) from None


def _ensure_index(ctx: click.Context, engine: SearchEngine) -> None:
    """Build the default index from seeds/ on first use; never build an index the user named."""
    if engine.exists():
        return
    if ctx.get_parameter_source("index_dir") != ParameterSource.DEFAULT:
        return  # the search raises IndexNotFoundError, which says how to build it
    if not DEFAULT_SEED_DIR.is_dir():
        raise click.ClickException(
            f"no index in {engine.index_dir} and no {DEFAULT_SEED_DIR}/ folder to build one from; "
            "run `search index PATH` first"
        )
    click.echo(
        f"No index in {engine.index_dir} yet: building it from {DEFAULT_SEED_DIR}/ ...", err=True
    )
    report = _run_index(engine, [DEFAULT_SEED_DIR], show_progress=sys.stderr.isatty())
    click.echo(_index_summary(report), err=True)


def _run_index(
    engine: SearchEngine, roots: list[Path], *, show_progress: bool, **options: Any
) -> IndexReport:
    if not show_progress:
        return engine.index(roots, **options)
    bar: Any = None

    def progress(done: int, total: int, path: str) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Indexing", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(1)

    try:
        return engine.index(roots, progress=progress, **options)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


# -- output ----------------------------------------------------------------------------------------


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _index_summary(report: IndexReport) -> str:
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


def _print_index_report(report: IndexReport, output_format: str, quiet: bool) -> None:
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
        _echo_json(
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
        click.echo(_index_summary(report))


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "rank": hit.rank,
        "url": hit.url,
        "title": hit.title,
        "excerpt": hit.excerpt,
        "score": hit.score,
        "quality": hit.quality,
        "published_at": _iso(hit.published_at),
        "topics": list(hit.topics),
        "provider": hit.provider,
        "type": hit.doc_type,
        "path": hit.path,
        "web_url": hit.web_url,
    }


def _print_results(results: SearchResults, output_format: str) -> None:
    if output_format == "json":
        _echo_json(
            {
                "query": results.query,
                "total": results.total,
                "offset": results.offset,
                "limit": results.limit,
                "matched": results.matched,
                "now": _iso(results.now),
                "hits": [_hit_json(hit) for hit in results.hits],
            }
        )
        return
    if output_format == "jsonl":
        for hit in results.hits:
            click.echo(json.dumps(_hit_json(hit), ensure_ascii=False))
        return
    if results.total == 0:
        click.echo(f"No results for {results.query!r}.")
        return
    if results.matched == "any":
        click.echo("No article matched every word; showing articles that match any of them.")
    shown = len(results.hits)
    counted = f"{results.total:,} result{'' if results.total == 1 else 's'} for {results.query!r}"
    if shown:
        first = results.offset + 1
        click.echo(f"{counted} (showing {first}-{first + shown - 1}):")
    else:
        click.echo(f"{counted} (none at offset {results.offset}).")
    for hit in results.hits:
        click.echo("")
        click.echo(f"{hit.rank:>3}. " + click.style(hit.title, bold=True))
        details = [
            hit.published_at.strftime("%Y-%m-%d %H:%M UTC") if hit.published_at else "undated",
            hit.provider or "unknown provider",
            f"quality {hit.quality}" if hit.quality is not None else "quality n/a",
            f"score {hit.score:.3f}",
        ]
        click.echo("     " + " · ".join(details))
        click.echo("     " + hit.web_url)
        if hit.excerpt:
            click.echo(
                textwrap.indent(textwrap.fill(_shorten(hit.excerpt, _EXCERPT_CHARS), 95), "     ")
            )


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + " …"


def _stats_json(stats: IndexStats) -> dict[str, Any]:
    return {
        "documents": stats.documents,
        "index_dir": stats.index_dir,
        "size_bytes": stats.size_bytes,
        "oldest": _iso(stats.oldest),
        "newest": _iso(stats.newest),
        "undated": stats.undated,
        "topics": stats.topics,
        "providers": stats.providers,
        "types": stats.types,
        "schema_version": stats.schema_version,
        "written_by": stats.written_by,
        "updated_at": _iso(stats.updated_at),
    }


def _print_stats(stats: IndexStats) -> None:
    def top(counts: dict[str, int], n: int = 10) -> str:
        shown = [f"{name} ({count:,})" for name, count in list(counts.items())[:n]]
        more = len(counts) - n
        return ", ".join(shown) + (f", and {more} more" if more > 0 else "") if shown else "none"

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


def _document_json(document: Document) -> dict[str, Any]:
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
        "published_at": _iso(document.published_at),
        "related": [
            {
                "title": entry.title,
                "url": entry.url,
                "excerpt": entry.excerpt,
                "provider": entry.provider,
                "quality": entry.quality,
                "published_at": _iso(entry.published_at),
            }
            for entry in document.related
        ],
    }


def _print_document(document: Document) -> None:
    click.echo(click.style(document.title, bold=True))
    rows = [
        ("URL", document.web_url),
        ("Published", _iso(document.published_at) or "unknown"),
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


def main() -> NoReturn:
    """Entry point of the `search` console script."""
    try:
        cli.main(prog_name="search")
    except Exception as exc:  # a bug: say so in one line rather than with a traceback
        if os.environ.get("SEARCH_DEBUG"):
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {exc} "
            "(this is a bug; set SEARCH_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
