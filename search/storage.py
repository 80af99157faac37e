"""The on-disk layout of an index and the manifest that describes it.

    index_dir/
        search-index.json     manifest: format, schema version, writer's version, live generation
        gen-<timestamp>-<n>/  a complete Whoosh index, plus
            catalog.sqlite    the file catalog (`search.catalog`)
            checksums.json    size and CRC-32 of every Whoosh file as of the last commit
            commit-pending    present while an update commits the index and then the catalog

These names are a format: indexes already written depend on them.

A build writes a new generation beside the live one and then replaces the manifest atomically, so a
reader opens either the old index or the new one, never a half-built one. Only this module knows
the layout; everything else asks it for an open Whoosh index.
"""

from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
import struct
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search._version import __version__
from search.errors import (
    IndexCorruptError,
    IndexIncompatibleError,
    IndexNotFoundError,
    SearchError,
    access_error,
    rebuild_hint,
)
from search.schema import SCHEMA_VERSION
from search.whoosh_ext.columns import CorruptColumnError
from search.whoosh_ext.postings import CorruptPostingsError

MANIFEST_NAME = "search-index.json"
CATALOG_NAME = "catalog.sqlite"
"""The file catalog (`search.catalog`) in each generation."""
CHECKSUMS_NAME = "checksums.json"
"""Size and CRC-32 of the index files, rewritten after every commit (`record_checksums`)."""
PENDING_NAME = "commit-pending"
"""Marks an update between its index commit and its catalog commit (`mark_commit_pending`)."""
FORMAT = 4
"""4: compact posting lists (gaps between ids, weights in half-units), stored records compressed
against a dictionary per segment; 3: posting lists as
uint32 ids and float32 weights; 2: Whoosh's W3 postings read by our codec classes; 1: segments
of Whoosh's own W3 codec."""
_GENERATION_PREFIX = "gen-"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the manifest file records about an index."""

    generation: str
    format: int = FORMAT
    schema_version: int = SCHEMA_VERSION
    written_by: str = __version__
    created_at: str = ""
    updated_at: str = ""
    build: dict[str, Any] = field(default_factory=dict)


def manifest_path(index_dir: Path) -> Path:
    return index_dir / MANIFEST_NAME


def index_exists(index_dir: Path) -> bool:
    """Whether `index_dir` holds an index written by this tool (readable or not)."""
    return manifest_path(index_dir).is_file()


def read_manifest(index_dir: Path) -> Manifest:
    """Read and check the manifest; raises a `SearchError` subclass explaining what is wrong."""
    path = manifest_path(index_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if index_dir.is_dir() and any(index_dir.glob("_MAIN_*.toc")):
            raise IndexIncompatibleError(
                f"{index_dir} holds a Whoosh index that this tool did not write; "
                f"build a new one with {rebuild_hint(index_dir)}"
            ) from None
        raise IndexNotFoundError(index_dir) from None
    except NotADirectoryError:
        raise IndexNotFoundError(index_dir) from None
    except OSError as exc:
        raise access_error(exc, path, doing="read") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        manifest = Manifest(
            generation=str(data["generation"]),
            format=int(data["format"]),
            schema_version=int(data["schema_version"]),
            written_by=str(data.get("written_by", "")),
            created_at=str(data.get("created_at", "")),
            updated_at=str(data.get("updated_at", "")),
            build=dict(data.get("build") or {}),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(
            f"{path} is damaged ({exc}); rebuild it with {rebuild_hint(index_dir)}"
        ) from None
    if manifest.format != FORMAT or manifest.schema_version != SCHEMA_VERSION:
        raise IndexIncompatibleError(
            f"the index in {index_dir} was written by news-search "
            f"{manifest.written_by or 'unknown'} "
            f"(format {manifest.format}, schema {manifest.schema_version}); this is news-search "
            f"{__version__} (format {FORMAT}, schema {SCHEMA_VERSION}). Rebuild it with "
            f"{rebuild_hint(index_dir)}"
        )
    if os.sep in manifest.generation or not manifest.generation.startswith(_GENERATION_PREFIX):
        raise IndexCorruptError(f"{path} names an invalid generation {manifest.generation!r}")
    return manifest


def generation_dir(index_dir: Path, manifest: Manifest) -> Path:
    return index_dir / manifest.generation


def new_generation(index_dir: Path) -> Path:
    """Create an empty directory for a new generation and return it.

    Not `tempfile.mkdtemp`: its folders are private (0700) whatever the umask, and an index is
    often written by one account (a cron job) and searched by another (a web server).
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    while True:
        path = index_dir / f"{_GENERATION_PREFIX}{stamp}-{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)  # less the umask, as for any folder the user creates
        except FileExistsError:
            continue
        return path


def publish(
    index_dir: Path, generation: Path, *, build: dict[str, Any], created_at: str | None = None
) -> Manifest:
    """Make `generation` the live index by atomically replacing the manifest."""
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    manifest = Manifest(
        generation=generation.name,
        created_at=created_at or now,
        updated_at=now,
        build=build,
    )
    record_checksums(generation)
    _fsync_tree(generation)
    _write_atomically(
        manifest_path(index_dir), json.dumps(asdict(manifest), indent=2, sort_keys=True) + "\n"
    )
    _fsync_dir(index_dir)
    return manifest


def live_generation(index_dir: Path) -> str | None:
    """The generation the manifest names, read leniently (even from an incompatible index)."""
    try:
        data = json.loads(manifest_path(index_dir).read_text(encoding="utf-8"))
        name = data["generation"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) and name.startswith(_GENERATION_PREFIX) else None


def catalog_path(index_dir: Path, manifest: Manifest) -> Path:
    return generation_dir(index_dir, manifest) / CATALOG_NAME


def remove_unpublished_generations(index_dir: Path, keep: str | None) -> None:
    """Delete generations other than `keep`: replaced ones, and leftovers of killed runs.

    Call it only while holding the write lock. Readers that still have files of a deleted
    generation open keep them until they close.
    """
    if not index_dir.is_dir():
        return
    for entry in index_dir.iterdir():
        if entry.name != keep and entry.name.startswith(_GENERATION_PREFIX) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def discard(generation: Path) -> None:
    """Remove a generation that was never published."""
    shutil.rmtree(generation, ignore_errors=True)


def last_commit(index_dir: Path, manifest: Manifest) -> datetime | None:
    """When the live generation was last committed to (its newest table of contents)."""
    stamps = [
        entry.stat().st_mtime for entry in generation_dir(index_dir, manifest).glob("_MAIN_*.toc")
    ]
    return datetime.fromtimestamp(max(stamps), tz=UTC) if stamps else None


def directory_size(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


@dataclass(frozen=True, slots=True)
class Damage:
    """One part of an index that is missing or does not hold what was written."""

    path: str
    problem: str


_CHUNK = 1 << 20


def mark_commit_pending(generation: Path) -> None:
    """Say, durably, that the index of `generation` is about to commit ahead of its catalog.

    The two cannot commit atomically together. Should the run die before `clear_commit_pending`,
    the catalog may no longer describe what the index holds, and the next run rebuilds.
    """
    _write_atomically(generation / PENDING_NAME, "")
    _fsync_dir(generation)


def clear_commit_pending(generation: Path) -> None:
    (generation / PENDING_NAME).unlink(missing_ok=True)


def commit_pending(generation: Path) -> bool:
    """Whether a run died while committing `generation` (see `mark_commit_pending`)."""
    return (generation / PENDING_NAME).exists()


def _is_index_file(entry: Path) -> bool:
    """Whoosh's files in a generation: segments and tables of contents (not locks, the catalog,
    the checksums themselves or temporary folders)."""
    name = entry.name
    return (
        entry.is_file()
        and not name.endswith("WRITELOCK")
        and not name.startswith((CATALOG_NAME, CHECKSUMS_NAME, PENDING_NAME, "."))
    )


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _read_checksums(generation: Path) -> dict[str, tuple[int, int]] | None:
    try:
        data = json.loads((generation / CHECKSUMS_NAME).read_text(encoding="utf-8"))
        return {name: (int(size), int(crc)) for name, (size, crc) in data["files"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def record_checksums(generation: Path) -> None:
    """Record the size and CRC-32 of every index file of `generation`, just after a commit.

    Whoosh never rewrites a file it has finished, so files already recorded with the same size
    keep their checksum and only new files are read.
    """
    known = _read_checksums(generation) or {}
    files: dict[str, tuple[int, int]] = {}
    for entry in sorted(generation.iterdir()):
        if not _is_index_file(entry):
            continue
        size = entry.stat().st_size
        previous = known.get(entry.name)
        files[entry.name] = previous if previous and previous[0] == size else (size, _crc32(entry))
    _write_atomically(
        generation / CHECKSUMS_NAME,
        json.dumps({"format": 1, "files": {name: list(pair) for name, pair in files.items()}}),
    )


def recorded_files(generation: Path) -> list[str]:
    """The index files whose checksums were recorded at the last commit."""
    return sorted(_read_checksums(generation) or {})


def verify_checksums(generation: Path, *, full: bool = True, missing: bool = True) -> list[Damage]:
    """Index files of `generation` that are missing (with `missing`), changed in size or (with
    `full`) in content.

    A run killed between its commit and recording the checksums leaves files that were never
    recorded; they are not damage (reading them whole, as `search check` does, tells).
    """
    recorded = _read_checksums(generation)
    if recorded is None:
        return []  # written before checksums were recorded
    if not recorded:
        return [Damage(str(generation / CHECKSUMS_NAME), "cannot be read")]
    problems: list[Damage] = []
    for name, (size, crc) in recorded.items():
        path = generation / name
        try:
            actual = path.stat().st_size
            if actual != size:
                problems.append(Damage(str(path), f"is {actual:,} bytes long, not {size:,}"))
            elif full and _crc32(path) != crc:
                problems.append(Damage(str(path), "does not hold what was written (checksum)"))
        except FileNotFoundError:
            if missing:
                problems.append(Damage(str(path), "is missing"))
        except OSError as exc:
            problems.append(Damage(str(path), f"cannot be read ({exc.strerror or exc})"))
    return problems


def damage_error(index_dir: Path, damage: list[Damage]) -> IndexCorruptError:
    """The error for a damaged index: the first damaged part, and how to replace the index."""
    first = damage[0]
    more = f" (and {len(damage) - 1} more damaged)" if len(damage) > 1 else ""
    return IndexCorruptError(
        f"the index in {index_dir} is damaged: {first.path} {first.problem}{more}; "
        f"rebuild it with {rebuild_hint(index_dir)}",
        path=first.path,
    )


def read_failure(index_dir: Path, generation: Path, exc: Exception) -> SearchError | None:
    """What `exc`, raised while reading the index in `generation`, means to a user: damage
    (found by checking the files against their checksums), a missing file, or the operating
    system's refusal. None when it is none of these: a bug, not the index's fault."""
    damage = verify_checksums(generation)
    if damage:
        return damage_error(index_dir, damage)
    if isinstance(exc, FileNotFoundError):
        return IndexCorruptError(
            f"the index in {index_dir} is damaged: {exc.filename} is missing; "
            f"rebuild it with {rebuild_hint(index_dir)}",
            path=exc.filename,
        )
    if isinstance(exc, OSError):
        return access_error(exc, index_dir, doing="read")
    if isinstance(
        exc,
        EOFError
        | zlib.error
        | struct.error
        | pickle.UnpicklingError
        | CorruptPostingsError
        | CorruptColumnError,
    ):
        return IndexCorruptError(
            f"the index in {index_dir} cannot be read ({type(exc).__name__}: {exc}); "
            f"rebuild it with {rebuild_hint(index_dir)}"
        )
    return None


def _write_atomically(path: Path, text: str) -> None:
    tmp_name = str(path.parent / f".{path.name}-{secrets.token_hex(8)}")
    # Readable by others as the umask allows (mkstemp would make it private).
    fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _fsync_tree(path: Path) -> None:
    for entry in path.iterdir():
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
