"""`search serve --watch`: the index follows the watched folders as files come, change and go."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from search import SearchEngine
from search.web.watching import Watcher
from tests.conftest import WriteArticle

DEADLINE_SECONDS = 15.0
"""Far above the few seconds it takes, so a busy machine does not fail the test."""


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not true after {DEADLINE_SECONDS} s")
        time.sleep(0.1)


@pytest.fixture
def watched(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> Iterator[SearchEngine]:
    write_article("first.md", title="Harbour storm", webUrl="https://news.example/storm")
    engine = SearchEngine(tmp_path / "index")
    watcher = Watcher(engine, [corpus_dir])
    watcher.start()
    try:
        assert watcher.ready.wait(DEADLINE_SECONDS)
        yield engine
    finally:
        watcher.stop()
        engine.close()


def titles(engine: SearchEngine, query: str) -> list[str]:
    return [hit.title for hit in engine.search(query)]


def test_added_changed_and_deleted_files_reach_the_index(
    watched: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    assert titles(watched, "storm") == ["Harbour storm"]  # the first run built the index

    added = write_article("second.md", title="Volcano erupts", webUrl="https://news.example/v")
    eventually(lambda: titles(watched, "volcano") == ["Volcano erupts"])

    write_article("second.md", title="Volcano calms down", webUrl="https://news.example/v")
    eventually(lambda: titles(watched, "volcano") == ["Volcano calms down"])

    added.unlink()
    eventually(lambda: titles(watched, "volcano") == [])
    assert titles(watched, "storm") == ["Harbour storm"]


def test_files_that_are_not_articles_are_ignored(
    watched: SearchEngine, corpus_dir: Path, write_article: WriteArticle
) -> None:
    (corpus_dir / "notes.json").write_text('{"title": "volcano"}')
    write_article(".hidden.md", title="Volcano secret")
    write_article("visible.md", title="Glacier melts", webUrl="https://news.example/g")
    eventually(lambda: titles(watched, "glacier") == ["Glacier melts"])
    assert titles(watched, "volcano") == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)
    except OSError:
        return None


def oversized_head_status(port: int) -> int:
    """The status answered to a request whose headers are 1 MiB: refused before it is read."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
        with contextlib.suppress(OSError):  # the server may close before reading it all
            connection.sendall(head)
        return int(connection.recv(100).split(b" ", 2)[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_the_serve_command_watches_answers_and_stops_on_ctrl_c(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle, workers: int
) -> None:
    write_article("first.md", title="Harbour storm", webUrl="https://news.example/storm")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "search", "serve", "--port", str(port)]
    command += ["--index-dir", str(tmp_path / "index"), "--watch", str(corpus_dir)]
    command += ["--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: (get_json(f"{base}/healthz") or {}).get("documents") == 1)
        write_article("second.md", title="Volcano erupts", webUrl="https://news.example/v")
        eventually(lambda: get_json(f"{base}/api/search?q=volcano")["total"] == 1)
        assert oversized_head_status(port) == 400
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=DEADLINE_SECONDS)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"serving {base}/" in stderr
    assert "1 added" in stderr  # the watcher's run after the new file


def test_changes_made_while_another_run_holds_the_index_are_indexed_after_it(
    watched: SearchEngine, write_article: WriteArticle
) -> None:
    from search.locking import IndexLock

    with IndexLock(watched.index_dir):  # as a `search index` run in another process would
        write_article("late.md", title="Volcano erupts", webUrl="https://news.example/v")
        time.sleep(2)  # the watcher's runs meanwhile find the index locked
        assert titles(watched, "volcano") == []
    eventually(lambda: titles(watched, "volcano") == ["Volcano erupts"])


def _tcp_entries(port: int, state: str) -> list[str]:
    """The socket inodes of the TCP entries of local `port` in `state` (from /proc)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.append(fields[9])
    return found


def _established(pid: int, port: int) -> int:
    """How many TCP connections to `port` the process `pid` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = fd.readlink().name
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return sum(1 for inode in _tcp_entries(port, "01") if inode in inodes)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads on Linux")
def test_server_processes_share_a_burst_of_keep_alive_connections(
    tmp_path: Path, corpus_dir: Path, write_article: WriteArticle
) -> None:
    # Clients that open their connections at once (a load test, a proxy's pool) and keep them:
    # on one shared socket the first process to wake accepts them all and serves them alone.
    write_article("first.md", title="Harbour storm", webUrl="https://news.example/storm")
    SearchEngine(tmp_path / "index").index([corpus_dir])
    port = free_port()
    command = [sys.executable, "-m", "search", "serve", "--port", str(port), "--workers", "2"]
    command += ["--index-dir", str(tmp_path / "index")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    connections: list[socket.socket] = []
    try:
        eventually(
            lambda: (get_json(f"http://127.0.0.1:{port}/healthz") or {}).get("documents") == 1
        )
        eventually(lambda: len(_tcp_entries(port, "0A")) == 2)  # both processes listen
        connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for connection in connections:
            assert connection.recv(100).startswith(b"HTTP/1.1 200")
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        processes = [  # the server processes, not multiprocessing's resource tracker
            int(child)
            for child in children
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        assert len(processes) == 2
        held = [_established(process, port) for process in processes]
        assert sum(held) == 16 and min(held) > 0, held
    finally:
        for connection in connections:
            connection.close()
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=DEADLINE_SECONDS)
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate()
    assert server.returncode == 0
