"""Relevance metrics on hand-computed examples, and reading judgment and query files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from search import SearchEngine
from search.errors import InvalidArgumentError, JudgmentFileError
from search.judging import (
    evaluate,
    ndcg_at,
    precision_at,
    read_judgments,
    read_queries,
    recall_at,
    reciprocal_rank,
)

JUDGED = {"a": 2, "b": 1, "c": 0, "d": 1}


def test_ndcg_divides_the_gain_of_the_ranking_by_the_best_possible_gain() -> None:
    # Ranking c, a, x, b: gains 0, 2, 0, 1 at ranks 1-4.
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    # Best order a, b, d (c and unjudged documents add nothing): 2, 1, 1.
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(["c", "a", "x", "b"], JUDGED, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at(["a", "b", "d"], JUDGED, 10) == pytest.approx(1.0)
    assert ndcg_at(["a", "d", "b"], JUDGED, 10) == pytest.approx(1.0)  # equal grades swap freely


def test_ndcg_at_k_only_counts_the_first_k_against_the_best_first_k() -> None:
    # k = 1: the best possible first hit is a (grade 2); b earns 1 of it.
    assert ndcg_at(["b", "a"], JUDGED, 1) == pytest.approx(0.5)
    assert ndcg_at(["x", "y"], JUDGED, 10) == 0.0
    assert ndcg_at(["a"], {"a": 0}, 10) == 0.0


def test_precision_counts_relevant_hits_over_k_even_when_fewer_hits_came_back() -> None:
    assert precision_at(["a", "c", "d"], JUDGED, 2) == pytest.approx(0.5)
    assert precision_at(["a", "c", "d"], JUDGED, 10) == pytest.approx(0.2)


def test_reciprocal_rank_is_one_over_the_rank_of_the_first_relevant_hit_within_k() -> None:
    assert reciprocal_rank(["c", "x", "b", "a"], JUDGED, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank(["c", "x", "b"], JUDGED, 2) == 0.0


def test_recall_is_the_share_of_the_relevant_articles_found_within_k() -> None:
    assert recall_at(["a", "c", "x"], JUDGED, 10) == pytest.approx(1 / 3)
    assert recall_at(["a", "b", "d"], JUDGED, 2) == pytest.approx(2 / 3)


def test_evaluate_averages_over_judged_queries_and_lists_the_rest() -> None:
    rankings = {"first": ["a", "b", "d"], "second": ["x", "b"], "third": ["a"]}
    judgments = {"1": JUDGED, "2": {"b": 1}, "3": {"a": 0}}
    report = evaluate(
        {"1": "first", "2": "second", "3": "third"}, judgments, lambda text: rankings[text], k=2
    )
    assert [q.qid for q in report.queries] == ["1", "2"]
    assert report.unjudged == ("3",)
    second = report.queries[1]
    assert second.ndcg == pytest.approx(1 / math.log2(3))
    assert (second.precision, second.mrr, second.recall) == (0.5, 0.5, 1.0)
    assert report.mrr == pytest.approx((1.0 + 0.5) / 2)
    assert report.precision == pytest.approx((1.0 + 0.5) / 2)


def test_judgments_are_read_from_trec_qrels_and_both_json_shapes(tmp_path: Path) -> None:
    trec = tmp_path / "qrels.txt"
    trec.write_text("# query 0 document grade\nq1 0 HTTPS://News.example/a/ 2\n\nq1 0 b.md 0\n")
    assert read_judgments(trec) == {"q1": {"https://news.example/a": 2, "b.md": 0}}
    nested = tmp_path / "qrels.json"
    nested.write_text(json.dumps({"q1": {"https://news.example/a": 1}}))
    assert read_judgments(nested) == {"q1": {"https://news.example/a": 1}}
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps([{"qid": 7, "url": "https://news.example/a", "grade": 2}]))
    assert read_judgments(flat) == {"7": {"https://news.example/a": 2}}


def test_queries_are_read_from_tab_separated_lines_and_json(tmp_path: Path) -> None:
    lines = tmp_path / "queries.tsv"
    lines.write_text("q1\toil prices\n# a comment\nq2\tnasa mars rover\n")
    assert read_queries(lines) == {"q1": "oil prices", "q2": "nasa mars rover"}
    as_json = tmp_path / "queries.json"
    as_json.write_text(json.dumps([{"qid": "q1", "query": "oil prices"}]))
    assert read_queries(as_json) == {"q1": "oil prices"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("q1 0 https://news.example/a 2\nq1 0 https://news.example/b\n", "line 2: expected 4"),
        ("q1 0 https://news.example/a 3\n", "line 1: grade '3' is not a whole number from 0 to 2"),
        ("q1 0 https://news.example/a high\n", "line 1: grade 'high'"),
        ('{"q1": {"https://news.example/a": 2,}}', "line 1: invalid JSON"),
        ('{"q1": ["https://news.example/a"]}', "the judgments of query 'q1' is not a JSON object"),
        ('[{"qid": "q1", "grade": 1}]', "entry 1 has no url"),
    ],
)
def test_a_bad_judgment_file_names_the_file_and_line(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text(content)
    with pytest.raises(JudgmentFileError) as raised:
        read_judgments(path)
    assert str(raised.value).startswith(f"{path}")
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("q1\toil\nq2 no tab here\n", "line 2: expected a query id, a tab and the query"),
        ("q1\toil\nq1\tgas\n", "line 2: query id 'q1' appears twice"),
        ("q1\t   \n", "line 1: query 'q1' has no text"),
        ("", "no queries in the file"),
    ],
)
def test_a_bad_query_file_names_the_file_and_line(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "queries.tsv"
    path.write_text(content)
    with pytest.raises(JudgmentFileError) as raised:
        read_queries(path)
    assert reason in str(raised.value) and str(path) in str(raised.value)


def test_an_unreadable_file_is_a_judgment_file_error(tmp_path: Path) -> None:
    with pytest.raises(JudgmentFileError, match="No such file"):
        read_queries(tmp_path / "missing.tsv")
    binary = tmp_path / "binary.tsv"
    binary.write_bytes(b"q1\toil\n\xff\xfe\n")
    with pytest.raises(JudgmentFileError, match="line 2: not UTF-8"):
        read_queries(binary)


def test_the_engine_evaluates_queries_with_the_search_options(seeds_engine: SearchEngine) -> None:
    spirit = (
        "https://www.usatoday.com/news/2004/08/30/more-evidence-for-past-water-on-mars-00382.html"
    )
    judgments = {"mars": {spirit: 2}}
    found = seeds_engine.evaluate({"mars": "nasa mars rover"}, judgments, k=3, boost=False)
    # Second by text relevance alone (the other rover story leads), so a reciprocal rank of 1/2.
    assert (found.k, found.queries[0].mrr, found.queries[0].recall) == (3, 0.5, 1.0)
    assert found.queries[0].urls[1] == spirit
    # Filters apply to every query: this article is not about business.
    filtered = seeds_engine.evaluate({"mars": "nasa mars rover"}, judgments, topics=["Business"])
    assert filtered.ndcg == 0.0
    with pytest.raises(InvalidArgumentError, match="limit cannot be set"):
        seeds_engine.evaluate({"mars": "mars"}, judgments, limit=5)
    with pytest.raises(InvalidArgumentError, match="k must be"):
        seeds_engine.evaluate({"mars": "mars"}, judgments, k=0)
