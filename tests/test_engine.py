"""Indexing and searching small corpora end to end through the Python API."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from search import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexNotFoundError,
    InvalidArgumentError,
    QuerySyntaxError,
    SearchEngine,
)
from tests.conftest import BROKEN, SEED_URL, WriteArticle

NOW = datetime(2021, 1, 1, tzinfo=UTC)


def urls(results: object) -> list[str]:
    return [hit.url for hit in results]  # type: ignore[attr-defined]


def test_the_seed_comes_first_for_its_own_subject(seeds_engine: SearchEngine) -> None:
    results = seeds_engine.search("facial recognition New Orleans police")
    assert results.hits[0].url == SEED_URL
    assert results.hits[0].title.startswith("New Orleans police use facial recognition")
    assert results.matched == "all"


def test_identical_texts_rank_by_quality(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    text = {"title": "Storm hits the coast", "excerpt": "A storm hit the coast on Monday."}
    write_article(webUrl="https://a.example/low", quality=20, **text)
    write_article(webUrl="https://b.example/high", quality=80, **text)
    engine.index([corpus_dir])
    assert urls(engine.search("storm coast", now=NOW)) == [
        "https://b.example/high",
        "https://a.example/low",
    ]
    # Without boosts the texts tie, and ties go to the first URL.
    assert urls(engine.search("storm coast", now=NOW, boost=False)) == [
        "https://a.example/low",
        "https://b.example/high",
    ]


def test_identical_texts_rank_by_recency(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    text = {"title": "Storm hits the coast", "excerpt": "A storm hit the coast on Monday."}
    write_article(webUrl="https://a.example/old", publishedDateTime="2020-06-01T00:00:00Z", **text)
    write_article(webUrl="https://b.example/new", publishedDateTime="2020-12-20T00:00:00Z", **text)
    engine.index([corpus_dir])
    assert urls(engine.search("storm", now=NOW)) == [
        "https://b.example/new",
        "https://a.example/old",
    ]
    # Seen from before both were published, both count as new: the tie goes to the newer one.
    results = engine.search("storm", now=datetime(2019, 1, 1, tzinfo=UTC))
    assert urls(results) == ["https://b.example/new", "https://a.example/old"]
    assert results.hits[0].score == pytest.approx(results.hits[1].score)


def test_a_title_match_beats_a_newer_better_passing_mention(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        webUrl="https://example.com/title-match",
        title="Police adopt facial recognition",
        excerpt="The city council approved the plan after a long debate on Tuesday evening.",
        quality=0,
        publishedDateTime="2015-01-01T00:00:00Z",
    )
    write_article(
        webUrl="https://example.com/passing-mention",
        title="Council approves the new budget for parks and schools",
        excerpt=(
            "The budget adds money for parks, libraries and schools, and a small sum for police "
            "overtime during the summer festivals, officials said after a long meeting."
        ),
        quality=100,
        publishedDateTime="2020-12-31T00:00:00Z",
    )
    for filler in range(8):  # other documents, so that the words are not in every document
        write_article(
            title=f"Weather report {filler}", excerpt="Sunny with clouds later in the day."
        )
    engine.index([corpus_dir])
    for query in ("police", "facial OR recognition OR police", "police facial recognition"):
        assert engine.search(query, now=NOW).hits[0].url == "https://example.com/title-match", query


def test_matching_all_requires_every_word_then_any_word(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Oil prices climb", webUrl="https://example.com/oil")
    write_article(title="Gold prices fall", webUrl="https://example.com/gold")
    engine.index([corpus_dir])
    both = engine.search("oil prices", matching="all")
    assert (urls(both), both.matched, both.total) == (["https://example.com/oil"], "all", 1)
    relaxed = engine.search("oil zebra", matching="all")
    assert (urls(relaxed), relaxed.matched, relaxed.total) == (
        ["https://example.com/oil"],
        "any",
        1,
    )
    nothing = engine.search("zebra giraffe", matching="all")
    assert (nothing.total, nothing.matched, nothing.hits) == (0, "all", ())


def test_by_default_every_word_comes_first_then_articles_with_fewer(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    # The partial match is all about oil, so plain OR scoring puts it above the long article
    # that mentions both words once.
    filler = " ".join(f"word{number}" for number in range(60))
    write_article(
        title="Markets today", excerpt=f"{filler} oil {filler} prices", webUrl="https://e.x/both"
    )
    write_article(title="Oil", excerpt="Oil, oil and oil.", webUrl="https://e.x/oil")
    write_article(title="Weather report", webUrl="https://e.x/weather")
    engine.index([corpus_dir])
    results = engine.search("oil prices", now=NOW)
    assert urls(results) == ["https://e.x/both", "https://e.x/oil"]
    assert (results.total, results.every_word, results.fewer_words) == (2, 1, 1)
    assert [hit.matched_words for hit in results] == [("oil", "prices"), ("oil",)]
    assert results.matching == "coverage" and results.matched == "all"
    plain_or = engine.search("oil prices", now=NOW, matching="any")
    assert urls(plain_or) == ["https://e.x/oil", "https://e.x/both"]


def test_the_fallback_keeps_filters_required(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Oil prices climb", quality=30, webUrl="https://example.com/oil")
    engine.index([corpus_dir])
    assert engine.search("oil zebra quality:>50").total == 0
    assert urls(engine.search("oil zebra quality:<50")) == ["https://example.com/oil"]


def test_filters(engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle) -> None:
    write_article(
        webUrl="https://e.com/1",
        title="Market news one",
        topics=["Business", "Markets"],
        quality=90,
        publishedDateTime="2020-03-01T10:00:00Z",
        provider={"name": "Reuters"},
        type="article",
    )
    write_article(
        webUrl="https://e.com/2",
        title="Market news two",
        topics=["Sports"],
        quality=40,
        publishedDateTime="2020-03-02T10:00:00Z",
        provider={"name": "AP"},
        type="video",
        published=False,
    )
    write_article(
        webUrl="https://e.com/3",
        title="Market news three",
        topics=["Markets"],
        quality=None,
        publishedDateTime=None,
        provider=None,
    )
    engine.index([corpus_dir])

    def found(**filters: object) -> list[str]:
        return sorted(urls(engine.search("market", now=NOW, **filters)))  # type: ignore[arg-type]

    assert found() == ["https://e.com/1", "https://e.com/2", "https://e.com/3"]
    assert found(topics=["markets"]) == ["https://e.com/1", "https://e.com/3"]
    assert found(topics=["SPORTS", "business"]) == ["https://e.com/1", "https://e.com/2"]
    assert found(topics="sports") == ["https://e.com/2"]
    assert found(provider="reuters") == ["https://e.com/1"]
    assert found(doc_type="video") == ["https://e.com/2"]
    assert found(min_quality=50) == ["https://e.com/1"]
    assert found(min_quality=0) == [
        "https://e.com/1",
        "https://e.com/2",
    ]  # unknown quality never passes
    assert found(published=False) == ["https://e.com/2"]
    assert found(since="2020-03-02") == ["https://e.com/2"]
    assert found(until="2020-03-01") == ["https://e.com/1"]
    assert found(since="2020-03-01T10:00:00Z", until="2020-03-01T10:00:00Z") == ["https://e.com/1"]
    assert found(since="2020-03-01T10:00:01Z", until="2020-03-02T09:59:59Z") == []
    assert found(since=datetime(2020, 3, 2, 10, tzinfo=UTC)) == ["https://e.com/2"]
    assert found(topics=["markets"], min_quality=10, since="2020") == ["https://e.com/1"]
    # Filters never change scores.
    unfiltered = {hit.url: hit.score for hit in engine.search("market", now=NOW)}
    for hit in engine.search("market", now=NOW, topics=["markets"]):
        assert hit.score == unfiltered[hit.url]


def test_query_language_fields_and_ranges(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        webUrl="https://e.com/a",
        title="Space probe launch",
        excerpt="Rocket news",
        topics=["Space Exploration"],
        quality=70,
        publishedDateTime="2020-05-05T05:05:05Z",
    )
    write_article(
        webUrl="https://e.com/b",
        title="Rocket prices",
        excerpt="Space business",
        topics=["Business"],
        quality=30,
        publishedDateTime="2021-05-05T05:05:05Z",
        published=False,
    )
    engine.index([corpus_dir])

    def found(query: str) -> list[str]:
        return sorted(urls(engine.search(query, now=NOW)))

    assert found("title:space") == ["https://e.com/a"]
    assert found("topic:business") == ["https://e.com/b"]
    assert found('"space probe"') == ["https://e.com/a"]
    assert found("rocket NOT prices") == ["https://e.com/a"]
    assert found("spac*") == ["https://e.com/a", "https://e.com/b"]
    assert found("rocket quality:>=50") == ["https://e.com/a"]
    assert found("rocket quality:[20 TO 40]") == ["https://e.com/b"]
    assert found("rocket date:2021") == ["https://e.com/b"]
    assert found("rocket date:[2020-01 TO 2020-05]") == ["https://e.com/a"]
    assert found("rocket date:<2020-05-05") == []
    assert found("rocket date:>=2020-05-05") == ["https://e.com/a", "https://e.com/b"]
    assert found("type:article rocket") == ["https://e.com/a", "https://e.com/b"]
    assert found("rocket published:true") == found("rocket published:yes") == ["https://e.com/a"]
    assert found("rocket published:false") == found("rocket published:no") == ["https://e.com/b"]
    # A filter clause never changes the score.
    plain = engine.search("rocket", now=NOW)
    filtered = engine.search("rocket type:article quality:>0 date:>2000", now=NOW)
    assert [(h.url, h.score) for h in plain] == [(h.url, h.score) for h in filtered]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("the and of", "no searchable words"),
        ("date:someday", "not a date"),
        ("quality:abc", "not a valid number"),
        ("published:maybe", "takes true or false, not 'maybe'"),
        ("published:[false TO true]", "takes true or false, not a range"),
        ("x" * 3000, "longer than"),
    ],
)
def test_unusable_queries_raise_a_clear_error(
    seeds_engine: SearchEngine, query: str, message: str
) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        seeds_engine.search(query)


@pytest.mark.parametrize(
    "arguments",
    [
        {"limit": -1},
        {"offset": -5},
        {"limit": 2.5},
        {"since": "yesterday"},
        {"now": "soon"},
        {"min_quality": "high"},
        {"quality_weight": 3.0},
        {"half_life_days": 0},
        {"topics": 5},
        {"topics": ["Business", 3]},
        {"provider": 3},
        {"doc_type": ["video"]},
    ],
)
def test_invalid_arguments_raise_invalid_argument_error(
    seeds_engine: SearchEngine, arguments: dict[str, object]
) -> None:
    with pytest.raises(InvalidArgumentError):
        seeds_engine.search("oil", **arguments)  # type: ignore[arg-type]


def test_arguments_of_the_wrong_kind_raise_invalid_argument_error(
    seeds_engine: SearchEngine,
) -> None:
    with pytest.raises(InvalidArgumentError, match="query must be a string"):
        seeds_engine.search(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="URL must be a string"):
        seeds_engine.related(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="index_dir must be a path"):
        SearchEngine(123)  # type: ignore[arg-type]


def test_pages_never_repeat_or_skip_a_hit(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    for number in range(30):  # many exact ties: same text, quality and date
        write_article(
            webUrl=f"https://e.com/{number % 7}/{number}",
            title="Harbour news",
            quality=50 + number % 3,
        )
    engine.index([corpus_dir])
    everything = urls(engine.search("harbour", limit=30, now=NOW))
    pages = [
        urls(engine.search("harbour", limit=7, offset=offset, now=NOW))
        for offset in range(0, 30, 7)
    ]
    assert [url for page in pages for url in page] == everything
    assert len(set(everything)) == 30
    assert engine.search("harbour", limit=0).total == 30
    assert engine.search("harbour", offset=100).hits == ()


def test_one_entry_per_canonical_url_keeping_the_best_copy(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article("a.md", webUrl="https://Example.com/story/", title="Flood warning", quality=40)
    write_article(
        "b.md",
        webUrl="https://example.com/story#comments",
        title="Flood warning - update",
        quality=70,
    )
    write_article("c.md", webUrl="https://example.com/other", title="Flood relief")
    report = engine.index([corpus_dir])
    assert report.documents == 2
    assert [(Path(d.path).name, Path(d.kept_path).name) for d in report.duplicates] == [
        ("a.md", "b.md")
    ]
    results = engine.search("flood")
    assert sorted(urls(results)) == ["https://example.com/other", "https://example.com/story"]
    assert engine.document("https://EXAMPLE.com/story/").title == "Flood warning - update"


def test_broken_files_beside_valid_ones(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    shutil.copytree(BROKEN, corpus_dir / "broken")
    write_article(title="Valid article about drones", webUrl="https://e.com/drones")
    report = engine.index([corpus_dir])
    skipped = {Path(problem.path).name: problem.message for problem in report.skipped}
    assert sorted(skipped) == [
        "01_invalid_yaml.md",
        "02_no_frontmatter.md",
        "03_empty.md",
        "04_missing_title.md",
        "11_frontmatter_list.md",
        "12_python_tag.md",
        "13_alias_bomb.md",
        "18_nested_title.md",
        "19_unclosed_frontmatter.md",
        "25_binary.md",
    ]
    assert all(message and "\n" not in message for message in skipped.values())
    assert report.documents == report.added == 16
    # Every readable file is searchable by a word of its title.
    for title in [
        "Valid article about drones",
        "Windows line endings",
        "Café in Latin-1 encoding",
        "Very long excerpt",
        "TOML frontmatter",
        "Date as a number",
        "Fields that are null",
    ]:
        assert engine.search(f'title:"{title}"').total >= 1, title
    assert engine.search("cafe").total == 2  # accent folding: the Latin-1 file and the Unicode one
    warned = {Path(problem.path).name for problem in report.warnings}
    assert {"05_quality_string.md", "06_bad_date.md", "10_latin1.md"} <= warned


def test_a_run_that_indexes_nothing_keeps_the_previous_index(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle, tmp_path: Path
) -> None:
    write_article(title="Keep me", webUrl="https://e.com/keep")
    engine.index([corpus_dir])
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "bad.md").write_text("no frontmatter here")
    report = engine.index([junk])
    assert not report.ok and report.kept_previous and report.documents == 1
    assert urls(engine.search("keep")) == ["https://e.com/keep"]


def test_indexing_a_missing_path_is_an_argument_error(engine: SearchEngine, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no such file or directory"):
        engine.index([tmp_path / "nowhere"])


def test_one_path_may_be_given_without_a_list(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Single folder")
    assert engine.index(str(corpus_dir)).documents == 1
    assert engine.index(corpus_dir).unchanged == 1


def test_a_rebuild_is_seen_by_a_long_lived_engine(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="First edition", webUrl="https://e.com/1")
    reader = SearchEngine(tmp_path / "index")
    writer = SearchEngine(tmp_path / "index")
    writer.index([corpus_dir])
    assert reader.search("edition").total == 1
    write_article(title="Second edition", webUrl="https://e.com/2")
    writer.index([corpus_dir])
    assert reader.search("edition").total == 2
    reader.close()
    writer.close()


def test_searches_from_many_threads_agree(seeds_engine: SearchEngine) -> None:
    queries = [
        "oil prices",
        "olympics",
        "iraq",
        "google",
        "space station",
        "election",
        "microsoft",
        "football",
    ]
    expected = {
        query: [(h.url, h.score) for h in seeds_engine.search(query, now=NOW)] for query in queries
    }
    failures: list[str] = []

    def worker(offset: int) -> None:
        for round_ in range(10):
            query = queries[(offset + round_) % len(queries)]
            got = [(h.url, h.score) for h in seeds_engine.search(query, now=NOW)]
            if got != expected[query]:
                failures.append(query)

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# Whoosh leaves the damaged table-of-contents file open when it fails to read it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_incompatible_and_damaged_indexes(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    with pytest.raises(IndexNotFoundError, match="search index"):
        SearchEngine(tmp_path / "none").search("oil")
    write_article(title="Anything")
    index_dir = tmp_path / "index"
    SearchEngine(index_dir).index([corpus_dir])
    manifest = index_dir / "search-index.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "schema_version": 999, "written_by": "9.9"}))
    with pytest.raises(IndexIncompatibleError, match=r"written by news-search 9\.9 .*Rebuild it"):
        SearchEngine(index_dir).search("anything")
    manifest.write_text("{not json")
    with pytest.raises(IndexCorruptError, match="damaged"):
        SearchEngine(index_dir).search("anything")
    manifest.write_text(json.dumps(data))
    for part in (index_dir / data["generation"]).glob("*.seg"):
        part.write_bytes(b"garbage")
    for part in (index_dir / data["generation"]).glob("*.toc"):
        part.write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError):
        SearchEngine(index_dir).search("anything")


def test_show_a_document_by_url_or_path(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    path = write_article(title="No address", webUrl=None)
    with_address = write_article(title="With address", webUrl="https://e.com/page")
    copy = write_article(title="With address, again", webUrl="https://e.com/page", quality=1)
    never_indexed = write_article(title="Not yet")
    engine.index([corpus_dir / path.name, corpus_dir / with_address.name, corpus_dir / copy.name])
    assert engine.document(str(path)).title == "No address"
    assert engine.document("HTTPS://E.COM/page/").title == "With address"
    assert engine.document(str(with_address)).title == "With address"
    # A syndicated copy's path leads to the article, as kept.
    assert engine.document(str(copy)).title == "With address"
    with pytest.raises(DocumentNotFoundError, match=r"no document in .* was read from "):
        engine.document(str(never_indexed))
    with pytest.raises(DocumentNotFoundError):
        engine.document("https://e.com/missing")


def test_stats(engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle) -> None:
    write_article(
        topics=["AI", "Business"],
        provider={"name": "Reuters"},
        publishedDateTime="2020-01-02T00:00:00Z",
    )
    write_article(topics=["ai"], provider={"name": "AP"}, publishedDateTime="2021-03-04T00:00:00Z")
    write_article(topics=[], publishedDateTime=None, provider=None, type="video")
    engine.index([corpus_dir])
    stats = engine.stats()
    assert stats.documents == 3
    assert (stats.oldest, stats.newest, stats.undated) == (
        datetime(2020, 1, 2, tzinfo=UTC),
        datetime(2021, 3, 4, tzinfo=UTC),
        1,
    )
    assert stats.topics == {"AI": 2, "Business": 1}
    assert stats.providers == {"AP": 1, "Reuters": 1}
    assert stats.types == {"article": 2, "video": 1}
    assert stats.size_bytes > 0


def test_recency_uses_the_reference_time(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        title="Budget vote",
        webUrl="https://e.com/a",
        publishedDateTime="2020-01-01T00:00:00Z",
        quality=90,
    )
    write_article(
        title="Budget vote",
        webUrl="https://e.com/b",
        publishedDateTime="2020-06-01T00:00:00Z",
        quality=60,
    )
    engine.index([corpus_dir])
    # Just after the first was published, the second does not exist yet (age 0, same as the first).
    early = engine.search("budget", now=datetime(2020, 1, 2, tzinfo=UTC))
    assert urls(early)[0] == "https://e.com/a"
    late = engine.search("budget", now=datetime(2020, 6, 2, tzinfo=UTC))
    assert urls(late)[0] == "https://e.com/b"
    assert late.now == datetime(2020, 6, 2, tzinfo=UTC)
    parts = late.hits[0].score_parts
    assert parts.final == pytest.approx(parts.text * parts.quality_factor * parts.recency_factor)
    assert engine.search("budget", now=datetime(2020, 6, 2, tzinfo=UTC), recency_weight=0.0).hits[
        0
    ].url == ("https://e.com/a")
    assert timedelta(0) < late.hits[0].published_at - early.hits[0].published_at  # type: ignore[operator]


def test_operators_keep_their_meaning_while_plain_words_may_be_missing(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="OPEC says oil prices will rise", webUrl="https://e.x/phrase-opec")
    write_article(title="Oil prices fall", webUrl="https://e.x/phrase")
    write_article(title="OPEC meets on prices of oil", webUrl="https://e.x/opec-words")
    write_article(title="Gas prices", excerpt="No oil here.", webUrl="https://e.x/gas")
    engine.index([corpus_dir])

    def found(text: str) -> list[str]:
        return urls(engine.search(text, now=NOW))

    # The phrase is required, the plain word is not.
    assert found('"oil prices" opec') == ["https://e.x/phrase-opec", "https://e.x/phrase"]
    results = engine.search('"oil prices" opec', now=NOW)
    assert (results.every_word, results.fewer_words) == (1, 1)
    assert results[1].matched_words == ('"oil prices"',)
    # A query written with AND requires every word.
    assert sorted(found("oil AND opec")) == ["https://e.x/opec-words", "https://e.x/phrase-opec"]
    assert found("opec AND prices fall") == []
    # A field clause and NOT stay what they say.
    assert sorted(found("title:gas oil")) == ["https://e.x/gas"]
    assert "https://e.x/gas" not in found("prices oil NOT gas")
    assert len(found("prices oil NOT gas")) == 3
    # OR is one clause: any of its words.
    assert len(found("opec OR gas")) == 3


def test_a_word_the_analyser_splits_stays_whole(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Wi-Fi hotspots at airports", webUrl="https://e.x/wifi")
    write_article(title="Airports add hotspots", webUrl="https://e.x/hotspots")
    write_article(title="Sci-fi film festival", webUrl="https://e.x/scifi")
    engine.index([corpus_dir])
    results = engine.search("wi-fi hotspots", now=NOW)
    # The word typed is required whole, like a phrase: neither "fi" alone (sci-fi) nor hotspots
    # without wi-fi matches; "hotspots" is the word a match may lack.
    assert urls(results) == ["https://e.x/wifi"]
    assert engine.search("wi-fi airports", now=NOW, matching="any").total == 1
