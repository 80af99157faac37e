"""The command line: exact output fields and exit statuses, run through click's CliRunner."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from search.cli import cli
from tests.conftest import BROKEN, SEED_URL, SEEDS, WriteArticle


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def small_index(tmp_path: Path, corpus_dir: Path, write_article: WriteArticle) -> Path:
    write_article(
        title="Storm floods the harbour",
        excerpt="Heavy rain flooded the old harbour on Monday, officials said.",
        webUrl="https://news.example/storm",
        publishedDateTime="2020-11-13T19:30:00Z",
        quality=72,
        topics=["Weather", "Local"],
        provider={"name": "Harbour Times", "domain": "harbour.example"},
    )
    write_article(
        title="Harbour festival postponed",
        excerpt="The summer festival moves to August.",
        webUrl="https://news.example/festival",
        publishedDateTime="2020-06-01T08:00:00Z",
        quality=None,
        topics=["Culture"],
        provider=None,
    )
    index_dir = tmp_path / "index"
    assert run("index", str(corpus_dir), "--index-dir", str(index_dir), "--quiet").exit_code == 0
    return index_dir


def test_index_prints_a_summary_and_lists_skipped_files_on_stderr(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Good one")
    (corpus_dir / "bad.md").write_text("---\ntitle: [unclosed\n---\n")
    result = run("index", str(corpus_dir), "--index-dir", str(tmp_path / "ix"))
    assert result.exit_code == 0
    assert re.fullmatch(
        rf"{re.escape(str(tmp_path / 'ix'))}: 1 document \(built a new index in \d+\.\d s\): "
        r"1 added, 0 updated, 0 removed, 0 unchanged, 1 skipped, 0 warnings\.\n",
        result.stdout,
    )
    assert f"skipped: {corpus_dir / 'bad.md'}: invalid YAML:" in result.stderr


def test_index_strict_fails_on_any_skip(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Good one")
    (corpus_dir / "bad.md").write_text("no frontmatter")
    assert (
        run("index", str(corpus_dir), "--index-dir", str(tmp_path / "ix"), "--strict").exit_code
        == 1
    )


def test_index_with_nothing_readable_exits_1(tmp_path: Path) -> None:
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.md").write_text("nothing here")
    result = run("index", str(folder), "--index-dir", str(tmp_path / "ix"))
    assert result.exit_code == 1
    assert "Nothing could be indexed from 1 files" in result.stderr


def test_index_broken_corpus_reports_every_invalid_file(tmp_path: Path) -> None:
    result = run(
        "index", str(BROKEN), "--index-dir", str(tmp_path / "ix"), "--format", "json", "--quiet"
    )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["documents"], report["added"], report["skipped"]) == (15, 15, 10)
    assert len(report["skipped_files"]) == 10
    assert all(entry["reason"] for entry in report["skipped_files"])
    assert "Traceback" not in result.output


def test_index_json_report_of_an_update(small_index: Path, corpus_dir: Path) -> None:
    result = run(
        "index", str(corpus_dir), "--index-dir", str(small_index), "--format", "json", "--quiet"
    )
    report = json.loads(result.stdout)
    counts = ("documents", "files_seen", "added", "updated", "removed", "unchanged", "skipped")
    assert {key: report[key] for key in counts} == {
        "documents": 2,
        "files_seen": 2,
        "added": 0,
        "updated": 0,
        "removed": 0,
        "unchanged": 2,
        "skipped": 0,
    }
    assert (report["rebuilt"], report["skipped_files"], report["duplicate_files"]) == (
        False,
        [],
        [],
    )


def test_query_text_output(small_index: Path) -> None:
    result = run("query", "storm", "--index-dir", str(small_index), "--now", "2020-11-14T00:00:00Z")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "1 result for 'storm' (showing 1-1):"
    assert lines[2] == "  1. Storm floods the harbour"
    assert lines[3].startswith("     2020-11-13 19:30 UTC · Harbour Times · quality 72 · score ")
    assert lines[4] == "     https://news.example/storm"
    assert lines[5] == "     Heavy rain flooded the old harbour on Monday, officials said."


def test_query_json_output(small_index: Path) -> None:
    result = run(
        "query",
        "harbour",
        "--index-dir",
        str(small_index),
        "--format",
        "json",
        "--now",
        "2021-01-01",
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["query"], data["total"], data["matched"], data["now"]) == (
        "harbour",
        2,
        "all",
        "2021-01-01T00:00:00Z",
    )
    first, second = data["hits"]
    assert set(first) >= {
        "url",
        "title",
        "excerpt",
        "score",
        "quality",
        "published_at",
        "topics",
        "provider",
        "path",
    }
    assert first["url"] == "https://news.example/storm"
    assert (first["published_at"], first["quality"], first["topics"], first["provider"]) == (
        "2020-11-13T19:30:00Z",
        72,
        ["Weather", "Local"],
        "Harbour Times",
    )
    assert (second["quality"], second["provider"]) == (None, None)
    assert first["score"] > second["score"] > 0


def test_query_jsonl_output(small_index: Path) -> None:
    result = run("query", "harbour", "--index-dir", str(small_index), "--format", "jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["rank"] for line in lines] == [1, 2]


def test_query_fallback_is_announced(small_index: Path) -> None:
    result = run("query", "storm zebra", "--index-dir", str(small_index))
    assert (
        result.stdout.splitlines()[0]
        == "No article matched every word; showing articles that match any of them."
    )
    data = json.loads(
        run("query", "storm zebra", "--index-dir", str(small_index), "--format", "json").stdout
    )
    assert data["matched"] == "any" and data["total"] == 1


def test_query_no_results(small_index: Path) -> None:
    result = run("query", "zebra", "--index-dir", str(small_index))
    assert (result.exit_code, result.stdout) == (0, "No results for 'zebra'.\n")


def test_query_filters_and_pagination(small_index: Path) -> None:
    def total(*options: str) -> int:
        result = run(
            "query", "harbour", "--index-dir", str(small_index), "--format", "json", *options
        )
        assert result.exit_code == 0, result.output
        return int(json.loads(result.stdout)["total"])

    assert total("--topic", "weather") == 1
    assert total("--topic", "weather", "--topic", "culture") == 2
    assert total("--min-quality", "50") == 1
    assert total("--since", "2020-07") == 1
    assert total("--until", "2020-06-01") == 1
    assert total("--unpublished") == 0
    assert total("--published", "--type", "article") == 2
    page = run(
        "query",
        "harbour",
        "--index-dir",
        str(small_index),
        "--format",
        "json",
        "--limit",
        "1",
        "--offset",
        "1",
    )
    assert [hit["rank"] for hit in json.loads(page.stdout)["hits"]] == [2]


def test_query_ranking_options(small_index: Path) -> None:
    boosted = json.loads(
        run("query", "harbour", "--index-dir", str(small_index), "--format", "json").stdout
    )
    plain = json.loads(
        run(
            "query", "harbour", "--index-dir", str(small_index), "--format", "json", "--no-boost"
        ).stdout
    )
    weighted = json.loads(
        run(
            "query",
            "harbour",
            "--index-dir",
            str(small_index),
            "--format",
            "json",
            "--quality-weight",
            "1",
            "--recency-weight",
            "0",
            "--half-life",
            "7",
        ).stdout
    )
    scores = [[hit["score"] for hit in data["hits"]] for data in (boosted, plain, weighted)]
    assert scores[0] != scores[1] != scores[2]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--limit", "-1"], "Invalid value for '--limit'"),
        (["--offset", "x"], "Invalid value for '--offset'"),
        (["--since", "last week"], "Invalid value for '--since'"),
        (["--now", "soon"], "Invalid value for '--now'"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--quality-weight", "2"], "Invalid value for '--quality-weight'"),
        (["--half-life", "0"], "Invalid value for '--half-life'"),
        (["--bogus"], "No such option"),
    ],
)
def test_invalid_options_are_usage_errors(
    small_index: Path, options: list[str], message: str
) -> None:
    result = run("query", "storm", "--index-dir", str(small_index), *options)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"Error: {message}")
    assert "Traceback" not in result.output


def test_unparsable_query_exits_1(small_index: Path) -> None:
    result = run("query", "date:someday", "--index-dir", str(small_index))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot parse the query: date: 'someday' is not a date")


def test_an_explicit_index_dir_without_an_index_is_never_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SEEDS, tmp_path / "seeds")
    missing = tmp_path / "elsewhere"
    result = run("query", "oil", "--index-dir", str(missing))
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: no index in {missing}: build one with "
        f"`search index PATH --index-dir {missing}`\n"
    )
    assert not missing.exists()
    from_env = run("query", "oil", env={"SEARCH_INDEX_DIR": str(missing)})
    assert from_env.exit_code == 1 and "no index in" in from_env.stderr


def test_first_query_builds_the_default_index_from_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEARCH_INDEX_DIR", raising=False)
    shutil.copytree(SEEDS, tmp_path / "seeds")
    result = run("query", "facial recognition New Orleans police", "--format", "json")
    assert result.exit_code == 0
    assert "No index in index_data yet: building it from seeds/" in result.stderr
    assert json.loads(result.stdout)["hits"][0]["url"] == SEED_URL
    again = run("query", "facial recognition", "--format", "json")
    assert "building" not in again.stderr


def test_first_query_without_seeds_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEARCH_INDEX_DIR", raising=False)
    result = run("query", "oil")
    assert result.exit_code == 1
    assert "run `search index PATH` first" in result.stderr


def test_stats(small_index: Path) -> None:
    data = json.loads(run("stats", "--index-dir", str(small_index), "--format", "json").stdout)
    assert data["documents"] == 2
    assert (data["oldest"], data["newest"], data["undated"]) == (
        "2020-06-01T08:00:00Z",
        "2020-11-13T19:30:00Z",
        0,
    )
    assert data["topics"] == {"Culture": 1, "Local": 1, "Weather": 1}
    assert data["providers"] == {"Harbour Times": 1}
    assert data["size_bytes"] > 0
    text = run("stats", "--index-dir", str(small_index)).stdout
    assert "Documents:  2" in text and "Published:  2020-06-01 to 2020-11-13" in text


def test_show(small_index: Path) -> None:
    result = run("show", "https://NEWS.example/storm/", "--index-dir", str(small_index))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:4] == [
        "Storm floods the harbour",
        "URL:       https://news.example/storm",
        "Published: 2020-11-13T19:30:00Z",
        "Provider:  Harbour Times (harbour.example)",
    ]
    data = json.loads(
        run(
            "show",
            "https://news.example/storm",
            "--index-dir",
            str(small_index),
            "--format",
            "json",
        ).stdout
    )
    assert data["title"] == "Storm floods the harbour" and data["related"] == []
    missing = run("show", "https://news.example/none", "--index-dir", str(small_index))
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no document with URL")


def test_show_lists_related_articles_without_the_article_itself(seeds_index: Path) -> None:
    result = run("show", SEED_URL, "--index-dir", str(seeds_index))
    assert (
        "Related:\n  - New Orleans Police Department using facial recognition despite years of "
        "denial (The Lens, quality 55)" in result.stdout
    )
    assert result.stdout.count(SEED_URL) == 1
    assert "secured" not in result.stdout and "l55rmV4EV0J" not in result.stdout


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("cli-seeds") / "index"
    assert run("index", str(SEEDS), "--index-dir", str(index_dir), "--quiet").exit_code == 0
    return index_dir


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, name
        result = run(name, "--help")
        assert result.exit_code == 0 and "Usage: " in result.stdout
        assert f"search {name}" in readme, name


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "search", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("search, version ")


_NOT_FOR_A_QUERY = (
    "search.judging",
    "search.reports",
    "search.indexing",
    "search.pipeline",
    "search.documents",
    "search.catalog",
    "search.checking",
    "search.web",
    "frontmatter",
    "yaml",
    "sqlite3",
    "numpy",
    "starlette",
    "uvicorn",
    "whoosh.qparser",  # words side by side are parsed without Whoosh's query parser
)


def test_a_query_loads_only_what_searching_needs(small_index: Path) -> None:
    # Every one-off `search query` pays for each module it imports: reading articles, the file
    # catalog, evaluation and the web service are for other commands.
    code = (
        "import sys\n"
        "from search.cli import cli\n"
        f"cli.main(['query', 'harbour', '--index-dir', {str(small_index)!r}, '--format', 'json'],"
        " standalone_mode=False)\n"
        f"print([m for m in sys.modules if m.startswith({_NOT_FOR_A_QUERY!r})], file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout)["total"] == 2
    assert result.stderr.strip() == "[]"


def test_eval_measures_each_query_with_the_query_options(small_index: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text("storm\tstorm harbour\nfest\tfestival\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text(
        "storm 0 https://news.example/storm 2\n"
        "storm 0 https://news.example/festival 0\n"
        "fest 0 https://news.example/festival 1\n"
    )
    base = ["eval", str(qrels), "--queries", str(queries), "--index-dir", str(small_index)]
    result = run(*base, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["k"], report["ndcg"], report["mrr"], report["measured"]) == (10, 1.0, 1.0, 2)
    assert [q["qid"] for q in report["queries"]] == ["storm", "fest"]
    assert report["queries"][0]["urls"][0] == "https://news.example/storm"
    # Filters apply to every query: the festival is not about weather, so it is not found.
    filtered = json.loads(run(*base, "--topic", "weather", "--format", "json").stdout)
    assert filtered["queries"][1]["ndcg"] == 0.0 and filtered["ndcg"] == 0.5
    text = run(*base, "--k", "1")
    assert text.exit_code == 0
    assert text.stdout.startswith("nDCG@1 1.000 · precision@1 1.000 · MRR 1.000 · recall@1 1.000")


def test_eval_reports_a_bad_file_by_name_and_line_without_a_traceback(
    small_index: Path, tmp_path: Path
) -> None:
    queries = tmp_path / "queries.tsv"
    queries.write_text("storm\tstorm\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("storm 0 https://news.example/storm two\n")
    result = run("eval", str(qrels), "--queries", str(queries), "--index-dir", str(small_index))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {qrels}, line 1: grade 'two' is not a whole number from 0 to 2\n"
    )
    qrels.write_text("storm 0 https://news.example/storm 2\n")
    missing = run(
        "eval", str(qrels), "--queries", str(tmp_path / "nope.tsv"), "--index-dir", str(small_index)
    )
    assert missing.exit_code == 1 and missing.stderr.startswith(f"Error: {tmp_path / 'nope.tsv'}")
    assert "Traceback" not in result.output + missing.output


def test_the_matching_option_is_offered_and_documented() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for command in ("query", "related", "eval"):
        help_text = run(command, "--help").stdout
        assert "--matching [coverage|all|last|frequency|any]" in help_text, command
    assert "`--matching coverage\\|all\\|last\\|frequency\\|any`" in readme
    assert "### Matching" in readme and "### search eval" in readme


def test_query_json_says_which_words_each_hit_matched(small_index: Path) -> None:
    result = run("query", "storm festival", "--index-dir", str(small_index), "--format", "json")
    data = json.loads(result.stdout)
    assert (data["matching"], data["matched_every_word"], data["matched_fewer_words"]) == (
        "coverage",
        0,
        2,
    )
    assert data["matched"] == "any" and data["total"] == 2
    assert sorted(hit["matched_words"] for hit in data["hits"]) == [["festival"], ["storm"]]
    strict = run("query", "storm festival", "--index-dir", str(small_index), "--matching", "all")
    assert strict.stdout.startswith("No article matched every word")
    bad = run("query", "storm", "--index-dir", str(small_index), "--matching", "some")
    assert bad.exit_code == 2 and "Invalid value for '--matching'" in bad.stderr
