"""Soak: mixed load on a loopback server for a bounded time; zero 5xx and flat memory.

Run: `python -m bench.soak [--quick]`. Posts, message reads and config reads from a fixed
number of clients against a `chat-core serve` subprocess on SQLite; every request counts
toward a cap, so the load is bounded in count and in time. Resident memory is sampled from
/proc each second: its mean over the last window may exceed the first window's by < 10 %.
"""

from __future__ import annotations

import argparse
import asyncio
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

__all__ = ["SoakResult", "main", "run"]

CLIENTS = 16
MAX_REQUESTS = 2_000_000
GROWTH_LIMIT = 0.10
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


def main() -> None:
    """Run the soak; exit 1 on any 5xx or memory growth over the limit."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--quick", action="store_true", help="20 s instead of 60 s")
    result = run(quick=parser.parse_args().quick)
    sys.exit(1 if result.server_errors or result.growth >= GROWTH_LIMIT else 0)


if __name__ == "__main__":
    main()
