"""`SearchEngine`: the one object that owns an index on disk.

It builds the index, answers searches, shows documents and summarises the index. Searches may run
from several threads at once: each takes a Whoosh searcher from a small pool, and a searcher is
brought up to date when another process has published a new version of the index.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whoosh import index as whoosh_index

from search import storage, whoosh_ext
from search.dates import DateParseError, parse_bound, parse_datetime_text, to_utc
from search.errors import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexNotFoundError,
    InvalidArgumentError,
    SearchError,
    rebuild_hint,
)
from search.facets import check_facets
from search.filters import Filters
from search.limits import DEFAULT_MAX_FRONTMATTER_BYTES, DEFAULT_WAIT_SECONDS
from search.matching import DEFAULT_STRATEGY, RELATED_STRATEGY, STRATEGIES, split_words
from search.models import Document, SearchResults
from search.querying import parse_query
from search.ranking import DEFAULT_RANKING, RankingSettings
from search.retrieval import Request, execute_words, related_words
from search.schema import NO_TIME, keyword_value, record_reader
from search.scoring import ORDERS, TextBM25F
from search.typos import correct
from search.urls import canonical_url, file_identity
from search.vocabulary import Vocabulary

if TYPE_CHECKING:
    from search.judging import EvalReport
    from search.reports import IndexCheck, IndexReport, IndexStats

DEFAULT_INDEX_DIR = Path("index_data")
DEFAULT_LIMIT = 10

DateLike = datetime | date | str


@dataclass(slots=True)
class _OpenIndex:
    manifest: storage.Manifest
    index: Any
    stamp: tuple[int, int, int]
    commits: _Commits


class _Commits:
    """The latest commit in a generation's folder, listed only when the folder may have changed.

    An update commits a new table of contents beside the old ones, which changes the folder's
    modification time. A folder whose time was already some seconds old when it was listed has
    not changed since as long as its time is the same (a change within the same clock tick as
    the listing could not be told apart, so a recent time is never trusted). The folder is
    listed again at least every `_LISTED_FOR` seconds all the same: a file server's clock that
    runs behind this machine's could make a recent time look old."""

    __slots__ = ("_index", "_location", "_seen")

    def __init__(self, index: Any, location: Path) -> None:
        self._index = index
        self._location = os.fspath(location)
        self._seen: tuple[tuple[int, int], int, float] | None = None

    def latest(self) -> int:
        info = os.stat(self._location)
        stamp = (info.st_ino, info.st_mtime_ns)
        seen = self._seen
        now = time.monotonic()
        if seen is not None and seen[0] == stamp and now - seen[2] < _LISTED_FOR:
            return seen[1]
        listed_at = time.time_ns()
        latest: int = self._index.latest_generation()
        if listed_at - info.st_mtime_ns > _SETTLED_NS:
            self._seen = (stamp, latest, now)
        return latest


_SETTLED_NS = 2_000_000_000
"""How old a folder's modification time must be for it to tell that nothing was added since (2 s:
coarser than any file system's clock)."""
_LISTED_FOR = 1.0
"""Seconds a listing of a settled folder is relied on at most."""


class SearchEngine:
    """Index and search a collection of news articles.

    >>> engine = SearchEngine("index_data")
    >>> report = engine.index(["seeds"])
    >>> for hit in engine.search("facial recognition", limit=5):
    ...     print(hit.title, hit.url, hit.score)
    """

    def __init__(
        self,
        index_dir: str | os.PathLike[str] = DEFAULT_INDEX_DIR,
        *,
        ranking: RankingSettings | None = None,
        max_frontmatter_bytes: int = DEFAULT_MAX_FRONTMATTER_BYTES,
    ) -> None:
        """Use the index in `index_dir` (it need not exist until `index` or a search is called).

        `ranking` sets the default ranking of searches; each search can override it.
        """
        if not isinstance(index_dir, str | os.PathLike):
            raise InvalidArgumentError(f"index_dir must be a path, got {index_dir!r}")
        if not str(index_dir):
            raise InvalidArgumentError("index_dir is empty")
        if not _is_whole(max_frontmatter_bytes) or max_frontmatter_bytes <= 0:
            raise InvalidArgumentError(
                f"max_frontmatter_bytes must be a whole number > 0, got {max_frontmatter_bytes!r}"
            )
        _check_type(ranking, "ranking", RankingSettings, optional=True)
        self.index_dir = Path(index_dir)
        self._manifest_file = os.fspath(storage.manifest_path(self.index_dir))
        self.ranking = ranking or DEFAULT_RANKING
        self.max_frontmatter_bytes = max_frontmatter_bytes
        self._lock = threading.Lock()
        self._open: _OpenIndex | None = None
        self._idle: list[tuple[str, Any]] = []
        self._vocabulary_cache: tuple[tuple[str, int, int], Vocabulary] | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether an index has been built at `index_dir`."""
        return storage.index_exists(self.index_dir)

    def close(self) -> None:
        """Release open files. The engine can still be used afterwards; it reopens what it needs."""
        with self._lock:
            idle, self._idle = self._idle, []
            opened, self._open = self._open, None
        for _, searcher in idle:
            searcher.close()
        if opened is not None:
            opened.index.close()

    def __enter__(self) -> SearchEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- indexing ------------------------------------------------------------------------------

    def index(
        self,
        paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        rebuild: bool = False,
        follow_links: bool = False,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> IndexReport:
        """Bring the index in step with the article files under `paths` (one path, or several).

        The first run builds the index; later runs read only the files that changed and remove
        the articles of files that are gone, so the index holds exactly the articles found under
        `paths`. `rebuild=True` builds a fresh index and switches to it when it is complete.
        Symbolic links are followed only with `follow_links=True`. Another run holding the index
        is waited for up to `wait_seconds`, then `IndexLockedError` is raised.

        Returns a report with counts and every file that was skipped or read with warnings. A bad
        file never stops the run, and a run that finds nothing readable leaves the index as it was.
        `progress(done, total, path)` is called after each file read.
        """
        from search.indexing import IndexOptions, run_index  # only indexing needs the reader

        _check_type(rebuild, "rebuild", bool)
        _check_type(follow_links, "follow_links", bool)
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int | float):
            raise InvalidArgumentError(f"wait_seconds must be a number, got {wait_seconds!r}")
        if wait_seconds < 0:
            raise InvalidArgumentError(f"wait_seconds must be >= 0, got {wait_seconds!r}")
        if progress is not None and not callable(progress):
            raise InvalidArgumentError(f"progress must be a function, got {progress!r}")

        options = IndexOptions(
            max_frontmatter_bytes=self.max_frontmatter_bytes,
            follow_links=follow_links,
            rebuild=rebuild,
            wait_seconds=wait_seconds,
        )
        report = run_index(self.index_dir, _paths(paths), options=options, progress=progress)
        self._drop_stale()
        return report

    # -- searching -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        topics: Sequence[str] | str | None = None,
        provider: str | None = None,
        doc_type: str | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
        min_quality: int | None = None,
        published: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        sort: str = "relevance",
        facets: Sequence[str] = (),
        explain: bool = False,
        now: DateLike | None = None,
        ranking: RankingSettings | None = None,
        boost: bool = True,
        quality_weight: float | None = None,
        recency_weight: float | None = None,
        half_life_days: float | None = None,
        matching: str | None = None,
    ) -> SearchResults:
        """Search the index.

        `query` uses the Whoosh query language. `matching` chooses which articles a query of
        several words finds and in which groups (see `search.matching`; default "coverage":
        the articles with every word first, then those with some of them); `results.every_word`
        counts the matches with every word. A word that no document contains is widened to the
        index's close spellings of it, and `results.suggestion` gives the corrected query.

        Filters narrow the results without changing scores: `topics` (any of them), `provider`,
        `doc_type`, `since` (inclusive), `until` (inclusive of the day or second named),
        `min_quality`, `published`. `sort` is "relevance" (the boosted ranking), "newest",
        "oldest" or "quality". `facets` names the counts to return over all matches (topics,
        provider, type, year); `explain=True` attaches the parts of each hit's score.

        `now` is the reference time for recency (default: the current time). `ranking` or the
        individual weights override the engine's ranking for this search; `boost=False` ranks by
        text relevance alone.
        """
        request = self._request(
            topics,
            provider,
            doc_type,
            since,
            until,
            min_quality,
            published,
            limit,
            offset,
            sort,
            facets,
            explain,
            now,
            ranking,
            boost,
            quality_weight,
            recency_weight,
            half_life_days,
        )
        if not isinstance(query, str):
            raise InvalidArgumentError(f"the query must be a string, got {query!r}")
        strategy = _strategy(matching, DEFAULT_STRATEGY)
        typed = parse_query(query)
        with self._searcher() as searcher:
            correction = correct(typed, query, searcher, self._vocabulary)
            words = split_words(typed, correction.query, query)
            return execute_words(
                searcher,
                query,
                correction.query,
                words,
                strategy,
                request,
                suggestion=correction.suggestion,
                known=correction.known,
            )

    def related(
        self,
        url: str,
        *,
        topics: Sequence[str] | str | None = None,
        provider: str | None = None,
        doc_type: str | None = None,
        since: DateLike | None = None,
        until: DateLike | None = None,
        min_quality: int | None = None,
        published: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        sort: str = "relevance",
        facets: Sequence[str] = (),
        explain: bool = False,
        now: DateLike | None = None,
        ranking: RankingSettings | None = None,
        boost: bool = True,
        quality_weight: float | None = None,
        recency_weight: float | None = None,
        half_life_days: float | None = None,
        matching: str | None = None,
    ) -> SearchResults:
        """Articles on the same subject as the article at `url` (never the article itself).

        Takes the same filters and options as `search`; `results.query` is the URL. The
        default `matching` is "any": the more of the article's characteristic terms another
        article shares (by their weight), the higher it ranks.
        """
        request = self._request(
            topics,
            provider,
            doc_type,
            since,
            until,
            min_quality,
            published,
            limit,
            offset,
            sort,
            facets,
            explain,
            now,
            ranking,
            boost,
            quality_weight,
            recency_weight,
            half_life_days,
        )
        strategy = _strategy(matching, RELATED_STRATEGY)
        with self._searcher() as searcher:
            docnum = self._find(searcher, url)
            record = record_reader(searcher)(docnum)
            similar, words = related_words(searcher, record)
            return execute_words(searcher, url, similar, words, strategy, request, typed=False)

    def evaluate(
        self,
        queries: Mapping[str, str],
        judgments: Mapping[str, Mapping[str, int]],
        *,
        k: int = 10,
        **options: Any,
    ) -> EvalReport:
        """Run each judged query (id -> text) as `search` would with `options` and measure the
        first `k` hits against `judgments` (id -> URL -> grade 0-2): nDCG@k, precision@k, MRR
        and recall@k, per query and on average (see `search.judging`)."""
        from search import judging  # not needed to search

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidArgumentError(f"k must be a whole number >= 1, got {k!r}")
        for name in ("limit", "offset"):
            if name in options:
                raise InvalidArgumentError(f"{name} cannot be set for an evaluation; k sets it")
        canonical = {
            qid: {canonical_url(url): grade for url, grade in graded.items()}
            for qid, graded in judgments.items()
        }

        def rank(text: str) -> list[str]:
            return [hit.url for hit in self.search(text, limit=k, **options)]

        return judging.evaluate(queries, canonical, rank, k)

    def document(self, url: str) -> Document:
        """The stored document whose URL (in any spelling with the same canonical form) is `url`.

        The path of an indexed file is accepted too: it gives the article read from that file.
        """
        with self._searcher() as searcher:
            return Document.from_record(record_reader(searcher)(self._find(searcher, url)))

    def _find(self, searcher: Any, url: str) -> int:
        if not isinstance(url, str):
            raise InvalidArgumentError(f"the URL must be a string, got {url!r}")
        candidates = [canonical_url(url)] if _is_text(url) else []
        if os.path.isfile(url):
            candidates.extend(self._urls_of_file(url))
        for candidate in candidates:
            docnum = searcher.document_number(url=candidate)
            if docnum is not None:
                return int(docnum)
        if os.path.isfile(url):
            raise DocumentNotFoundError(f"no document in {self.index_dir} was read from {url}")
        raise DocumentNotFoundError(f"no document with URL {url} in {self.index_dir}")

    def _urls_of_file(self, path: str) -> list[str]:
        """The URLs the article in the file at `path` may be indexed under: the file's own path
        (an article without a URL) and the URL the file catalog recorded for it."""
        resolved = str(Path(path).resolve())
        urls = [file_identity(path)]
        from search.catalog import Catalog

        catalog_path = storage.catalog_path(self.index_dir, self._current().manifest)
        try:
            with Catalog(catalog_path, read_only=True) as catalog:
                for spelling in dict.fromkeys([os.path.abspath(path), resolved]):
                    recorded = catalog.url_of(spelling)
                    if recorded is not None:
                        urls.append(recorded)
        except SearchError:
            pass  # without the catalog, only articles without a URL are found by path
        return urls

    def stats(self) -> IndexStats:
        """Counts and ranges describing the index."""
        from search.reports import IndexStats  # not needed to search

        with self._searcher() as searcher:
            reader = searcher.reader()
            oldest, newest, undated = _date_range(reader)
            opened = self._open
            manifest = (
                opened.manifest if opened is not None else storage.read_manifest(self.index_dir)
            )
            return IndexStats(
                documents=searcher.doc_count(),
                index_dir=str(self.index_dir),
                size_bytes=storage.directory_size(storage.generation_dir(self.index_dir, manifest)),
                oldest=oldest,
                newest=newest,
                undated=undated,
                topics=_keyword_counts(searcher, "topic_key", "topics"),
                providers=_keyword_counts(searcher, "provider_key", "provider"),
                types=_keyword_counts(searcher, "type", "type"),
                schema_version=manifest.schema_version,
                written_by=manifest.written_by,
                updated_at=storage.last_commit(self.index_dir, manifest),
            )

    def document_count(self) -> int:
        """Number of articles in the latest commit of the index; cheap, no document is read."""
        with self._searcher() as searcher:
            return int(searcher.doc_count())

    def check(self) -> IndexCheck:
        """Read every part of the index (manifest, file checksums, every posting list, stored
        document and column, the file catalog) and report what is damaged.

        Raises `IndexNotFoundError` when there is no index. Run it when no update is under way:
        an update that commits meanwhile can make a file it replaced look missing.
        """
        from search.checking import check_index  # reads everything: not for the query path

        return check_index(self.index_dir)

    # -- internals -----------------------------------------------------------------------------

    def _request(
        self,
        topics: Sequence[str] | str | None,
        provider: str | None,
        doc_type: str | None,
        since: DateLike | None,
        until: DateLike | None,
        min_quality: int | None,
        published: bool | None,
        limit: int,
        offset: int,
        sort: str,
        facets: Sequence[str],
        explain: bool,
        now: DateLike | None,
        ranking: RankingSettings | None,
        boost: bool,
        quality_weight: float | None,
        recency_weight: float | None,
        half_life_days: float | None,
    ) -> Request:
        """Check and gather the arguments shared by `search` and `related`."""
        _check_text(provider, "provider")
        _check_text(doc_type, "doc_type")
        if topics is not None and not isinstance(topics, str):
            if not isinstance(topics, Iterable):
                raise InvalidArgumentError(f"topics must be a string or strings, got {topics!r}")
            topics = tuple(topics)
            for topic in topics:
                if not isinstance(topic, str):
                    raise InvalidArgumentError(f"topics must be strings, got {topic!r}")
                _check_text(topic, "topics")
        for name, value in (("limit", limit), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"{name} must be a whole number >= 0, got {value!r}")
        _check_type(published, "published", bool, optional=True)
        _check_type(explain, "explain", bool)
        _check_type(boost, "boost", bool)
        _check_type(ranking, "ranking", RankingSettings, optional=True)
        if not isinstance(facets, str) and not isinstance(facets, Iterable):
            raise InvalidArgumentError(f"facets must be a string or strings, got {facets!r}")
        if sort not in ORDERS:
            raise InvalidArgumentError(f"sort must be one of {', '.join(ORDERS)}, got {sort!r}")
        start, end = _moment(since, "since"), _moment(until, "until", upper=True)
        if start is not None and end is not None and start >= end:  # `end` is exclusive
            raise InvalidArgumentError(f"since ({since}) is later than until ({until})")
        filters = Filters(
            topics=(topics,) if isinstance(topics, str) else tuple(topics or ()),
            provider=provider,
            doc_type=doc_type,
            since=start,
            until=end,
            min_quality=_optional_int(min_quality, "min_quality"),
            published=published,
        )
        return Request(
            filters=filters,
            settings=self._settings(ranking, boost, quality_weight, recency_weight, half_life_days),
            now=_moment(now, "now") or datetime.now(UTC),
            limit=limit,
            offset=offset,
            order=sort,
            facets=check_facets([facets] if isinstance(facets, str) else list(facets)),
            explain=bool(explain),
        )

    def _vocabulary(self) -> Vocabulary:
        """The index's words for typo correction, loaded once per version of the catalog."""
        opened = self._current()
        path = storage.catalog_path(self.index_dir, opened.manifest)
        try:
            info = path.stat()
            stamp = (opened.manifest.generation, info.st_mtime_ns, info.st_size)
        except OSError:
            return Vocabulary(())
        with self._lock:
            cached = self._vocabulary_cache
            if cached is not None and cached[0] == stamp:
                return cached[1]
        from search.catalog import Catalog  # only typo correction reads the catalog

        with Catalog(path, read_only=True) as catalog:  # damage is an error, never silence
            vocabulary = Vocabulary(catalog.words())
        with self._lock:
            self._vocabulary_cache = (stamp, vocabulary)
        return vocabulary

    def _settings(
        self,
        ranking: RankingSettings | None,
        boost: bool,
        quality_weight: float | None,
        recency_weight: float | None,
        half_life_days: float | None,
    ) -> RankingSettings:
        settings = ranking or self.ranking
        overrides: dict[str, float] = {}
        if quality_weight is not None:
            overrides["quality_weight"] = quality_weight
        if recency_weight is not None:
            overrides["recency_weight"] = recency_weight
        if half_life_days is not None:
            overrides["half_life_days"] = half_life_days
        if overrides:
            settings = replace(settings, **overrides)
        return settings if boost else settings.without_boosts()

    @contextmanager
    def _searcher(self) -> Iterator[Any]:
        """A searcher on the latest commit of the index, returned to the pool after use."""
        searcher: Any = None
        for attempt in range(3):
            try:
                opened = self._current()
                searcher = self._take_searcher(opened)
                break
            except (IndexNotFoundError, IndexIncompatibleError):
                raise
            except Exception as exc:
                # A rebuild may have replaced the generation between reading the manifest and
                # opening its files: look again before calling the index damaged.
                self._drop_stale()
                if attempt < 2:
                    continue
                if isinstance(exc, SearchError):
                    raise
                raise self._diagnosis(None, exc) from None
        generation = opened.manifest.generation
        try:
            yield searcher
        except SearchError:
            raise
        except Exception as exc:
            raise self._diagnosis(opened.manifest, exc) from None
        finally:
            with self._lock:
                current = self._open
                if current is not None and current.manifest.generation == generation:
                    self._idle.append((generation, searcher))
                    searcher = None
            if searcher is not None:
                searcher.close()

    def _take_searcher(self, opened: _OpenIndex) -> Any:
        generation = opened.manifest.generation
        searcher = None
        with self._lock:
            while self._idle:
                candidate_generation, candidate = self._idle.pop()
                if candidate_generation == generation:
                    searcher = candidate
                    break
                candidate.close()
        if searcher is not None and opened.commits.latest() != searcher.reader().generation():
            # A newer commit exists. Whoosh's refresh() shares segment readers between the old and
            # the new searcher, which makes closing either unsafe; open a fresh one instead.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = opened.index.searcher(weighting=TextBM25F())
        return searcher

    def _current(self) -> _OpenIndex:
        """The open index, reopened when a new generation has been published."""
        stamp = _manifest_stamp(self.index_dir, self._manifest_file)
        with self._lock:
            opened = self._open
            if opened is not None and opened.stamp == stamp:
                return opened
        manifest = storage.read_manifest(self.index_dir)
        if opened is not None and opened.manifest.generation == manifest.generation:
            fresh = _OpenIndex(manifest, opened.index, stamp, opened.commits)
        else:
            index = _open_whoosh(self.index_dir, manifest)
            commits = _Commits(index, storage.generation_dir(self.index_dir, manifest))
            fresh = _OpenIndex(manifest, index, stamp, commits)
        with self._lock:
            self._open = fresh
            stale = [(gen, s) for gen, s in self._idle if gen != manifest.generation]
            self._idle = [(gen, s) for gen, s in self._idle if gen == manifest.generation]
        for _, searcher in stale:
            searcher.close()
        return fresh

    def _diagnosis(self, manifest: storage.Manifest | None, exc: Exception) -> Exception:
        """The error to raise for `exc`, met while reading the index: damage, found by checking
        the index files against their checksums, or the operating system's refusal; otherwise
        `exc` itself, which is then a bug."""
        try:
            manifest = manifest or storage.read_manifest(self.index_dir)
        except SearchError as error:
            return error
        location = storage.generation_dir(self.index_dir, manifest)
        return storage.read_failure(self.index_dir, location, exc) or exc

    def _drop_stale(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._open = None
        for _, searcher in idle:
            searcher.close()


def _manifest_stamp(index_dir: Path, manifest_file: str) -> tuple[int, int, int]:
    try:
        info = os.stat(manifest_file)
    except OSError:
        raise IndexNotFoundError(index_dir) from None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _open_whoosh(index_dir: Path, manifest: storage.Manifest) -> Any:
    location = storage.generation_dir(index_dir, manifest)
    # Index files never change size once written: a stat each tells a cut or grown file before
    # anything is read from it. (A missing file is left to the reading: an update committing at
    # this moment may have just merged it away.)
    damage = storage.verify_checksums(location, full=False, missing=False)
    if damage:
        raise storage.damage_error(index_dir, damage)
    try:
        return whoosh_ext.open_dir(str(location))
    except whoosh_index.EmptyIndexError:
        raise IndexCorruptError(
            f"the index in {index_dir} is incomplete ({location.name} has no index files); "
            f"rebuild it with {rebuild_hint(index_dir)}"
        ) from None
    except Exception as exc:  # unpickling, truncated or foreign files: all mean the same to a user
        raise storage.read_failure(index_dir, location, exc) or IndexCorruptError(
            f"the index in {index_dir} cannot be read ({type(exc).__name__}: {exc}); "
            f"rebuild it with {rebuild_hint(index_dir)}"
        ) from None


def _moment(value: DateLike | None, name: str, *, upper: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, date):  # a whole day: its start, or its end for an upper bound
        value = value.isoformat()
    if isinstance(value, str):
        try:
            return parse_bound(value, upper=upper) if name != "now" else parse_datetime_text(value)
        except DateParseError as exc:
            raise InvalidArgumentError(f"{name}: {exc}") from None
    raise InvalidArgumentError(
        f"{name} must be a datetime, a date or an ISO-8601 string, got {type(value).__name__}"
    )


def _paths(paths: object) -> list[Path]:
    """The paths to index: one path, or several."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if isinstance(paths, bytes) or not isinstance(paths, Iterable):
        raise InvalidArgumentError(f"paths must be a path or a list of paths, got {paths!r}")
    checked: list[Path] = []
    for path in paths:
        if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
            raise InvalidArgumentError(
                f"paths must be str or os.PathLike (os.fsdecode() turns bytes into str), "
                f"got {path!r}"
            )
        checked.append(Path(path))
    return checked


def _check_type(value: object, name: str, kind: type, *, optional: bool = False) -> None:
    if (value is None and optional) or isinstance(value, kind):
        return
    wanted = f"{kind.__name__} or None" if optional else kind.__name__
    raise InvalidArgumentError(f"{name} must be {wanted}, got {value!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_text(value: object, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {value!r}")
    if value is not None and not _is_text(value):
        raise InvalidArgumentError(f"{name} is not valid text (it has undecodable bytes)")


def _is_text(value: str) -> bool:
    """Whether `value` can be encoded (arguments decoded from bytes may hold lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be a whole number, got {value!r}")
    return value


def _strategy(matching: str | None, default: str) -> str:
    if matching is None:
        return default
    if matching not in STRATEGIES:
        raise InvalidArgumentError(
            f"matching must be one of {', '.join(STRATEGIES)}, got {matching!r}"
        )
    return matching


def _date_range(reader: Any) -> tuple[datetime | None, datetime | None, int]:
    if not reader.has_column("published_time"):
        return None, None, reader.doc_count()
    column = reader.column_reader("published_time")
    oldest = newest = None
    undated = 0
    for docnum in reader.all_doc_ids():
        value = column[docnum]
        if value == NO_TIME:
            undated += 1
            continue
        if oldest is None or value < oldest:
            oldest = value
        if newest is None or value > newest:
            newest = value

    def as_time(stamp: int | None) -> datetime | None:
        return None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC)

    return as_time(oldest), as_time(newest), undated


def _keyword_counts(searcher: Any, fieldname: str, record_key: str) -> dict[str, int]:
    """Documents per value of a keyword field, under the spelling the documents use."""
    reader = searcher.reader()
    records = record_reader(searcher)
    counts: dict[str, int] = {}
    if fieldname not in reader.indexed_field_names():
        return counts
    deletions = reader.has_deletions()
    for term, info in reader.iter_field(fieldname):
        live = (
            [
                docnum
                for docnum in reader.postings(fieldname, term).all_ids()
                if not reader.is_deleted(docnum)
            ]
            if deletions
            else None
        )
        count = len(live) if live is not None else info.doc_frequency()
        if not count:
            continue
        key = term.decode("utf-8") if isinstance(term, bytes) else str(term)
        first = live[0] if live else next(iter(reader.postings(fieldname, term).all_ids()))
        counts[_display_name(records(first).get(record_key), key)] = count
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _display_name(stored: object, key: str) -> str:
    """The spelling a document uses for the keyword `key` (falls back to the keyword itself)."""
    for name in stored if isinstance(stored, list) else [stored]:
        if isinstance(name, str) and keyword_value(name) == key:
            return name
    return key
