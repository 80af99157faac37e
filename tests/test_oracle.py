"""The engine's top k equals a brute-force ranking of every matching document under the formula
and the matching strategy (groups of matches, then the boosted score, newer first, then URL).

The engine scores matches with its own evaluator (`search.evaluation`); the brute force asks
Whoosh's matchers for the text score of every match and applies `search.ranking.final_score` in
plain Python. The corpus (Zipf-distributed words, 1,500 documents) is large enough that posting
lists span many blocks, and coarse dates and qualities make exact ties that must break the same way.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from whoosh import query

from search import RankingSettings, SearchEngine, arrays, evaluation, whoosh_ext
from search.matching import STRATEGIES
from search.querying import parse_query
from search.ranking import final_score
from search.schema import keyword_value, parse_iso, record_reader
from search.scoring import TextBM25F
from search.storage import generation_dir, read_manifest
from search.whoosh_ext import queries as fixed
from tests.conftest import article_text

WORDS = [f"w{number}" for number in range(300)]
TOPICS = ["Business", "Sports", "World", "Science", "Health"]
START = datetime(2020, 1, 1, tzinfo=UTC)


def zipf_words(rng: random.Random, count: int) -> str:
    return " ".join(
        WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(count)
    )


@pytest.fixture(scope="module")
def oracle_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    rng = random.Random(20201113)
    folder = tmp_path_factory.mktemp("oracle-corpus")
    for number in range(1_500):
        fields: dict[str, Any] = {
            "title": zipf_words(rng, rng.randint(3, 9)),
            "excerpt": zipf_words(rng, rng.randint(10, 40)),
            "topics": rng.sample(TOPICS, rng.randint(0, 2)),
            "webUrl": f"https://news.example/{rng.randint(0, 10**6)}/{number}",
        }
        if rng.random() < 0.9:
            fields["quality"] = rng.choice([rng.randint(0, 100), 50, 50])
        if rng.random() < 0.9:
            # Coarse times on purpose, so that exact score ties happen and must break the same way.
            moment = START + timedelta(days=rng.randint(0, 30) * 15)
            fields["publishedDateTime"] = moment.isoformat().replace("+00:00", "Z")
        (folder / f"{number:05d}.md").write_text(article_text(**fields), encoding="utf-8")
    with SearchEngine(tmp_path_factory.mktemp("oracle-index")) as engine:
        report = engine.index([folder])
        assert report.documents == 1_500
        yield engine


def brute_force(
    engine: SearchEngine,
    query_text: str,
    settings: RankingSettings,
    now: datetime,
    filters: dict[str, Any],
    strategy: str = "coverage",
) -> tuple[str, list[tuple[str, float]]]:
    """Every matching document, scored without pruning and ranked in Python under `strategy`.

    Words typed side by side may be missing from a match; each is scored by Whoosh on its own.
    Anything else (OR, phrases, prefixes, NOT) is one clause that every match satisfies.
    """
    manifest = read_manifest(engine.index_dir)
    ix = whoosh_ext.open_dir(str(generation_dir(engine.index_dir, manifest)))
    parsed = parse_query(query_text)
    children = list(parsed.subqueries) if isinstance(parsed, query.And) else [parsed]
    if any(isinstance(child, query.Not) for child in children):
        children = [parsed]  # scored as one clause (AND NOT), like any other operator
    clauses = [c for c in children if isinstance(c, query.Term)]
    required = [c for c in children if not isinstance(c, query.Term)]
    if len(clauses) == 1 and not required:
        clauses, required = [], clauses

    def scores_of(clause: Any) -> dict[int, float]:
        found = searcher.search(as_whoosh_should_score(clause, searcher), limit=None)
        return {hit.docnum: hit.score for hit in found}

    with ix.searcher(weighting=TextBM25F()) as searcher:
        records = record_reader(searcher)
        parts = [scores_of(clause) for clause in clauses]
        base = scores_of(required[0] if len(required) == 1 else fixed.And(required))
        count = searcher.doc_count()

        def idf(df: int) -> float:
            return max(1.0 + math.log(count / (df + 1)), 0.0)

        weights = [idf(len(part)) for part in parts]
        required_weight = idf(len(base)) if required else 0.0
        everything = set(base) if required else {d for part in parts for d in part}
        candidates = {d for d in everything if passes(records(d), filters)}
        complete = {d for d in candidates if all(d in part for part in parts)}
        words = len(clauses)
        if strategy == "all" and complete:
            candidates = complete

        def group_and_text(docnum: int) -> tuple[int, float]:
            text = 0.0
            for part in parts:
                if docnum in part:
                    text += part[docnum]
            if required:
                text += base[docnum]
            if strategy in ("all", "any") or docnum in complete:
                return 0, text
            if strategy == "coverage":
                share = sum(w for w, p in zip(weights, parts, strict=True) if docnum in p)
                whole = required_weight + sum(weights)
                return 1, text * ((required_weight + share) / whole)
            order = list(range(words))
            if strategy == "frequency":
                order.sort(key=lambda index: -weights[index])
            prefix = 0
            while prefix < words and docnum in parts[order[prefix]]:
                prefix += 1
            return (words - prefix if prefix else words), text

        scored = []
        for docnum in candidates:
            record = records(docnum)
            group, text = group_and_text(docnum)
            published = parse_iso(record["published_at"])
            score = final_score(text, record["quality"], published, now, settings)
            stamp = published.timestamp() if published else float("-inf")
            scored.append((group, -score, -stamp, record["url"], score))
    ix.close()
    matched = "any" if words and candidates and not complete else "all"
    return matched, [(url, score) for _, _, _, url, score in sorted(scored)]


def as_whoosh_should_score(node: Any, searcher: Any) -> Any:
    """The query in the form Whoosh scores the way the engine means it.

    Whoosh gives a NOT clause inside AND a score of 1, and every word a wildcard matches the same
    constant score; the engine counts a NOT clause for nothing and a wildcard as the sum of BM25F
    over the words it matches. Written as AND-NOT and as an OR of those words, Whoosh agrees
    (with its matchers fixed: `search.whoosh_ext.queries`).
    """
    if isinstance(node, query.And) and any(isinstance(c, query.Not) for c in node.subqueries):
        positive = [
            as_whoosh_should_score(c, searcher)
            for c in node.subqueries
            if not isinstance(c, query.Not)
        ]
        negative = [c.query for c in node.subqueries if isinstance(c, query.Not)]
        kept = positive[0] if len(positive) == 1 else fixed.And(positive)
        return fixed.AndNot(kept, fixed.Or(negative) if len(negative) > 1 else negative[0])
    if isinstance(node, query.Prefix | query.Wildcard):
        words = list(node._btexts(searcher.reader()))
        return fixed.Or([query.Term(node.fieldname, word) for word in words]) if words else node
    if node.is_leaf():
        return node
    return node.apply(lambda child: as_whoosh_should_score(child, searcher))


def passes(record: dict[str, Any], filters: dict[str, Any]) -> bool:
    if "topics" in filters:
        wanted = {keyword_value(topic) for topic in filters["topics"]}
        if not wanted & {keyword_value(topic) for topic in record["topics"]}:
            return False
    if "min_quality" in filters and (
        record["quality"] is None or record["quality"] < filters["min_quality"]
    ):
        return False
    if "since" in filters:
        published = parse_iso(record["published_at"])
        if published is None or published < filters["since"]:
            return False
    return True


def random_case(rng: random.Random) -> dict[str, Any]:
    words = [WORDS[min(int(rng.paretovariate(0.8)) - 1, 60)] for _ in range(rng.randint(1, 3))]
    form = rng.random()
    if form < 0.35:
        query = " OR ".join(words)
    elif form < 0.45:
        # A phrase of two or three words (common ones, so repeats happen), sometimes with slop.
        phrase = [words[0], *(rng.choice(WORDS[:5]) for _ in range(rng.randint(1, 2)))]
        query = f'"{" ".join(phrase)}"' + rng.choice(["", "", "~2", "~4"])
    elif form < 0.55:
        query = f"{words[0][:2]}*"  # a prefix: one to a hundred terms
    elif form < 0.65:
        query = f"{words[0]} NOT {rng.choice(WORDS[:10])}"
    elif form < 0.75:
        # A required phrase among plain words, which may be missing.
        phrase = f'"{words[0]} {rng.choice(WORDS[:5])}"'
        query = " ".join([phrase, *words[1:]] if len(words) > 1 else [phrase, rng.choice(WORDS)])
    else:
        query = " ".join(words)
    filters: dict[str, Any] = {}
    if rng.random() < 0.3:
        filters["topics"] = rng.sample(TOPICS, rng.randint(1, 2))
    if rng.random() < 0.2:
        filters["min_quality"] = rng.randint(20, 80)
    if rng.random() < 0.2:
        filters["since"] = START + timedelta(days=rng.randint(0, 400))
    settings = RankingSettings(
        quality_weight=rng.choice([0.0, 0.3, 1.0, rng.random()]),
        recency_weight=rng.choice([0.0, 0.3, 1.0, rng.random()]),
        half_life_days=rng.choice([1.0, 30.0, 365.0]),
    )
    return {
        "query": query,
        "filters": filters,
        "settings": settings,
        "now": START + timedelta(days=rng.randint(-30, 600)),
        "limit": rng.choice([1, 3, 10, 25]),
        "matching": rng.choice([STRATEGIES[0], *STRATEGIES]),
        "offset": rng.choice([0, 0, 0, 5, 12]),
    }


@pytest.fixture(params=["python", "numpy"])
def scoring_with(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Score and rank in plain Python (what a one-off command does) or with numpy (what a process
    that answers many searches soon does): both must give the exact order."""
    import numpy

    module = None if request.param == "python" else numpy
    monkeypatch.setattr(evaluation, "_numpy", lambda count, now=False: module)
    return str(request.param)


def settled_case(rng: random.Random) -> dict[str, Any]:
    """A case whose `now` is after every article, under one of two fixed settings: what a
    long-running process sees search after search, and ranks from boost terms it keeps."""
    case = random_case(rng)
    case["settings"] = rng.choice([RankingSettings(), RankingSettings(0.8, 0.9, 7.0)])
    case["now"] = START + timedelta(days=rng.choice([450, 451, 500, 3_000, 40_000]))
    return case


@pytest.mark.parametrize("seed", range(int(os.environ.get("ORACLE_SEEDS", "16"))))
@pytest.mark.parametrize("make_case", [random_case, settled_case])
def test_engine_order_equals_brute_force(
    oracle_engine: SearchEngine, seed: int, scoring_with: str, make_case: Any
) -> None:
    rng = random.Random(seed)
    for _ in range(15):
        case = make_case(rng)
        results = oracle_engine.search(
            case["query"],
            limit=case["limit"],
            offset=case["offset"],
            now=case["now"],
            ranking=case["settings"],
            matching=case["matching"],
            **case["filters"],
        )
        matched, expected = brute_force(
            oracle_engine,
            case["query"],
            case["settings"],
            case["now"],
            case["filters"],
            case["matching"],
        )
        window = expected[case["offset"] : case["offset"] + case["limit"]]
        assert results.total == len(expected), case
        assert results.matched == matched, case
        assert [hit.url for hit in results] == [url for url, _ in window], case
        assert [hit.score for hit in results] == pytest.approx(
            [score for _, score in window], rel=1e-9
        ), case


PARITY_QUERIES = [
    "oil prices",
    "microsfot software",  # a typo: close spellings of a word, summed
    "presidnet bush iraq",
    "prise oil",  # five close spellings, in overlapping documents
    "comp*",
    '"oil prices"',
    "oil -prices",
    "stocks NOT oil",
    "title:oil market",
    "iraq election violence",
    "space nasa mars",
    "oil AND prices",
]


@pytest.mark.parametrize("matching", STRATEGIES)
def test_numpy_and_plain_python_give_the_same_results(
    seeds_engine: SearchEngine, monkeypatch: pytest.MonkeyPatch, matching: str
) -> None:
    import numpy

    def results(module: Any, text: str, **filters: Any) -> tuple[Any, ...]:
        monkeypatch.setattr(evaluation, "_numpy", lambda count, now=False: module)
        found = seeds_engine.search(
            text, matching=matching, limit=25, facets=["topics", "year"], now=START, **filters
        )
        hits = [(hit.url, hit.score, hit.matched_words) for hit in found]
        return hits, found.total, found.every_word, found.facets, found.suggestion

    for text in PARITY_QUERIES:
        for filters in ({}, {"topics": ["Business", "World"], "min_quality": 40}):
            plain = results(None, text, **filters)
            assert plain[0] or filters, text  # the queries find something in the seeds
            # Scores looked up by binary search, and through tables over the segment.
            for dense_from in (0, 1 << 40):
                monkeypatch.setattr(arrays, "_DENSE_FROM", dense_from)
                assert results(numpy, text, **filters) == plain, (text, filters, dense_from)


def test_phrases_skip_deleted_articles_with_numpy_as_without(
    engine: SearchEngine, corpus_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for number in range(40):
        title = "oil prices rise again" if number % 3 else "prices of oil rise"
        path = corpus_dir / f"{number:03d}.md"
        path.write_text(
            article_text(title=title, webUrl=f"https://e.com/{number}", quality=number),
            encoding="utf-8",
        )
        paths.append(path)
    engine.index([corpus_dir])
    for path in paths[::4]:  # updated in place: their old versions stay behind, deleted
        path.write_text(path.read_text().replace("rise", "fall"), encoding="utf-8")
    for path in paths[1::8]:
        path.unlink()
    engine.index([corpus_dir])
    location = generation_dir(engine.index_dir, read_manifest(engine.index_dir))
    with whoosh_ext.open_dir(str(location)).reader() as reader:
        assert reader.has_deletions()

    def urls(module: Any, text: str) -> list[str]:
        monkeypatch.setattr(evaluation, "_numpy", lambda count, now=False: module)
        return [hit.url for hit in engine.search(text, limit=50, now=START)]

    import numpy

    survivors = [number for number in range(40) if number % 4 and number % 8 != 1]
    for text, expected in [
        ('"oil prices rise"', [number for number in survivors if number % 3]),
        ('"prices rise"~3', survivors),  # "prices of oil rise": "of" is a stop word
    ]:
        assert sorted(urls(numpy, text)) == sorted(f"https://e.com/{n}" for n in expected), text
        assert urls(numpy, text) == urls(None, text), text
