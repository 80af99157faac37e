"""What an index on disk is made of: the class paths its table of contents names, and what
happens to an index written in an earlier format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import whoosh.index
from click.testing import CliRunner
from whoosh.filedb.filestore import FileStorage

from search import SearchEngine, whoosh_ext
from search.cli import cli
from search.schema import build_schema
from search.storage import FORMAT, generation_dir, read_manifest
from search.whoosh_ext.codec import NewsCodec, NewsSegment
from tests.conftest import WriteArticle


def test_the_table_of_contents_names_only_marked_classes(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    # These strings are pickled into every index this tool has written: renaming or moving the
    # classes breaks those indexes, and must come with a new storage FORMAT.
    assert whoosh_ext.ON_DISK_CLASSES == (
        "search.whoosh_ext.codec.NewsCodec",
        "search.whoosh_ext.codec.NewsSegment",
        "search.whoosh_ext.columns.DictionaryCompressedColumn",
        "search.whoosh_ext.columns.ValueTableColumn",
    )
    write_article(title="Oil prices rise")
    with SearchEngine(tmp_path / "index") as engine:
        engine.index([corpus_dir])
        location = generation_dir(engine.index_dir, read_manifest(engine.index_dir))
    toc = whoosh.index.TOC.read(FileStorage(str(location)), "MAIN")
    (segment,) = toc.segments
    named = {
        f"{type(segment).__module__}.{type(segment).__qualname__}",
        f"{type(segment.codec()).__module__}.{type(segment.codec()).__qualname__}",
    }
    for name in ("record", "facet_topics"):
        column = type(toc.schema[name].column_type)
        named.add(f"{column.__module__}.{column.__qualname__}")
    assert named == set(whoosh_ext.ON_DISK_CLASSES)
    assert (type(segment), type(segment.codec())) == (NewsSegment, NewsCodec)
    (toc_file,) = location.glob("_MAIN_*.toc")
    modules = set(re.findall(rb"search(?:\.\w+)+", toc_file.read_bytes()))
    # The schema's field types (search.schema), our columns and the codec: nothing else.
    assert modules == {b"search.schema", b"search.whoosh_ext.columns", b"search.whoosh_ext.codec"}


def test_an_index_in_the_previous_format_is_refused_with_a_rebuild_hint(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    write_article(title="Oil prices rise")
    index_dir = tmp_path / "index"
    with SearchEngine(index_dir) as engine:
        engine.index([corpus_dir])
    # What the previous release left: Whoosh's own codec in the segments, format 1 in the manifest.
    manifest_path = index_dir / "search-index.json"
    manifest = json.loads(manifest_path.read_text())
    old = index_dir / "gen-20200101T000000-00000000"
    old.mkdir()
    with whoosh.index.create_in(str(old), build_schema()).writer() as writer:
        writer.add_document(url="https://e.com/old")
    manifest_path.write_text(json.dumps({**manifest, "generation": old.name, "format": 1}))
    assert FORMAT == 4

    result = CliRunner().invoke(cli, ["query", "oil", "--index-dir", str(index_dir)])
    assert result.exit_code == 1
    assert f"(format 1, schema {manifest['schema_version']})" in result.output
    assert "(format 4," in result.output
    assert f"Rebuild it with `search index --rebuild PATH --index-dir {index_dir}`" in result.output
    assert "Traceback" not in result.output

    rebuilt = CliRunner().invoke(
        cli, ["index", "--rebuild", str(corpus_dir), "--index-dir", str(index_dir)]
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    found = CliRunner().invoke(cli, ["query", "oil", "--index-dir", str(index_dir)])
    assert found.exit_code == 0 and "Oil prices rise" in found.output
