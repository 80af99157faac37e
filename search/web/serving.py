"""Running the web application under uvicorn, with the folder watcher beside it.

Each server process has one event loop and one `SearchEngine`: searches run on the application's
thread pool and the engine reopens the index by itself after each commit (an incremental run, a
`--rebuild` or the watcher's own runs). Searches are mostly Python and hold the interpreter lock,
so one process uses about one core; `workers` starts several processes on the same port (on
Linux each with a socket of its own, which spreads connections over them), and they share the
index through the operating system's page cache. The watcher runs in the parent
process. Ctrl-C (or SIGTERM) stops accepting requests, lets the ones in progress finish,
then stops the watcher after its current run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        if workers > 1 and _SPREADS_CONNECTIONS:
            # The socket bound above proved the port free (and named it, for port 0); each
            # process binds a socket of its own to it instead.
            address = listening.getsockname()[:2]
            listening.close()
            _Workers(config, address, workers).run()
        elif workers > 1:
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


_SPREADS_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
"""Whether the kernel spreads new connections over the sockets of a port (Linux's SO_REUSEPORT)."""
_QUICK_EXIT = 5.0
"""A server process that ends sooner after its start than this (seconds) is not started again."""


class _Workers:
    """Server processes that each listen on their own socket of the same port.

    On one shared socket, the process that wakes first accepts every connection waiting, so a
    burst of keep-alive connections (16 clients, a proxy's pool) lands on one process and one
    core. With a socket per process (SO_REUSEPORT), Linux spreads new connections over them. A
    process that ends is started again; Ctrl-C or SIGTERM stops them all, each finishing the
    requests in progress."""

    def __init__(self, config: uvicorn.Config, address: tuple[str, int], count: int) -> None:
        self.config = config
        self.address = address
        self.count = count
        self._stop = threading.Event()
        self._context = multiprocessing.get_context("spawn")

    def run(self) -> None:
        previous = {
            number: signal.signal(number, lambda *_: self._stop.set())
            for number in (signal.SIGINT, signal.SIGTERM)
        }
        processes = [self._start() for _ in range(self.count)]
        try:
            while not self._stop.wait(0.5):
                for index, (process, started) in enumerate(processes):
                    if process.is_alive():
                        continue
                    if time.monotonic() - started < _QUICK_EXIT:
                        raise ServerStartError(
                            f"a server process stopped at its start (exit code {process.exitcode})"
                        )
                    logger.warning(
                        "server process %s stopped (exit code %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    processes[index] = self._start()
        finally:
            for process, _ in processes:
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
            for process, _ in processes:
                process.join(self.config.timeout_graceful_shutdown or 10)
                if process.is_alive():
                    process.kill()
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _start(self) -> tuple[Any, float]:
        process = self._context.Process(
            target=_run_worker, args=(self.config, *self.address), name="search-serve"
        )
        process.start()
        return process, time.monotonic()


def _run_worker(config: uvicorn.Config, host: str, port: int) -> None:
    """One server process of `_Workers`, on its own socket of the shared port."""
    sock = listen(host, port, reuse_port=True)
    config.configure_logging()
    with contextlib.suppress(KeyboardInterrupt):  # the shutdown is done already
        uvicorn.Server(config).run(sockets=[sock])


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket bound to `host`:`port`, ready to hand to the server processes (with
    `reuse_port`, other processes may bind sockets of their own to the same port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        raise ServerStartError(f"cannot listen on {host}:{port}: unknown address ({exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
