"""Snippets, analysis, typo tolerance, facets, related articles, explain and sorting."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from search import SearchEngine
from search.cli import cli
from search.schema import text_analyzer
from tests.conftest import REPO, SEED_URL, SEEDS, WriteArticle

NOW = datetime(2021, 1, 1, tzinfo=UTC)
AGNEWS = REPO.parent / "shared" / "corpus" / "agnews"
STORY_00967 = (
    "https://www.fool.com/news/2004/09/23/maddux-wins-no-302-baker-wins-no-1-000-00967.html"
)


def analysed(word: str) -> set[str]:
    return {token.text for token in text_analyzer()(word)}


def marked_words(snippet_html: str) -> list[str]:
    words = []
    rest = snippet_html
    while "<mark>" in rest:
        rest = rest.split("<mark>", 1)[1]
        word, rest = rest.split("</mark>", 1)
        words.append(word)
    return words


@pytest.fixture(scope="module")
def agnews_engine(tmp_path_factory: pytest.TempPathFactory) -> SearchEngine:
    """The whole AG News corpus, when the shared corpus sits beside the repository."""
    if not AGNEWS.is_dir():
        pytest.skip("the shared AG News corpus is not beside the repository")
    engine = SearchEngine(tmp_path_factory.mktemp("agnews") / "index")
    engine.index([SEEDS, AGNEWS])  # the seed record, and every AG News article
    return engine


def engines(request: pytest.FixtureRequest) -> list[SearchEngine]:
    found = [request.getfixturevalue("seeds_engine")]
    if AGNEWS.is_dir():
        found.append(request.getfixturevalue("agnews_engine"))
    return found


# -- snippets -------------------------------------------------------------------------------------


def test_snippets_mark_stemmed_and_folded_forms(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        title="Markets",
        excerpt="Oil prices rose at the café on Monday while <TXN.N> shares & bonds fell.",
    )
    engine.index([corpus_dir])
    hit = engine.search("price cafe").hits[0]
    assert hit.snippet.source == "excerpt"
    assert hit.snippet.marked() == (
        "Oil <mark>prices</mark> rose at the <mark>café</mark> on Monday while "
        "&lt;TXN.N&gt; shares &amp; bonds fell."
    )
    assert hit.snippet.marked("[", "]", escape=False).startswith("Oil [prices] rose at the [café]")


def test_the_snippet_is_the_best_passage_of_a_long_excerpt(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    filler = "Nothing much happened in the town that week. " * 12
    write_article(
        title="Long report", excerpt=filler + "Then the volcano erupted near the harbour. " + filler
    )
    engine.index([corpus_dir])
    snippet = engine.search("volcano harbour").hits[0].snippet
    assert len(snippet.text) <= 205
    assert snippet.text.startswith("…") and snippet.text.endswith("…")
    assert marked_words(snippet.marked()) == ["volcano", "harbour"]


def test_snippets_never_mark_excluded_or_filter_words(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        title="Budget", excerpt="The budget vote on taxes and schools was delayed.", type="article"
    )
    engine.index([corpus_dir])
    hit = engine.search("budget NOT weather type:article").hits[0]
    assert marked_words(hit.snippet.marked()) == ["budget"]


def test_snippets_mark_only_words_of_the_hit_that_match_the_query(
    request: pytest.FixtureRequest,
) -> None:
    for engine in engines(request):
        for query in (
            "oil prices",
            "olympic gold",
            "microsoft software",
            "iraq election",
            "space*",
        ):
            results = engine.search(query, limit=10)
            assert results.hits, query
            for hit in results.hits:
                text = hit.title + " " + hit.excerpt
                for word in marked_words(hit.snippet.marked(escape=False)):
                    assert word in text
                    assert analysed(word), word
                    if not query.endswith("*"):
                        assert analysed(word) & analysed(query), (query, word)
                    else:
                        assert word.lower().startswith("space")


def test_terminal_output_styles_matches_only_when_wanted(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Harbour", excerpt="The harbour flooded again.")
    index = str(tmp_path / "index")
    assert (
        CliRunner().invoke(cli, ["index", str(corpus_dir), "--index-dir", index, "-q"]).exit_code
        == 0
    )
    coloured = CliRunner().invoke(cli, ["query", "flooded", "--index-dir", index], color=True)
    assert re.search(r"(\x1b\[[0-9;]+m)+flooded\x1b\[0m", coloured.stdout)
    plain = CliRunner().invoke(cli, ["query", "flooded", "--index-dir", index], color=False)
    assert "\x1b[" not in plain.stdout and "The harbour flooded again." in plain.stdout
    no_color = CliRunner().invoke(
        cli, ["query", "flooded", "--index-dir", index], color=True, env={"NO_COLOR": "1"}
    )
    assert "\x1b[" not in no_color.stdout


# -- analysis --------------------------------------------------------------------------------------


def test_accents_fold_and_words_stem_the_same_way_in_queries(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Novák wins the final", webUrl="https://e.com/novak")
    write_article(title="Cafe society", webUrl="https://e.com/cafe")
    write_article(title="The spaceship landed", webUrl="https://e.com/ship")
    engine.index([corpus_dir])
    assert [h.url for h in engine.search("novak")] == ["https://e.com/novak"]
    assert [h.url for h in engine.search("Novák winning")] == ["https://e.com/novak"]
    assert [h.url for h in engine.search("café")] == ["https://e.com/cafe"]
    assert [h.url for h in engine.search("spaceshi*")] == ["https://e.com/ship"]
    assert [h.url for h in engine.search("spaceships")] == ["https://e.com/ship"]


# -- typo tolerance --------------------------------------------------------------------------------


def test_the_maddux_example(request: pytest.FixtureRequest) -> None:
    for engine in engines(request):
        results = engine.search("madux shutuot expos")
        assert results.suggestion == "maddux shutout expos"
        top = results.hits[0]
        assert {"maddux", "shutout", "expos"} <= set(
            (top.title + " " + top.excerpt).lower().split()
        )
        assert STORY_00967 in [hit.url for hit in results.hits[:2]]
        assert marked_words(top.snippet.marked()) == ["Expos", "Maddux", "shutout"]


def test_typo_rules(engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle) -> None:
    write_article(title="Parliament approves the budget", webUrl="https://e.com/budget")
    write_article(title="Elephants at the zoo", webUrl="https://e.com/zoo")
    write_article(title="Election results announced", webUrl="https://e.com/election")
    write_article(title="Selection of wines", webUrl="https://e.com/wine")
    engine.index([corpus_dir])

    fixed = engine.search("parliment")  # 9 letters: up to 2 edits
    assert (fixed.suggestion, [h.url for h in fixed]) == ("parliament", ["https://e.com/budget"])
    swapped = engine.search("elephnats")  # a swap of two letters is one edit
    assert swapped.suggestion == "elephants"
    assert engine.search("zooo").total == 0  # 4 letters: too short to correct
    assert engine.search("zooo").suggestion is None
    # A word that exists is never corrected, and gets no suggestion.
    assert engine.search("budget").suggestion is None
    # The closest correction ranks first: "electon" is 1 edit from election, 2 from selection.
    close = engine.search("electon")
    assert close.suggestion == "election"
    assert [h.url for h in close][:1] == ["https://e.com/election"]
    # A misspelled word that is excluded is left alone.
    assert engine.search("budget NOT elephnats").suggestion is None


def test_suggestion_is_in_json_and_null_when_none(seeds_engine: SearchEngine) -> None:
    runner = CliRunner()
    index = str(seeds_engine.index_dir)
    typo = json.loads(
        runner.invoke(
            cli, ["query", "madux shutuot", "--index-dir", index, "--format", "json"]
        ).stdout
    )
    assert typo["suggestion"] == "maddux shutout"
    fine = json.loads(
        runner.invoke(cli, ["query", "maddux", "--index-dir", index, "--format", "json"]).stdout
    )
    assert fine["suggestion"] is None
    text = runner.invoke(cli, ["query", "madux shutuot", "--index-dir", index]).stdout
    assert text.startswith("Did you mean: maddux shutout\n")


# -- facets ----------------------------------------------------------------------------------------


def test_facet_counts_cover_every_match(request: pytest.FixtureRequest) -> None:
    for engine in engines(request):
        for query in ("oil", "olympics OR football", "microsoft"):
            results = engine.search(query, facets=["topics", "provider", "type", "year"], limit=5)
            everything = engine.search(query, limit=results.total)
            assert len(everything.hits) == results.total > 5
            topics = Counter(topic for hit in everything for topic in hit.topics)
            providers = Counter(hit.provider for hit in everything if hit.provider)
            types = Counter(hit.doc_type for hit in everything if hit.doc_type)
            years = Counter(str(hit.published_at.year) for hit in everything if hit.published_at)
            assert results.facets == {
                "topics": dict(topics),
                "provider": dict(providers),
                "type": dict(types),
                "year": dict(years),
            }
            counts = list(results.facets["topics"].values())
            assert counts == sorted(counts, reverse=True)


def test_facets_in_json_and_text(seeds_engine: SearchEngine) -> None:
    index = str(seeds_engine.index_dir)
    runner = CliRunner()
    data = json.loads(
        runner.invoke(
            cli,
            ["query", "oil", "--index-dir", index, "--facets", "topics,year", "--format", "json"],
        ).stdout
    )
    assert set(data["facets"]) == {"topics", "year"}
    assert sum(data["facets"]["year"].values()) == data["total"]
    text = runner.invoke(cli, ["query", "oil", "--index-dir", index, "--facets", "type"]).stdout
    assert "\nFacets:\n  type: article (" in text
    wrong = runner.invoke(cli, ["query", "oil", "--index-dir", index, "--facets", "colour"])
    assert wrong.exit_code == 2 and "unknown facet colour" in wrong.stderr


# -- related articles ------------------------------------------------------------------------------


def test_related_articles_share_the_subject(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    base = "https://e.com/"
    write_article(
        title="Maddux pitches Cubs past Expos",
        excerpt="Greg Maddux threw seven shutout innings as the Cubs beat the Expos.",
        webUrl=base + "cubs",
    )
    write_article(
        title="Cubs ace Maddux wins again",
        excerpt="Maddux and the Cubs shut out Montreal; the Expos managed three hits.",
        webUrl=base + "cubs-2",
    )
    write_article(
        title="Copy of the Cubs story",
        excerpt="Greg Maddux threw seven shutout innings as the Cubs beat the Expos.",
        webUrl="https://E.com/cubs/",
    )
    write_article(
        title="Oil prices climb", excerpt="Crude oil rose as OPEC cut output.", webUrl=base + "oil"
    )
    write_article(
        title="OPEC meets on oil output",
        excerpt="Ministers discuss crude production.",
        webUrl=base + "opec",
    )
    write_article(
        title="New phone released",
        excerpt="The handset has a larger screen.",
        webUrl=base + "phone",
    )
    engine.index([corpus_dir])
    related = engine.related("https://e.com/cubs")
    urls = [hit.url for hit in related]
    assert urls[0] == base + "cubs-2"
    assert base + "cubs" not in urls  # neither the article nor its copy with the same URL
    assert engine.related("https://e.com/oil").hits[0].url == base + "opec"
    assert engine.related("https://e.com/oil", topics=["nothing"]).total == 0


def test_related_articles_on_the_real_corpus(request: pytest.FixtureRequest) -> None:
    for engine in engines(request):
        results = engine.related(STORY_00967, limit=5)
        assert STORY_00967 not in [hit.url for hit in results]
        first = results.hits[0]
        assert "Sports" in first.topics and "maddux" in (first.title + first.excerpt).lower()
        seed = engine.related(SEED_URL, limit=3)
        assert SEED_URL not in [hit.url for hit in seed]


def test_related_has_the_same_json_shape_as_query(seeds_engine: SearchEngine) -> None:
    index = str(seeds_engine.index_dir)
    runner = CliRunner()
    related = runner.invoke(
        cli, ["related", STORY_00967, "--index-dir", index, "--format", "json", "--limit", "3"]
    )
    query = runner.invoke(
        cli, ["query", "maddux", "--index-dir", index, "--format", "json", "--limit", "3"]
    )
    related_data, query_data = json.loads(related.stdout), json.loads(query.stdout)
    assert related_data.keys() == query_data.keys()
    assert related_data["hits"][0].keys() == query_data["hits"][0].keys()
    assert related_data["query"] == STORY_00967
    missing = runner.invoke(cli, ["related", "https://nowhere.example/x", "--index-dir", index])
    assert missing.exit_code == 1 and "no document with URL" in missing.stderr


# -- explain ---------------------------------------------------------------------------------------


def test_explain_gives_every_part_of_the_score(seeds_engine: SearchEngine) -> None:
    results = seeds_engine.search("oil prices", explain=True, now=NOW, limit=5)
    for hit in results:
        explain = hit.explain
        assert explain is not None
        assert sum(explain.fields.values()) == pytest.approx(explain.text)
        assert set(explain.fields) <= {"title", "topic", "excerpt", "provider", "body"}
        assert explain.final == pytest.approx(
            explain.text * explain.quality_factor * explain.recency_factor
        )
        assert explain.final == hit.score
        assert explain.quality == hit.quality
        assert hit.published_at is not None
        age = (NOW - hit.published_at).total_seconds() / 86_400
        assert explain.age_days == pytest.approx(age)
    assert seeds_engine.search("oil prices", limit=1).hits[0].explain is None
    data = json.loads(
        CliRunner()
        .invoke(
            cli,
            [
                "query",
                "oil prices",
                "--index-dir",
                str(seeds_engine.index_dir),
                "--explain",
                "--format",
                "json",
            ],
        )
        .stdout
    )
    assert set(data["hits"][0]["explain"]) == {
        "words",
        "matched_words",
        "group",
        "relevance",
        "coverage",
        "text",
        "fields",
        "quality",
        "quality_factor",
        "published_at",
        "age_days",
        "recency_factor",
        "final",
    }


# -- sorting and pagination ------------------------------------------------------------------------


def test_sort_orders_are_honoured(request: pytest.FixtureRequest) -> None:
    for engine in engines(request):
        for sort in ("newest", "oldest", "quality", "relevance"):
            results = engine.search("oil OR gold", sort=sort, limit=40)
            assert results.sort == sort and len(results.hits) == 40
            if sort == "newest":
                times = [hit.published_at for hit in results]
                assert times == sorted(times, reverse=True)  # type: ignore[type-var]
            elif sort == "oldest":
                times = [hit.published_at for hit in results]
                assert times == sorted(times)  # type: ignore[type-var]
            elif sort == "quality":
                qualities = [hit.quality for hit in results]
                assert qualities == sorted(qualities, reverse=True)  # type: ignore[type-var]
            else:
                scores = [hit.score for hit in results]
                assert scores == sorted(scores, reverse=True)


def test_sorted_pages_never_repeat_or_skip(seeds_engine: SearchEngine) -> None:
    for sort in ("newest", "quality", "relevance"):
        whole = [
            h.url for h in seeds_engine.search("the OR a OR oil OR sports", sort=sort, limit=60)
        ]
        pages = [
            h.url
            for offset in range(0, 60, 7)
            for h in seeds_engine.search(
                "the OR a OR oil OR sports", sort=sort, limit=7, offset=offset
            )
        ]
        assert pages[:60] == whole


def test_undated_and_unrated_articles_sort_last(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(
        title="Tide news", webUrl="https://e.com/undated", publishedDateTime=None, quality=None
    )
    write_article(
        title="Tide news",
        webUrl="https://e.com/old",
        publishedDateTime="2001-01-01T00:00:00Z",
        quality=10,
    )
    write_article(
        title="Tide news",
        webUrl="https://e.com/new",
        publishedDateTime="2020-01-01T00:00:00Z",
        quality=5,
    )
    engine.index([corpus_dir])
    assert [h.url for h in engine.search("tide", sort="newest")] == [
        "https://e.com/new",
        "https://e.com/old",
        "https://e.com/undated",
    ]
    assert [h.url for h in engine.search("tide", sort="oldest")] == [
        "https://e.com/old",
        "https://e.com/new",
        "https://e.com/undated",
    ]
    assert [h.url for h in engine.search("tide", sort="quality")] == [
        "https://e.com/old",
        "https://e.com/new",
        "https://e.com/undated",
    ]


def test_related_explains_its_scores_under_every_matching_strategy(
    seeds_engine: SearchEngine,
) -> None:
    url = "https://www.fool.com/news/2004/09/23/maddux-wins-no-302-baker-wins-no-1-000-00967.html"
    default = seeds_engine.related(url, limit=3, explain=True)
    assert default.matching == "any" and default.every_word is None and default.matched == "all"
    for matching in ("any", "coverage", "all", "last", "frequency"):
        results = seeds_engine.related(url, limit=3, explain=True, matching=matching)
        assert results.total > 0, matching
        for hit in results:
            assert hit.explain is not None and hit.url != url
            assert sum(hit.explain.fields.values()) == pytest.approx(hit.explain.relevance)
            assert hit.matched_words, matching
