"""Faults and hostile inputs end in a designed outcome: a result, or one clear error."""

from __future__ import annotations

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

from search import IndexAccessError, IndexCorruptError, SearchEngine
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
    assert _urls(mixed_engine, f"(sports OR markets) AND ({clause})") == (
        (words | _urls(mixed_engine, "markets")) & field
    )


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
    write_article(
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
        _cli(
            "show", f"https://evil.example/{HOSTILE}\n  2. Forged result", "--index-dir", index_dir
        ),
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
