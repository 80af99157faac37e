"""Relevance on the judged queries of benchmarks/relevance, measured with `search eval`.

The floors are the nDCG@10 measured when the default matching strategy was chosen, rounded
down: a change to matching or ranking that loses relevance fails here.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from search import SearchEngine
from search.cli import cli
from tests.conftest import REPO

JUDGED = REPO / "benchmarks" / "relevance"
MISSPELT = {  # misspelt query -> the same query spelt correctly
    "q43": "q51",
    "q44": "q07",
    "q45": "q05",
    "q46": "q20",
    "q47": "q06",
    "q48": "q04",
    "q49": "q30",
    "q50": "q14",
}


def evaluate(engine: SearchEngine, *options: str) -> dict[str, object]:
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            str(JUDGED / "qrels.txt"),
            "--queries",
            str(JUDGED / "queries.tsv"),
            "--index-dir",
            str(engine.index_dir),
            "--format",
            "json",
            *options,
        ],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


@pytest.mark.parametrize(
    ("options", "floor"),
    [(("--no-boost",), 0.87), (("--now", "2004-09-01"), 0.87)],
)
def test_ndcg_at_10_stays_above_the_measured_floor(
    seeds_engine: SearchEngine, options: tuple[str, ...], floor: float
) -> None:
    report = evaluate(seeds_engine, *options)
    assert report["measured"] == 51 and report["unjudged"] == []
    assert report["ndcg"] >= floor  # type: ignore[operator]


def test_misspelt_queries_do_almost_as_well_as_correct_ones(seeds_engine: SearchEngine) -> None:
    report = evaluate(seeds_engine, "--no-boost")
    ndcg = {q["qid"]: q["ndcg"] for q in report["queries"]}  # type: ignore[attr-defined]
    misspelt = sum(ndcg[typo] for typo in MISSPELT) / len(MISSPELT)
    correct = sum(ndcg[right] for right in MISSPELT.values()) / len(MISSPELT)
    assert correct - misspelt <= 0.03


def test_the_default_strategy_beats_requiring_every_word(seeds_engine: SearchEngine) -> None:
    default = evaluate(seeds_engine, "--no-boost")
    every_word = evaluate(seeds_engine, "--no-boost", "--matching", "all")
    assert default["ndcg"] > every_word["ndcg"]  # type: ignore[operator]
    assert default["recall"] > every_word["recall"]  # type: ignore[operator]
