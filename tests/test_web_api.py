"""The HTTP API of `search serve`, through Starlette's test client."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from search import SearchEngine
from search.cli import cli
from search.web import serving
from search.web.app import CONTENT_SECURITY_POLICY, Limits, create_app
from tests.conftest import REPO, WriteArticle

NOW = "2021-01-01T00:00:00Z"
HOSTILE_TITLE = "<img src=x onerror=alert(1)> Harbour <script>alert(2)</script>"
"""What the index stores for the title below: the reader drops real tags but decodes entities."""
HOSTILE_SOURCE = "&lt;img src=x onerror=alert(1)&gt; Harbour <script>alert(2)</script>"


@pytest.fixture
def corpus(write_article: WriteArticle, corpus_dir: Path) -> Path:
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
        excerpt="The summer festival moves to August, after the storm.",
        webUrl="https://news.example/festival",
        publishedDateTime="2019-06-01T08:00:00Z",
        quality=40,
        topics=["Culture", "Local"],
        provider={"name": "City Post"},
    )
    write_article(
        title=HOSTILE_SOURCE,
        excerpt='A harbour story with "quotes" &amp; &lt;b&gt;markup&lt;/b&gt;.',
        webUrl="https://news.example/hostile",
        topics=["Local"],
    )
    return corpus_dir


@pytest.fixture
def index_dir(tmp_path: Path, corpus: Path) -> Path:
    location = tmp_path / "index"
    SearchEngine(location).index([corpus])
    return location


@pytest.fixture
def client(index_dir: Path) -> Iterator[TestClient]:
    with SearchEngine(index_dir) as engine, TestClient(create_app(engine)) as test_client:
        yield test_client


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_of(response: Any, status: int) -> str:
    """The error code of a JSON error response with the given status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in response.text
    return str(body["error"]["code"])


# -- the same answers as the command line -----------------------------------------------------


def test_search_answers_exactly_what_the_cli_prints_as_json(
    client: TestClient, index_dir: Path
) -> None:
    options = ["--topic", "Local", "--facets", "topics,provider,year", "--explain"]
    expected = cli_json(
        "query", "harbour", "--index-dir", str(index_dir), "--format", "json", "--now", NOW,
        *options, "--limit", "2", "--offset", "1",
    )  # fmt: skip
    response = client.get(
        "/api/search",
        params={
            "q": "harbour",
            "now": NOW,
            "topic": "Local",
            "facets": "topics,provider,year",
            "explain": "true",
            "limit": "2",
            "offset": "1",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected
    assert expected["total"] == 3 and len(expected["hits"]) == 2


def test_filters_and_sorting_match_the_cli(client: TestClient, index_dir: Path) -> None:
    expected = cli_json(
        "query", "harbour OR storm", "--index-dir", str(index_dir), "--format", "json",
        "--now", NOW, "--provider", "Harbour Times", "--since", "2020", "--until", "2020-12",
        "--min-quality", "50", "--published", "--sort", "newest", "--type", "article",
        "--no-boost", "--matching", "all",
    )  # fmt: skip
    response = client.get(
        "/api/search?q=harbour+OR+storm&now=2021-01-01T00:00:00Z&provider=Harbour+Times"
        "&since=2020&until=2020-12&min_quality=50&published=true&sort=newest&type=article"
        "&boost=false&matching=all"
    )
    assert response.json() == expected
    assert [hit["url"] for hit in expected["hits"]] == ["https://news.example/storm"]


def test_related_documents_and_stats_match_the_cli(client: TestClient, index_dir: Path) -> None:
    url = "https://news.example/storm"
    related = cli_json(
        "related", url, "--index-dir", str(index_dir), "--format", "json", "--now", NOW
    )
    assert client.get("/api/related", params={"url": url, "now": NOW}).json() == related
    assert url not in [hit["url"] for hit in related["hits"]]
    document = cli_json("show", url, "--index-dir", str(index_dir), "--format", "json")
    assert client.get("/api/documents", params={"url": url}).json() == document
    stats = cli_json("stats", "--index-dir", str(index_dir), "--format", "json")
    served = client.get("/api/stats").json()
    assert "index_dir" not in served  # the server's file layout stays on the server
    del stats["index_dir"]
    assert served == stats and served["documents"] == 3


def test_hostile_markup_stays_escaped_in_snippets(client: TestClient) -> None:
    hits = client.get("/api/search", params={"q": "harbour story"}).json()["hits"]
    hostile = next(hit for hit in hits if hit["url"] == "https://news.example/hostile")
    assert hostile["title"] == HOSTILE_TITLE  # the data as stored: the page must render it as text
    assert "<b>" not in hostile["snippet"] and "&lt;b&gt;markup&lt;/b&gt;" in hostile["snippet"]


def test_healthz_counts_documents(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "documents": 3})


def test_a_new_commit_is_served_without_a_restart(
    client: TestClient, corpus: Path, index_dir: Path, write_article: WriteArticle
) -> None:
    assert client.get("/api/search", params={"q": "volcano"}).json()["total"] == 0
    write_article(title="Volcano erupts", webUrl="https://news.example/volcano")
    SearchEngine(index_dir).index([corpus])  # another writer, as `search index` would be
    assert client.get("/api/search", params={"q": "volcano"}).json()["total"] == 1
    SearchEngine(index_dir).index([corpus], rebuild=True)
    assert client.get("/healthz").json()["documents"] == 4


# -- the page and the description --------------------------------------------------------------


def test_the_page_and_its_assets_are_served_under_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text and "<script>" not in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a network
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    for path, kind in [
        ("/static/app.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ]:
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "innerHTML" not in client.get("/static/app.js").text


def test_openapi_describes_every_endpoint_and_parameter(client: TestClient) -> None:
    description = client.get("/openapi.json").json()
    assert description["openapi"].startswith("3.")
    paths = description["paths"]
    assert set(paths) == {"/api/search", "/api/related", "/api/documents", "/api/stats", "/healthz"}
    names = {parameter["name"] for parameter in paths["/api/search"]["get"]["parameters"]}
    documented = "q topic provider type since until min_quality published sort limit offset facets"
    assert names == set(f"{documented} explain now boost matching".split())


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("/api/search", "invalid_parameter"),  # no q
        ("/api/search?q=%20", "invalid_parameter"),
        ("/api/search?q=" + "a" * 501, "invalid_parameter"),
        ("/api/search?q=a&q=b", "invalid_parameter"),
        ("/api/search?q=oil&limit=ten", "invalid_parameter"),
        ("/api/search?q=oil&limit=101", "invalid_parameter"),
        ("/api/search?q=oil&limit=-1", "invalid_parameter"),
        ("/api/search?q=oil&offset=10001", "invalid_parameter"),
        ("/api/search?q=oil&sort=random", "invalid_parameter"),
        ("/api/search?q=oil&sort=newest&sort=oldest", "invalid_parameter"),
        ("/api/search?q=oil&since=someday", "invalid_parameter"),
        ("/api/search?q=oil&now=yesterday", "invalid_parameter"),
        ("/api/search?q=oil&published=maybe", "invalid_parameter"),
        ("/api/search?q=oil&facets=colour", "invalid_parameter"),
        ("/api/search?q=oil&matching=fuzzy", "invalid_parameter"),
        ("/api/search?q=oil&topics=Local", "invalid_parameter"),  # a misspelt parameter
        ("/api/search?q=date:someday", "invalid_query"),
        ("/api/search?q=%22unclosed", None),  # either a clean 400 or an answer, never a 500
        ("/api/related?url=https://news.example/storm&limit=x", "invalid_parameter"),
        ("/api/documents", "invalid_parameter"),
        ("/api/documents?url=https://news.example/storm&now=2020", "invalid_parameter"),
        ("/api/search?q=" + "oil+" * 3000, "request_too_large"),
    ],
)
def test_bad_requests_are_400_with_a_json_error(
    client: TestClient, target: str, code: str | None
) -> None:
    response = client.get(target)
    if code is None:
        assert response.status_code in (200, 400)
        return
    assert error_of(response, 400) == code


def test_an_unknown_url_is_404_and_says_nothing_about_the_server(
    client: TestClient, tmp_path: Path
) -> None:
    existing = tmp_path / "secret.md"
    existing.write_text("not indexed")
    for target in ["https://news.example/nothing", str(existing), "/etc/passwd"]:
        for path in ("/api/documents", "/api/related"):
            response = client.get(path, params={"url": target})
            assert error_of(response, 404) == "not_found"
            assert response.json()["error"]["message"] == "no article with this URL in the index"


def test_unknown_paths_methods_and_bodies_are_refused(client: TestClient) -> None:
    assert error_of(client.get("/api/nothing"), 404) == "not_found"
    assert error_of(client.post("/api/search?q=oil"), 405) == "method_not_allowed"
    response = client.request("GET", "/api/search?q=oil", content=b"x" * 100)
    assert error_of(response, 400) == "request_too_large"


def test_without_an_index_every_api_answers_503(tmp_path: Path) -> None:
    with TestClient(create_app(SearchEngine(tmp_path / "none"))) as client:
        for target in ["/healthz", "/api/search?q=oil", "/api/stats", "/api/documents?url=x"]:
            assert error_of(client.get(target), 503) == "no_index"
        assert client.get("/").status_code == 200  # the page still loads and says so


class _Exploding(SearchEngine):
    def search(self, query: str, **options: Any) -> Any:  # type: ignore[override]
        raise RuntimeError("/secret/path exploded")


def test_an_unexpected_error_is_a_generic_500_logged_on_the_server(
    index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(_Exploding(index_dir))) as client:
        response = client.get("/api/search?q=oil")
    assert error_of(response, 500) == "internal_error"
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert "/secret/path exploded" in caplog.text


class _Slow(SearchEngine):
    release = threading.Event()

    def search(self, query: str, **options: Any) -> Any:  # type: ignore[override]
        self.release.wait(5)
        return super().search(query, **options)


def test_a_slow_search_answers_503_and_the_server_keeps_answering(index_dir: Path) -> None:
    engine = _Slow(index_dir)
    limits = Limits(timeout=0.3, threads=1, max_waiting=2)
    with TestClient(create_app(engine, limits=limits)) as client:
        started = time.monotonic()
        assert error_of(client.get("/api/search?q=storm"), 503) == "timeout"
        assert time.monotonic() - started < 3
        assert client.get("/").status_code == 200
        _Slow.release.set()
        time.sleep(0.1)
        assert client.get("/api/search?q=storm").json()["total"] == 2


# -- browsers on other origins --------------------------------------------------------------------


def test_cors_is_off_unless_an_origin_is_named(index_dir: Path) -> None:
    headers = {"origin": "https://elsewhere.example"}
    with SearchEngine(index_dir) as engine:
        with TestClient(create_app(engine)) as client:
            response = client.get("/api/search?q=storm", headers=headers)
            assert "access-control-allow-origin" not in response.headers
        with TestClient(create_app(engine, cors_origins=["https://app.example"])) as client:
            allowed = client.get("/api/search?q=storm", headers={"origin": "https://app.example"})
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
            other = client.get("/api/search?q=storm", headers=headers)
            assert "access-control-allow-origin" not in other.headers


# -- the command ---------------------------------------------------------------------------------


def test_the_query_path_does_not_load_the_web_stack() -> None:
    code = (
        "import sys, search, search.cli\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('starlette', 'uvicorn', 'watchfiles', 'anyio', 'search.web')]\n"
        "print(loaded)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


def test_serve_help_lists_its_options() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ["--index-dir", "--host", "--port", "--watch", "--cors-origin", "--timeout"]:
        assert option in result.stdout
    assert "127.0.0.1" in result.stdout and "8080" in result.stdout


def _service_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## The service\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_documents_every_serve_option_and_default() -> None:
    section = _service_section()
    command = cli.commands["serve"]
    documented = set(re.findall(r"^\| `(--[a-z-]+)", section, flags=re.MULTILINE))
    options = {name for param in command.params for name in param.opts if name != "--help"}
    assert documented == options
    for param in command.params:
        if isinstance(param, click.Option) and param.show_default and param.name != "index_dir":
            default = param.default
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            row = next(
                line for line in section.splitlines() if line.startswith(f"| `{param.opts[0]}")
            )
            assert f"({shown})" in row, row


def test_the_readme_states_the_limits_the_server_applies() -> None:
    section = _service_section()
    limits = Limits()
    assert f"`q` and `url` | {limits.max_query_chars} characters" in section
    assert f"at most {limits.max_limit} and {limits.max_offset:,}" in section
    assert f"URL at most {limits.max_url_bytes // 1024} KiB" in section
    assert (
        f"per process, {limits.threads} searches at once and {limits.max_waiting} requests"
        in section
    )
    timeout = next(param for param in cli.commands["serve"].params if param.name == "timeout")
    assert f"`--timeout` ({timeout.default:g} s)" in section


def test_serve_passes_its_limits_to_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(serving, "serve", lambda index_dir, **options: started.update(options))
    arguments = ["serve", "--index-dir", str(tmp_path), "--threads", "1", "--timeout", "2.5"]
    assert CliRunner().invoke(cli, arguments).exit_code == 0
    assert started["limits"] == Limits(threads=1, timeout=2.5)
    assert CliRunner().invoke(cli, arguments[:3]).exit_code == 0
    assert started["limits"] == Limits()
    assert CliRunner().invoke(cli, [*arguments[:3], "--threads", "0"]).exit_code == 2


def test_serve_says_so_when_it_cannot_listen(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["serve", "--index-dir", str(tmp_path), "--port", str(port)]
        )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.output


def test_a_file_name_that_is_not_utf8_is_served_like_the_cli_prints_it(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    # Without a URL, the article is known by its path, which holds bytes that are not UTF-8.
    write_article(os.fsdecode(b"caf\xe9-\xff.md"), title="Harbour floods", webUrl=None)
    index_dir = tmp_path / "index"
    SearchEngine(index_dir).index([corpus_dir])
    expected = cli_json(
        "query", "floods", "--index-dir", str(index_dir), "--format", "json", "--now", NOW
    )
    with SearchEngine(index_dir) as engine, TestClient(create_app(engine)) as client:
        response = client.get("/api/search", params={"q": "floods", "now": NOW})
        assert response.status_code == 200
        assert response.json() == expected
        assert "\\udce9" in response.text  # the byte, escaped as the CLI escapes it
        url = expected["hits"][0]["url"]
        document = client.get("/api/documents", params={"url": url})
        assert document.status_code == 200 and document.json()["title"] == "Harbour floods"
