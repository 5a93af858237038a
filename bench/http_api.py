"""HTTP benchmark: authenticated POST message and GET page, beside a bare aiohttp hello world.

Run: `python -m bench.http_api [--quick]`. Each server runs in its own process on
127.0.0.1, pinned to core 0; wrk (Debian's `wrk`) drives one at a time from core 1 with 32
connections for a fixed time. The headline rows are the default configuration: the access
log on, in text, to the server's stderr, a pipe this process reads and counts the lines of
(so writing them costs what it costs in a deployment, not what /dev/null costs). Beside
them, a second server on its own file with the access log off (CHAT_CORE_LOG_LEVEL=WARNING).
The bare hello world, then POST and GET of each server are measured in turn, in ROUNDS
rounds of SECONDS each (one shorter round with --quick), and each figure is the median over
them, its ratio the median of its ratios to the bare figure of the same round: this
machine's speed drifts by ±20% from one half-minute to the next, and a ratio of figures
taken seconds apart drifts far less. The access log's cost is one minus the median of each
round's ratio of the log-on rate to the log-off rate. Then the same with a million events
stored (LARGE_ROUNDS rounds). Without wrk the load generator falls back to an aiohttp
client in this process (slower: say so when you quote figures).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import aiohttp
from attrs import frozen

from bench.tooling import build_log
from chat_core.settings import Settings
from chat_core.tokens import mint_token

__all__ = ["Measurement", "bench_settings", "bench_token", "page_ratio_table", "run"]

SECRET = b"bench-secret-bench-secret-bench-secret!!"
ISSUER, AUDIENCE, TENANT = "bench-issuer", "chat-core", "t_bench"
CONNECTIONS = 32
LARGE_LOG = 1_000_000
SERVER_CORE, LOAD_CORE = "0", "1"
# Rounds of bare, POST and GET in turn, each for SECONDS; figures are their medians. Short
# rounds keep the three figures of a round close in time (seen here: the bare figure moved
# from 29,600 to 35,500 req/s between two 30-second rounds).
ROUNDS = 7
LARGE_ROUNDS = 3
SECONDS = 4
BARE = "bare aiohttp hello world"
POST, GET = "POST message (authenticated, durable)", "GET message page of 20"
LOG_OFF = ", access log off"
# Requests the log-on server answers before the rounds: /healthz, the thread, its warm-up.
WARM_UP = 40


@frozen
class Measurement:
    """Requests per second and latency of one route under load."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    # To the bare hello world measured in the same round (see _medians).
    ratio: float = 1.0
    # Answered in the measurement (wrk's count; the client's when wrk is missing).
    requests: int = 0


def bench_token() -> str:
    """Return the bearer token the benchmark's requests send: a member of TENANT."""
    return mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_bench",
        tenants={TENANT: ["member"]},
        ttl=3600,
    )


def bench_settings(store_url: str) -> Settings:
    """Return the settings of an in-process benchmark server: prod mode, no rate limit."""
    return Settings(
        store_url=store_url,
        mode="prod",
        hs256_secret=SECRET,
        master_key=b"k" * 32,
        issuer=ISSUER,
        audience=AUDIENCE,
        rate_limit=None,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pinned(command: list[str], core: str) -> list[str]:
    return ["taskset", "-c", core, *command] if shutil.which("taskset") else command


async def _wait_ready(base: str, deadline: float = 60.0, poll: float = 0.1) -> None:
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - start < deadline:
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(poll)
    raise RuntimeError(f"server at {base} did not start")


def _start_chat_core(
    port: int, store_url: str, *, access_log: bool = False
) -> subprocess.Popen[bytes]:
    """Start `chat-core serve`: with access_log, in the default configuration, stderr piped.

    Without it the log level is WARNING (no access lines) and stderr is this process's.
    """
    env = dict(os.environ)
    env.update(
        CHAT_CORE_STORE=store_url,
        CHAT_CORE_PORT=str(port),
        CHAT_CORE_HS256_SECRET=SECRET.decode(),
        CHAT_CORE_ISSUER=ISSUER,
        CHAT_CORE_AUDIENCE=AUDIENCE,
        CHAT_CORE_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        CHAT_CORE_MODE="prod",
        CHAT_CORE_LOG_LEVEL="INFO" if access_log else "WARNING",
        CHAT_CORE_LOG_FORMAT="text",
        CHAT_CORE_RATE_LIMIT="off",  # one tenant at full speed is the point here
    )
    command = _pinned([sys.executable, "-m", "transports.cli.main", "serve"], SERVER_CORE)
    stderr = subprocess.PIPE if access_log else None
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


class _LineCounter:
    """Read a server's stderr to its end in a thread, counting its access lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines = 0
        self.last = b""
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        tail = b""
        while chunk := self._stream.read1(1 << 16):  # type: ignore[attr-defined]
            tail += chunk
            *lines, tail = tail.split(b"\n")
            self.lines += sum(b" chat_core.access: " in line for line in lines)
            if lines:
                self.last = lines[-1]

    def wait(self) -> int:
        """Wait for the end of the stream (the server exited); return the lines counted."""
        self._thread.join(timeout=30)
        return self.lines


def _start_bare(port: int) -> subprocess.Popen[bytes]:
    script = str(Path(__file__).with_name("bare_server.py"))
    command = _pinned([sys.executable, script, str(port)], SERVER_CORE)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _wrk_script(folder: str, method: str, headers: Mapping[str, str], body: bytes | None) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = '{body.decode()}'")
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path = Path(folder) / f"{method.lower()}.lua"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _millis(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(name: str, url: str, script: str | None, seconds: int) -> Measurement:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    command += ["-s", script] if script else []
    output = subprocess.run(
        _pinned([*command, url], LOAD_CORE), capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _millis(re.search(r"^\s+50%\s+(\S+)$", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _millis(re.search(r"^\s+99%\s+(\S+)$", output, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    done = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return Measurement(name, rps, p50, p99, int(bad.group(1)) if bad else 0, requests=done)


async def _client(
    name: str, url: str, method: str, headers: Mapping[str, str], body: bytes | None, seconds: int
) -> Measurement:
    """Drive load with aiohttp when wrk is missing (the client is then the bottleneck)."""
    latencies: list[float] = []
    bad = 0
    stop_at = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers=dict(headers)) as session:

        async def worker() -> None:
            nonlocal bad
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                async with session.request(method, url, data=body) as response:
                    await response.read()
                    bad += response.status >= 300
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    count = len(latencies)
    return Measurement(name, count / elapsed, p50 * 1000, p99 * 1000, bad, requests=count)


async def _measure(
    name: str,
    url: str,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    folder: str,
    seconds: int,
) -> Measurement:
    if shutil.which("wrk"):
        script = _wrk_script(folder, method, headers, body)
        return await asyncio.to_thread(_wrk, name, url, script, seconds)
    return await _client(name, url, method, headers, body, seconds)


async def _chat_core(
    folder: str,
    databases: tuple[str, str],
    headers: Mapping[str, str],
    body: bytes,
    seconds: int,
    label: str,
    *,
    bare_base: str,
    rounds: int,
) -> list[list[Measurement]]:
    """Start chat-core twice, access log on and off, each on its file; measure in rounds.

    Each round measures the bare hello world, then POST and GET of the log-on server,
    then of the log-off one, so every ratio compares figures taken moments apart on this
    machine, whatever else it is doing. Start-up is timed on the log-on server.
    """
    ports = _free_port(), _free_port()
    started = time.perf_counter()
    logged = _start_chat_core(ports[0], f"sqlite:///{folder}/{databases[0]}", access_log=True)
    assert logged.stderr is not None
    counter = _LineCounter(logged.stderr)
    quiet = _start_chat_core(ports[1], f"sqlite:///{folder}/{databases[1]}")
    measured: list[list[Measurement]] = []
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        await _wait_ready(bases[0], poll=0.01)
        startup = time.perf_counter() - started
        await _wait_ready(bases[1], poll=0.01)
        urls = [
            f"{base}/chat/threads/{await _make_thread(base, headers)}/messages" for base in bases
        ]
        for _ in range(rounds):
            row = [
                await _measure(
                    BARE, bare_base + "/", "GET", {}, None, folder=folder, seconds=seconds
                )
            ]
            for url, suffix in zip(urls, ("", LOG_OFF), strict=True):
                row.append(
                    await _measure(
                        f"{POST}{suffix}{label}",
                        url,
                        "POST",
                        headers,
                        body,
                        folder=folder,
                        seconds=seconds,
                    )
                )
                row.append(
                    await _measure(
                        f"{GET}{suffix}{label}",
                        url + "?limit=20",
                        "GET",
                        headers,
                        None,
                        folder=folder,
                        seconds=seconds,
                    )
                )
            measured.append(row)
        rss = _rss_mib(logged.pid), _rss_mib(quiet.pid)
    finally:
        for server in (logged, quiet):
            server.terminate()
        for server in (logged, quiet):
            server.wait(timeout=20)
    lines = counter.wait()
    answered = sum(item.requests for row in measured for item in row[1:3])
    print(
        f"  chat-core{label}: start-up {startup * 1000:.0f} ms, RSS after the run"
        f" {rss[0]:.0f} MiB (access log off: {rss[1]:.0f} MiB); access lines read from its"
        f" stderr: {lines:,} for {answered:,} requests wrk counted + {WARM_UP + 2} before"
    )
    if lines < answered:
        print(f"  MISSING ACCESS LINES: {answered - lines:,}; last line read: {counter.last!r}")
    return measured


def _rss_mib(pid: int) -> float:
    """Read a process's resident memory from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _make_thread(base: str, headers: Mapping[str, str]) -> str:
    async with aiohttp.ClientSession(base, headers=dict(headers)) as session:
        async with session.post("/chat/threads", data=b"{}") as response:
            thread_id: str = (await response.json())["id"]
        for index in range(WARM_UP):
            body = b'{"content": "warm-up %d"}' % index
            async with session.post(f"/chat/threads/{thread_id}/messages", data=body):
                pass
        return thread_id


async def _run(quick: bool) -> tuple[list[Measurement], list[str]]:
    seconds = 3 if quick else SECONDS
    rounds = 1 if quick else ROUNDS
    token = bench_token()
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Tenant-Id": TENANT,
        "X-Env": "dev",
        "Content-Type": "application/json",
    }
    body = b'{"content": "hello from the benchmark"}'
    with tempfile.TemporaryDirectory() as folder:
        bare_port = _free_port()
        bare_server = _start_bare(bare_port)
        try:
            bare_base = f"http://127.0.0.1:{bare_port}"
            await _wait_ready(bare_base)
            fresh = await _chat_core(
                folder,
                ("bench.db", "bench-off.db"),
                headers,
                body,
                seconds,
                "",
                bare_base=bare_base,
                rounds=rounds,
            )
            # The same figures with a million events already in the log (issue 7's scaling).
            build_log(str(Path(folder) / "big.db"), LARGE_LOG)
            shutil.copyfile(Path(folder) / "big.db", Path(folder) / "big-off.db")
            large = await _chat_core(
                folder,
                ("big.db", "big-off.db"),
                headers,
                body,
                seconds,
                ", 1M events",
                bare_base=bare_base,
                rounds=1 if quick else LARGE_ROUNDS,
            )
        finally:
            bare_server.terminate()
            bare_server.wait(timeout=15)
    _print_rounds(fresh + large)
    return _medians(fresh) + _medians(large)[1:], _costs(fresh, large)


def page_ratio_table(rounds: list[list[Measurement]]) -> list[Measurement]:
    """Print each round's rates as ratios of its first (the page), then the medians; return them.

    Each round is one measurement of every route in turn, its first the reference page.
    """
    for row in rounds:
        page = row[0].rps
        print("    " + "  ".join(f"{item.rps:,.0f} ({item.rps / page:.3f}x)" for item in row))
    results = []
    print(f"{'':48} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'x page':>7}")
    for column in zip(*rounds, strict=True):
        ratio = statistics.median(
            item.rps / row[0].rps for item, row in zip(column, rounds, strict=True)
        )
        item = Measurement(
            column[0].name,
            statistics.median(m.rps for m in column),
            statistics.median(m.p50_ms for m in column),
            statistics.median(m.p99_ms for m in column),
            sum(m.non_2xx for m in column),
            ratio,
        )
        results.append(item)
        print(
            f"{item.name:48} {item.rps:9,.0f} {item.p50_ms:8.2f} {item.p99_ms:8.2f}"
            f" {item.non_2xx:8d} {item.ratio:7.3f}"
        )
    return results


def _medians(rounds: list[list[Measurement]]) -> list[Measurement]:
    """Reduce rounds to one Measurement per route: the median of each figure.

    Each route's ratio is the median of its per-round ratios to that round's bare figure,
    kept in `ratio`; the bare route's ratio is 1.
    """
    merged = []
    for column in zip(*rounds, strict=True):
        ratios = [item.rps / row[0].rps for item, row in zip(column, rounds, strict=True)]
        merged.append(
            Measurement(
                column[0].name,
                statistics.median(item.rps for item in column),
                statistics.median(item.p50_ms for item in column),
                statistics.median(item.p99_ms for item in column),
                sum(item.non_2xx for item in column),
                statistics.median(ratios),
            )
        )
    return merged


def _print_rounds(rounds: list[list[Measurement]]) -> None:
    print("\n  each round: bare req/s, then POST, GET with the access log, POST, GET without")
    print("  (req/s, p99 ms, x bare)")
    for row in rounds:
        bare = row[0].rps
        cells = [f"{item.rps:,.0f} ({item.p99_ms:.1f}, {item.rps / bare:.3f}x)" for item in row[1:]]
        print(
            f"    bare {bare:,.0f}  " + "  ".join(cells) + ("  [1M]" if "1M" in row[1].name else "")
        )


def _log_costs(rounds: list[list[Measurement]]) -> tuple[float, float]:
    """Return the access log's cost for POST and GET: 1 - median of on/off per round."""
    post = statistics.median(row[1].rps / row[3].rps for row in rounds)
    get = statistics.median(row[2].rps / row[4].rps for row in rounds)
    return 1 - post, 1 - get


def _costs(fresh: list[list[Measurement]], large: list[list[Measurement]]) -> list[str]:
    """Say what the access log costs, fresh and with 1M events."""
    said = []
    for rounds, label in ((fresh, ""), (large, ", 1M events")):
        post, get = _log_costs(rounds)
        said.append(
            f"access log cost{label} (1 - median of each round's on/off rate):"
            f" POST {post:.1%}, GET {get:.1%} (target: at most 5%)"
        )
    return said


def run(*, quick: bool = False) -> list[Measurement]:
    """Measure and print each figure with its latency and its ratio to the bare hello world."""
    results, costs = asyncio.run(_run(quick))
    tool = "wrk" if shutil.which("wrk") else "aiohttp client (install wrk for real figures)"
    print(f"\nHTTP, {CONNECTIONS} connections, server on core {SERVER_CORE}, load by {tool}")
    print("medians over the rounds; a ratio is the median of each round's ratio to its bare")
    print("rows without 'access log off': the default configuration, its access log on, in")
    print("text, to a pipe this process reads")
    print(f"{'':64} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'x bare':>7}")
    for item in results:
        print(
            f"{item.name:64} {item.rps:9,.0f} {item.p50_ms:8.2f} {item.p99_ms:8.2f}"
            f" {item.non_2xx:8d} {item.ratio:7.3f}"
        )
    for line in costs:
        print(line)
    fresh, large = results[1:5], results[5:9]
    for offset, label in ((0, "access log on"), (2, "access log off")):
        post_drift = large[offset].ratio / fresh[offset].ratio
        get_drift = large[offset + 1].ratio / fresh[offset + 1].ratio
        print(
            f"with 1M events, {label}, each ratio over the fresh log's: POST {post_drift:.2f},"
            f" GET {get_drift:.2f} (target: within 0.90-1.10)"
        )
    return results


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
