"""Load on `search serve`: concurrent clients on loopback, then the same during a `--rebuild`.

    python -m benchmarks.serve_load --corpus benchmarks/work/corpus-100000 \
        --index benchmarks/work/index-serve --clients 16 --seconds 30

Starts `search serve` on 127.0.0.1 (building the index first if it is missing), warms it with
every query once, then runs two phases with the same query mix as `benchmarks.run` (single words,
pairs, phrases, filtered words, typos):

- steady: `--clients` keep-alive connections, each sending its next request as soon as the last
  one is answered, for `--seconds` seconds or `--max-requests` requests;
- rebuild: the same load while `search index --rebuild` builds a new index beside the live one
  and switches to it (at most `--rebuild-seconds`); every request must still succeed.

Reports requests per second, latency percentiles and failed requests (any status but 200, or a
broken connection) per phase, as a Markdown table, and writes them to a JSON file. The clients
run in this process on one event loop; the server and the rebuild are separate processes, so on a
2-core machine the clients take some of the CPU the server would otherwise have.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from benchmarks.engines import BenchQuery
from benchmarks.run import make_queries
from search.limits import DEFAULT_SEARCH_THREADS

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # loopback only: this never loads anything but the local machine
REQUEST_TIMEOUT = 10.0


@dataclass
class Phase:
    """What the clients saw during one phase."""

    name: str
    seconds: float = 0.0
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    server_cpu_seconds: float | None = None
    """CPU time the server's processes used during the phase (Linux), whatever else runs."""

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies_ms)

        def percentile(p: float) -> float:
            if not ordered:
                return float("nan")
            return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

        return {
            "phase": self.name,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "failed": self.failed,
            "failures": self.failures,
            "queries_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "p50_ms": round(percentile(50), 2),
            "p90_ms": round(percentile(90), 2),
            "p99_ms": round(percentile(99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered), 2) if ordered else None,
            "server_cpu_ms_per_request": (
                round(self.server_cpu_seconds * 1000 / self.requests, 2)
                if self.server_cpu_seconds is not None and self.requests
                else None
            ),
        }


def request_targets(queries: list[BenchQuery]) -> list[bytes]:
    """The HTTP/1.1 requests for the queries, ready to send on a keep-alive connection."""
    requests = []
    for query in queries:
        params: dict[str, str] = {"q": query.text}
        if query.topic:
            params["topic"] = query.topic
        if query.since:
            params["since"] = query.since
        target = "/api/search?" + urlencode(params)
        requests.append(f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    return requests


async def _client(
    port: int, requests: list[bytes], phase: Phase, stop_at: float, budget: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < stop_at and budget[0] > 0:
        budget[0] -= 1
        request = rng.choice(requests)
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            assert reader is not None
            writer.write(request)
            status = await asyncio.wait_for(_response_status(reader), REQUEST_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            _fail(phase, type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
        phase.requests += 1
        if status != 200:
            _fail(phase, f"HTTP {status}")
    if writer is not None:
        writer.close()


async def _response_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


def _fail(phase: Phase, reason: str) -> None:
    phase.failed += 1
    phase.failures[reason] = phase.failures.get(reason, 0) + 1


def tree_cpu_seconds(root: int) -> float | None:
    """User plus system CPU time of process `root` and its descendants, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = int(fields[11]) + int(fields[12])
    if root not in times:
        return None
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(times[pid] for pid in tree) / ticks


def run_load(
    port: int,
    requests: list[bytes],
    name: str,
    *,
    clients: int,
    seconds: float,
    max_requests: int,
    until: subprocess.Popen[bytes] | None = None,
    server_pid: int | None = None,
) -> Phase:
    """`clients` connections for `seconds` (or until the process `until` ends, if given)."""
    phase = Phase(name)
    budget = [max_requests]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else None

    async def main() -> None:
        started = time.perf_counter()
        stop_at = started + seconds
        tasks = [
            asyncio.create_task(_client(port, requests, phase, stop_at, budget, seed))
            for seed in range(clients)
        ]
        if until is not None:
            while until.poll() is None and time.perf_counter() < stop_at:
                await asyncio.sleep(0.1)
            budget[0] = 0  # the rebuild is over: the clients finish their current request
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - started

    asyncio.run(main())
    cpu_after = tree_cpu_seconds(server_pid) if server_pid else None
    if cpu_before is not None and cpu_after is not None:
        phase.server_cpu_seconds = cpu_after - cpu_before
    return phase


def wait_until_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as response:
                return int(json.load(response)["documents"])
        except (OSError, urllib.error.URLError, ValueError):
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def search_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "search", *args]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, required=True, help="folder of articles")
    parser.add_argument("--index", type=Path, required=True, help="index folder (built if absent)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_SEARCH_THREADS, help="searches per process at once"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the steady phase")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per phase")
    parser.add_argument("--queries", type=int, default=500, help="distinct queries in the mix")
    parser.add_argument("--rebuild-seconds", type=float, default=600.0, help="0: no rebuild phase")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve-load-latest.json")
    args = parser.parse_args(argv)

    if not (args.index / "search-index.json").exists():
        print(f"building the index in {args.index} ...", file=sys.stderr)
        subprocess.run(
            search_command("index", str(args.corpus), "--index-dir", str(args.index), "-q"),
            check=True,
        )
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    queries = make_queries(args.corpus, args.queries, 20201113)
    requests = request_targets(queries)
    port = free_port()
    server = subprocess.Popen(
        search_command(
            "serve",
            "--index-dir",
            str(args.index),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
        ),
        stderr=subprocess.DEVNULL,
    )
    phases: list[Phase] = []
    rebuild_seconds: float | None = None
    try:
        documents = wait_until_healthy(port, server)
        warm = run_load(
            port, requests, "warm-up", clients=1, seconds=60, max_requests=len(requests)
        )
        print(f"warm-up: {warm.requests} requests, {warm.failed} failed", file=sys.stderr)
        phases.append(
            run_load(
                port,
                requests,
                "steady",
                clients=args.clients,
                seconds=args.seconds,
                max_requests=args.max_requests,
                server_pid=server.pid,
            )
        )
        if args.rebuild_seconds > 0:
            started = time.perf_counter()
            rebuild = subprocess.Popen(
                search_command(
                    "index", str(args.corpus), "--index-dir", str(args.index), "--rebuild", "-q"
                ),
                stdout=subprocess.DEVNULL,
            )
            phases.append(
                run_load(
                    port,
                    requests,
                    "during --rebuild",
                    clients=args.clients,
                    seconds=args.rebuild_seconds,
                    max_requests=args.max_requests * 100,
                    until=rebuild,
                    server_pid=server.pid,
                )
            )
            if rebuild.poll() is None:
                rebuild.send_signal(signal.SIGINT)
            if rebuild.wait(60) != 0:
                print("the rebuild did not finish successfully", file=sys.stderr)
            rebuild_seconds = time.perf_counter() - started
        after = wait_until_healthy(port, server)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    summaries = [phase.summary() for phase in phases]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "documents": documents,
        "documents_after_rebuild": after,
        "clients": args.clients,
        "workers": args.workers,
        "threads": args.threads,
        "distinct_queries": len(requests),
        "rebuild_seconds": None if rebuild_seconds is None else round(rebuild_seconds, 1),
        # Other work on the machine: 1-, 5- and 15-minute load averages before and after.
        "load_average_before": load_before,
        "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "phases": summaries,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{documents:,} documents, {args.workers} server process(es) of {args.threads} search "
        f"thread(s), {args.clients} clients, "
        f"{len(requests)} distinct queries"
    )
    print(
        "| phase | seconds | requests | queries/s | p50 ms | p99 ms | max ms | failed "
        "| server CPU ms/request |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        print(
            f"| {s['phase']} | {s['seconds']} | {s['requests']:,} | {s['queries_per_second']} "
            f"| {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['failed']} "
            f"| {s['server_cpu_ms_per_request']} |"
        )
    print(f"load average before and after: {result['load_average_before']}, ", end="")
    print(result["load_average_after"])
    if rebuild_seconds is not None:
        print(f"rebuild took {rebuild_seconds:.1f} s; {after:,} documents afterwards")
    return 0 if all(phase.failed == 0 for phase in phases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
