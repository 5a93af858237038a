"""Durable consumer read rate: `GET /admin/consumers/{name}/events?limit=1000` on SQLite.

Run: `python -m bench.consumers [--quick]`. A log of chat events across three tenants is
written straight into a SQLite file; a real chat-core server (its own process, 127.0.0.1)
serves it, and one consumer of one tenant reads its events a thousand at a time, acking
each batch, to the end. The reference, measured in the same run on the same file, is the
store's own `read_all` of the same events (same filter) in this process: the ratio is
what the HTTP route keeps of the store's rate. Target: at least 50,000 events/s.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

import aiohttp
import orjson

from bench.http_api import AUDIENCE, ISSUER, SECRET, _free_port, _start_chat_core, _wait_ready
from bench.report import Figure, Report
from bench.tooling import build_log
from chat_core.tokens import mint_token
from events.codec import EventCodec
from events.envelope import Env
from events.store import EventFilter, open_store

__all__ = ["run"]

EVENTS, QUICK_EVENTS = 300_000, 60_000
TENANT = "t_bench0"
TARGET = 50_000
ROUNDS = 3


async def _store_rate(url: str) -> tuple[int, float]:
    store = await open_store(url, codec=EventCodec())
    try:
        selection = EventFilter(tenants={TENANT}, envs={Env.PROD})
        started = time.perf_counter()
        count = sum([1 async for _ in store.read_all(event_filter=selection)])
        return count, count / (time.perf_counter() - started)
    finally:
        await store.close()


async def _consumer_rate(base: str, headers: dict[str, str], name: str) -> tuple[int, float]:
    async with aiohttp.ClientSession(base_url=base, headers=headers) as session:
        async with session.post("/admin/consumers", json={"name": name}) as response:
            assert response.status == 201, await response.text()
        count = 0
        started = time.perf_counter()
        while True:
            async with session.get(f"/admin/consumers/{name}/events?limit=1000") as response:
                # orjson, as a consumer in a hurry would: the client's parse shares the cores.
                batch = orjson.loads(await response.read())
            if not batch["data"]:
                break
            count += len(batch["data"])
            ack = {"position": batch["next_position"]}
            async with session.post(f"/admin/consumers/{name}/ack", json=ack) as response:
                assert response.status == 200
        return count, count / (time.perf_counter() - started)


async def _measure(quick: bool) -> list[tuple[float, float, int]]:
    token = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_bench", tenants={TENANT: ["admin"]}
    )
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": TENANT, "X-Env": "prod"}
    rounds: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/bench.db"
        build_log(path, QUICK_EVENTS if quick else EVENTS)
        url = f"sqlite:///{path}"
        port = _free_port()
        server = _start_chat_core(port, url)
        try:
            await _wait_ready(f"http://127.0.0.1:{port}")
            for round_number in range(1 if quick else ROUNDS):
                count, reference = await _store_rate(url)
                read, rate = await _consumer_rate(
                    f"http://127.0.0.1:{port}", headers, f"bench{round_number}"
                )
                assert read == count, (read, count)
                rounds.append((rate, reference, count))
        finally:
            server.terminate()
            server.wait(timeout=15)
    return rounds


def run(report: Report | None = None, *, quick: bool = False) -> list[tuple[float, float, int]]:
    """Measure the consumer read rate beside the store's, and print them with the target."""
    rounds = asyncio.run(_measure(quick))
    for rate, reference, count in rounds:
        print(
            f"  consumer read of {count:,} events: {rate:,.0f} ev/s beside read_all "
            f"{reference:,.0f} ev/s ({rate / reference:.2f}x); target {TARGET:,} ev/s: "
            f"{'met' if rate >= TARGET else 'missed'}",
            flush=True,
        )
    if report is not None:
        rate, reference, _count = sorted(rounds)[len(rounds) // 2]
        report.add(
            Figure("consumer", "events?limit=1000 read + ack", rate, "ev/s", reference, "read_all")
        )
    return rounds


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
