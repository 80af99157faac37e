"""The catalog of files behind an index: what each file looked like when it was last read.

It lives beside the Whoosh files of a generation (SQLite, from the standard library) and answers
two questions cheaply: which files changed since the last run (size and modification time,
confirmed by a content digest), and which copy of an article wins when several files share a URL.

The catalog is committed *after* the Whoosh index. A run that dies between the two commits leaves
a catalog that may not describe what the index holds (it would take the files of the run before
for unchanged), so the update marks that window (`storage.mark_commit_pending`) and the next run
rebuilds the index when it finds the mark.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from search.errors import IndexCorruptError, rebuild_hint

_VERSION = "2"


class FileState(StrEnum):
    INDEXED = "indexed"
    """The file's article is in the index."""
    DUPLICATE = "duplicate"
    """Another file with the same URL was preferred."""
    SKIPPED = "skipped"
    """The file could not be indexed; `reason` says why."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file as it was when last read."""

    path: str
    size: int
    mtime_ns: int
    digest: bytes
    state: FileState
    url: str | None = None
    quality: int | None = None
    published: int | None = None
    """Publication time in epoch seconds."""
    reason: str | None = None


def _stored_path(path: str) -> str | bytes:
    """A path as the catalog keeps it: text, or its bytes when the name is not valid UTF-8.

    Linux file names are bytes; Python hands undecodable ones over with lone surrogates, which
    SQLite cannot store as text. Kept as bytes, such a name still identifies exactly one file.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _url_key(url: str) -> int:
    """A 64-bit hash of `url`, which the catalog indexes instead of the URL itself (a URL is
    long, and the index only has to find the few rows that share one)."""
    return int.from_bytes(
        hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
        "little",
        signed=True,
    )


def _loaded_path(value: object) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else str(value)


def copy_rank(record: FileRecord) -> tuple[float, float, str]:
    """Sort key choosing which copy of an article to keep (smallest first): the highest quality,
    then the newest, then the first path in sort order."""
    quality = float(record.quality) if record.quality is not None else float("-inf")
    published = float(record.published) if record.published is not None else float("-inf")
    return (-quality, -published, record.path)


class Catalog:
    """An open catalog. Changes are made inside `transaction()`."""

    def __init__(self, path: Path, *, create: bool = False, read_only: bool = False) -> None:
        if not create and not path.is_file():
            raise _damaged(path, "is missing")
        try:
            if read_only:
                self._db = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    timeout=10,
                    check_same_thread=False,
                )
            else:
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA synchronous = NORMAL")
            if create:
                self._create()
            version = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise _damaged(path, f"cannot be read ({exc})") from None
        if version is None or version[0] != _VERSION:
            raise _damaged(path, "has an unknown version")
        self.path = path

    def _create(self) -> None:
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS files (
                path TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL,
                digest BLOB NOT NULL,
                state TEXT NOT NULL,
                url TEXT,
                url_key INTEGER,
                quality INTEGER,
                published INTEGER,
                reason TEXT
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS files_by_url ON files (url_key);
            CREATE TABLE IF NOT EXISTS words (word TEXT PRIMARY KEY) WITHOUT ROWID;
            """
        )
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (_VERSION,))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group changes; they become visible to other connections only when the block succeeds."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def records(self) -> dict[str, FileRecord]:
        """Every file, by path."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, digest, state, url, quality, published, reason FROM files"
        )
        return {record.path: record for record in map(_record, rows)}

    def records_for_url(self, url: str) -> list[FileRecord]:
        """The files that describe the article at `url`, including skipped ones."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, digest, state, url, quality, published, reason "
            "FROM files WHERE url_key = ? AND url = ?",
            (_url_key(url), url),
        )
        return [_record(row) for row in rows]

    def url_of(self, path: str) -> str | None:
        """The URL of the article read from the file at `path`, when that file was indexed."""
        row = self._db.execute(
            "SELECT url FROM files WHERE path = ? AND state != 'skipped'", (_stored_path(path),)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def repeated_urls(self) -> list[str]:
        """URLs that more than one readable file claims."""
        rows = self._db.execute(
            "SELECT url FROM files WHERE state != 'skipped' AND url_key IN ("
            "SELECT url_key FROM files WHERE state != 'skipped' AND url_key IS NOT NULL "
            "GROUP BY url_key HAVING count(*) > 1) GROUP BY url HAVING count(*) > 1 ORDER BY url"
        )
        return [row[0] for row in rows]

    def put(self, records: Iterable[FileRecord]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    _stored_path(r.path),
                    r.size,
                    r.mtime_ns,
                    r.digest,
                    r.state.value,
                    r.url,
                    None if r.url is None else _url_key(r.url),
                    r.quality,
                    r.published,
                    r.reason,
                )
                for r in records
            ),
        )

    def set_state(self, path: str, state: FileState) -> None:
        self._db.execute(
            "UPDATE files SET state = ? WHERE path = ?", (state.value, _stored_path(path))
        )

    def add_words(self, words: Iterable[str]) -> None:
        """Add to the vocabulary (words are never removed: a rebuild starts a fresh one)."""
        self._db.executemany("INSERT OR IGNORE INTO words VALUES (?)", ((word,) for word in words))

    def words(self) -> list[str]:
        try:
            return [row[0] for row in self._db.execute("SELECT word FROM words")]
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, f"cannot be read ({exc})") from None

    def integrity(self) -> str:
        """SQLite's verdict on the whole database file: "ok", or what is wrong."""
        rows = self._db.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(row[0]) for row in rows[:5])

    def delete(self, paths: Iterable[str]) -> None:
        self._db.executemany(
            "DELETE FROM files WHERE path = ?", ((_stored_path(path),) for path in paths)
        )


def _damaged(path: Path, problem: str) -> IndexCorruptError:
    index_dir = path.parent.parent  # the catalog lives in a generation of the index
    return IndexCorruptError(
        f"the index in {index_dir} is damaged: the file catalog {path} {problem}; "
        f"rebuild it with {rebuild_hint(index_dir)}",
        path=path,
    )


def _record(row: tuple[object, ...]) -> FileRecord:
    path, size, mtime_ns, digest, state, url, quality, published, reason = row
    return FileRecord(
        path=_loaded_path(path),
        size=int(size),  # type: ignore[call-overload]
        mtime_ns=int(mtime_ns),  # type: ignore[call-overload]
        digest=bytes(digest),  # type: ignore[call-overload]
        state=FileState(str(state)),
        url=None if url is None else str(url),
        quality=None if quality is None else int(quality),  # type: ignore[call-overload]
        published=None if published is None else int(published),  # type: ignore[call-overload]
        reason=None if reason is None else str(reason),
    )
