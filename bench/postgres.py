"""PostgreSQL: appends with group commit against one transaction per append; two servers vs one.

Each measurement runs in its own fresh database, created on the server named by
CHAT_CORE_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and
dropped afterwards. Servers run as `chat-core serve` subprocesses on 127.0.0.1; one client
process drives a bounded number of authenticated POSTs, spread round-robin over them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
import asyncpg

from bench.http_api import (
    AUDIENCE,
    ISSUER,
    SECRET,
    TENANT,
    _free_port,
    _wait_ready,
)
from bench.report import Figure, Report
from bench.store import appends_per_second
from chat_core.tokens import mint_token
from events.codec import EventCodec
from events.store.postgres import PostgresEventStore

APPENDERS = 64
CONCURRENCY = 64
THREAD_ROUNDS = 8  # of bench.http_api's 32 threads each
SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _server_url() -> str:
    return os.environ.get("CHAT_CORE_BENCH_POSTGRES_URL") or SERVER_URL


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """Create an empty database, yield its URL, and drop it."""
    name = f"chat_core_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_server_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _server_url().rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def append_rate(*, group_commit: bool, seconds: float) -> tuple[float, float]:
    """Return events/s of APPENDERS appenders and the appends per transaction."""
    async with fresh_database() as url:
        store = await PostgresEventStore.open(
            url, codec=EventCodec(), group_commit=group_commit, pool_size=16
        )
        try:
            rate = await appends_per_second(store.append, APPENDERS, seconds)
            return rate, store.stats.appends / max(store.stats.commits, 1)
        finally:
            await store.close()


async def bench_appends(report: Report, seconds: float) -> None:
    """Measure group commit and one transaction per append in the same run."""
    naive, _ = await append_rate(group_commit=False, seconds=seconds)
    grouped, per_commit = await append_rate(group_commit=True, seconds=seconds)
    report.add(
        Figure(
            "pg",
            f"appends/s, {APPENDERS} appenders (group commit)",
            grouped,
            "ev/s",
            naive,
            "1 tx/append",
        )
    )
    print(f"    {per_commit:.1f} appends per transaction", flush=True)


async def _drive(
    bases: list[str],
    paths: list[str],
    *,
    headers: Mapping[str, str],
    body: bytes,
    total: int,
    seconds: float,
) -> float:
    """POST up to total requests over bases round-robin (stopping after seconds); return rps."""
    sent = failures = 0
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=dict(headers)) as session:

        async def worker(index: int) -> None:
            nonlocal sent, failures
            base = bases[index % len(bases)]
            while sent < total and time.monotonic() < stop_at:
                sent += 1
                async with session.post(base + paths[(sent + index) % len(paths)], data=body) as r:
                    await r.read()
                    failures += r.status >= 300

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{failures} of {sent} requests failed")
    return sent / elapsed


async def _make_threads(base: str, headers: Mapping[str, str], count: int = 32) -> list[str]:
    async with aiohttp.ClientSession(base, headers=dict(headers)) as session:
        threads = []
        for _ in range(count):
            async with session.post("/chat/threads", data=b"{}") as response:
                threads.append((await response.json())["id"])
        return threads


def _start_server(port: int, store_url: str, master_key: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        CHAT_CORE_STORE=store_url,
        CHAT_CORE_PORT=str(port),
        CHAT_CORE_HS256_SECRET=SECRET.decode(),
        CHAT_CORE_ISSUER=ISSUER,
        CHAT_CORE_AUDIENCE=AUDIENCE,
        CHAT_CORE_MODE="prod",
        CHAT_CORE_MASTER_KEY=master_key,
        # Throughput, not the per-tenant limit (which each instance would count alone).
        CHAT_CORE_RATE_LIMIT="off",
        CHAT_CORE_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "transports.cli.main", "serve"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def post_rate(instances: int, *, total: int, seconds: float) -> float:
    """Return authenticated POST requests/s over instances servers sharing one database."""
    token = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_bench", tenants={TENANT: ["member"]}
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Tenant-Id": TENANT,
        "X-Env": "dev",
        "Content-Type": "application/json",
    }
    async with fresh_database() as url:
        ports = [_free_port() for _ in range(instances)]
        # Every instance of one deployment shares the master key, as they share the database.
        master_key = base64.b64encode(os.urandom(32)).decode()
        servers: list[subprocess.Popen[bytes]] = []
        try:
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for port, base in zip(ports, bases, strict=True):
                # One at a time, as a rolling deploy would: start-up is not what is measured.
                servers.append(_start_server(port, url, master_key))
                await _wait_ready(base)
            # Many threads, few posts in flight on each, as in chat: instances rarely race
            # for one thread's next version (each such race costs a reload and a retry).
            threads = [
                t for _ in range(THREAD_ROUNDS) for t in await _make_threads(bases[0], headers)
            ]
            paths = [f"/chat/threads/{thread}/messages" for thread in threads]
            body = b'{"content": "hello from the benchmark"}'
            return await _drive(
                bases, paths, headers=headers, body=body, total=total, seconds=seconds
            )
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=15)


async def bench_servers(report: Report, total: int, seconds: float) -> None:
    """Measure one server, then two against the same kind of database, in the same run."""
    one = await post_rate(1, total=total, seconds=seconds)
    two = await post_rate(2, total=total, seconds=seconds)
    report.add(Figure("pg", "POST message/s, 2 servers on one PostgreSQL", two, "rps", one, "1"))


async def run(report: Report | None = None, *, quick: bool = False) -> Report:
    """Run both PostgreSQL measurements and return the report they were added to."""
    report = report if report is not None else Report(quick=quick)
    quick = quick or report.quick
    await bench_appends(report, seconds=3.0 if quick else 10.0)
    await bench_servers(report, total=3000 if quick else 20000, seconds=8.0 if quick else 30.0)
    return report


if __name__ == "__main__":
    asyncio.run(run(quick="--quick" in sys.argv)).print_table()
