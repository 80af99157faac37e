"""Files real folders hold, and files written to hurt: indexed right or skipped with a reason."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import SearchEngine
from search.documents import parse_article
from search.errors import DocumentError
from tests.conftest import WriteArticle, article_text


def skipped(report: object) -> dict[str, str]:
    return {Path(p.path).name: p.message for p in report.skipped}  # type: ignore[attr-defined]


def test_a_named_pipe_named_like_an_article_is_skipped_without_blocking(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Fine")
    os.mkfifo(corpus_dir / "pipe.md")
    report = engine.index([corpus_dir])  # would hang forever if the pipe were opened for reading
    assert skipped(report) == {"pipe.md": "not a regular file (named pipe)"}
    assert report.documents == 1


def test_a_folder_named_like_an_article_is_walked(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    (corpus_dir / "x.md").mkdir()
    write_article("x.md/inner.md", title="Inside a folder named x.md")
    report = engine.index([corpus_dir])
    assert report.documents == 1 and not report.skipped


def test_symbolic_links_are_not_followed_unless_asked(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(article_text(title="Outside article", quality=5))
    write_article(title="Inside article")
    (corpus_dir / "link.md").symlink_to(outside / "secret.md")
    (corpus_dir / "folder-link").symlink_to(outside, target_is_directory=True)
    (corpus_dir / "loop").symlink_to(corpus_dir, target_is_directory=True)
    report = engine.index([corpus_dir])
    assert skipped(report) == {
        "folder-link": "symbolic link to a folder (not followed; use --follow-links)",
        "link.md": "symbolic link (not followed; use --follow-links)",
        "loop": "symbolic link to a folder (not followed; use --follow-links)",
    }
    assert engine.search("outside").total == 0

    followed = engine.index([corpus_dir], follow_links=True, rebuild=True)
    assert not followed.skipped
    assert engine.search("outside").total == 1  # both links lead to the same article
    assert followed.documents == 2


def test_a_symbolic_link_loop_ends(
    engine: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Only one")
    (corpus_dir / "a").mkdir()
    (corpus_dir / "a" / "b").symlink_to(corpus_dir / "a", target_is_directory=True)
    (corpus_dir / "self.md").symlink_to(corpus_dir / "self.md")
    report = engine.index([corpus_dir], follow_links=True)
    assert report.documents == 1
    assert skipped(report) == {"self.md": "broken or looping symbolic link"}


def test_the_frontmatter_size_limit_is_configurable(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article("big.md", title="Big", excerpt="word " * 3_000)
    write_article("small.md", title="Small")
    with SearchEngine(tmp_path / "index", max_frontmatter_bytes=8 * 1024) as engine:
        report = engine.index([corpus_dir])
    assert skipped(report) == {"big.md": "frontmatter is larger than the limit of 8 KiB"}
    assert report.documents == 1


def test_a_file_larger_than_anything_read_is_skipped_by_the_limit(
    tmp_path: Path, corpus_dir: Path
) -> None:
    # No closing fence within what is read: the frontmatter is too large, not "unclosed".
    (corpus_dir / "endless.md").write_text("---\ntitle: x\nexcerpt: " + "y" * 200_000 + "\n")
    with SearchEngine(tmp_path / "index", max_frontmatter_bytes=1024) as engine:
        report = engine.index([corpus_dir])
    assert skipped(report)["endless.md"].startswith("frontmatter is")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("nested.md", "---\ntitle: " + "[" * 5_000 + "]" * 5_000 + "\n---\n", "invalid YAML"),
        (
            "blocks.md",
            "---\n" + "".join(" " * i + "k:\n" for i in range(1_100)) + "---\n",
            "invalid YAML",
        ),
        ("nul.md", "---\ntitle: a\x00b\n---\n", "binary file (contains NUL bytes)"),
        ("anchor.md", "---\na: &a [x]\ntitle: *a\n---\n", "field 'title' must be text, not a list"),
        ("dashes.md", '---\ntitle: "a\n---\nb"\n---\n', "invalid YAML"),
    ],
)
def test_hostile_frontmatter_is_refused_with_a_reason(
    engine: SearchEngine,
    corpus_dir: Path,
    write_article: WriteArticle,
    name: str,
    content: str,
    reason: str,
) -> None:
    write_article(title="Survivor")
    (corpus_dir / name).write_text(content)
    report = engine.index([corpus_dir])
    assert skipped(report)[name].startswith(reason)
    assert report.documents == 1


def test_twenty_thousand_keys_index_normally(engine: SearchEngine, corpus_dir: Path) -> None:
    keys = "".join(f"key{number}: {number}\n" for number in range(20_000))
    (corpus_dir / "keys.md").write_text(f"---\n{keys}title: Many keys\nquality: 3\n---\n")
    report = engine.index([corpus_dir])
    assert report.documents == 1 and not report.skipped
    assert engine.search("many keys").total == 1


def test_a_huge_title_is_stored_truncated_but_fully_searchable(
    engine: SearchEngine, corpus_dir: Path
) -> None:
    title = "Opening " + "filler " * 28_570 + "finale"
    assert len(title) > 200_000
    (corpus_dir / "long.md").write_text(
        article_text(title=title, quality=5, webUrl="https://e.com/long")
    )
    engine.index([corpus_dir])
    hit = engine.search("finale").hits[0]
    assert hit.url == "https://e.com/long"
    assert len(hit.title) <= 1_000 and hit.title.startswith("Opening filler")


def test_dashes_inside_values_do_not_end_the_frontmatter(
    engine: SearchEngine, corpus_dir: Path
) -> None:
    (corpus_dir / "dashes.md").write_text(
        '---\ntitle: "Breaking --- news"\nexcerpt: "first line\n  ---\n  last line"\nquality: 4\n'
        "topics:\n  - '---'\n---\nBody with a rule\n\n---\n\nand more text\n"
    )
    report = engine.index([corpus_dir])
    assert not report.skipped
    document = engine.document(str(corpus_dir / "dashes.md"))
    assert document.title == "Breaking --- news"
    assert document.excerpt == "first line --- last line"
    assert engine.search("more text").total == 1  # the body after a Markdown rule is indexed


# -- the reader never fails in any other way ------------------------------------------------------

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "title",
        "excerpt",
        "topics",
        "quality",
        "publishedDateTime",
        "webUrl",
        "originalUrl",
        "provider",
        "type",
        "category",
        "published",
        "heat",
        "images",
        "related",
        "secured",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.binary(max_size=2_000))
def test_random_bytes_give_an_article_or_a_document_error(data: bytes) -> None:
    for raw in (data, b"---\n" + data, b"---\ntitle: x\n" + data + b"\n---\n"):
        try:
            result = parse_article(raw, "random.md")
        except DocumentError as exc:
            assert exc.reason and "\n" not in exc.reason
        else:
            assert result.article.title


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(fields=st.dictionaries(field_names | st.text(max_size=8), yaml_values, max_size=8))
def test_random_yaml_gives_an_article_or_a_document_error(fields: dict[str, object]) -> None:
    try:
        text = "---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\nbody\n"
    except yaml.YAMLError:
        return
    try:
        result = parse_article(text.encode("utf-8", "surrogatepass"), "random.md")
    except DocumentError as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert result.article.title
        assert all(isinstance(topic, str) for topic in result.article.topics)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=string.printable + "éü—“”\t", max_size=400))
def test_random_text_after_a_fence_gives_an_article_or_a_document_error(text: str) -> None:
    try:
        result = parse_article(("---\n" + text + "\n---\n").encode(), "random.md")
    except DocumentError as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert result.article.title
