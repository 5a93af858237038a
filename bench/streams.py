"""SSE fan-out benchmark: many subscribers of one thread on a real chat-core server process.

Measures, on 127.0.0.1, how long a posted message takes to reach every subscriber (p50,
p99, max) and the server's resident memory per idle subscriber (RSS after the
subscribers connect, minus RSS before, over their count). Targets: p99 < 250 ms and
< 50 KiB per subscriber with 1,000 subscribers. Bounded: a fixed number of subscribers and
posts, and a deadline on every wait.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.http_api import (
    AUDIENCE,
    ISSUER,
    SECRET,
    TENANT,
    _free_port,
    _start_chat_core,
    _wait_ready,
)
from chat_core.tokens import mint_token

SUBSCRIBERS, QUICK_SUBSCRIBERS = 1000, 200
POSTS, QUICK_POSTS = 20, 5
DEADLINE = 30.0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class _Tally:
    """Count arrivals of each version and wake whoever waits for all of them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.counts: dict[int, int] = {}
        self.complete: dict[int, asyncio.Event] = {}

    def done(self, version: int) -> asyncio.Event:
        return self.complete.setdefault(version, asyncio.Event())

    def note(self, version: int) -> None:
        self.counts[version] = self.counts.get(version, 0) + 1
        if self.counts[version] == self.expected:
            self.done(version).set()


class _Subscriber:
    """One SSE connection that notes when each version arrives."""

    def __init__(self, tally: _Tally) -> None:
        self.arrivals: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.tally = tally

    async def follow(
        self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]
    ) -> None:
        async with session.get(url, headers=headers) as response:
            response.raise_for_status()
            async for raw in response.content:
                if raw.startswith(b"id: "):
                    version = int(raw[4:])
                    self.arrivals[version] = time.perf_counter()
                    self.tally.note(version)
                    self.ready.set()


async def _measure(quick: bool) -> dict[str, float]:
    count = QUICK_SUBSCRIBERS if quick else SUBSCRIBERS
    posts = QUICK_POSTS if quick else POSTS
    _raise_fd_limit(count * 2 + 256)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    token = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_bench", tenants={TENANT: ["member"]}
    )
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": TENANT, "X-Env": "dev"}
    with tempfile.TemporaryDirectory() as folder:
        server = _start_chat_core(port, f"sqlite:///{folder}/bench.db")
        try:
            await _wait_ready(base)
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                async with session.post(f"{base}/chat/threads", json={}, headers=headers) as r:
                    thread_id = (await r.json())["id"]
                await asyncio.sleep(0.5)
                rss_before = _rss_kib(server.pid)
                url = f"{base}/chat/threads/{thread_id}/events"
                tally = _Tally(count)
                subscribers = [_Subscriber(tally) for _ in range(count)]
                tasks = [asyncio.create_task(s.follow(session, url, headers)) for s in subscribers]
                async with asyncio.timeout(DEADLINE):
                    await asyncio.gather(*(s.ready.wait() for s in subscribers))
                await asyncio.sleep(1.0)
                rss_after = _rss_kib(server.pid)
                latencies: list[float] = []
                post_url = f"{base}/chat/threads/{thread_id}/messages"
                for n in range(posts):
                    version = n + 2
                    started = time.perf_counter()
                    async with session.post(post_url, json={"content": f"m{n}"}, headers=headers):
                        pass
                    async with asyncio.timeout(DEADLINE):
                        await tally.done(version).wait()
                    latencies += [s.arrivals[version] - started for s in subscribers]
                    await asyncio.sleep(0.05)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            server.terminate()
            server.wait(timeout=15)
    latencies.sort()
    return {
        "subscribers": count,
        "posts": posts,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "kib_per_subscriber": (rss_after - rss_before) / count,
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
    }


def run(*, quick: bool = False) -> dict[str, float]:
    """Measure SSE fan-out latency and memory per subscriber, and print them with the targets."""
    figures = asyncio.run(_measure(quick))
    print(f"\nSSE fan-out: {figures['subscribers']:.0f} subscribers of one thread, loopback")
    print(f"  delivery of a posted message over {figures['posts']:.0f} posts:")
    print(f"    p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms (target < 250 ms),")
    print(f"    max {figures['max_ms']:.1f} ms")
    print(
        f"  server RSS {figures['rss_before_mib']:.1f} -> {figures['rss_after_mib']:.1f} MiB: "
        f"{figures['kib_per_subscriber']:.1f} KiB per idle subscriber (target < 50 KiB)"
    )
    return figures


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
