"""Measure this engine against plain Whoosh, SQLite FTS5 and tantivy-py on one corpus.

    python -m benchmarks.run --docs 100000                 # generates the corpus if needed
    python -m benchmarks.run --docs 2000 --engines news-search,whoosh --rounds 3

Every figure comes from the same run, on the same files and the same queries, one engine at a
time. Building and querying each happen in a fresh subprocess so that peak memory (of the whole
process tree, sampled every 0.1 s, shared pages counted once) and imports are the engine's own.
Prints a Markdown table with ratios against plain Whoosh and writes everything to a JSON file.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter
from whoosh.analysis import STOP_WORDS

from benchmarks.engines import ENGINES, BenchQuery, corpus_files, listed, tantivy_available
from benchmarks.generate import DEFAULT_SOURCE, generate

HERE = Path(__file__).resolve().parent
BASELINE = "whoosh"


# -- the query set -----------------------------------------------------------------------------


def make_queries(corpus: Path, count: int, seed: int) -> list[BenchQuery]:
    """Single words, pairs, phrases, filtered words and typos, drawn from the corpus's titles."""
    rng = random.Random(seed)
    files = corpus_files(corpus)
    sample = [frontmatter.load(path) for path in rng.sample(files, min(len(files), 1_500))]
    titles = [[w for w in _words(str(post.get("title") or ""))] for post in sample]
    frequency = Counter(word for title in titles for word in set(title))
    common = {word for word, n in frequency.items() if n > len(sample) * 0.05} | set(STOP_WORDS)
    useful = sorted(
        word for word, n in frequency.items() if n >= 2 and word not in common and len(word) > 3
    )
    topics = sorted({str(topic) for post in sample for topic in listed(post.get("topics"))})
    per_kind = max(1, count // 5)
    queries: list[BenchQuery] = []
    for _ in range(per_kind):
        queries.append(BenchQuery("single", (rng.choice(useful),)))
    while sum(q.kind == "pair" for q in queries) < per_kind:
        title = [w for w in rng.choice(titles) if w in frequency and w not in common and len(w) > 2]
        if len(title) >= 2:
            queries.append(BenchQuery("pair", tuple(rng.sample(title, 2))))
    while sum(q.kind == "phrase" for q in queries) < per_kind:
        title = rng.choice(titles)
        if len(title) >= 3:
            start = rng.randrange(len(title) - 1)
            pair = title[start : start + 2]
            if all(len(word) > 2 and word not in common for word in pair):
                queries.append(BenchQuery("phrase", tuple(pair), phrase=True))
    for _ in range(per_kind):
        queries.append(
            BenchQuery(
                "filter",
                (rng.choice(useful),),
                topic=rng.choice(topics) if topics else None,
                since="2024-01-01",
            )
        )
    long_words = [word for word in useful if len(word) >= 6] or useful
    for _ in range(per_kind):
        word = rng.choice(long_words)
        at = rng.randrange(1, len(word) - 1)
        typo = word[:at] + word[at + 1] + word[at] + word[at + 2 :]  # two letters swapped
        queries.append(BenchQuery("typo", (typo,)))
    return queries


def _words(text: str) -> list[str]:
    return [
        w
        for w in (("".join(c for c in token.lower() if c.isalnum())) for token in text.split())
        if w
    ]


# -- measuring in subprocesses -----------------------------------------------------------------


def run_measured(command: list[str]) -> tuple[float, int, str]:
    """Run `command`; returns (seconds, peak memory of its process tree in bytes, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.1)
    stdout = process.stdout.read() if process.stdout else ""
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} failed with status {process.returncode}")
    return seconds, peak, stdout


def tree_rss(pid: int) -> int:
    """Memory of a process and its descendants, from /proc (Linux).

    Each process counts its proportional set size (PSS): pages shared between a parent and its
    forked workers are divided among them instead of being counted once per process. Where PSS
    is not available, resident set sizes are added up (an upper bound).
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _process_memory(current)
        stack.extend(children.get(current, []))
    return total


def _process_memory(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def directory_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def compile_project() -> None:
    """Compile this project's modules to bytecode, as installing it with pip does.

    The other engines run from the bytecode pip wrote when it installed them. A checkout installed
    with `pip install -e` has none until Python writes it on first import, and with
    PYTHONDONTWRITEBYTECODE set it never does: every fresh process would compile the source again,
    a cost no installed copy pays, measured against engines that do not pay it.
    """
    compileall.compile_dir(HERE.parent / "search", quiet=1)


def bench_engine(
    name: str,
    corpus: Path,
    docs: int,
    work: Path,
    queries: list[BenchQuery],
    args: argparse.Namespace,
) -> dict[str, Any]:
    index_dir = work / f"index-{name}"
    ENGINES[name].__class__  # noqa: B018 - fail early on an unknown name
    if index_dir.exists():
        shutil.rmtree(index_dir)
    print(f"[{name}] building ...", file=sys.stderr, flush=True)
    me = [sys.executable, "-m", "benchmarks.run"]
    seconds, peak, _ = run_measured([*me, "_build", name, str(corpus), str(index_dir)])
    result: dict[str, Any] = {
        "build_seconds": seconds,
        "docs_per_second": docs / seconds,
        "peak_rss_bytes": peak,
        "index_bytes": directory_size(index_dir),
    }
    print(f"[{name}] querying ...", file=sys.stderr, flush=True)
    query_file = work / "queries.json"
    query_file.write_text(json.dumps([asdict(q) for q in queries]))
    _, _, stdout = run_measured(
        [*me, "_query", name, str(index_dir), str(query_file), str(args.rounds)]
    )
    result.update(json.loads(stdout))
    print(f"[{name}] cold queries ...", file=sys.stderr, flush=True)
    engine = ENGINES[name]
    cold = []
    for query in queries[: args.cold_runs]:
        started = time.perf_counter()
        subprocess.run(
            engine.cold_command(index_dir, query), check=True, capture_output=True, cwd=HERE.parent
        )
        cold.append(time.perf_counter() - started)
    result["cold_query_median_ms"] = statistics.median(cold) * 1000
    if hasattr(engine, "reindex"):
        print(f"[{name}] re-indexing without changes ...", file=sys.stderr, flush=True)
        seconds, _, _ = run_measured([*me, "_reindex", name, str(corpus), str(index_dir)])
        result["reindex_seconds"] = seconds
    return result


def _build_here(name: str, corpus: str, index_dir: str) -> None:
    ENGINES[name].build(Path(corpus), Path(index_dir))


def _reindex_here(name: str, corpus: str, index_dir: str) -> None:
    ENGINES[name].reindex(Path(corpus), Path(index_dir))


def _query_here(name: str, index_dir: str, query_file: str, rounds: str) -> None:
    engine = ENGINES[name]
    queries = [
        BenchQuery(**{**q, "words": tuple(q["words"])})
        for q in json.loads(Path(query_file).read_text())
    ]
    handle = engine.open(Path(index_dir))
    for query in queries:  # warm up: page cache, lazy loads, caches
        engine.search(handle, query)
    timings: dict[str, list[float]] = {}
    empty = 0
    for _ in range(int(rounds)):
        for query in queries:
            started = time.perf_counter()
            found = engine.search(handle, query)
            timings.setdefault(query.kind, []).append(time.perf_counter() - started)
            empty += not found
    every = [t for values in timings.values() for t in values]
    print(
        json.dumps(
            {
                "query_p50_ms": percentile(every, 0.50) * 1000,
                "query_p95_ms": percentile(every, 0.95) * 1000,
                "query_p99_ms": percentile(every, 0.99) * 1000,
                "query_p50_ms_by_kind": {k: percentile(v, 0.5) * 1000 for k, v in timings.items()},
                "empty_results": empty,
                "queries": len(every),
            }
        )
    )


# -- reporting ---------------------------------------------------------------------------------

ROWS = [
    ("index from files, docs/s", "docs_per_second", "{:,.0f}"),
    ("peak RSS while indexing, MB", "peak_rss_bytes", "{:,.0f}"),
    ("index size, MB", "index_bytes", "{:,.0f}"),
    ("warm query p50, ms", "query_p50_ms", "{:,.2f}"),
    ("warm query p95, ms", "query_p95_ms", "{:,.2f}"),
    ("warm query p99, ms", "query_p99_ms", "{:,.2f}"),
    ("cold `query` in a new process, ms", "cold_query_median_ms", "{:,.0f}"),
    ("no-change re-index, s", "reindex_seconds", "{:,.2f}"),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = [
        "| what | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    base = results.get(BASELINE, {})
    for label, key, fmt in ROWS:
        cells = []
        for name in names:
            value = results[name].get(key)
            if value is None:
                cells.append("—")
                continue
            shown = value / 1e6 if key.endswith("bytes") else value
            cell = fmt.format(shown)
            if name != BASELINE and base.get(key):
                ratio = value / base[key]
                cell += f" ({ratio:.2f}x)"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    internal: dict[str, Callable[..., None]] = {
        "_build": _build_here,
        "_query": _query_here,
        "_reindex": _reindex_here,
    }
    if argv and argv[0] in internal:
        internal[argv[0]](*argv[1:])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument(
        "--corpus",
        type=Path,
        help="an existing corpus folder (default: generate --docs under --work)",
    )
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="AG News folder to recombine"
    )
    parser.add_argument(
        "--work", type=Path, default=HERE / "work", help="where corpora and indexes go"
    )
    parser.add_argument("--engines", default="news-search,whoosh,fts5,tantivy")
    parser.add_argument("--queries", type=int, default=200, help="size of the query set")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the query set")
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh-process queries")
    parser.add_argument("--seed", type=int, default=20201113)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(unknown)}")
    if "tantivy" in names and not tantivy_available():
        print("tantivy-py is not installed (pip install '.[bench]'): skipping it", file=sys.stderr)
        names.remove("tantivy")
    if args.corpus is not None:
        if not args.corpus.is_dir():
            parser.error(f"--corpus {args.corpus}: not a folder")
        corpus = args.corpus
    else:
        corpus = args.work / f"corpus-{args.docs}"
        if not (corpus / "CORPUS.json").exists():
            print(
                f"generating {args.docs:,} documents in {corpus} ...", file=sys.stderr, flush=True
            )
            generate(corpus, args.docs, args.seed, args.source)
    docs = len(corpus_files(corpus))
    if not docs:
        parser.error(f"{corpus}: no article files (.md, .markdown, .txt)")
    queries = make_queries(corpus, args.queries, args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    compile_project()
    results = {name: bench_engine(name, corpus, docs, args.work, queries, args) for name in names}
    report = {
        "machine": machine(),
        "docs": docs,
        "queries": len(queries),
        "rounds": args.rounds,
        "results": results,
        "table": table(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{docs:,} documents, {len(queries)} queries x {args.rounds} rounds; {machine()}\n")
    print(report["table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
