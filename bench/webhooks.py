"""Webhook delivery benchmark: fan-out rate, and append-to-receipt latency at a steady rate.

Run: `python -m bench.webhooks [--quick]`. A real chat-core server (its own process, core 0,
SQLite, CHAT_CORE_WEBHOOK_ALLOW=127.0.0.1) delivers to an aiohttp receiver in this process
(core 1, beside the load).

- Fan-out: WEBHOOKS webhooks of one tenant, then POSTS posted messages as fast as 16
  clients go; the rate is deliveries (webhooks x posts) over the time from the first post
  to the last receipt. The reference, in the same run, is the same receiver taking the
  same number of bodies from a bare aiohttp client with WEBHOOKS sequential senders (what
  loopback and the receiver allow); the ratio is chat-core's share of it. Target: at least
  2,000 deliveries/s.
- Latency: one webhook, messages posted at RATE per second for SECONDS; each receipt's
  time minus the moment its post was sent (so the append is included). Target: p99 under
  250 ms at 200 events/s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiohttp
import orjson
from aiohttp import web

from bench.http_api import AUDIENCE, ISSUER, SECRET, _free_port, _start_chat_core, _wait_ready
from bench.report import Figure, Report
from chat_core.tokens import mint_token

__all__ = ["run"]

TENANT = "t_bench"
WEBHOOKS, POSTS, QUICK_POSTS = 20, 500, 100
RATE, SECONDS, QUICK_SECONDS = 200, 10, 3
FAN_OUT_TARGET, P99_TARGET_MS = 2_000, 250.0
DEADLINE = 120.0


class _Receiver:
    """Note when each delivery arrives, keyed by its content."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self.arrivals: dict[str, float] = {}
        self.expected = 0
        # With a prefix, done counts the distinct contents of that prefix (a repeat, or a
        # late delivery of the phase before, is no new arrival).
        self.prefix = ""
        self.done = asyncio.Event()

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.perf_counter()
        self.count += 1
        self.last = now
        if self.prefix and b'"chat.message.posted"' in body:
            content = orjson.loads(body)["data"]["content"]
            if content.startswith(self.prefix):
                self.arrivals.setdefault(content, now)
        arrived = len(self.arrivals) if self.prefix else self.count
        if arrived >= self.expected:
            self.done.set()
        return web.Response(status=204)

    def expect(self, count: int, prefix: str = "") -> None:
        self.count, self.expected, self.last, self.prefix = 0, count, 0.0, prefix
        self.arrivals.clear()
        self.done.clear()


async def _serve_receiver(receiver: _Receiver, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def _post(session: aiohttp.ClientSession, thread: str, content: str) -> None:
    async with session.post(f"/chat/threads/{thread}/messages", json={"content": content}) as r:
        assert r.status == 201, await r.text()


async def _fan_out(
    session: aiohttp.ClientSession, receiver: _Receiver, hook_url: str, posts: int
) -> float:
    for _ in range(WEBHOOKS):
        body = {"url": hook_url, "types": ["chat.message.posted"]}
        async with session.post("/admin/webhooks", json=body) as response:
            assert response.status == 201, await response.text()
    async with session.post("/chat/threads", json={}) as response:
        thread = (await response.json())["id"]
    await asyncio.sleep(2.0)  # every webhook leased and idle
    receiver.expect(WEBHOOKS * posts)
    started = time.perf_counter()
    queue = iter(range(posts))

    async def poster() -> None:
        for n in queue:
            await _post(session, thread, f"f{n}")

    await asyncio.gather(*(poster() for _ in range(16)))
    await asyncio.wait_for(receiver.done.wait(), DEADLINE)
    rate = receiver.count / (receiver.last - started)
    async with session.get("/admin/webhooks") as response:
        for hook in (await response.json())["data"]:
            async with session.delete(f"/admin/webhooks/{hook['id']}"):
                pass
    return rate


async def _reference(receiver: _Receiver, hook_url: str, count: int) -> float:
    body = orjson.dumps({"type": "chat.message.posted", "data": {"content": "x" * 60}})
    receiver.expect(count)
    per_sender = count // WEBHOOKS
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            for _ in range(per_sender):
                async with session.post(hook_url, data=body) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(WEBHOOKS)))
    return receiver.count / (time.perf_counter() - started)


async def _latency(
    session: aiohttp.ClientSession, receiver: _Receiver, hook_url: str, seconds: int
) -> list[float]:
    body = {"url": hook_url, "types": ["chat.message.posted"]}
    async with session.post("/admin/webhooks", json=body) as response:
        assert response.status == 201
    async with session.post("/chat/threads", json={}) as response:
        thread = (await response.json())["id"]
    await asyncio.sleep(2.0)
    count = RATE * seconds
    receiver.expect(count, prefix="l")
    sent: dict[str, float] = {}
    tasks = []
    start = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / RATE - time.perf_counter()))
        content = f"l{n}"
        sent[content] = time.perf_counter()
        tasks.append(asyncio.create_task(_post(session, thread, content)))
    await asyncio.gather(*tasks)
    await asyncio.wait_for(receiver.done.wait(), DEADLINE)
    return sorted(receiver.arrivals[c] - sent[c] for c in sent)


async def _measure(quick: bool) -> dict[str, float]:
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_bench",
        tenants={TENANT: ["member", "admin"]},
    )
    headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": TENANT, "X-Env": "dev"}
    receiver = _Receiver()
    receiver_port = _free_port()
    runner = await _serve_receiver(receiver, receiver_port)
    hook_url = f"http://127.0.0.1:{receiver_port}/hook"
    os.environ["CHAT_CORE_WEBHOOK_ALLOW"] = "127.0.0.1"
    try:
        with tempfile.TemporaryDirectory() as folder:
            port = _free_port()
            server = _start_chat_core(port, f"sqlite:///{folder}/bench.db")
            base = f"http://127.0.0.1:{port}"
            try:
                await _wait_ready(base)
                async with aiohttp.ClientSession(base_url=base, headers=headers) as session:
                    posts = QUICK_POSTS if quick else POSTS
                    fan_out = await _fan_out(session, receiver, hook_url, posts)
                    reference = await _reference(receiver, hook_url, WEBHOOKS * posts)
                    latencies = await _latency(
                        session, receiver, hook_url, QUICK_SECONDS if quick else SECONDS
                    )
            finally:
                server.terminate()
                server.wait(timeout=15)
    finally:
        await runner.cleanup()
    return {
        "fan_out": fan_out,
        "reference": reference,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "events": len(latencies),
    }


def run(report: Report | None = None, *, quick: bool = False) -> dict[str, float]:
    """Measure webhook fan-out and latency, and print them with their targets."""
    figures = asyncio.run(_measure(quick))
    fan_out, reference = figures["fan_out"], figures["reference"]
    print(
        f"  fan-out to {WEBHOOKS} webhooks: {fan_out:,.0f} deliveries/s beside a bare aiohttp"
        f" sender {reference:,.0f}/s ({fan_out / reference:.2f}x); target {FAN_OUT_TARGET:,}/s:"
        f" {'met' if fan_out >= FAN_OUT_TARGET else 'missed'}"
    )
    print(
        f"  append to receipt at {RATE} events/s ({figures['events']:.0f} events): p50"
        f" {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max"
        f" {figures['max_ms']:.1f} ms; target p99 < {P99_TARGET_MS:.0f} ms:"
        f" {'met' if figures['p99_ms'] < P99_TARGET_MS else 'missed'}",
        flush=True,
    )
    if report is not None:
        report.add(Figure("webhook", "fan-out deliveries", fan_out, "/s", reference, "bare"))
        report.add(Figure("webhook", f"p99 append to receipt at {RATE}/s", figures["p99_ms"], "ms"))
    return figures


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
