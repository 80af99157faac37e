"""Search folders of news articles (Markdown/text files with YAML frontmatter) from Python.

from search import SearchEngine

engine = SearchEngine("index_data")
engine.index(["seeds"])
for hit in engine.search("facial recognition", topics=["AI"], limit=5):
    print(hit.title, hit.url, hit.score)
"""

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
from search.models import (
    Document,
    DuplicateFile,
    FileProblem,
    Hit,
    IndexCheck,
    IndexReport,
    IndexStats,
    RelatedEntry,
    ScoreParts,
    SearchResults,
)
from search.ranking import RankingSettings, final_score

if TYPE_CHECKING:
    from search.judging import EvalReport, QueryScores

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


def __getattr__(name: str) -> Any:
    # Relevance evaluation is not needed to search: its module loads on first use.
    if name in ("EvalReport", "QueryScores"):
        from search import judging

        return getattr(judging, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
