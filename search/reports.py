"""What an indexing run, `stats` and `check` report: small frozen values, free of Whoosh objects.

Kept apart from the search results (`search.models`): a query never builds these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file and what was wrong with it."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class DuplicateFile:
    """A file not indexed because another file describes the same article (same canonical URL)."""

    path: str
    url: str
    kept_path: str


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What an indexing run did. File counts are of files; `documents` counts articles."""

    documents: int
    """Documents (articles) in the index after the run."""
    files_seen: int
    added: int = 0
    """New files indexed."""
    updated: int = 0
    """Changed files indexed again."""
    removed: int = 0
    """Files that disappeared (or can no longer be opened); their articles left the index."""
    unchanged: int = 0
    skipped: tuple[FileProblem, ...] = ()
    """Files that could not be indexed, with the reason."""
    warnings: tuple[FileProblem, ...] = ()
    duplicates: tuple[DuplicateFile, ...] = ()
    """Files not indexed because a preferred copy of the same article was (files read this run)."""
    rebuilt: bool = False
    """True when the run built a new index rather than updating the existing one."""
    kept_previous: bool = False
    """True when no file could be indexed and the index was left as it was."""
    seconds: float = 0.0
    index_dir: str = ""

    @property
    def ok(self) -> bool:
        """True when the run left an index with documents in it."""
        return not self.kept_previous and self.documents > 0


@dataclass(frozen=True, slots=True)
class IndexStats:
    """A summary of what an index holds."""

    documents: int
    index_dir: str
    size_bytes: int
    oldest: datetime | None
    newest: datetime | None
    undated: int
    topics: dict[str, int] = field(default_factory=dict)
    providers: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    schema_version: int = 0
    written_by: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IndexCheck:
    """What `search check` found: every part of the index read, and what is damaged."""

    index_dir: str
    problems: tuple[FileProblem, ...]
    """Each damaged part: the file (or the index folder) and what is wrong with it."""
    files: int = 0
    """Index files whose size and checksum were compared with what was recorded."""
    segments: int = 0
    documents: int = 0
    terms: int = 0
    """Distinct terms (field and word) over all segments."""
    postings: int = 0
    """Entries of every posting list, each read with its positions."""
    catalog_files: int = 0
    """Files recorded in the file catalog."""

    @property
    def ok(self) -> bool:
        return not self.problems
