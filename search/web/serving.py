"""Running the web application under uvicorn, with the folder watcher beside it.

Each server process has one event loop and one `SearchEngine`: searches run on the application's
thread pool and the engine reopens the index by itself after each commit (an incremental run, a
`--rebuild` or the watcher's own runs). Searches are mostly Python and hold the interpreter lock,
so one process uses about one core; `workers` starts several processes on the same socket, and
they share the index through the operating system's page cache. The watcher runs in the parent
process. Ctrl-C (or SIGTERM) stops accepting requests, lets the ones in progress finish,
then stops the watcher after its current run.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from search.engine import SearchEngine
from search.errors import SearchError
from search.reports import IndexReport
from search.web.app import Limits, create_app
from search.web.watching import Watcher

logger = logging.getLogger("search.web")


class ServerStartError(SearchError):
    """The server cannot start: the address is taken, unknown, or not ours to listen on."""


def serve(
    index_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    watch: Sequence[Path] = (),
    cors_origins: Sequence[str] = (),
    limits: Limits | None = None,
    access_log: bool = False,
    workers: int = 1,
) -> None:
    """Serve the index in `index_dir` over HTTP until interrupted.

    Raises `ServerStartError` when it cannot listen on `host`:`port`.
    """
    listening = listen(host, port)
    _configure_logging()
    engine = SearchEngine(index_dir)
    factory = AppFactory(index_dir, tuple(cors_origins), limits or Limits())
    watcher = Watcher(engine, watch, on_report=_log_report) if watch else None
    config = uvicorn.Config(
        factory if workers > 1 else factory.app_for(engine),
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
        timeout_graceful_shutdown=10,
        # h11 refuses a request head over 16 KiB before buffering it (httptools has no such
        # limit), and measured no slower here than httptools with uvloop: searches dominate.
        http="h11",
        loop="asyncio",
        h11_max_incomplete_event_size=16 * 1024,
    )
    if not engine.exists() and not watch:
        logger.warning(
            "no index in %s yet: searches answer 503 until `search index PATH --index-dir %s` "
            "builds one (it is picked up without a restart)",
            index_dir,
            index_dir,
        )
    if watcher is not None:
        watcher.start()
        logger.info("watching %s", ", ".join(map(str, watch)))
    try:
        logger.info("serving http://%s:%d/", *listening.getsockname()[:2])
        if workers > 1:
            Multiprocess(config, sockets=[listening]).run()
        else:
            uvicorn.Server(config).run(sockets=[listening])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; the shutdown is already done
    finally:
        if watcher is not None:
            watcher.stop()
        engine.close()
        listening.close()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port`, ready to hand to the server processes."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise ServerStartError(f"cannot listen on {host}:{port}: unknown address ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServerStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class AppFactory:
    """Makes the application in each worker process (it travels to them pickled)."""

    index_dir: Path
    cors_origins: tuple[str, ...]
    limits: Limits

    def app_for(self, engine: SearchEngine) -> Starlette:
        return create_app(engine, limits=self.limits, cors_origins=self.cors_origins)

    def __call__(self) -> Starlette:
        _configure_logging()
        return self.app_for(SearchEngine(self.index_dir))


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch of events


def _log_report(report: IndexReport) -> None:
    changed = report.added + report.updated + report.removed
    if changed or report.skipped:
        logger.info(
            "index updated: %s added, %s updated, %s removed, %s skipped; %s documents",
            f"{report.added:,}",
            f"{report.updated:,}",
            f"{report.removed:,}",
            f"{len(report.skipped):,}",
            f"{report.documents:,}",
        )
    for problem in report.skipped:
        logger.warning("skipped: %s: %s", problem.path, problem.message)
