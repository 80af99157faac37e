"""The benchmark suite runs end to end on a tiny corpus (timings are its job, not the tests')."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import frontmatter

from search import SearchEngine

REPO = Path(__file__).resolve().parent.parent


def test_generated_corpus_is_deterministic_and_indexes_cleanly(tmp_path: Path) -> None:
    from benchmarks.generate import generate

    first, second = tmp_path / "a", tmp_path / "b"
    generate(first, 120, seed=7, source=REPO / "seeds")
    generate(second, 120, seed=7, source=REPO / "seeds")
    files = sorted(path.relative_to(first) for path in first.rglob("*.md"))
    assert len(files) == 120
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    post = frontmatter.load(first / files[0])
    assert post["title"] and post["webUrl"].startswith("https://")
    with SearchEngine(tmp_path / "index") as engine:
        report = engine.index([first])
    assert report.skipped == ()
    # The only imperfection left in on purpose that the reader warns about: a missing quality.
    assert all("no 'quality'" in warning.message for warning in report.warnings)
    # Syndicated copies share a URL, so there are at most as many documents as files.
    assert 0 < report.documents <= 120


def test_benchmark_runner_measures_every_engine_on_a_tiny_corpus(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--docs=80",
        f"--source={REPO / 'seeds'}",
        "--engines=news-search,whoosh,fts5",
        "--queries=10",
        "--rounds=1",
        "--cold-runs=1",
        f"--work={tmp_path / 'work'}",
        f"--out={out}",
    ]
    finished = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(out.read_text())
    assert report["docs"] == 80
    assert set(report["results"]) == {"news-search", "whoosh", "fts5"}
    for name, figures in report["results"].items():
        assert figures["docs_per_second"] > 0, name
        assert figures["index_bytes"] > 0, name
        assert figures["queries"] == report["queries"], name
        assert 0 < figures["query_p50_ms"] <= figures["query_p99_ms"], name
        assert figures["cold_query_median_ms"] > 0, name
    assert report["results"]["news-search"]["reindex_seconds"] > 0
    # The printed table compares every engine with plain Whoosh.
    assert "| index from files, docs/s |" in finished.stdout
    assert "x)" in finished.stdout


def test_serve_load_benchmark_runs_steady_and_during_a_rebuild(tmp_path: Path) -> None:
    from benchmarks.generate import generate

    generate(tmp_path / "corpus", 150, seed=7, source=REPO / "seeds")
    out = tmp_path / "serve.json"
    command = [sys.executable, "-m", "benchmarks.serve_load", f"--corpus={tmp_path / 'corpus'}"]
    command += [f"--index={tmp_path / 'index'}", "--clients=4", "--seconds=1", "--queries=10"]
    command += ["--rebuild-seconds=60", f"--out={out}"]
    finished = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(out.read_text())
    steady, rebuild = report["phases"]
    assert (steady["phase"], rebuild["phase"]) == ("steady", "during --rebuild")
    assert steady["requests"] > 0 and rebuild["requests"] > 0
    assert steady["failed"] == rebuild["failed"] == 0
    assert report["documents"] == report["documents_after_rebuild"] > 0
