"""The exceptions the library raises. Every one of them derives from `SearchError`."""

from __future__ import annotations

import errno
from pathlib import Path


def rebuild_hint(index_dir: Path | str) -> str:
    """The command that replaces an index that cannot be used."""
    return f"`search index --rebuild PATH --index-dir {index_dir}`"


class SearchError(Exception):
    """Base class of every error the library raises on purpose."""


class IndexNotFoundError(SearchError):
    """There is no index at the given location."""

    def __init__(self, index_dir: Path | str) -> None:
        self.index_dir = Path(index_dir)
        super().__init__(
            f"no index in {self.index_dir}: build one with `search index PATH "
            f"--index-dir {self.index_dir}`"
        )


class IndexIncompatibleError(SearchError):
    """The index was written by a version of the tool this one cannot read."""


class IndexCorruptError(SearchError):
    """The index files exist but cannot be read; `path` names the damaged part when known."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(message)


class IndexLockedError(SearchError):
    """Another process holds the index's write lock."""


class IndexingFailedError(SearchError):
    """An indexing run could not finish (a worker process died); the index is left as it was."""


class QuerySyntaxError(SearchError):
    """A query string that cannot be turned into a search."""


class InvalidArgumentError(SearchError):
    """An argument given to the library is out of range or of the wrong kind."""


class DocumentError(SearchError):
    """A file that cannot be indexed; carries the path and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DocumentNotFoundError(SearchError):
    """No document in the index has the requested URL."""


class IndexAccessError(SearchError):
    """The operating system refused to read or write the index: no space left, a read-only file
    system, no permission, a path that is not a folder. Carries the path and the reason."""

    def __init__(
        self, path: Path | str, reason: str, *, doing: str = "use", note: str = ""
    ) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot {doing} {self.path}: {reason}" + (f" ({note})" if note else ""))


_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "it is a folder",
    errno.EIO: "input/output error (a failing disk or network share?)",
}


def access_error(
    exc: OSError, default_path: Path | str, *, doing: str = "use", note: str = ""
) -> IndexAccessError:
    """Describe an operating-system error met while using an index, naming the path it concerns."""
    path = exc.filename if isinstance(exc.filename, str) else default_path
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
    return IndexAccessError(path, reason, doing=doing, note=note)


class JudgmentFileError(SearchError):
    """A file of judged queries or relevance judgments that cannot be read; carries the path, the
    line (when one is to blame) and the reason."""

    def __init__(self, path: Path | str, reason: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}, line {line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {reason}")
