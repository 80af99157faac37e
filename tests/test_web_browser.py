"""The search page in a real headless Chromium (the system's, driven by Playwright).

Outside CI these tests are skipped when Chromium is not installed; in CI (CI=true) a missing
browser fails them, so they cannot silently stop running.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from search import SearchEngine
from search.web.app import create_app
from tests.conftest import article_text

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs Chromium for the browser tests (apt-get install chromium)")
    pytest.skip("Chromium is not installed", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

HOSTILE_TITLE = "<img src=x onerror=alert(1)> Harbour <script>alert(2)</script>"
WAIT_MS = 5_000


def _write_corpus(folder: Path) -> None:
    folder.mkdir()
    for number in range(24):
        fields: dict[str, Any] = {
            "title": f"Harbour report {number:02d}",
            "excerpt": f"Ships and boats in the harbour, day {number}.",
            "webUrl": f"https://news.example/harbour/{number}",
            "publishedDateTime": f"{2019 + number % 2}-06-{number + 1:02d}T12:00:00Z",
            "quality": 40 + number,
            "topics": ["Shipping" if number % 3 else "Weather"],
            "provider": {"name": "Harbour Times" if number % 4 else "Coast Post"},
        }
        (folder / f"{number:02d}.md").write_text(article_text(**fields), encoding="utf-8")
    hostile = {
        # The reader decodes entities, so the stored title holds the raw markup of HOSTILE_TITLE.
        "title": "&lt;img src=x onerror=alert(1)&gt; Harbour <script>alert(2)</script>",
        "excerpt": "&lt;img src=y onerror=alert(3)&gt; a lighthouse keeper's harbour diary",
        "webUrl": "javascript:alert(4)",
        "topics": ["Lighthouse"],
    }
    (folder / "hostile.md").write_text(article_text(**hostile), encoding="utf-8")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser")
    _write_corpus(root / "corpus")
    engine = SearchEngine(root / "index")
    engine.index([root / "corpus"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    engine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()
    assert problems == []  # no script error, and no alert() from any article's markup


def titles(page: Page) -> list[str]:
    return page.locator(".hit .title").all_text_contents()


def test_typing_a_query_shows_results_and_puts_it_in_the_address(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#q")).not_to_be_focused()
    page.keyboard.press("/")  # focuses the search box from anywhere on the page
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("harbour report")
    expect(page.locator(".hit")).to_have_count(10)
    # 24 reports have both words; the hostile article has one of them and comes after them.
    expect(page.locator(".count")).to_contain_text(
        "25 results for “harbour report” (24 with every word)"
    )
    expect(page).to_have_url(re.compile(r"\?q=harbour\+report$"))
    first = page.locator(".hit .title a").first
    assert (first.get_attribute("href") or "").startswith("https://news.example/harbour/")
    expect(first.locator("mark")).to_have_text(["Harbour", "report"])


def test_a_facet_filters_and_the_back_button_removes_it(page: Page) -> None:
    page.goto("/?q=harbour+report")
    expect(page.locator(".hit")).to_have_count(10)
    coast = page.locator(".facet-value", has_text="Coast Post")
    expect(coast.locator(".facet-count")).to_have_text("6")
    coast.click()
    expect(page.locator(".count")).to_contain_text("6 results")
    expect(page).to_have_url(re.compile(r"provider=Coast\+Post"))
    for meta in page.locator(".hit .meta").all_text_contents():
        assert meta.startswith("Coast Post")
    expect(page.locator(".facet-value.chosen")).to_have_count(1)
    page.go_back()
    expect(page.locator(".count")).to_contain_text("25 results")
    expect(page.locator(".facet-value.chosen")).to_have_count(0)


def test_paging_forward_and_back(page: Page) -> None:
    page.goto("/?q=harbour+report")
    expect(page.locator(".count")).to_contain_text("1\N{EN DASH}10")
    first_page = titles(page)
    page.locator("a.next").click()
    expect(page.locator(".count")).to_contain_text("11\N{EN DASH}20")
    expect(page).to_have_url(re.compile(r"page=2"))
    second_page = titles(page)
    assert len(second_page) == 10 and not set(first_page) & set(second_page)
    page.go_back()
    expect(page.locator(".count")).to_contain_text("1\N{EN DASH}10")
    assert titles(page) == first_page
    page.go_forward()
    expect(page.locator(".count")).to_contain_text("11\N{EN DASH}20")


def test_did_you_mean_is_a_link_to_the_corrected_search(page: Page) -> None:
    page.goto("/?q=harbuor")
    suggestion = page.locator("a.did-you-mean")
    expect(suggestion).to_have_text("harbour")
    suggestion.click()
    expect(page).to_have_url(re.compile(r"\?q=harbour$"))
    expect(page.locator("#q")).to_have_value("harbour")
    expect(page.locator("a.did-you-mean")).to_have_count(0)
    expect(page.locator(".hit .snippet mark").first).to_have_text("harbour")


def test_hostile_markup_is_shown_as_text_and_never_runs(page: Page) -> None:
    page.goto("/?q=lighthouse")
    hit = page.locator(".hit")
    expect(hit).to_have_count(1)
    expect(hit.locator(".title")).to_have_text(HOSTILE_TITLE)
    expect(hit.locator(".snippet")).to_contain_text("<img src=y onerror=alert(3)>")
    assert page.locator(".hits img, .hits script").count() == 0
    assert hit.locator(".title a").count() == 0  # a javascript: address never becomes a link
    # Matched in the title, the marks are drawn inside the title: still text around them.
    page.goto("/?q=script")
    expect(hit.locator(".title")).to_have_text(HOSTILE_TITLE)
    expect(hit.locator(".title mark")).to_have_text(["script", "script"])
    assert page.locator(".hits img, .hits script").count() == 0
    # The page fixture fails the test if an alert() opened or a script error happened.


def test_related_link_lists_other_articles(page: Page) -> None:
    page.goto("/?q=harbour+report+07")
    page.locator(".hit a.related").first.click()
    expect(page).to_have_url(re.compile(r"\?related=https"))
    expect(page.locator(".count")).to_contain_text("related to “Harbour report 07”")
    expect(page.locator(".hit").first).to_be_visible()
