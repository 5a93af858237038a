"""Thread listing among private threads: GET /chat/threads beside a message page.

Run: `python -m bench.thread_list [--quick]`. A tenant of THREADS threads (--quick: a
tenth), each of PER_THREAD messages, is appended straight to a SQLite file: all but OPEN
of them private to one of OWNERS other users, OPEN open to the tenant (1 in 100; with
--quick 1 in 10). The benchmark's
member (u_bench) sees only the open ones, spread evenly through the log, so a listing's
first page of 20 lies among about THREADS / OPEN * 20 threads it may not see.

One chat-core server (`serve`, access log off) on that file on 127.0.0.1, pinned to core
0, wrk on core 1. First, right after the server starts (nothing folded yet), ALONE
listings are timed one at a time; then over ROUNDS rounds of SECONDS each: a thread's
message page (the reference), the member's first page of threads, and the same listing
with `archived=all`; each ratio is the median of its per-round ratios to the page of the same
round.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

import aiohttp

from bench.http_api import (
    TENANT,
    Measurement,
    _free_port,
    _start_chat_core,
    _wait_ready,
    bench_token,
    page_ratio_table,
)
from bench.search import measure_rounds, thread_events
from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.store.sqlite import SQLiteEventStore

__all__ = ["run"]

THREADS, PER_THREAD, OPEN, OWNERS = 10_000, 10, 100, 50
ROUNDS, SECONDS = 5, 4
# Listings timed one at a time before the rounds, the first of them cold.
ALONE = 21
PAGE = "GET message page of 20 (reference)"
LIST = "GET threads the member may see, page 20"
LIST_ALL = "GET threads archived=all, page 20"
APPENDERS = 16


def _thread(number: int, opened: bool, now: datetime) -> tuple[str, list[DatasetEvent]]:
    texts = [
        f"message {seq} of thread {number}, in clear as schema 1 kept it"
        for seq in range(1, PER_THREAD + 1)
    ]
    author = "u_bench" if opened else f"u_owner{number % OWNERS}"
    visibility = "tenant" if opened else "private"
    return thread_events(number, texts, now, author=author, visibility=visibility)


async def _build(path: str, threads: int) -> str:
    """Append the tenant's threads; return an open thread's id."""
    store = await SQLiteEventStore.open(path, codec=EventCodec())
    every = threads // OPEN
    now = datetime.now(UTC)
    opened = ""
    try:
        for start in range(0, threads, APPENDERS):
            batch = [
                _thread(n, n % every == every // 2, now)
                for n in range(start, min(threads, start + APPENDERS))
            ]
            for number, (thread_id, _events) in enumerate(batch, start):
                if number % every == every // 2:
                    opened = opened or thread_id
            await asyncio.gather(
                *(store.append(events[0].stream, events, 0) for _id, events in batch)
            )
    finally:
        await store.close()
    return opened


async def _alone(url: str, headers: dict[str, str], times: int) -> list[float]:
    """Time listings one after another; return each one's milliseconds."""
    took = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(times):
            began = time.perf_counter()
            async with session.get(url) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            took.append((time.perf_counter() - began) * 1000)
            assert len(body["data"]) == 20, body
    return took


async def _run(quick: bool) -> tuple[list[float], list[list[Measurement]], int]:
    threads = THREADS // 10 if quick else THREADS
    rounds, seconds = (2, 2) if quick else (ROUNDS, SECONDS)
    headers = {
        "Authorization": f"Bearer {bench_token()}",
        "X-Tenant-Id": TENANT,
        "X-Env": "dev",
    }
    with tempfile.TemporaryDirectory(dir=".") as folder:
        thread_id = await _build(f"{folder}/threads.db", threads)
        port = _free_port()
        server = _start_chat_core(port, f"sqlite:///{folder}/threads.db")
        measured: list[list[Measurement]] = []
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(base, deadline=600)
            urls = [
                (PAGE, f"{base}/chat/threads/{thread_id}/messages?limit=20"),
                (LIST, f"{base}/chat/threads?limit=20"),
                (LIST_ALL, f"{base}/chat/threads?limit=20&archived=all"),
            ]
            alone = await _alone(urls[1][1], headers, ALONE)
            measured = await measure_rounds(urls, headers, folder, seconds=seconds, rounds=rounds)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return alone, measured, threads


def run(*, quick: bool = False) -> list[Measurement]:
    """Measure and print the listing's rates beside the page of the same rounds."""
    alone, rounds, threads = asyncio.run(_run(quick))
    tool = "wrk" if shutil.which("wrk") else "aiohttp client (install wrk for real figures)"
    print(
        f"\nthread listing, {threads:,} threads of {PER_THREAD} messages,"
        f" 1 in {threads // OPEN} open to the tenant; server on core 0, load by {tool}"
    )
    print(
        f"  one listing at a time: the first after the server started {alone[0]:.1f} ms,"
        f" then median {statistics.median(alone[1:]):.1f} ms of {len(alone) - 1}"
    )
    print("  req/s per round (x page):")
    return page_ratio_table(rounds)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
