"""Finding the article files under the paths a user names.

Only regular files with an article suffix are candidates; named pipes, devices and sockets are
reported and never opened. Hidden entries (names starting with '.') are ignored. Symbolic links
are not followed unless asked, and when they are, a folder reached twice (a link loop) is walked
once.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from search.documents import is_document_name
from search.errors import InvalidArgumentError
from search.reports import FileProblem


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A candidate article file and what `stat` said about it while walking."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FileListing:
    """The files a run will consider, and the entries refused while walking."""

    files: tuple[FoundFile, ...]
    problems: tuple[FileProblem, ...]


def list_files(paths: Iterable[Path | str], *, follow_links: bool = False) -> FileListing:
    """Find the article files under `paths` (files are taken as given, folders are walked).

    Paths are made absolute, so that what is recorded does not depend on the working directory.
    Raises `InvalidArgumentError` when a path does not exist.
    """
    roots = [Path(os.path.abspath(p)) for p in paths]
    for root in roots:
        if not os.path.lexists(root):
            raise InvalidArgumentError(f"{root}: no such file or directory")
    found: dict[str, FoundFile] = {}
    problems: dict[str, FileProblem] = {}
    visited_dirs: set[tuple[int, int]] = set()
    for root in roots:
        if root.is_dir():
            entries = _walk(root, follow_links, visited_dirs)
        else:
            entries = iter([_examine(str(root), follow_links=True, named=True)])
        for item in entries:
            if isinstance(item, FoundFile):
                found.setdefault(item.path, item)
            elif item is not None:
                problems.setdefault(item.path, item)
    return FileListing(
        tuple(found[key] for key in sorted(found)),
        tuple(problems[key] for key in sorted(problems) if key not in found),
    )


def _walk(
    root: Path, follow_links: bool, visited: set[tuple[int, int]]
) -> Iterator[FoundFile | FileProblem | None]:
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            info = os.stat(folder)
        except OSError as exc:
            yield FileProblem(folder, f"cannot open folder: {exc.strerror or exc}")
            continue
        key = (info.st_dev, info.st_ino)
        if key in visited:
            continue  # reached again through a link (or a link loop)
        visited.add(key)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            yield FileProblem(folder, f"cannot list folder: {exc.strerror or exc}")
            continue
        subfolders: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=follow_links)
            except OSError as exc:
                reason = "broken or looping symbolic link" if os.path.islink(entry.path) else None
                yield FileProblem(entry.path, reason or f"cannot stat: {exc.strerror or exc}")
                continue
            if is_dir:
                subfolders.append(entry.path)
            elif is_link and not follow_links and _points_to_folder(entry.path):
                yield FileProblem(
                    entry.path, "symbolic link to a folder (not followed; use --follow-links)"
                )
            elif is_document_name(entry.name):
                yield _examine(entry.path, follow_links=follow_links, is_link=is_link)
        pending.extend(reversed(subfolders))


def _examine(
    path: str, *, follow_links: bool, is_link: bool | None = None, named: bool = False
) -> FoundFile | FileProblem:
    """Check one candidate: a regular file (through a link only when links are followed)."""
    try:
        if is_link is None:
            is_link = os.path.islink(path)
        if is_link and not follow_links:
            return FileProblem(path, "symbolic link (not followed; use --follow-links)")
        info = os.stat(path)
    except OSError as exc:
        reason = (
            "broken or looping symbolic link" if is_link else f"cannot stat: {exc.strerror or exc}"
        )
        return FileProblem(path, reason)
    if stat.S_ISDIR(info.st_mode) and named:
        return FileProblem(path, "is a folder")
    if not stat.S_ISREG(info.st_mode):
        return FileProblem(path, f"not a regular file ({_kind(info.st_mode)})")
    return FoundFile(path, info.st_size, info.st_mtime_ns)


def _points_to_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"
