"""Faults and hostile inputs end in a designed outcome: a result, or one clear error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from search import SearchEngine
from tests.conftest import WriteArticle

# -- every field filter combines with every boolean operator ------------------------------------


@pytest.fixture
def mixed_engine(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine
) -> SearchEngine:
    """Twelve articles that vary in every filterable field, half of them about sports."""
    for number in range(12):
        write_article(
            title=f"{'Sports' if number % 2 else 'Markets'} report {number}",
            excerpt="A report." if number % 3 else "A report about sports and markets.",
            publishedDateTime=f"2004-{8 + number % 3:02d}-1{number % 9}T10:00:00Z",
            quality=20 + 7 * number,
            type="video" if number % 4 == 0 else "article",
            category="news" if number % 3 else "opinion",
            published=number % 5 != 0,
            topics=["Sports"] if number % 2 else ["Business"],
            provider={"name": "Reuters" if number < 6 else "AP"},
        )
    engine.index([corpus_dir])
    return engine


def _urls(engine: SearchEngine, text: str) -> set[str]:
    return {hit.url for hit in engine.search(text, limit=100, boost=False).hits}


FIELD_CLAUSES = [
    "date:2004-09",
    "date:[2004-08-01 TO 2004-09-15]",
    "date:>=2004-09",
    "quality:>=50",
    "quality:[30 TO 70]",
    "type:video",
    "category:news",
    "published:true",
    "topic:sports",
    "provider:reuters",
    "title:report",
]


@pytest.mark.parametrize("clause", FIELD_CLAUSES)
def test_every_field_filter_combines_with_every_operator(
    mixed_engine: SearchEngine, clause: str
) -> None:
    words = _urls(mixed_engine, "sports")
    field = _urls(mixed_engine, clause)
    assert words and field
    assert _urls(mixed_engine, f"sports AND {clause}") == words & field
    assert _urls(mixed_engine, f"{clause} AND sports") == words & field
    assert _urls(mixed_engine, f"sports OR {clause}") == words | field
    assert _urls(mixed_engine, f"sports AND NOT {clause}") == words - field
    assert _urls(mixed_engine, f"{clause} AND NOT sports") == field - words
    assert _urls(mixed_engine, f"sports ANDNOT {clause}") == words - field
    assert _urls(mixed_engine, f"(sports OR markets) AND ({clause})") == (
        (words | _urls(mixed_engine, "markets")) & field
    )


# -- explain works for every kind of query --------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['"sports report"', 'title:"sports report"', '"sports report" AND quality:>=30']
)
def test_explain_shares_a_phrase_score_among_the_fields(
    mixed_engine: SearchEngine, text: str
) -> None:
    results = mixed_engine.search(text, explain=True, limit=3)
    assert results.hits
    for hit in results.hits:
        assert hit.explain is not None
        assert hit.explain.fields.get("title", 0) > 0
        assert sum(hit.explain.fields.values()) == pytest.approx(hit.explain.text)


def test_explain_of_related_articles(mixed_engine: SearchEngine) -> None:
    url = mixed_engine.search("sports", limit=1).hits[0].url
    results = mixed_engine.related(url, explain=True)
    assert results.hits
    for hit in results.hits:
        assert hit.explain is not None
        assert sum(hit.explain.fields.values()) == pytest.approx(hit.explain.text)


# -- index files follow the umask like any file the user creates -----------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_index_files_follow_the_umask(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path, umask: int
) -> None:
    write_article(title="Harbour news")
    previous = os.umask(umask)
    try:
        with SearchEngine(tmp_path / "index") as engine:
            engine.index([corpus_dir])
            write_article(title="More harbour news")
            engine.index([corpus_dir])  # an update writes files too
            engine.index([corpus_dir], rebuild=True)
    finally:
        os.umask(previous)
    entries = [tmp_path / "index", *(tmp_path / "index").rglob("*")]
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        if entry.is_dir():
            assert mode == 0o777 & ~umask, (entry.relative_to(tmp_path), oct(mode))
        else:  # Whoosh's empty lock files come with execute bits, which mean nothing there
            assert mode & 0o666 == 0o666 & ~umask, (entry.relative_to(tmp_path), oct(mode))
