"""Faults and hostile inputs end in a designed outcome: a result, or one clear error."""

from __future__ import annotations

import codecs
import datetime
import errno
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search import IndexAccessError, IndexCorruptError, InvalidArgumentError, SearchEngine
from tests.conftest import WriteArticle

# -- every field filter combines with every boolean operator ------------------------------------


@pytest.fixture
def mixed_engine(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine
) -> SearchEngine:
    """Twelve articles that vary in every filterable field, half of them about sports."""
    for number in range(12):
        write_article(
            title=f"{'Sports' if number % 2 else 'Markets'} report {number}",
            excerpt="A report." if number % 3 else "A report about sports and markets.",
            publishedDateTime=f"2004-{8 + number % 3:02d}-1{number % 9}T10:00:00Z",
            quality=20 + 7 * number,
            type="video" if number % 4 == 0 else "article",
            category="news" if number % 3 else "opinion",
            published=number % 5 != 0,
            topics=["Sports"] if number % 2 else ["Business"],
            provider={"name": "Reuters" if number < 6 else "AP"},
        )
    engine.index([corpus_dir])
    return engine


def _urls(engine: SearchEngine, text: str) -> set[str]:
    return {hit.url for hit in engine.search(text, limit=100, boost=False).hits}


FIELD_CLAUSES = [
    "date:2004-09",
    "date:[2004-08-01 TO 2004-09-15]",
    "date:>=2004-09",
    "quality:>=50",
    "quality:[30 TO 70]",
    "type:video",
    "category:news",
    "published:true",
    "topic:sports",
    "provider:reuters",
    "title:report",
]


@pytest.mark.parametrize("clause", FIELD_CLAUSES)
def test_every_field_filter_combines_with_every_operator(
    mixed_engine: SearchEngine, clause: str
) -> None:
    words = _urls(mixed_engine, "sports")
    field = _urls(mixed_engine, clause)
    assert words and field
    assert _urls(mixed_engine, f"sports AND {clause}") == words & field
    assert _urls(mixed_engine, f"{clause} AND sports") == words & field
    assert _urls(mixed_engine, f"sports OR {clause}") == words | field
    assert _urls(mixed_engine, f"sports AND NOT {clause}") == words - field
    assert _urls(mixed_engine, f"{clause} AND NOT sports") == field - words
    assert _urls(mixed_engine, f"sports ANDNOT {clause}") == words - field
    assert _urls(mixed_engine, f"NOT {clause}") == _urls(mixed_engine, "report") - field
    assert _urls(mixed_engine, f"(sports OR markets) AND ({clause})") == (
        (words | _urls(mixed_engine, "markets")) & field
    )


def test_a_minus_sign_before_a_word_excludes_it_like_not(mixed_engine: SearchEngine) -> None:
    sports, markets = _urls(mixed_engine, "sports"), _urls(mixed_engine, "markets")
    assert _urls(mixed_engine, "report -sports") == _urls(mixed_engine, "report NOT sports")
    assert _urls(mixed_engine, "report -sports") == _urls(mixed_engine, "report") - sports
    assert _urls(mixed_engine, "(report -sports) markets") == markets - sports
    phrase = _urls(mixed_engine, '"sports report"')
    assert _urls(mixed_engine, 'report -"sports report"') == _urls(mixed_engine, "report") - phrase
    assert _urls(mixed_engine, "-sports") == _urls(mixed_engine, "report") - sports
    # A hyphen inside a word is no minus: both halves are required.
    assert _urls(mixed_engine, "sports-report") == sports & _urls(mixed_engine, "report")


# -- explain works for every kind of query --------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['"sports report"', 'title:"sports report"', '"sports report" AND quality:>=30']
)
def test_explain_shares_a_phrase_score_among_the_fields(
    mixed_engine: SearchEngine, text: str
) -> None:
    results = mixed_engine.search(text, explain=True, limit=3)
    assert results.hits
    for hit in results.hits:
        assert hit.explain is not None
        assert hit.explain.fields.get("title", 0) > 0
        assert sum(hit.explain.fields.values()) == pytest.approx(hit.explain.text)


def test_explain_of_related_articles(mixed_engine: SearchEngine) -> None:
    url = mixed_engine.search("sports", limit=1).hits[0].url
    results = mixed_engine.related(url, explain=True)
    assert results.hits
    for hit in results.hits:
        assert hit.explain is not None
        assert sum(hit.explain.fields.values()) == pytest.approx(hit.explain.text)


# -- index files follow the umask like any file the user creates -----------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_index_files_follow_the_umask(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path, umask: int
) -> None:
    write_article(title="Harbour news")
    previous = os.umask(umask)
    try:
        with SearchEngine(tmp_path / "index") as engine:
            engine.index([corpus_dir])
            write_article(title="More harbour news")
            engine.index([corpus_dir])  # an update writes files too
            engine.index([corpus_dir], rebuild=True)
    finally:
        os.umask(previous)
    entries = [tmp_path / "index", *(tmp_path / "index").rglob("*")]
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        if entry.is_dir():
            assert mode == 0o777 & ~umask, (entry.relative_to(tmp_path), oct(mode))
        else:  # Whoosh's empty lock files come with execute bits, which mean nothing there
            assert mode & 0o666 == 0o666 & ~umask, (entry.relative_to(tmp_path), oct(mode))


# -- file names that are not UTF-8 ----------------------------------------------------------------


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real command in a new process: its stdout and stderr as the bytes a terminal gets."""
    environment = {**os.environ, "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "search", *map(str, args)],
        capture_output=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )


LATIN1_NAME = os.fsdecode(b"caf\xe9 \xff\xfe.md")


def test_a_file_name_that_is_not_utf8_is_indexed_like_any_other(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine
) -> None:
    write_article(title="Harbour opens")
    named = write_article(LATIN1_NAME, title="Harbour closes")
    unnamed = write_article(os.fsdecode(b"no-url-\xe9.md"), title="Harbour floods", webUrl=None)
    report = engine.index([corpus_dir])
    assert (report.added, report.skipped) == (3, ())
    assert engine.search("harbour").total == 3
    assert engine.document(str(named)).title == "Harbour closes"
    assert engine.document(str(unnamed)).title == "Harbour floods"
    hit = engine.search("floods").hits[0]
    assert hit.path == str(unnamed)
    assert hit.url.startswith("file:///") and hit.url.endswith("/no-url-%E9.md")
    unnamed.unlink()
    report = engine.index([corpus_dir])
    assert (report.removed, report.unchanged) == (1, 2)
    assert engine.search("harbour").total == 2


def test_the_command_line_prints_a_name_that_is_not_utf8_as_escaped_bytes(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path
) -> None:
    write_article(LATIN1_NAME, title="Harbour closes", quality=None)
    index_dir = tmp_path / "index"
    first = _cli("index", corpus_dir, "--index-dir", index_dir)
    assert first.returncode == 0, first.stderr
    assert b"caf\\xe9 \\xff\\xfe.md: no 'quality' field" in first.stderr
    again = _cli("index", corpus_dir, "--index-dir", index_dir)
    assert again.returncode == 0 and b"1 unchanged" in again.stdout
    found = _cli("query", "harbour", "--index-dir", index_dir, "--format", "json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["path"].endswith(LATIN1_NAME)


# -- nothing from a document or a path controls the terminal ---------------------------------------

HOSTILE = "\x1b[2J\x1b]0;owned\x07"


def test_control_characters_from_documents_and_paths_never_reach_the_terminal(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path
) -> None:
    evil = write_article(
        f"evil{HOSTILE}\nskipped: forged.md",
        title="Harbour story",
        webUrl=f"https://evil.example/{HOSTILE}\n  2. Forged result",
        provider={"name": f"Bad{HOSTILE}\u202eProvider"},
        topics=[f"Topic{HOSTILE}"],
        quality="high\x1b[31m",
    )
    (corpus_dir / f"broken{HOSTILE}\nskipped: forged.md").write_text("no frontmatter")
    index_dir = tmp_path / "index"
    outputs = [
        _cli("index", corpus_dir, "--index-dir", index_dir),
        _cli("query", "harbour", "--index-dir", index_dir, "--facets", "topics,provider"),
        _cli("query", "harbour", "--index-dir", index_dir, "--explain"),
        _cli("show", evil, "--index-dir", index_dir),
        _cli("stats", "--index-dir", index_dir),
        _cli("related", f"https://nowhere.example/{HOSTILE}", "--index-dir", index_dir),
    ]
    for result in outputs:
        for stream in (result.stdout, result.stderr):
            text = stream.decode()
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text), text
    for result in (outputs[0], outputs[1], outputs[3]):
        assert "\\x1b[2J" in (result.stdout + result.stderr).decode()  # shown, not obeyed
    index_lines = outputs[0].stderr.decode().splitlines()
    assert len([line for line in index_lines if line.startswith("skipped:")]) == 1
    assert "  2. Forged result" not in outputs[1].stdout.decode().splitlines()
    assert outputs[3].returncode == 0
    # A URL with control characters is no link: the article is known by its (escaped) path.
    assert "field 'webUrl' is not an http(s) URL" in outputs[0].stderr.decode()
    assert "URL:       /" in outputs[3].stdout.decode()
    assert outputs[5].returncode == 1 and b"no document with URL" in outputs[5].stderr


# -- operating-system errors are reported as what they are ----------------------------------------

needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a file system needs root"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB file system of its own, so that a test can fill it."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mount_point], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", mount_point], check=True)


@needs_root
def test_a_full_disk_leaves_the_index_as_it_was_and_no_debris(
    write_article: WriteArticle, corpus_dir: Path, small_disk: Path
) -> None:
    for number in range(40):
        write_article(title=f"Harbour story {number}")
    index_dir = small_disk / "index"
    assert _cli("index", corpus_dir, "--index-dir", index_dir).returncode == 0
    before = sorted(path.relative_to(index_dir) for path in index_dir.rglob("*"))
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * max(free - 64 * 1024, 0))
    for number in range(300):
        write_article(title=f"Ferry story {number}", body="A long body of text. " * 200)
    for _attempt in range(2):  # the disk is still full the second time: the same clear error
        failed = _cli("index", corpus_dir, "--index-dir", index_dir)
        message = failed.stderr.decode()
        assert failed.returncode == 1, message
        assert message.startswith("Error: cannot write the index in "), message
        assert "no space left on device (the index was left as it was)" in message
        assert "bug" not in message and message.count("\n") == 1
        assert sorted(path.relative_to(index_dir) for path in index_dir.rglob("*")) == before
    with SearchEngine(index_dir) as engine:
        assert (engine.search("harbour").total, engine.search("ferry").total) == (40, 0)
    filler.unlink()
    done = _cli("index", corpus_dir, "--index-dir", index_dir)
    assert done.returncode == 0, done.stderr
    with SearchEngine(index_dir) as engine:
        assert (engine.search("harbour").total, engine.search("ferry").total) == (40, 300)


@needs_root
def test_a_read_only_file_system(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path
) -> None:
    write_article(title="Harbour story")
    mount_point = tmp_path / "readonly"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", mount_point], check=True)
    try:
        failed = _cli("index", corpus_dir, "--index-dir", mount_point / "index")
    finally:
        subprocess.run(["umount", "-l", mount_point], check=True)
    assert failed.returncode == 1
    assert failed.stderr.decode() == (
        f"Error: cannot write the index in {mount_point / 'index'}: read-only file system\n"
    )


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (lambda tmp: tmp / "a-file" / "index", "a part of the path is not a folder"),
        (lambda tmp: Path(os.devnull), "it exists and is not a folder"),
    ],
)
def test_an_index_path_that_cannot_be_a_folder(
    write_article: WriteArticle,
    corpus_dir: Path,
    tmp_path: Path,
    where: Callable[[Path], Path],
    reason: str,
) -> None:
    write_article(title="Harbour story")
    (tmp_path / "a-file").write_text("not a folder")
    index_dir = where(tmp_path)
    failed = _cli("index", corpus_dir, "--index-dir", index_dir)
    assert failed.returncode == 1
    assert failed.stderr.decode() == f"Error: cannot write the index in {index_dir}: {reason}\n"
    with pytest.raises(IndexAccessError) as raised:
        SearchEngine(index_dir).index([corpus_dir])
    assert raised.value.reason == reason


def test_a_permission_error_names_the_path(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores file modes, so the refusal is injected where the index's folder is made.
    write_article(title="Harbour story")
    index_dir = tmp_path / "index"

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(IndexAccessError) as raised:
        SearchEngine(index_dir).index([corpus_dir])
    assert str(raised.value) == f"cannot write the index in {index_dir}: permission denied"


# -- damage to index files is reported as damage, naming the file ---------------------------------


@pytest.fixture
def built_index(write_article: WriteArticle, corpus_dir: Path, tmp_path: Path) -> Path:
    for number in range(30):
        write_article(title=f"Harbour story {number}", excerpt=f"The ferry crossed {number} times.")
    index_dir = tmp_path / "index"
    with SearchEngine(index_dir) as engine:
        engine.index([corpus_dir])
    return index_dir


def _generation(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / "search-index.json").read_text())["generation"]


def _segment(index_dir: Path) -> Path:
    return next(_generation(index_dir).glob("*.seg"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_catalog(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # the header's tail and the first page's b-tree
    path.write_bytes(bytes(data))


# Whoosh leaves a segment file open when it fails to read it; the damage tests let that pass.
whoosh_leaks_damaged_files = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <_io:pytest.PytestUnraisableExceptionWarning"
)


def test_check_finds_a_sound_index_sound(built_index: Path) -> None:
    with SearchEngine(built_index) as engine:
        report = engine.check()
    assert report.ok and report.problems == ()
    assert (report.segments, report.documents, report.catalog_files) == (1, 30, 30)
    assert report.files == 2 and report.terms > 30 and report.postings > 30
    result = _cli("check", "--index-dir", built_index)
    assert result.returncode == 0 and b": sound (" in result.stdout


def test_check_finds_an_index_with_deleted_articles_sound(
    built_index: Path, write_article: WriteArticle, corpus_dir: Path
) -> None:
    # Removed articles and the second copy of a syndicated one stay in their segment, marked
    # deleted: the posting lists still hold them, and that is no damage.
    removed = sorted(corpus_dir.glob("*.md"))[:3]
    for path in removed:
        path.unlink()
    for _ in range(2):
        write_article(title="Syndicated harbour story", webUrl="https://news.example/same")
    with SearchEngine(built_index) as engine:
        engine.index([corpus_dir])
        report = engine.check()
    assert report.problems == () and report.ok
    assert report.documents == 28
    result = _cli("check", "--index-dir", built_index)
    assert result.returncode == 0 and b": sound (" in result.stdout


@whoosh_leaks_damaged_files
@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_truncate, "bytes long, not"),
        (Path.unlink, "is missing"),
        (_flip_byte, "does not hold what was written (checksum)"),
    ],
)
def test_check_names_a_damaged_segment(
    built_index: Path, damage: Callable[[Path], None], problem: str
) -> None:
    segment = _segment(built_index)
    damage(segment)
    result = _cli("check", "--index-dir", built_index, "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert {"path": str(segment), "problem": report["problems"][0]["problem"]} in report["problems"]
    assert problem in report["problems"][0]["problem"]
    text = _cli("check", "--index-dir", built_index)
    assert text.returncode == 1
    assert f"damaged: {segment}: ".encode() in text.stdout
    assert b"Rebuild it with `search index --rebuild PATH --index-dir" in text.stdout


@whoosh_leaks_damaged_files
def test_check_names_a_damaged_catalog(built_index: Path) -> None:
    catalog = _generation(built_index) / "catalog.sqlite"
    _damage_catalog(catalog)
    with SearchEngine(built_index) as engine:
        report = engine.check()
    assert not report.ok
    assert [problem.path for problem in report.problems] == [str(catalog)]


@whoosh_leaks_damaged_files
@pytest.mark.parametrize("damage", [_truncate, Path.unlink])
def test_a_damaged_segment_is_a_corrupt_index_for_every_command(
    built_index: Path, corpus_dir: Path, damage: Callable[[Path], None]
) -> None:
    segment = _segment(built_index)
    damage(segment)
    with SearchEngine(built_index) as engine, pytest.raises(IndexCorruptError) as raised:
        engine.search("harbour")
    assert raised.value.path == segment
    for args in (("query", "harbour"), ("index", corpus_dir), ("stats",)):
        result = _cli(*args, "--index-dir", built_index)
        message = result.stderr.decode()
        assert result.returncode == 1, message
        assert message.startswith(f"Error: the index in {built_index} is damaged: {segment} ")
        assert message.endswith(
            f"rebuild it with `search index --rebuild PATH --index-dir {built_index}`\n"
        )


@whoosh_leaks_damaged_files
def test_a_damaged_catalog_is_an_error_not_silence(built_index: Path, corpus_dir: Path) -> None:
    catalog = _generation(built_index) / "catalog.sqlite"
    _damage_catalog(catalog)
    with SearchEngine(built_index) as engine:
        assert engine.search("harbour").total == 30  # no typo to correct: no need of the catalog
        with pytest.raises(IndexCorruptError) as raised:
            engine.search("harbuor")  # a typo: the vocabulary is in the catalog
    assert raised.value.path == catalog
    result = _cli("index", corpus_dir, "--index-dir", built_index)
    assert result.returncode == 1
    assert f"the file catalog {catalog} cannot be read".encode() in result.stderr


# -- API arguments of the wrong kind ---------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda engine: engine.search("harbour", topics=[None]),
        lambda engine: engine.search("harbour", facets=None),
        lambda engine: engine.search("harbour", ranking="x"),
        lambda engine: engine.search("harbour", explain="yes"),
        lambda engine: engine.search("harbour", boost="no"),
        lambda engine: engine.search("harbour", published="no"),
        lambda engine: engine.related("https://e.com/1", boost="no"),
        lambda engine: engine.index(None),
        lambda engine: engine.index(b"/some/path"),
        lambda engine: engine.index([b"/some/path"]),
        lambda engine: engine.index(["."], wait_seconds="5"),
        lambda engine: engine.index(["."], progress="bar"),
        lambda engine: SearchEngine(engine.index_dir, max_frontmatter_bytes="1"),
        lambda engine: SearchEngine(engine.index_dir, max_frontmatter_bytes=True),
        lambda engine: SearchEngine(engine.index_dir, ranking="fast"),
        lambda engine: SearchEngine(""),
    ],
)
def test_arguments_of_the_wrong_kind_are_invalid_arguments(
    built_index: Path, call: Callable[[SearchEngine], object]
) -> None:
    with SearchEngine(built_index) as engine, pytest.raises(InvalidArgumentError):
        call(engine)


def test_dates_as_date_objects(built_index: Path) -> None:
    with SearchEngine(built_index) as engine:
        day = datetime.date(2020, 6, 1)  # the day every article of the fixture was published
        assert engine.search("harbour", since=day, until=day).total == 30
        assert engine.search("harbour", until=datetime.date(2020, 5, 31)).total == 0
        with pytest.raises(InvalidArgumentError, match=r"since \(2020-06-02\) is later than"):
            engine.search("harbour", since="2020-06-02", until=day)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("query", "harbour", "--since", "2021", "--until", "2020"),
            "since (2021) is later than until (2020)",
        ),
        (("query", "quality:>="), "quality:>= needs a value (for example quality:>=60)"),
        (("query", "harbour quality:"), "quality: needs a value"),
        (("query", "date:"), "date: needs a value"),
        (("query", "title: harbour"), "title: needs a value"),
        (
            ("query", "harbour", "--index-dir", ""),
            "'--index-dir' (env var: 'SEARCH_INDEX_DIR'): must not be empty",
        ),
        (("stats", "--index-dir", ""), "must not be empty"),
    ],
)
def test_queries_and_options_that_cannot_mean_anything_are_errors(
    built_index: Path, args: tuple[str, ...], message: str
) -> None:
    if "--index-dir" not in args:
        args = (*args, "--index-dir", str(built_index))
    result = _cli(*args)
    assert result.returncode in (1, 2)
    assert message in result.stderr.decode()
    assert result.stdout == b""


# -- files and fields that used to be skipped or taken silently ------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(
    corpus_dir: Path, engine: SearchEngine, encoding: str
) -> None:
    text = "---\ntitle: Café au lait\r\nwebUrl: https://e.com/wide\nquality: 60\n---\nWide body.\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    (corpus_dir / "wide.md").write_bytes(data)
    report = engine.index([corpus_dir])
    assert (report.added, report.skipped, report.warnings) == (1, (), ())
    hit = engine.search("cafe").hits[0]
    assert (hit.title, hit.quality) == ("Café au lait", 60)


def test_an_unusable_number_drops_the_field_not_the_file(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine
) -> None:
    digits = "9" * 5_000
    (corpus_dir / "long.md").write_text(
        f"---\ntitle: Long numbers\nwebUrl: https://e.com/long\nquality: {digits}\n"
        f"heat: {digits}\nrelated:\n  - title: Other\n    webUrl: https://e.com/other\n"
        f"    quality: {digits}\n---\n"
    )
    report = engine.index([corpus_dir])
    assert report.added == 1 and report.skipped == ()
    messages = [problem.message for problem in report.warnings]
    assert any(message.startswith("field 'quality' is not a number") for message in messages)
    assert any(message.startswith("field 'heat' is not a number") for message in messages)
    document = engine.document("https://e.com/long")
    assert (document.quality, document.heat, document.related[0].quality) == (None, None, None)


@pytest.mark.parametrize(
    "address", ["javascript:alert(1)", "not a url", "../x.html", "ftp://e.com/a"]
)
def test_an_address_that_is_not_http_is_never_a_link(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine, address: str
) -> None:
    with_fallback = write_article(
        title="Harbour one", webUrl=address, originalUrl="https://e.com/original"
    )
    without = write_article(
        title="Harbour two",
        webUrl=address,
        images=[{"url": address}],
        related=[
            {"title": "Elsewhere", "webUrl": address},
            {"title": "Fine", "webUrl": "https://e.com/f"},
        ],
    )
    report = engine.index([corpus_dir])
    warned = {p.path for p in report.warnings if "'webUrl' is not an http(s) URL" in p.message}
    assert warned == {str(with_fallback), str(without)}
    urls = {hit.title: hit.web_url for hit in engine.search("harbour").hits}
    assert urls == {"Harbour one": "https://e.com/original", "Harbour two": str(without)}
    document = engine.document(str(without))
    assert document.image_url is None
    assert [entry.url for entry in document.related] == ["https://e.com/f"]


def test_a_body_beyond_the_limit_is_cut_with_a_warning(
    write_article: WriteArticle, corpus_dir: Path, engine: SearchEngine
) -> None:
    path = write_article(title="Long read", body="harbour " * 300_000 + " lighthouse")
    report = engine.index([corpus_dir])
    assert [p.message for p in report.warnings if p.path == str(path)] == [
        "the body is longer than 1,048,576 characters or 4 MiB; only its beginning is searchable"
    ]
    assert engine.search("harbour").total == 1
    assert engine.search("lighthouse").total == 0


def test_year_one_prints_as_a_four_digit_year(
    write_article: WriteArticle, corpus_dir: Path, tmp_path: Path
) -> None:
    write_article(title="Ancient harbour", publishedDateTime="0001-01-01T00:00:00Z")
    write_article(title="Newer harbour", publishedDateTime="2020-01-01T00:00:00Z")
    index_dir = tmp_path / "index"
    assert _cli("index", corpus_dir, "--index-dir", index_dir).returncode == 0
    found = _cli("query", "ancient", "--index-dir", index_dir).stdout.decode()
    assert "     0001-01-01 00:00 UTC · " in found
    stats = _cli("stats", "--index-dir", index_dir).stdout.decode()
    assert "Published:  0001-01-01 to 2020-01-01" in stats


def test_a_reader_that_stops_early_ends_the_output_quietly(built_index: Path) -> None:
    for output_format in ("text", "jsonl"):
        command = [sys.executable, "-m", "search", "query", "harbour OR ferry", "--limit", "30"]
        with subprocess.Popen(
            [*command, "--index-dir", str(built_index), "--format", output_format],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.read(1)
            process.stdout.close()  # like `| head -c 1`
            assert process.stderr.read() == b""
            assert process.wait(timeout=60) in (0, 1)
