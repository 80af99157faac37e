"""Incremental indexing: only what changed is read, and the index follows the folder exactly."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from search import IndexReport, SearchEngine
from search import engine as engine_module
from search.storage import CATALOG_NAME, generation_dir, read_manifest
from tests.conftest import WriteArticle


def counts(report: IndexReport) -> tuple[int, int, int, int, int]:
    return (report.added, report.updated, report.removed, report.unchanged, len(report.skipped))


def titles(engine: SearchEngine, query: str = "story") -> list[str]:
    return sorted(hit.title for hit in engine.search(query, limit=100))


def bump_mtime(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def three(engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle) -> list[Path]:
    paths = [write_article(title=f"Story {name}", webUrl=f"https://e.com/{name}") for name in "abc"]
    report = engine.index([corpus_dir])
    assert report.rebuilt and counts(report) == (3, 0, 0, 0, 0)
    return paths


def test_a_run_without_changes_reads_nothing(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    report = engine.index([corpus_dir])
    assert not report.rebuilt
    assert counts(report) == (0, 0, 0, 3, 0)
    assert report.documents == 3


def test_new_changed_and_removed_files(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle, three: list[Path]
) -> None:
    _, second, third = three
    write_article(title="Story d", webUrl="https://e.com/d")
    second.write_text(second.read_text().replace("Story b", "Story b revised"))
    bump_mtime(second)
    third.unlink()
    report = engine.index([corpus_dir])
    assert counts(report) == (1, 1, 1, 1, 0)
    assert report.documents == 3
    assert titles(engine) == ["Story a", "Story b revised", "Story d"]


def test_a_touched_file_is_confirmed_unchanged_by_its_content(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    bump_mtime(three[0])
    assert counts(engine.index([corpus_dir])) == (0, 0, 0, 3, 0)
    assert counts(engine.index([corpus_dir])) == (0, 0, 0, 3, 0)  # and the new time was recorded


def test_a_file_that_changes_its_url_moves_the_article(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    three[0].write_text(three[0].read_text().replace("https://e.com/a", "https://e.com/moved"))
    bump_mtime(three[0])
    engine.index([corpus_dir])
    assert sorted(hit.url for hit in engine.search("story")) == [
        "https://e.com/b",
        "https://e.com/c",
        "https://e.com/moved",
    ]


def test_a_file_that_breaks_is_skipped_and_its_article_removed(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    three[0].write_text("---\ntitle: [broken\n---\n")
    report = engine.index([corpus_dir])
    assert counts(report) == (0, 0, 0, 2, 1)
    assert titles(engine) == ["Story b", "Story c"]
    again = engine.index([corpus_dir])  # still broken, still reported, nothing else to do
    assert counts(again) == (0, 0, 0, 2, 1)
    assert again.skipped[0].message.startswith("invalid YAML")


def test_the_other_copy_comes_back_when_the_preferred_one_goes(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    url = "https://e.com/syndicated"
    best = write_article("best.md", title="Wire story original", webUrl=url, quality=70)
    write_article("copy.md", title="Wire story copy", webUrl=url + "/", quality=40)
    report = engine.index([corpus_dir])
    assert [Path(d.path).name for d in report.duplicates] == ["copy.md"]
    assert titles(engine, "wire") == ["Wire story original"]

    best.unlink()
    engine.index([corpus_dir])
    assert titles(engine, "wire") == ["Wire story copy"]

    write_article("best.md", title="Wire story original", webUrl=url, quality=70)
    engine.index([corpus_dir])
    assert titles(engine, "wire") == ["Wire story original"]

    copy = corpus_dir / "copy.md"
    copy.write_text(copy.read_text().replace("quality: 40", "quality: 90"))
    bump_mtime(copy)
    engine.index([corpus_dir])
    assert titles(engine, "wire") == ["Wire story copy"]
    assert engine.search("wire").total == 1


def test_no_page_shows_the_same_url_twice(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    for number in range(12):
        write_article(
            title=f"Market report {number}", webUrl=f"https://e.com/m{number % 4}", quality=number
        )
    engine.index([corpus_dir])
    results = engine.search("market report", limit=50)
    assert results.total == 4
    assert len({hit.url for hit in results}) == len(results.hits) == 4
    # Each URL kept its best copy.
    assert sorted(hit.quality for hit in results) == [8, 9, 10, 11]


def test_rebuild_builds_a_new_generation(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    before = read_manifest(engine.index_dir).generation
    report = engine.index([corpus_dir], rebuild=True)
    after = read_manifest(engine.index_dir).generation
    assert report.rebuilt and after != before
    assert not (engine.index_dir / before).exists()
    assert titles(engine) == ["Story a", "Story b", "Story c"]


def test_pointing_at_an_empty_folder_keeps_the_index(
    engine: SearchEngine, corpus_dir: Path, three: list[Path], tmp_path: Path
) -> None:
    empty = tmp_path / "unmounted"
    empty.mkdir()
    report = engine.index([empty])
    assert report.kept_previous and not report.ok
    assert titles(engine) == ["Story a", "Story b", "Story c"]


def test_a_lost_catalog_means_a_rebuild(
    engine: SearchEngine, corpus_dir: Path, three: list[Path]
) -> None:
    manifest = read_manifest(engine.index_dir)
    (generation_dir(engine.index_dir, manifest) / CATALOG_NAME).unlink()
    report = engine.index([corpus_dir])
    assert report.rebuilt and report.added == 3
    assert titles(engine) == ["Story a", "Story b", "Story c"]


def test_a_long_lived_engine_sees_each_commit(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="First edition", webUrl="https://e.com/1")
    with SearchEngine(tmp_path / "index") as writer, SearchEngine(tmp_path / "index") as reader:
        writer.index([corpus_dir])
        assert reader.search("edition").total == 1
        for number in range(2, 5):
            write_article(title=f"Edition {number}", webUrl=f"https://e.com/{number}")
            writer.index([corpus_dir])
            assert reader.search("edition").total == number


@pytest.mark.parametrize("time_kept", [False, True], ids=["time moved", "time kept"])
def test_a_commit_to_a_long_settled_index_is_seen(
    tmp_path: Path,
    corpus_dir: Path,
    write_article: WriteArticle,
    monkeypatch: pytest.MonkeyPatch,
    time_kept: bool,
) -> None:
    """A reader may skip listing an index folder whose time has not moved since it was old; a
    commit to that folder must still be found at the next search. A file server whose clock runs
    behind can even give the folder the time it already had: the reader lists it again after a
    short while all the same."""
    # Relied on for an hour, the folder's time alone tells; for 0.2 s, the relisting does.
    monkeypatch.setattr(engine_module, "_LISTED_FOR", 0.2 if time_kept else 3600.0)
    write_article(title="First edition", webUrl="https://e.com/1")
    with SearchEngine(tmp_path / "index") as writer, SearchEngine(tmp_path / "index") as reader:
        writer.index([corpus_dir])
        folder = generation_dir(writer.index_dir, read_manifest(writer.index_dir))
        an_hour_ago = folder.stat().st_mtime_ns - 3_600_000_000_000
        os.utime(folder, ns=(an_hour_ago, an_hour_ago))
        for _ in range(2):  # the second search reuses what the first one listed
            assert reader.search("edition").total == 1
        write_article(title="Second edition", webUrl="https://e.com/2")
        assert not writer.index([corpus_dir]).rebuilt
        if time_kept:
            os.utime(folder, ns=(an_hour_ago, an_hour_ago))  # as if nothing had changed
            time.sleep(0.3)
        assert reader.search("edition").total == 2
