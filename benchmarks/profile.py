"""Where the time goes: cProfile of a build and of the slowest queries, summarised by area.

    python -m benchmarks.profile index --corpus benchmarks/work/corpus-100000 --limit 20000
    python -m benchmarks.profile query --corpus benchmarks/work/corpus-100000 \\
        --index benchmarks/work/index-news-search

The build is profiled in one process (workers=1), so that reading, analysing and writing all show
up in one profile; the real build runs the reading and analysis in worker processes beside the
writer. Each function's own time is attributed to an area by the module it lives in, and the
report lists the areas' shares and the most expensive functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.engines import NewsSearch, corpus_files
from benchmarks.run import make_queries

# (area, fragments of a module path): the first area whose fragment occurs in the path wins.
AREAS = [
    (
        "YAML and frontmatter parsing",
        ("/yaml/", "/frontmatter/", "_yaml", "search/frontmatter_yaml"),
    ),
    ("reading articles (fields, dates, URLs)", ("search/documents", "search/dates", "search/urls")),
    ("tokenising and stemming", ("search/schema", "whoosh/analysis", "whoosh/lang")),
    ("catalog (SQLite)", ("search/catalog", "sqlite3")),
    ("Whoosh writer (segments, commit)", ("search/whoosh_ext/writing",)),
    (
        "posting lists (Whoosh codec)",
        ("whoosh/codec", "whoosh/filedb", "whoosh/matching", "search/whoosh_ext"),
    ),
    ("Whoosh writer (segments, commit)", ("whoosh/writing", "whoosh/util", "whoosh/columns")),
    (
        "query parsing and typo checks",
        ("whoosh/qparser", "search/querying", "search/typos", "search/vocabulary"),
    ),
    ("scoring and ranking", ("search/evaluation", "search/ranking", "search/scoring")),
    ("building hits (records, snippets)", ("search/retrieval", "search/models", "search/snippets")),
    ("other Whoosh", ("whoosh/",)),
    ("other project code", ("search/",)),
]


def area_of(filename: str) -> str:
    for area, fragments in AREAS:
        if any(fragment in filename for fragment in fragments):
            return area
    return "Python runtime"


def summarise(profile: cProfile.Profile, total_seconds: float, top: int = 12) -> str:
    stats = pstats.Stats(profile)
    raw = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, _, own, cumulative, callers) in raw.items():
        # A builtin's time (sorting, compressing, unpickling) counts for the code that called it.
        shares = (
            [(area_of(caller[0]), timing[2]) for caller, timing in callers.items()]
            if filename == "~" and callers
            else [(area_of(filename), own)]
        )
        for area, seconds in shares:
            by_area[area] = by_area.get(area, 0.0) + seconds
        functions.append((own, cumulative, f"{Path(filename).name}:{line}({name})"))
    profiled = sum(by_area.values()) or 1.0
    lines = [f"wall time {total_seconds:.2f} s (profiled; cProfile slows Python code down)", ""]
    lines += ["| area | share of time |", "|---|---|"]
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        lines.append(f"| {area} | {seconds / profiled:.0%} |")
    lines += ["", "| function | own s | cumulative s |", "|---|---|---|"]
    for own, cumulative, label in sorted(functions, reverse=True)[:top]:
        lines.append(f"| `{label}` | {own:.3f} | {cumulative:.3f} |")
    return "\n".join(lines)


def profile_index(corpus: Path, limit: int) -> str:
    from search.indexing import IndexOptions, run_index

    files = corpus_files(corpus)[:limit]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "corpus"
        for path in files:
            target = folder / path.relative_to(corpus)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        report = run_index(Path(scratch) / "index", [folder], options=IndexOptions(workers=1))
        profile.disable()
        seconds = time.perf_counter() - started
    header = f"build of {len(files):,} files ({report.documents:,} articles), one process\n"
    return header + summarise(profile, seconds)


def profile_queries(corpus: Path, index: Path, count: int, slowest: int) -> str:
    engine = NewsSearch()
    handle = engine.open(index)
    queries = make_queries(corpus, count, 20201113)
    for query in queries:  # warm up
        engine.search(handle, query)
    timed = []
    for query in queries:
        started = time.perf_counter()
        engine.search(handle, query)
        timed.append((time.perf_counter() - started, query))
    timed.sort(key=lambda item: item[0], reverse=True)
    chosen = [query for _, query in timed[:slowest]]
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for _ in range(5):
        for query in chosen:
            engine.search(handle, query)
    profile.disable()
    seconds = time.perf_counter() - started
    shown = ", ".join(f"{q.text!r} ({t * 1000:.1f} ms)" for t, q in timed[:5])
    header = f"the {slowest} slowest of {len(queries)} queries, 5 times; slowest: {shown}\n"
    return header + summarise(profile, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["index", "query"])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, help="a news-search index of --corpus (query)")
    parser.add_argument("--limit", type=int, default=20_000, help="files to build from (index)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--slowest", type=int, default=20)
    args = parser.parse_args(argv)
    if args.what == "index":
        print(profile_index(args.corpus, args.limit))
    else:
        if args.index is None:
            parser.error("query needs --index")
        print(profile_queries(args.corpus, args.index, args.queries, args.slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
