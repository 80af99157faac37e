"""Search folders of news articles (Markdown/text files with YAML frontmatter) from Python.

from search import SearchEngine

engine = SearchEngine("index_data")
engine.index(["seeds"])
for hit in engine.search("facial recognition", topics=["AI"], limit=5):
    print(hit.title, hit.url, hit.score)
"""

import importlib
from typing import TYPE_CHECKING, Any

from search._version import __version__
from search.engine import DEFAULT_INDEX_DIR, SearchEngine
from search.errors import (
    DocumentError,
    DocumentNotFoundError,
    IndexAccessError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexingFailedError,
    IndexLockedError,
    IndexNotFoundError,
    InvalidArgumentError,
    JudgmentFileError,
    QuerySyntaxError,
    SearchError,
)
from search.models import Document, Hit, RelatedEntry, ScoreParts, SearchResults
from search.ranking import RankingSettings, final_score

if TYPE_CHECKING:
    from search.judging import EvalReport, QueryScores
    from search.reports import DuplicateFile, FileProblem, IndexCheck, IndexReport, IndexStats

__all__ = [
    "DEFAULT_INDEX_DIR",
    "Document",
    "DocumentError",
    "DocumentNotFoundError",
    "DuplicateFile",
    "EvalReport",
    "FileProblem",
    "Hit",
    "IndexAccessError",
    "IndexCheck",
    "IndexCorruptError",
    "IndexIncompatibleError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexReport",
    "IndexStats",
    "IndexingFailedError",
    "InvalidArgumentError",
    "JudgmentFileError",
    "QueryScores",
    "QuerySyntaxError",
    "RankingSettings",
    "RelatedEntry",
    "ScoreParts",
    "SearchEngine",
    "SearchError",
    "SearchResults",
    "__version__",
    "final_score",
]


_ON_FIRST_USE = {
    "EvalReport": "search.judging",
    "QueryScores": "search.judging",
    "DuplicateFile": "search.reports",
    "FileProblem": "search.reports",
    "IndexCheck": "search.reports",
    "IndexReport": "search.reports",
    "IndexStats": "search.reports",
}
"""Public names whose modules a search does not need: they load when first asked for."""


def __getattr__(name: str) -> Any:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
