"""Killed indexers, competing indexers and searches during indexing, with real subprocesses."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from search import SearchEngine, pipeline, storage
from search.catalog import Catalog
from search.errors import IndexingFailedError, IndexLockedError
from search.indexing import IndexOptions, run_index
from search.locking import HOLDER_NAME, LOCK_NAME, IndexLock
from search.storage import CATALOG_NAME
from tests.conftest import WriteArticle, article_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and locks")


def write_corpus(folder: Path, count: int, tag: str) -> None:
    """`count` articles that all contain "harbour" and the word `tag`."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        text = article_text(
            title=f"Harbour story {number} {tag}",
            excerpt=f"News from the harbour, edition {tag}, item {number}.",
            webUrl=f"https://e.com/{tag}/{number}",
            quality=number % 100,
        )
        (folder / f"{tag}-{number:05d}.md").write_text(text, encoding="utf-8")


def indexer(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "search", "index", *map(str, args), "--quiet"]


def state(index_dir: Path) -> tuple[int, int, int]:
    """(documents, documents of corpus A, documents of corpus B) as a fresh reader sees them."""
    with SearchEngine(index_dir) as engine:
        return (
            engine.search("harbour", limit=0).total,
            engine.search("alpha", limit=0).total,
            engine.search("beta", limit=0).total,
        )


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("corpora")
    write_corpus(root / "a", 1_800, "alpha")
    write_corpus(root / "b", 2_200, "beta")
    return root / "a", root / "b"


def test_sigkill_at_any_moment_leaves_the_last_committed_index(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    corpus_a, corpus_b = corpora
    index_dir = tmp_path / "index"
    expected = {corpus_a: (1_800, 1_800, 0), corpus_b: (2_200, 0, 2_200)}
    started = time.monotonic()
    subprocess.run(indexer(corpus_a, "--index-dir", index_dir), check=True)
    duration = time.monotonic() - started
    committed = expected[corpus_a]
    # Kill points spread over a whole run, from start-up to the final commit.
    fractions = [0.05, 0.25, 0.45, 0.6, 0.75, 0.85, 0.95, 1.05, 0.5]
    for number, delay in enumerate(fraction * duration for fraction in fractions):
        target = corpus_b if committed == expected[corpus_a] else corpus_a
        extra = ["--rebuild"] if number % 3 == 2 else []
        process = subprocess.Popen(indexer(target, "--index-dir", index_dir, *extra))
        time.sleep(delay)
        process.kill()
        process.wait()
        seen = state(index_dir)  # opens and answers, whatever moment the kill came
        assert seen in (committed, expected[target]), (delay, extra)
        committed = seen
    # The next run finishes the job, and leaves no half-built generation behind.
    subprocess.run(indexer(corpus_b, "--index-dir", index_dir, "--wait", "0"), check=True)
    assert state(index_dir) == expected[corpus_b]
    generations = [entry for entry in index_dir.iterdir() if entry.name.startswith("gen-")]
    assert len(generations) == 1


def hold_lock(index_dir: Path) -> subprocess.Popen[str]:
    """A process that takes the write lock and keeps it until it reads a line (or is killed)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from search.locking import IndexLock\n"
            "with IndexLock(Path(sys.argv[1])):\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.readline()",
            str(index_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_indexer_waits_then_names_the_holder(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    corpus_a, _ = corpora
    index_dir = tmp_path / "index"
    holder = hold_lock(index_dir)
    try:
        impatient = subprocess.run(
            indexer(corpus_a, "--index-dir", index_dir, "--wait", "0.3"),
            capture_output=True,
            text=True,
        )
        assert impatient.returncode == 1
        assert f"is being written by process {holder.pid} on " in impatient.stderr
        assert "gave up after 0.3 s (use --wait to wait longer)" in impatient.stderr
        assert "Traceback" not in impatient.stderr
        patient = subprocess.Popen(indexer(corpus_a, "--index-dir", index_dir, "--wait", "120"))
        time.sleep(0.5)
        assert patient.poll() is None  # still waiting
    finally:
        holder.communicate("go\n", timeout=30)
    assert patient.wait(timeout=120) == 0
    assert state(index_dir) == (1_800, 1_800, 0)


def test_two_indexers_at_once_both_finish_one_after_the_other(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    corpus_a, corpus_b = corpora
    index_dir = tmp_path / "index"
    first = subprocess.Popen(indexer(corpus_a, "--index-dir", index_dir, "--wait", "120"))
    second = subprocess.Popen(indexer(corpus_b, "--index-dir", index_dir, "--wait", "120"))
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert state(index_dir) in ((1_800, 1_800, 0), (2_200, 0, 2_200))


def test_a_lock_left_by_a_killed_process_is_recovered(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    index_dir = tmp_path / "index"
    holder = hold_lock(index_dir)
    holder.kill()
    holder.communicate()
    assert (index_dir / HOLDER_NAME).exists()  # the note stays behind; the lock does not
    started = time.monotonic()
    with IndexLock(index_dir, wait_seconds=0):
        pass
    assert time.monotonic() - started < 1


def files_open_here() -> set[str]:
    folder = Path("/proc/self/fd")
    return {os.path.realpath(folder / name) for name in os.listdir(folder)}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files from /proc")
def test_indexing_workers_leave_the_lock_to_the_indexer(tmp_path: Path) -> None:
    # A forked worker shares the indexer's lock file; if it kept it open, a killed indexer's
    # index would stay locked for as long as any of its workers lived on.
    index_dir = tmp_path / "index"
    lock_file = os.path.realpath(index_dir / LOCK_NAME)
    with IndexLock(index_dir):
        assert lock_file in files_open_here()
        context = multiprocessing.get_context("fork")
        with context.Pool(1, initializer=pipeline._start_worker) as pool:
            open_in_worker = pool.apply(files_open_here)
        assert lock_file not in open_in_worker
        # Closing the worker's copy did not release the lock here.
        with pytest.raises(IndexLockedError), IndexLock(index_dir, wait_seconds=0):
            pass
    with IndexLock(index_dir, wait_seconds=0):
        pass


def test_searches_keep_answering_during_updates_and_rebuilds(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    corpus_a, corpus_b = corpora
    index_dir = tmp_path / "index"
    subprocess.run(indexer(corpus_a, "--index-dir", index_dir), check=True)
    seen: set[int] = set()
    errors: list[BaseException] = []
    with SearchEngine(index_dir) as engine:
        for target, extra in ((corpus_b, []), (corpus_a, ["--rebuild"]), (corpus_b, [])):
            process = subprocess.Popen(indexer(target, "--index-dir", index_dir, *extra))

            def search_until_done(process: subprocess.Popen[bytes] = process) -> None:
                while process.poll() is None:
                    try:
                        results = engine.search("harbour", limit=20)
                        seen.add(results.total)
                        assert len({hit.url for hit in results}) == len(results.hits)
                    except BaseException as exc:  # collected and reported below
                        errors.append(exc)
                        return

            threads = [threading.Thread(target=search_until_done) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert process.wait() == 0
    assert errors == []
    # Every answer came from a whole state, never a mixture: all of A or all of B.
    assert seen <= {1_800, 2_200}
    assert len(seen) == 2


def test_indexing_survives_files_disappearing_mid_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 600, "alpha")
    index_dir = tmp_path / "index"
    process = subprocess.Popen(
        indexer(corpus, "--index-dir", index_dir), stderr=subprocess.PIPE, text=True
    )
    time.sleep(0.3)
    for path in sorted(corpus.iterdir())[300:]:
        path.unlink()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    documents, _, _ = state(index_dir)
    assert 300 <= documents <= 600
    subprocess.run(indexer(corpus, "--index-dir", index_dir), check=True)
    assert state(index_dir)[0] == 300
    assert not os.path.exists(index_dir / HOLDER_NAME)


def segment_count(index_dir: Path) -> int:
    return len([path for path in index_dir.glob("gen-*/*.seg")])


@pytest.mark.parametrize("per_segment", [pipeline.SEGMENT_DOCUMENTS, 250])
def test_workers_build_the_same_index_as_one_process(
    tmp_path: Path,
    corpora: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    per_segment: int,
) -> None:
    # A worker starts a new segment after `SEGMENT_DOCUMENTS` (its memory stays bounded on a
    # large corpus), and the workers' segments are joined when no larger together; the index
    # answers the same however many segments it has.
    monkeypatch.setattr(pipeline, "SEGMENT_DOCUMENTS", per_segment)
    corpus_a, _ = corpora
    assert pipeline._can_fork(), "the parallel build needs a process without other threads"
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_index(serial, [corpus_a], options=IndexOptions(workers=1))
    report = run_index(parallel, [corpus_a], options=IndexOptions(workers=2))
    assert (report.added, report.documents) == (1_800, 1_800)
    assert segment_count(serial) == 1
    if per_segment > 1_800:
        assert segment_count(parallel) == 1  # one per worker, joined
    else:  # a segment ends after the chunk (of 64 files) that takes it to 250 or more
        assert segment_count(parallel) >= 1_800 // (250 + 63) + 1
    with SearchEngine(serial) as one, SearchEngine(parallel) as two:
        for text in ("harbour", "story 17", '"harbour story"', "alpha edition", "storie~"):
            expected = one.search(text, limit=50, now="2024-01-01")
            found = two.search(text, limit=50, now="2024-01-01")
            assert found.total == expected.total
            assert [(h.url, h.score) for h in found] == [(h.url, h.score) for h in expected]
        assert two.stats().documents == one.stats().documents
    assert vocabulary(parallel) == vocabulary(serial)  # workers send each word once


def vocabulary(index_dir: Path) -> list[str]:
    generation = storage.generation_dir(index_dir, storage.read_manifest(index_dir))
    with Catalog(generation / CATALOG_NAME) as catalog:
        return sorted(catalog.words())


def test_a_worker_that_dies_fails_the_run_and_keeps_the_index(
    tmp_path: Path, corpora: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus_a, corpus_b = corpora
    index_dir = tmp_path / "index"
    run_index(index_dir, [corpus_a], options=IndexOptions(workers=1))
    prepare_file = pipeline.prepare_file

    def dies_on_one_file(path: str, max_frontmatter_bytes: int) -> pipeline.PreparedFile:
        if path.endswith("beta-01000.md"):
            os._exit(7)  # as if the kernel had killed the worker
        return prepare_file(path, max_frontmatter_bytes)

    monkeypatch.setattr(pipeline, "prepare_file", dies_on_one_file)
    with pytest.raises(IndexingFailedError, match="exit code 7"):
        run_index(index_dir, [corpus_b], options=IndexOptions(workers=2, rebuild=True))
    assert state(index_dir) == (1_800, 1_800, 0)
    assert len(list(index_dir.glob("gen-*"))) == 1  # the half-built generation is gone


def test_a_worker_error_fails_the_run_with_its_reason(
    tmp_path: Path, corpora: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, corpus_b = corpora

    def fails(path: str, max_frontmatter_bytes: int) -> pipeline.PreparedFile:
        raise MemoryError("no room left")

    monkeypatch.setattr(pipeline, "prepare_file", fails)
    index_dir = tmp_path / "index"
    with pytest.raises(IndexingFailedError, match="MemoryError: no room left"):
        run_index(index_dir, [corpus_b], options=IndexOptions(workers=2))
    assert not list(index_dir.glob("gen-*"))


def test_a_build_stopped_by_its_caller_stops_its_workers(
    tmp_path: Path, corpora: tuple[Path, Path]
) -> None:
    corpus_a, _ = corpora
    index_dir = tmp_path / "index"

    def stop_at_500(done: int, total: int, path: str) -> None:
        if done == 500:
            raise KeyboardInterrupt  # as when Ctrl-C interrupts a progress bar

    with pytest.raises(KeyboardInterrupt):
        run_index(index_dir, [corpus_a], options=IndexOptions(workers=2), progress=stop_at_500)
    assert not multiprocessing.active_children()
    assert not list(index_dir.glob("gen-*"))


def test_a_run_that_dies_between_the_index_and_the_catalog_commits_is_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index commits first and the file catalog second. A run that dies in between leaves a
    # catalog that describes the files before the run, while the index holds the files after it.
    corpus_a, corpus_b = tmp_path / "a", tmp_path / "b"
    write_corpus(corpus_a, 30, "alpha")
    write_corpus(corpus_b, 20, "beta")
    index_dir = tmp_path / "index"
    run_index(index_dir, [corpus_a])

    def die(generation: Path) -> None:
        raise KeyboardInterrupt  # the process ends here, as under SIGKILL

    with monkeypatch.context() as patched:
        patched.setattr(storage, "record_checksums", die)
        with pytest.raises(KeyboardInterrupt):
            run_index(index_dir, [corpus_b])
    assert state(index_dir) == (20, 0, 20)  # the index committed corpus B
    # The catalog still says corpus A: going back to A must not be taken for "no change".
    report = run_index(index_dir, [corpus_a])
    assert state(index_dir) == (30, 30, 0)
    assert report.rebuilt
    assert run_index(index_dir, [corpus_a]).unchanged == 30


def test_a_files_outcome_crosses_from_a_worker_intact(
    corpus_dir: Path, write_article: WriteArticle
) -> None:
    import pickle
    from dataclasses import replace

    write_article(title="Oil prices", topics=["Energy"], quality=40)
    (corpus_dir / "broken.md").write_text("---\ntitle: [unclosed\n---\n")
    for path in sorted(corpus_dir.iterdir()):
        prepared = pipeline.prepare_file(str(path), 1 << 20)
        sent = replace(prepared, fields=None, indexed=True) if prepared.fields else prepared
        assert pickle.loads(pickle.dumps(sent, pickle.HIGHEST_PROTOCOL)) == sent
