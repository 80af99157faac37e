"""Reading article files: field coercion, encodings, and files skipped with a reason."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from search.documents import clean_text, parse_article, read_article
from search.errors import DocumentError
from search.frontmatter_yaml import TolerantLoader
from tests.conftest import BROKEN, SEED_URL, SEEDS, article_text

SKIPPED = {
    "01_invalid_yaml.md": "invalid YAML",
    "02_no_frontmatter.md": "no frontmatter",
    "03_empty.md": "empty file",
    "04_missing_title.md": "no 'title' field",
    "11_frontmatter_list.md": "frontmatter is a list",
    "12_python_tag.md": "could not determine a constructor for the tag",
    "13_alias_bomb.md": "field 'title' must be text, not a list",
    "18_nested_title.md": "field 'title' must be text, not a mapping",
    "19_unclosed_frontmatter.md": "frontmatter is not closed",
    "25_binary.md": "binary file",
}


def read(tmp_path: Path, text: str | bytes, name: str = "a.md") -> tuple[object, tuple[str, ...]]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    result = read_article(path)
    return result.article, result.warnings


def test_the_seed_document_reads_completely() -> None:
    result = read_article(SEEDS / "000_f49c33e8b2a4a914.txt")
    article = result.article
    assert result.warnings == ()
    assert article.url == SEED_URL
    assert article.title.startswith("New Orleans police use facial recognition software")
    assert article.published_at == datetime(2020, 11, 13, 19, 30, tzinfo=UTC)
    assert article.quality == 47
    assert article.topics == ("Computer Vision", "AI")
    assert (article.provider, article.provider_domain) == ("NOLA.com", "nola.com")
    assert article.doc_type == "article" and article.category == "news"
    assert article.published is False and article.heat == -1
    assert article.image_url is not None and article.image_url.endswith("5d154061558f0.image.jpg")
    # The seed lists itself among its related articles: that entry is dropped.
    assert [entry.url for entry in article.related] == [
        "https://thelensnola.org/2020/11/12/new-orleans-police-department-using-facial-recognition-despite-years-of-denial/"
    ]


def test_the_secured_blob_is_never_kept() -> None:
    article = read_article(SEEDS / "000_f49c33e8b2a4a914.txt").article
    blob = "l55rmV4EV0J+Hq5nRnET"
    assert all(blob not in str(value) for value in vars_of(article))


def vars_of(article: object) -> list[object]:
    return [getattr(article, name) for name in article.__slots__]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "reason"), sorted(SKIPPED.items()))
def test_broken_files_are_refused_with_their_reason(name: str, reason: str) -> None:
    with pytest.raises(DocumentError) as caught:
        read_article(BROKEN / name)
    assert caught.value.path == BROKEN / name
    assert reason in caught.value.reason
    assert "\n" not in caught.value.reason


def test_every_other_broken_file_reads() -> None:
    readable = sorted(path.name for path in BROKEN.iterdir() if path.name not in SKIPPED)
    titles = {name: read_article(BROKEN / name).article.title for name in readable}
    assert titles["08_crlf.md"] == "Windows line endings"
    assert titles["09_bom.md"] == "File that starts with a byte order mark"
    assert titles["10_latin1.md"] == "Café in Latin-1 encoding"
    assert titles["23_toml_frontmatter.md"] == "TOML frontmatter"
    assert titles["24_duplicate_keys.md"] == "second title"
    assert len(titles) == 15


def test_a_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"---\ntitle: !!python/object/apply:os.system ['touch {marker}']\n---\n"
    with pytest.raises(DocumentError, match="constructor"):
        read(tmp_path, text)
    assert not marker.exists()


def test_the_alias_bomb_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(DocumentError):
        read_article(BROKEN / "13_alias_bomb.md")
    assert time.perf_counter() - started < 5  # expanding it would take minutes and gigabytes


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2020-11-13T19:30:00Z", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("'2020-11-13T19:30:00Z'", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("2020-11-13T19:30:00-07:00", datetime(2020, 11, 14, 2, 30, tzinfo=UTC)),
        ("'2020-11-13T21:30:00+02:00'", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("'2020-11-13T19:30Z'", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("2020-11-13", datetime(2020, 11, 13, tzinfo=UTC)),
        ("2020-11-13 19:30:00", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("'Fri, 13 Nov 2020 19:30:00 GMT'", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
        ("1605295800", datetime(2020, 11, 13, 19, 30, tzinfo=UTC)),
    ],
)
def test_publication_dates_in_the_forms_feeds_write(
    tmp_path: Path, written: str, expected: datetime
) -> None:
    article, warnings = read(
        tmp_path, f"---\ntitle: T\nquality: 5\npublishedDateTime: {written}\n---\n"
    )
    assert article.published_at == expected  # type: ignore[attr-defined]
    assert warnings == ()


@pytest.mark.parametrize("written", ["sometime last week", "2020-13-45", "true", "[2020]"])
def test_an_unreadable_date_leaves_the_article_undated_with_a_warning(
    tmp_path: Path, written: str
) -> None:
    article, warnings = read(
        tmp_path, f"---\ntitle: T\nquality: 5\npublishedDateTime: {written}\n---\n"
    )
    assert article.published_at is None  # type: ignore[attr-defined]
    assert len(warnings) == 1 and "publishedDateTime" in warnings[0]


@pytest.mark.parametrize(
    ("written", "quality", "warned"),
    [
        ("47", 47, False),
        ("87.5", 88, False),
        ("'60'", 60, False),
        ("high", None, True),
        ("null", None, True),
        ("-40", -40, True),
        ("true", None, True),
    ],
)
def test_quality_values(tmp_path: Path, written: str, quality: int | None, warned: bool) -> None:
    article, warnings = read(tmp_path, f"---\ntitle: T\nquality: {written}\n---\n")
    assert article.quality == quality  # type: ignore[attr-defined]
    assert any("quality" in warning for warning in warnings) == warned


def test_missing_quality_is_neutral_with_a_warning(tmp_path: Path) -> None:
    article, warnings = read(tmp_path, "---\ntitle: T\n---\n")
    assert article.quality is None  # type: ignore[attr-defined]
    assert warnings == ("no 'quality' field; ranked as neutral",)


def test_url_identity_falls_back_to_original_url_then_to_the_path(tmp_path: Path) -> None:
    article, _ = read(
        tmp_path, "---\ntitle: T\nquality: 1\noriginalUrl: HTTPS://Example.COM/a/#top\n---\n"
    )
    assert article.url == "https://example.com/a"  # type: ignore[attr-defined]
    assert article.web_url == "HTTPS://Example.COM/a/#top"  # type: ignore[attr-defined]
    article, _ = read(tmp_path, "---\ntitle: T\nquality: 1\n---\n", name="b.md")
    assert article.url == str((tmp_path / "b.md").resolve())  # type: ignore[attr-defined]


def test_wrong_types_are_ignored_with_warnings_not_fatal(tmp_path: Path) -> None:
    text = article_text(
        title="Fine title",
        quality=50,
        excerpt={"nested": True},
        topics=["ok", 3, ["x"]],
        provider=["a", "b"],
        published="maybe",
    )
    article, warnings = read(tmp_path, text)
    assert article.title == "Fine title"  # type: ignore[attr-defined]
    assert article.excerpt == ""  # type: ignore[attr-defined]
    assert article.topics == ("ok", "3")  # type: ignore[attr-defined]
    assert article.provider is None and article.published is None  # type: ignore[attr-defined]
    assert len(warnings) == 4


def test_topics_given_as_one_string_are_split_on_commas(tmp_path: Path) -> None:
    article, _ = read(tmp_path, "---\ntitle: T\nquality: 1\ntopics: Testing, Robots\n---\n")
    assert article.topics == ("Testing", "Robots")  # type: ignore[attr-defined]


def test_latin1_falls_back_to_windows_1252_with_a_warning(tmp_path: Path) -> None:
    article, warnings = read(tmp_path, b"---\ntitle: Caf\xe9 \x93quoted\x94\nquality: 1\n---\n")
    assert article.title == "Café “quoted”"  # type: ignore[attr-defined]
    assert warnings == ("not valid UTF-8 (byte 14); read as Windows-1252",)


def test_bom_and_crlf_are_transparent(tmp_path: Path) -> None:
    article, warnings = read(
        tmp_path, "\ufeff---\r\ntitle: Windows\r\nquality: 3\r\n---\r\nBody text\r\n"
    )
    assert article.title == "Windows" and article.body == "Body text"  # type: ignore[attr-defined]
    assert warnings == ()


def test_html_fragments_are_stripped_but_tickers_survive() -> None:
    text = (
        'Staples Inc. <A HREF="http://x/y?ticker=SPLS.O">SPLS.O</A>, '
        "maker of <TXN.N> chips &amp; <b>more</b>"
    )
    assert clean_text(text) == "Staples Inc. SPLS.O , maker of <TXN.N> chips & more"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab .,\t\n\r\x00\x1f\x7f\x85\xa0\u2003\u2028é<&"), max_size=30)
    | st.text(max_size=30)
)
def test_cleaned_text_has_single_spaces_and_no_control_characters(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == " ".join(cleaned.split()) == cleaned.strip()
    assert not any(0 < ord(char) < 32 or ord(char) == 127 for char in cleaned)
    if "<" not in text and "&" not in text:  # no markup: only white space and controls change
        assert cleaned == " ".join(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text).split())


def test_an_oversized_frontmatter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("---\ntitle: T\nexcerpt: " + "x" * 3000 + "\n---\n")
    with pytest.raises(DocumentError, match="larger than the limit of 2 KiB"):
        read_article(path, max_frontmatter_bytes=2048)


def test_a_huge_title_is_kept_whole_for_indexing(tmp_path: Path) -> None:
    article, _ = read(tmp_path, article_text(title="word " * 40_000, quality=1))
    assert len(article.title) > 100_000 - 10  # type: ignore[attr-defined]


def test_a_folder_or_a_fifo_named_like_an_article_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "x.md"
    folder.mkdir()
    with pytest.raises(DocumentError):
        read_article(folder)
    fifo = tmp_path / "pipe.md"
    import os

    os.mkfifo(fifo)
    with pytest.raises(DocumentError, match="not a regular file"):
        read_article(fifo)


def test_parse_article_takes_bytes_directly() -> None:
    result = parse_article(b"---\ntitle: From bytes\nquality: 1\n---\n", "memory.md")
    assert result.article.title == "From bytes"


SCALARS = [
    "yes", "'yes'", "No", "true", '"true"', "~", "null", "''", "12", "'12'", "0x1F", "1_000",
    "3.5", ".inf", "2020-11-13", "'2020-11-13'", "2020-11-13T19:30:00Z", "news",
    "Reuters", "-x", "+1", "0o17", "1e3", "!!str 12",
]  # fmt: skip


def test_frontmatter_values_read_as_pyyaml_reads_them_every_time() -> None:
    text = "\n".join(f"v{number}: {value}" for number, value in enumerate(SCALARS))
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    for _ in range(3):  # the second and third readings use the tags remembered from the first
        fields = {
            key: (type(value), value)
            for key, value in TolerantLoader(text).get_single_data().items()
        }
        assert fields == {key: (type(value), value) for key, value in expected.items()}


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {x: 1, y: 2}\nmerged:\n  <<: *b\n  y: 3\ntitle: T\ntitle: U\n",
        "a: {b: {c: [1, {d: e}]}}\n1: one\n",
        "? [a, b]\n: unhashable\n",
        "key: &k value\nagain: *k\n= : odd\n",
    ],
)
def test_frontmatter_mappings_read_as_pyyaml_reads_them(text: str) -> None:
    def load(loader: type[yaml.SafeLoader]) -> object:
        try:
            return yaml.load(text, Loader=loader)
        except yaml.YAMLError as exc:
            return type(exc), str(exc)

    assert load(TolerantLoader) == load(getattr(yaml, "CSafeLoader", yaml.SafeLoader))
