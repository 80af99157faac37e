"""Shared fixtures: small corpora written into tmp_path, and the repository's own folders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from search import SearchEngine

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken"
SEED_URL = (
    "https://www.nola.com/news/crime_police/article_9eda8846-25e1-11eb-9c95-4f11b10ed17a.html"
)

WriteArticle = Callable[..., Path]


def article_text(body: str = "", **fields: Any) -> str:
    """The text of an article file with `fields` as YAML frontmatter."""
    frontmatter = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)
    return f"---\n{frontmatter}---\n{body}"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


@pytest.fixture
def write_article(corpus_dir: Path) -> WriteArticle:
    """Write one article into the corpus folder; returns its path.

    Defaults give a valid article; pass `None` to leave a field out.
    """
    counter = iter(range(1_000_000))

    def write(name: str | None = None, *, body: str = "", **fields: Any) -> Path:
        number = next(counter)
        defaults: dict[str, Any] = {
            "title": f"Article number {number}",
            "excerpt": "",
            "publishedDateTime": "2020-06-01T12:00:00Z",
            "quality": 50,
            "webUrl": f"https://example.com/news/{number}",
            "topics": ["General"],
            "provider": {"name": "Example News", "domain": "example.com"},
            "type": "article",
            "published": True,
        }
        defaults.update(fields)
        values = {key: value for key, value in defaults.items() if value is not None}
        path = corpus_dir / (name or f"{number:04d}.md")
        path.write_text(article_text(body, **values), encoding="utf-8")
        return path

    return write


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SearchEngine]:
    with SearchEngine(tmp_path / "index") as opened:
        yield opened


@pytest.fixture(scope="session")
def seeds_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    """An engine over the repository's seeds/ folder, built once per test session."""
    with SearchEngine(tmp_path_factory.mktemp("seeds-index")) as opened:
        opened.index([SEEDS])
        yield opened
