"""The engines the benchmark compares, behind one small interface.

* `news-search`: this project, default settings (boosts on), through its Python API and its CLI.
* `whoosh`: plain Whoosh as a newcomer would use it: one writer, the default analyser,
  MultifieldParser over title/excerpt/topics (all words required), no boosts.
* `fts5`: SQLite FTS5 from the standard library, porter tokenizer, the same boosted formula as
  this project written in SQL (bm25 with column weights x quality factor x recency factor).
* `tantivy`: tantivy-py (optional extra `bench`), BM25 with the same field weights; the boosts are
  applied to its top 100 (an approximation: tantivy-py cannot score with a custom function).

Every engine reads the same files with python-frontmatter, so indexing figures include parsing.
"""

from __future__ import annotations

import math
import re
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter

NOW = datetime(2025, 1, 1, tzinfo=UTC)
QUALITY_WEIGHT = RECENCY_WEIGHT = 0.3
HALF_LIFE_DAYS = 30.0
FIELD_WEIGHTS = {"title": 3.0, "topics": 2.0, "excerpt": 1.0}


@dataclass(frozen=True, slots=True)
class BenchQuery:
    kind: str
    """single, pair, phrase, filter or typo."""
    words: tuple[str, ...]
    phrase: bool = False
    topic: str | None = None
    since: str | None = None

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return f'"{joined}"' if self.phrase else joined


ARTICLE_SUFFIXES = {".md", ".markdown", ".txt"}


def corpus_files(corpus: Path) -> list[Path]:
    """The article files of a corpus folder, in a stable order."""
    return sorted(
        path for path in corpus.rglob("*") if path.suffix in ARTICLE_SUFFIXES and path.is_file()
    )


def read_corpus(corpus: Path) -> Iterator[dict[str, Any]]:
    """The fields every engine indexes, read with python-frontmatter like a newcomer would."""
    for path in corpus_files(corpus):
        post = frontmatter.load(path)
        published = post.get("publishedDateTime")
        if isinstance(published, str):
            published = datetime.fromisoformat(published.replace("Z", "+00:00"))
        if isinstance(published, datetime) and published.tzinfo is None:
            published = published.replace(tzinfo=UTC)
        yield {
            "id": str(post.get("webUrl") or path),
            "title": str(post.get("title") or ""),
            "excerpt": str(post.get("excerpt") or ""),
            "topics": " ".join(map(str, listed(post.get("topics")))),
            "quality": post.get("quality"),
            "published": published if isinstance(published, datetime) else None,
        }


def listed(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def boost_sql_terms() -> str:
    return (
        f"(1 + {QUALITY_WEIGHT} * ((min(max(coalesce(quality, 50), 0), 100) / 100.0) - 0.5))"
        f" * (CASE WHEN published IS NULL THEN 1.0 ELSE 1 + {RECENCY_WEIGHT} * "
        f"(power(0.5, max(:now - published, 0) / 86400.0 / {HALF_LIFE_DAYS}) - 0.5) END)"
    )


def python_boost(quality: int | None, published: float | None) -> float:
    q = 1.0 if quality is None else 1 + QUALITY_WEIGHT * (min(max(quality, 0), 100) / 100 - 0.5)
    if published is None:
        return q
    age_days = max(NOW.timestamp() - published, 0) / 86_400
    return q * (1 + RECENCY_WEIGHT * (float(0.5 ** (age_days / HALF_LIFE_DAYS)) - 0.5))


# -- this project ------------------------------------------------------------------------------


class NewsSearch:
    name = "news-search"

    def build(self, corpus: Path, index_dir: Path) -> None:
        from search import SearchEngine

        SearchEngine(index_dir).index([corpus])

    def reindex(self, corpus: Path, index_dir: Path) -> None:
        from search import SearchEngine

        SearchEngine(index_dir).index([corpus])

    def open(self, index_dir: Path) -> Any:
        from search import SearchEngine

        return SearchEngine(index_dir)

    def search(self, handle: Any, query: BenchQuery) -> list[str]:
        from search import SearchError

        try:
            results = handle.search(
                query.text, topics=query.topic, since=query.since, now=NOW, limit=10
            )
        except SearchError:
            return []
        return [hit.url for hit in results]

    def cold_command(self, index_dir: Path, query: BenchQuery) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "search",
            "query",
            query.text,
            "--index-dir",
            str(index_dir),
        ]
        command += ["--format", "json", "--now", NOW.isoformat()]
        if query.topic:
            command += ["--topic", query.topic]
        if query.since:
            command += ["--since", query.since]
        return command


# -- plain Whoosh ------------------------------------------------------------------------------

WHOOSH_SCRIPT = """
import sys
from whoosh import index, qparser, query
ix = index.open_dir(sys.argv[1])
parser = qparser.MultifieldParser(["title", "excerpt", "topics"], ix.schema)
q = parser.parse(sys.argv[2])
with ix.searcher() as s:
    print([hit["id"] for hit in s.search(q, limit=10)])
"""


class PlainWhoosh:
    name = "whoosh"

    def build(self, corpus: Path, index_dir: Path) -> None:
        from whoosh import fields, index

        schema = fields.Schema(
            id=fields.ID(stored=True, unique=True),
            title=fields.TEXT(),
            excerpt=fields.TEXT(),
            topics=fields.TEXT(),
            quality=fields.NUMERIC(stored=True),
            published=fields.DATETIME(stored=True),
        )
        index_dir.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(index_dir), schema)
        with ix.writer() as writer:
            for doc in read_corpus(corpus):
                writer.add_document(
                    id=doc["id"],
                    title=doc["title"],
                    excerpt=doc["excerpt"],
                    topics=doc["topics"],
                    quality=doc["quality"] if isinstance(doc["quality"], int) else None,
                    published=doc["published"].replace(tzinfo=None) if doc["published"] else None,
                )

    def open(self, index_dir: Path) -> Any:
        from whoosh import index, qparser

        ix = index.open_dir(str(index_dir))
        parser = qparser.MultifieldParser(["title", "excerpt", "topics"], ix.schema)
        return ix, ix.searcher(), parser

    def search(self, handle: Any, query: BenchQuery) -> list[str]:
        from whoosh import query as wq

        _, searcher, parser = handle
        parsed = parser.parse(query.text)
        filters = []
        if query.topic:
            filters.append(wq.Term("topics", query.topic.lower()))
        if query.since:
            filters.append(wq.DateRange("published", datetime.fromisoformat(query.since), None))
        chosen = wq.And(filters) if filters else None
        return [hit["id"] for hit in searcher.search(parsed, limit=10, filter=chosen)]

    def cold_command(self, index_dir: Path, query: BenchQuery) -> list[str]:
        return [sys.executable, "-c", WHOOSH_SCRIPT, str(index_dir), query.text]


# -- SQLite FTS5 -------------------------------------------------------------------------------

FTS5_SCRIPT = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(sys.argv[2], {"match": sys.argv[3], "now": float(sys.argv[4])}).fetchall()
print([row[0] for row in rows])
"""


def fts5_match(query: BenchQuery) -> str:
    words = [re.sub(r"[^\w]", "", word) for word in query.words]
    words = [word for word in words if word]
    if query.phrase:
        match = '"' + " ".join(words) + '"'
    else:
        match = " AND ".join(f'"{word}"' for word in words) or '""'
    if query.topic:
        match = f'({match}) AND topics : "{query.topic}"'
    return match


def fts5_sql(query: BenchQuery) -> str:
    weights = ", ".join(str(FIELD_WEIGHTS[name]) for name in ("title", "excerpt", "topics"))
    conditions = ["docs MATCH :match"]
    if query.since:
        since = datetime.fromisoformat(query.since).replace(tzinfo=UTC).timestamp()
        conditions.append(f"published >= {since}")
    return (
        f"SELECT id FROM docs WHERE {' AND '.join(conditions)} "
        f"ORDER BY -bm25(docs, {weights}) * {boost_sql_terms()} DESC, published DESC, id LIMIT 10"
    )


class Fts5:
    name = "fts5"

    def build(self, corpus: Path, index_dir: Path) -> None:
        index_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(index_dir / "fts.sqlite")
        db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(title, excerpt, topics, id UNINDEXED, "
            "quality UNINDEXED, published UNINDEXED, tokenize='porter unicode61')"
        )
        with db:
            db.executemany(
                "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (
                        doc["title"],
                        doc["excerpt"],
                        doc["topics"],
                        doc["id"],
                        doc["quality"] if isinstance(doc["quality"], int) else None,
                        doc["published"].timestamp() if doc["published"] else None,
                    )
                    for doc in read_corpus(corpus)
                ),
            )
            db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        db.close()

    def open(self, index_dir: Path) -> Any:
        db = sqlite3.connect(index_dir / "fts.sqlite")
        db.create_function("power", 2, math.pow, deterministic=True)
        return db

    def search(self, handle: Any, query: BenchQuery) -> list[str]:
        rows = handle.execute(fts5_sql(query), {"match": fts5_match(query), "now": NOW.timestamp()})
        return [row[0] for row in rows]

    def cold_command(self, index_dir: Path, query: BenchQuery) -> list[str]:
        script = FTS5_SCRIPT.replace("db = sqlite3.connect(sys.argv[1])", _FTS5_CONNECT)
        return [
            sys.executable,
            "-c",
            script,
            str(index_dir / "fts.sqlite"),
            fts5_sql(query),
            fts5_match(query),
            str(NOW.timestamp()),
        ]


_FTS5_CONNECT = (
    "import math; db = sqlite3.connect(sys.argv[1]); "
    "db.create_function('power', 2, math.pow, deterministic=True)"
)


# -- tantivy -----------------------------------------------------------------------------------

TANTIVY_SCRIPT = """
import sys, tantivy
index = tantivy.Index.open(sys.argv[1])
searcher = index.searcher()
query = index.parse_query(sys.argv[2], ["title", "excerpt", "topics"])
hits = searcher.search(query, 10).hits
print([searcher.doc(address)["id"][0] for _, address in hits])
"""


def tantivy_available() -> bool:
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return False
    return True


class Tantivy:
    name = "tantivy"

    def build(self, corpus: Path, index_dir: Path) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        for name in ("title", "excerpt", "topics"):
            builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        builder.add_integer_field("quality", stored=True, fast=True)
        builder.add_integer_field("published", stored=True, fast=True, indexed=True)
        schema = builder.build()
        index_dir.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(schema, path=str(index_dir))
        writer = index.writer(heap_size=200_000_000, num_threads=2)
        for doc in read_corpus(corpus):
            writer.add_document(
                tantivy.Document(
                    id=doc["id"],
                    title=doc["title"],
                    excerpt=doc["excerpt"],
                    topics=doc["topics"],
                    quality=doc["quality"] if isinstance(doc["quality"], int) else -1,
                    published=int(doc["published"].timestamp()) if doc["published"] else -1,
                )
            )
        writer.commit()
        writer.wait_merging_threads()

    def open(self, index_dir: Path) -> Any:
        import tantivy

        index = tantivy.Index.open(str(index_dir))
        index.reload()
        return index, index.searcher()

    def search(self, handle: Any, query: BenchQuery) -> list[str]:
        index, searcher = handle
        text = query.text if query.phrase else " AND ".join(query.words)
        if query.topic:
            text += f' AND topics:"{query.topic}"'
        if query.since:
            since = int(datetime.fromisoformat(query.since).replace(tzinfo=UTC).timestamp())
            text += f" AND published:[{since} TO *]"
        try:
            parsed = index.parse_query(
                text, ["title", "excerpt", "topics"], field_boosts={"title": 3.0, "topics": 2.0}
            )
        except ValueError:
            return []
        hits = searcher.search(parsed, 100).hits
        rescored = []
        for score, address in hits:
            doc = searcher.doc(address)
            quality = doc["quality"][0]
            published = doc["published"][0]
            boost = python_boost(
                quality if quality >= 0 else None, published if published >= 0 else None
            )
            rescored.append((-score * boost, doc["id"][0]))
        return [doc_id for _, doc_id in sorted(rescored)[:10]]

    def cold_command(self, index_dir: Path, query: BenchQuery) -> list[str]:
        return [sys.executable, "-c", TANTIVY_SCRIPT, str(index_dir), query.text]


ENGINES: dict[str, Any] = {
    engine.name: engine for engine in (NewsSearch(), PlainWhoosh(), Fts5(), Tantivy())
}
