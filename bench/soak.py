"""Soak: mixed load on a loopback server for a bounded time; zero 5xx and flat memory.

Run: `python -m bench.soak [--quick]`. Posts, message reads and config reads from a fixed
number of clients against a `chat-core serve` subprocess on SQLite; every request counts
toward a cap, so the load is bounded in count and in time. Resident memory is sampled from
/proc each second: its mean over the last window may exceed the first window's by < 10 %.

`python -m bench.soak --large` is the large-message soak: one member posts LARGE_MESSAGES
messages of LARGE_CHARS characters over LARGE_THREADS threads, reading each thread's newest
page after every post, with the thread cache bounded by CHAT_CORE_CACHE_BYTES (the default,
or `--cache-bytes`). Memory may grow while the cache fills; it must then hold flat (the last
third's mean within 10 % of the middle third's) and its peak stay under the cache bound plus
the server's resting size plus LARGE_SLACK_MIB. Before the cache was bounded in bytes, this
run grew the server from 61 to 984 MiB (and took 145 s where 10 s were enough under a cap
of messages that made it re-fold whole threads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from attrs import frozen

from tests.reliability.load import create_threads
from tests.reliability.server import ServerProcess, headers_for

__all__ = ["LargeSoakResult", "SoakResult", "main", "run", "run_large"]

CLIENTS = 16
MAX_REQUESTS = 2_000_000
GROWTH_LIMIT = 0.10
LARGE_MESSAGES = 15_000
LARGE_CHARS = 32_000
LARGE_THREADS = 60
LARGE_CLIENTS = 4
LARGE_SLACK_MIB = 96
TENANTS = ("t_soak_a", "t_soak_b", "t_soak_c")


@frozen
class SoakResult:
    """What a soak measured."""

    seconds: float
    requests: int
    statuses: dict[int, int]
    rss_first_kib: float
    rss_last_kib: float

    @property
    def growth(self) -> float:
        """Return the resident memory growth between the first and last windows."""
        return self.rss_last_kib / self.rss_first_kib - 1

    @property
    def server_errors(self) -> int:
        """Return how many answers were 5xx."""
        return sum(count for status, count in self.statuses.items() if status >= 500)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _client(
    number: int,
    session: aiohttp.ClientSession,
    threads: dict[str, list[str]],
    deadline: float,
    budget: itertools.count[int],
    statuses: Counter[int],
) -> None:
    tenant = TENANTS[number % len(TENANTS)]
    headers = headers_for(f"u_soak{number}", tenant)
    loop = asyncio.get_running_loop()
    for step in itertools.count():
        if loop.time() >= deadline or next(budget) >= MAX_REQUESTS:
            return
        thread_id = threads[tenant][step % len(threads[tenant])]
        kind = step % 4
        if kind in (0, 1):
            request = session.post(
                f"/chat/threads/{thread_id}/messages",
                json={"content": f"soak {number} {step}", "metadata": {"n": str(step)}},
                headers=headers,
            )
        elif kind == 2:
            request = session.get(
                f"/chat/threads/{thread_id}/messages",
                params={"limit": "20", "order": "desc"},
                headers=headers,
            )
        else:
            request = session.get("/temperature/config", headers=headers)
        async with request as answer:
            await answer.read()
            statuses[answer.status] += 1


async def _soak(server: ServerProcess, seconds: float, window: float) -> SoakResult:
    samples: list[tuple[float, int]] = []
    statuses: Counter[int] = Counter()
    budget = itertools.count()
    async with aiohttp.ClientSession(
        server.base_url, connector=aiohttp.TCPConnector(limit=CLIENTS)
    ) as session:
        threads = {
            tenant: await create_threads(session, headers_for("u_soak0", tenant), 8)
            for tenant in TENANTS
        }
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + seconds

        async def sample() -> None:
            while loop.time() < deadline:
                samples.append((loop.time() - started, _rss_kib(server.pid)))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(
            *(
                _client(number, session, threads, deadline, budget, statuses)
                for number in range(CLIENTS)
            )
        )
        await sampler
        elapsed = loop.time() - started
    first = [rss for at, rss in samples if at < window]
    last = [rss for at, rss in samples if at >= elapsed - window]
    return SoakResult(
        seconds=elapsed,
        requests=sum(statuses.values()),
        statuses=dict(statuses),
        rss_first_kib=sum(first) / len(first),
        rss_last_kib=sum(last) / len(last),
    )


def run(*, quick: bool = False) -> SoakResult:
    """Soak a fresh server for 60 s (quick: 20 s) and print the figures."""
    seconds, window = (20.0, 5.0) if quick else (60.0, 10.0)
    with tempfile.TemporaryDirectory(prefix="chat-core-soak-") as folder:
        store_url = f"sqlite:///{folder}/chat.db"
        with ServerProcess(store_url, Path(folder) / "server.log") as server:
            started = time.monotonic()
            result = asyncio.run(_soak(server, seconds, window))
            status = server.terminate()
            print(f"server exit status {status} after {time.monotonic() - started:.1f} s")
    print(
        f"requests     {result.requests:,} in {result.seconds:.1f} s "
        f"({result.requests / result.seconds:,.0f}/s)"
    )
    print(f"statuses     {dict(sorted(result.statuses.items()))}")
    print(f"5xx          {result.server_errors}")
    print(
        f"rss first {window:.0f} s {result.rss_first_kib / 1024:.1f} MiB, "
        f"last {window:.0f} s {result.rss_last_kib / 1024:.1f} MiB, "
        f"growth {result.growth:+.1%} (limit {GROWTH_LIMIT:.0%})"
    )
    return result


@frozen
class LargeSoakResult:
    """What a large-message soak measured: RSS samples in KiB, one a second."""

    seconds: float
    statuses: dict[int, int]
    rss_kib: list[int]

    def third(self, which: int) -> float:
        """Return the mean RSS, in MiB, of the first, middle or last third (0, 1, 2)."""
        size = max(1, len(self.rss_kib) // 3)
        part = self.rss_kib[which * size : (which + 1) * size] or self.rss_kib[-size:]
        return sum(part) / len(part) / 1024

    @property
    def plateau_growth(self) -> float:
        """Return the last third's mean RSS over the middle third's, minus one."""
        return self.third(2) / self.third(1) - 1

    @property
    def peak_mib(self) -> float:
        """Return the highest RSS sampled, in MiB."""
        return max(self.rss_kib) / 1024


async def _large_client(
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    threads: list[str],
    steps: itertools.count[int],
    statuses: Counter[int],
) -> None:
    text = "x" * (LARGE_CHARS - 12)
    while (step := next(steps)) < LARGE_MESSAGES:
        thread_id = threads[step % len(threads)]
        body = {"content": f"{step:>11} {text}"}
        async with session.post(
            f"/chat/threads/{thread_id}/messages", json=body, headers=headers
        ) as answer:
            await answer.read()
            statuses[answer.status] += 1
        async with session.get(
            f"/chat/threads/{thread_id}/messages",
            params={"limit": "20", "order": "desc"},
            headers=headers,
        ) as answer:
            await answer.read()
            statuses[answer.status] += 1


async def _large_soak(server: ServerProcess) -> LargeSoakResult:
    samples: list[int] = []
    statuses: Counter[int] = Counter()
    headers = headers_for("u_large", TENANTS[0])
    async with aiohttp.ClientSession(
        server.base_url, connector=aiohttp.TCPConnector(limit=LARGE_CLIENTS)
    ) as session:
        threads = await create_threads(session, headers, LARGE_THREADS)
        loop = asyncio.get_running_loop()
        started = loop.time()
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                samples.append(_rss_kib(server.pid))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 1.0)

        sampler = asyncio.create_task(sample())
        steps = itertools.count()
        await asyncio.gather(
            *(
                _large_client(session, headers, threads, steps, statuses)
                for _ in range(LARGE_CLIENTS)
            )
        )
        done.set()
        await sampler
        elapsed = loop.time() - started
    return LargeSoakResult(seconds=elapsed, statuses=dict(statuses), rss_kib=samples)


def run_large(*, cache_bytes: int | None = None) -> tuple[LargeSoakResult, float, int]:
    """Run the large-message soak; return it, the resting RSS in MiB and the cache bound."""
    from chat_core.caches import CACHE_BYTES

    bound = CACHE_BYTES if cache_bytes is None else cache_bytes
    extra = {"CHAT_CORE_RATE_LIMIT": "off", "CHAT_CORE_CACHE_BYTES": str(bound)}
    with tempfile.TemporaryDirectory(prefix="chat-core-soak-") as folder:
        store_url = f"sqlite:///{folder}/chat.db"
        with ServerProcess(store_url, Path(folder) / "server.log", port=None, **extra) as server:
            resting = _rss_kib(server.pid) / 1024
            result = asyncio.run(_large_soak(server))
            server.terminate()
    print(
        f"large soak   {LARGE_MESSAGES:,} posts of {LARGE_CHARS:,} chars over "
        f"{LARGE_THREADS} threads, each followed by a page read, in {result.seconds:.1f} s"
    )
    print(f"statuses     {dict(sorted(result.statuses.items()))}")
    print(
        f"rss resting {resting:.1f} MiB; thirds {result.third(0):.1f} / {result.third(1):.1f} "
        f"/ {result.third(2):.1f} MiB; peak {result.peak_mib:.1f} MiB; cache bound "
        f"{bound / (1 << 20):.0f} MiB; plateau growth {result.plateau_growth:+.1%} "
        f"(limit {GROWTH_LIMIT:.0%})"
    )
    return result, resting, bound


def main() -> None:
    """Run the soak; exit 1 on any 5xx or memory growth over the limit."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--quick", action="store_true", help="20 s instead of 60 s")
    parser.add_argument("--large", action="store_true", help="the large-message soak")
    parser.add_argument("--cache-bytes", type=int, help="CHAT_CORE_CACHE_BYTES for --large")
    arguments = parser.parse_args()
    if arguments.large:
        large, resting, bound = run_large(cache_bytes=arguments.cache_bytes)
        ceiling = resting + bound / (1 << 20) + LARGE_SLACK_MIB
        failed = (
            any(status >= 500 for status in large.statuses)
            or large.plateau_growth >= GROWTH_LIMIT
            or large.peak_mib > ceiling
        )
        sys.exit(1 if failed else 0)
    result = run(quick=arguments.quick)
    sys.exit(1 if result.server_errors or result.growth >= GROWTH_LIMIT else 0)


if __name__ == "__main__":
    main()
