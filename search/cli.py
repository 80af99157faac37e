"""The `search` command line: parse options, call the library once, print the result.

Library errors (`SearchError`) become `Error: ...` with exit status 1; invalid options are usage
errors with exit status 2. No traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.core import ParameterSource

from search import cli_format, serialize
from search._version import __version__
from search.dates import DateParseError, parse_bound, parse_datetime_text
from search.engine import DEFAULT_INDEX_DIR, SearchEngine
from search.errors import InvalidArgumentError, SearchError
from search.facets import FACETS
from search.limits import (
    DEFAULT_MAX_FRONTMATTER_BYTES,
    DEFAULT_SEARCH_THREADS,
    DEFAULT_WAIT_SECONDS,
)
from search.matching import DEFAULT_STRATEGY, RELATED_STRATEGY, STRATEGIES
from search.scoring import ORDERS
from search.terminal import printable

if TYPE_CHECKING:
    from search.reports import IndexReport

DEFAULT_SEED_DIR = Path("seeds")
INDEX_DIR_ENV = "SEARCH_INDEX_DIR"
_EXCERPT_CHARS = 220
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _moment(*, upper: bool = False, exact: bool = False) -> Callable[..., str | None]:
    """An option callback checking a point in time: ISO-8601, a date, a month or a year.

    The text itself goes to the library, which reads it the same way and can quote it.
    """

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_datetime_text(value) if exact else parse_bound(value, upper=upper)
        except DateParseError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        return value

    return check


def _index_dir(ctx: click.Context, param: click.Parameter, value: str) -> Path:
    if not value:  # Path("") would quietly mean the current folder
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return Path(value)


_index_dir_option = click.option(
    "--index-dir",
    type=click.Path(file_okay=False),
    callback=_index_dir,
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
            raise click.BadParameter(
                f"{printable(root)}: no such file or directory", param_hint="PATHS"
            )
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
    cli_format.print_index_report(report, output_format, quiet)
    if not report.ok or (strict and report.skipped):
        sys.exit(1)


def _facet_list(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in FACETS]
    if unknown:
        raise click.BadParameter(
            f"unknown facet {', '.join(unknown)} (choose from {', '.join(FACETS)})", ctx, param
        )
    return names


_SELECTION_OPTIONS: list[Any] = [
    click.option(
        "--matching",
        type=click.Choice(STRATEGIES),
        default=None,
        help=(
            f"Which articles match a query of several words and in which groups [default: "
            f"{DEFAULT_STRATEGY}; {RELATED_STRATEGY} for related]: coverage (every word first, "
            "then by the share of the words' weight), all (every word; any word when none has "
            "all), last / frequency (drop the last / most common word first), any (one group)."
        ),
    ),
    click.option(
        "--topic",
        "topics",
        multiple=True,
        metavar="TOPIC",
        help="Only articles with this topic (repeatable: any of them).",
    ),
    click.option("--provider", metavar="NAME", help="Only articles from this provider."),
    click.option(
        "--type",
        "doc_type",
        metavar="TYPE",
        help="Only articles of this type (article, video, ...).",
    ),
    click.option(
        "--since",
        metavar="DATE",
        callback=_moment(),
        help="Published on or after DATE (2020-11-13, 2020-11, 2020 or ISO-8601).",
    ),
    click.option(
        "--until",
        metavar="DATE",
        callback=_moment(upper=True),
        help="Published on or before DATE (the whole day, month or year).",
    ),
    click.option("--min-quality", type=int, metavar="N", help="Only articles with quality >= N."),
    click.option(
        "--published/--unpublished",
        default=None,
        help="Only published (or only unpublished) articles.",
    ),
    click.option(
        "--sort",
        type=click.Choice(ORDERS),
        default="relevance",
        show_default=True,
        help="Order of the results (relevance is the boosted ranking).",
    ),
    click.option(
        "--now",
        metavar="DATE",
        callback=_moment(exact=True),
        help="Reference time for recency (ISO-8601; default: now).",
    ),
    click.option(
        "--no-boost",
        "no_boost",
        is_flag=True,
        help="Rank by text relevance only (no quality or recency boost).",
    ),
    click.option(
        "--quality-weight",
        type=click.FloatRange(0, 1),
        metavar="W",
        help="Strength of the quality boost, 0-1 [default: 0.3].",
    ),
    click.option(
        "--recency-weight",
        type=click.FloatRange(0, 1),
        metavar="W",
        help="Strength of the recency boost, 0-1 [default: 0.3].",
    ),
    click.option(
        "--half-life",
        "half_life_days",
        type=click.FloatRange(min=0, min_open=True),
        metavar="DAYS",
        help="Age at which the recency boost halves [default: 30].",
    ),
]
"""Which articles match and how they rank: shared by `query`, `related` and `eval`."""

_RESULT_OPTIONS: list[Any] = [
    *_SELECTION_OPTIONS,
    click.option(
        "--limit",
        type=click.IntRange(min=0),
        default=10,
        show_default=True,
        help="Number of hits to show.",
    ),
    click.option(
        "--offset",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Number of hits to skip.",
    ),
    click.option(
        "--facets",
        metavar="LIST",
        callback=_facet_list,
        help=f"Count all matches by these facets, comma-separated ({','.join(FACETS)}).",
    ),
    click.option("--explain", is_flag=True, help="Show the parts of each hit's score."),
    _format_option("text", "json", "jsonl"),
]


def _result_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, paging, ranking and output options shared by `query` and `related`."""
    for option in reversed(_RESULT_OPTIONS):
        command = option(command)
    return command


def _selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filter and ranking options alone (for `eval`, which pages by its own cut-off)."""
    for option in reversed(_SELECTION_OPTIONS):
        command = option(command)
    return command


def _search_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """Engine keyword arguments from the shared options (all but the output format)."""
    arguments = {key: value for key, value in options.items() if key != "output_format"}
    arguments["boost"] = not arguments.pop("no_boost")
    return arguments


@cli.command("query", context_settings=CONTEXT_SETTINGS)
@click.argument("text")
@_index_dir_option
@_result_options
@click.pass_context
def query_command(ctx: click.Context, /, text: str, index_dir: Path, **options: Any) -> None:
    """Search the index for TEXT.

    Articles with every word come first, then those with some of the words, ranked by how much of
    the query they cover (--matching chooses another strategy). Phrases, field clauses, groups
    and every word of a query using AND stay required. A word no article contains is matched to
    close spellings from the index and the output suggests the corrected query. TEXT uses the
    Whoosh query language: AND, OR, NOT, "exact phrases", wildcards (spaceshi*), and fields:
    title:, topic:, excerpt:, provider:, type:, quality:>=60, date:2020-11-13,
    date:[2020-01 TO 2020-06].

    \b
    Ranking: text relevance (BM25F) x quality factor x recency factor.

    \b
    Examples:
      search query "facial recognition New Orleans police"
      search query 'oil AND (prices OR output)' --since 2004-09 --limit 5
      search query "title:olympics" --topic Sports --facets topics,year --format json
    """
    engine = SearchEngine(index_dir)
    with _errors():
        _ensure_index(ctx, engine)
        results = engine.search(text, **_search_arguments(options))
    cli_format.print_results(results, options["output_format"])


@cli.command("related", context_settings=CONTEXT_SETTINGS)
@click.argument("url")
@_index_dir_option
@_result_options
def related_command(url: str, index_dir: Path, **options: Any) -> None:
    """Articles on the same subject as the article at URL (never the article itself).

    URL may be any spelling of the article's address with the same canonical form, or the path
    of the indexed file it was read from. Takes the same options as `search query`.

    \b
    Examples:
      search related https://www.nola.com/news/crime_police/article_9eda8846-25e1-11eb-9c95-4f11b10ed17a.html
      search related https://example.com/story --since 2020 --format json
    """
    with _errors():
        results = SearchEngine(index_dir).related(url, **_search_arguments(options))
    cli_format.print_results(results, options["output_format"])


@cli.command("eval", context_settings=CONTEXT_SETTINGS)
@click.argument("qrels", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--queries",
    "queries_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The judged queries: `qid<TAB>query` lines, or JSON ({qid: query}).",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Cut-off: how many hits of each query are measured.",
)
@_index_dir_option
@_selection_options
@_format_option("text", "json")
@click.pass_context
def eval_command(
    ctx: click.Context,
    /,
    qrels: Path,
    queries_file: Path,
    k: int,
    index_dir: Path,
    **options: Any,
) -> None:
    """Measure the ranking against relevance judgments: nDCG@k, precision@k, MRR and recall@k.

    QRELS grades articles for queries, 0 (not relevant), 1 (relevant) or 2 (highly relevant), as
    TREC qrels lines `qid 0 URL grade` or JSON ({qid: {URL: grade}}); unjudged articles count as
    0. Each query of --queries runs as `search query` would with the same options (--matching,
    filters, --now, --no-boost, weights), and the first K hits are measured. Queries with no
    relevant judgment are listed and left out of the means.

    \b
    Examples:
      search eval benchmarks/relevance/qrels.txt --queries benchmarks/relevance/queries.tsv
      search eval qrels.json --queries queries.json --no-boost --k 5 --format json
    """
    from search import judging  # not needed to search

    engine = SearchEngine(index_dir)
    with _errors():
        judgments = judging.read_judgments(qrels)
        queries = judging.read_queries(queries_file)
        _ensure_index(ctx, engine)
        report = engine.evaluate(queries, judgments, k=k, **_search_arguments(options))
    cli_format.print_evaluation(report, options["output_format"])


@cli.command("stats", context_settings=CONTEXT_SETTINGS)
@_index_dir_option
@_format_option("text", "json")
def stats_command(index_dir: Path, output_format: str) -> None:
    """Summarise the index: documents, dates, topics, providers, size."""
    with _errors():
        stats = SearchEngine(index_dir).stats()
    if output_format == "json":
        cli_format.echo_json(serialize.stats_json(stats))
    else:
        cli_format.print_stats(stats)


@cli.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("url")
@_index_dir_option
@_format_option("text", "json")
def show_command(url: str, index_dir: Path, output_format: str) -> None:
    """Print the stored document with this URL, or the one read from this indexed file."""
    with _errors():
        document = SearchEngine(index_dir).document(url)
    if output_format == "json":
        cli_format.echo_json(serialize.document_json(document))
    else:
        cli_format.print_document(document)


@cli.command("check", context_settings=CONTEXT_SETTINGS)
@_index_dir_option
@_format_option("text", "json")
def check_command(index_dir: Path, output_format: str) -> None:
    """Read every part of the index and report what is damaged.

    Checks the manifest, every index file against the size and checksum recorded when it was
    written, every posting list, stored document and column, and the file catalog. Run it when
    no `search index` is under way.

    \b
    Exit status: 0 when the index is sound, 1 when anything is damaged or there is no index.
    """
    with _errors():
        report = SearchEngine(index_dir).check()
    cli_format.print_check(report, output_format)
    if not report.ok:
        sys.exit(1)


@cli.command("serve", context_settings=CONTEXT_SETTINGS)
@_index_dir_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="Address to listen on (0.0.0.0: every interface).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    metavar="N",
    help="Port to listen on.",
)
@click.option(
    "--watch",
    "watch_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    metavar="PATH",
    help="Keep the index in step with the articles under PATH (repeatable).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Let pages from ORIGIN (https://host:port) call the API (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Answer 503 when a search takes longer than this.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    metavar="N",
    help="Server processes (a search uses one core; use up to one per core).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=DEFAULT_SEARCH_THREADS,
    show_default=True,
    metavar="N",
    help="Searches a server process runs at once (1: the lowest latency under load, but a slow "
    "search holds up the others).",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
def serve_command(
    index_dir: Path,
    host: str,
    port: int,
    watch_paths: tuple[Path, ...],
    cors_origins: tuple[str, ...],
    timeout: float,
    workers: int,
    threads: int,
    access_log: bool,
) -> None:
    """Serve the index over HTTP: a JSON API and a search page at http://HOST:PORT/.

    Every commit to the index (an update, a --rebuild) is picked up without a restart. With
    --watch, the index holds exactly the articles under the watched PATHs: it is updated a moment
    after files there are added, changed or deleted. Ctrl-C stops the server.

    \b
    Examples:
      search serve
      search serve --index-dir ~/news-index --watch ~/news --port 9000
      search serve --host 0.0.0.0 --cors-origin https://intranet.example.com
    """
    from search.web.app import Limits  # the web stack loads only for this command
    from search.web.serving import serve

    with _errors():
        serve(
            index_dir,
            host=host,
            port=port,
            watch=watch_paths,
            cors_origins=cors_origins,
            limits=Limits(timeout=timeout, threads=threads),
            access_log=access_log,
            workers=workers,
        )


# -- running ---------------------------------------------------------------------------------------


@contextmanager
def _errors() -> Iterator[None]:
    """Turn library errors into click errors: usage problems exit 2, everything else 1."""
    try:
        yield
    except InvalidArgumentError as exc:
        raise click.UsageError(printable(exc)) from None
    except SearchError as exc:
        raise click.ClickException(printable(exc)) from None


def _ensure_index(ctx: click.Context, engine: SearchEngine) -> None:
    """Build the default index from seeds/ on first use; never build an index the user named."""
    if engine.exists():
        return
    if ctx.get_parameter_source("index_dir") != ParameterSource.DEFAULT:
        return  # the search raises IndexNotFoundError, which says how to build it
    if not DEFAULT_SEED_DIR.is_dir():
        raise click.ClickException(
            f"no index in {printable(engine.index_dir)} and no {DEFAULT_SEED_DIR}/ folder to "
            "build one from; run `search index PATH` first"
        )
    click.echo(
        f"No index in {printable(engine.index_dir)} yet: building it from {DEFAULT_SEED_DIR}/ ...",
        err=True,
    )
    report = _run_index(engine, [DEFAULT_SEED_DIR], show_progress=sys.stderr.isatty())
    click.echo(cli_format.index_summary(report), err=True)


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


def main() -> NoReturn:
    """Entry point of the `search` console script."""
    try:
        cli.main(prog_name="search")
    except Exception as exc:  # a bug: say so in one line rather than with a traceback
        if os.environ.get("SEARCH_DEBUG"):
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {printable(exc)} "
            "(this is a bug; set SEARCH_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
