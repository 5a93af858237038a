"""Generation benchmark: assistant replies streamed as chunks, on a real chat-core server.

Run: `python -m bench.generation [--quick]`. One `chat-core serve` process on 127.0.0.1 in
the default configuration (access log on, text, to a pipe this process drains), pinned to
core 0; this process, the load, on core 1. Two parts, each figure beside its reference
measured in the same run:

1. Cost. CONNECTIONS raw keep-alive clients, first each POSTing plain messages (the
   reference), then each streaming chunks of its own in-progress reply over HTTP
   (`POST …/chunks`, the next index every time, so every chunk appends), in ROUNDS rounds
   of SECONDS each; the ratio is the median of the rounds' chunk-rate to POST-rate ratios
   (this machine's speed drifts by tens of percent between half-minutes). Target: a chunk
   costs no more than a plain POST, i.e. a ratio of at least 1.0.
2. Streaming. GENERATIONS threads, one agent WebSocket per thread streaming one reply at
   RATE chunks per second for DURATION seconds (the next chunk once the previous one is
   acknowledged and its time has come), and one member's SSE reader per thread. Counted:
   acknowledged chunks the reader never saw (lost), chunks a reader saw twice (duplicated),
   chunk-to-reader latency (from the WebSocket send to the SSE frame's arrival), the chunk
   rate served over the plain POST rate of part 1, and each reply read back after its
   `complete` equal to its acknowledged chunks. Targets: zero lost or duplicated, p99 under
   100 ms.

Bounded: a fixed count of connections and a deadline on every wait; no request leaves
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from typing import Any

import aiohttp
import orjson

from bench.http_api import (
    AUDIENCE,
    ISSUER,
    LOAD_CORE,
    SECRET,
    TENANT,
    _free_port,
    _LineCounter,
    _start_chat_core,
    _wait_ready,
)
from chat_core.tokens import mint_token

__all__ = ["run"]

CONNECTIONS = 32
ROUNDS, QUICK_ROUNDS = 5, 2
SECONDS, QUICK_SECONDS = 4.0, 2.0
GENERATIONS, QUICK_GENERATIONS = 200, 40
RATE = 20  # chunks per second per generation
DURATION, QUICK_DURATION = 20.0, 5.0
DEADLINE = 60.0
POST_BODY = b'{"content": "hello from the benchmark"}'
TOKEN_TEXT = "tok "


def _token(sub: str, role: str) -> str:
    return mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub=sub,
        tenants={TENANT: [role]},
        ttl=3600,
    )


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": TENANT, "X-Env": "dev"}


def _raw_headers(token: str) -> str:
    return f"Authorization: Bearer {token}\r\nX-Tenant-Id: {TENANT}\r\nX-Env: dev\r\nHost: b\r\n"


def _post(path: str, headers: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 20"):
        raise RuntimeError(f"unexpected answer: {head[:120]!r}")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    if length is None:
        raise RuntimeError(f"an answer without a length: {head[:120]!r}")
    return await reader.readexactly(int(length.group(1)))


# Part 1: a chunk over HTTP against a plain POST.


async def _keep_posting(port: int, request: bytes, stop_at: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            await _answer(reader)
            done += 1
    finally:
        writer.close()
    return done


class _Streamer:
    """One keep-alive connection streaming chunks of its own in-progress reply."""

    def __init__(self, port: int, thread_id: str, headers: str) -> None:
        self.port, self.thread_id, self.headers = port, thread_id, headers
        self.index = 0
        self.path = ""

    async def start(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = b'{"role": "assistant", "status": "in_progress"}'
        writer.write(_post(f"/chat/threads/{self.thread_id}/messages", self.headers, body))
        message_id = orjson.loads(await _answer(reader))["id"]
        writer.close()
        self.path = f"/chat/threads/{self.thread_id}/messages/{message_id}/chunks"

    async def stream(self, stop_at: float) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        done = 0
        try:
            while time.monotonic() < stop_at:
                body = b'{"index": %d, "content": "%s"}' % (self.index, TOKEN_TEXT.encode())
                writer.write(_post(self.path, self.headers, body))
                answer = orjson.loads(await _answer(reader))
                if answer["index"] != self.index:
                    raise RuntimeError(f"chunk {self.index} answered as {answer}")
                self.index += 1
                done += 1
        finally:
            writer.close()
        return done


async def _cost(port: int, thread_id: str, rounds: int, seconds: float) -> dict[str, Any]:
    member, agent = (
        _raw_headers(_token("u_bench", "member")),
        _raw_headers(_token("u_agent", "agent")),
    )
    post = _post(f"/chat/threads/{thread_id}/messages", member, POST_BODY)
    streamers = [_Streamer(port, thread_id, agent) for _ in range(CONNECTIONS)]
    for streamer in streamers:
        await streamer.start()
    # Warm both paths before the first round.
    warm = time.monotonic() + 0.5
    await asyncio.gather(*(_keep_posting(port, post, warm) for _ in range(CONNECTIONS)))
    warm = time.monotonic() + 0.5
    await asyncio.gather(*(s.stream(warm) for s in streamers))
    posts: list[float] = []
    chunks: list[float] = []
    for _ in range(rounds):
        began = time.monotonic()
        counts = await asyncio.gather(
            *(_keep_posting(port, post, began + seconds) for _ in range(CONNECTIONS))
        )
        posts.append(sum(counts) / (time.monotonic() - began))
        began = time.monotonic()
        counts = await asyncio.gather(*(s.stream(began + seconds) for s in streamers))
        chunks.append(sum(counts) / (time.monotonic() - began))
    ratios = [c / p for c, p in zip(chunks, posts, strict=True)]
    return {
        "post_rps": statistics.median(posts),
        "chunk_rps": statistics.median(chunks),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


# Part 2: many replies streaming at once, each followed by one reader.


class _Reply:
    """One generation: what its agent sent and had acknowledged, and what its reader saw."""

    def __init__(self, thread_id: str) -> None:
        self.thread_id = thread_id
        self.message_id = ""
        self.sent_at: dict[int, float] = {}
        self.acked: list[int] = []
        self.seen: dict[int, float] = {}
        self.duplicates = 0
        self.reader_ready = asyncio.Event()
        self.completed = asyncio.Event()


async def _read_thread(
    session: aiohttp.ClientSession, base: str, reply: _Reply, token: str
) -> None:
    url = f"{base}/chat/threads/{reply.thread_id}/events"
    kind = b""
    async with session.get(url, headers=_headers(token)) as response:
        response.raise_for_status()
        reply.reader_ready.set()
        async for raw in response.content:
            if raw.startswith(b"event: "):
                kind = raw[7:].strip()
            elif raw.startswith(b"data: ") and kind == b"chat.message.chunk":
                arrived = time.perf_counter()
                data = orjson.loads(raw[6:])["data"]
                index = data["index"]
                if index in reply.seen:
                    reply.duplicates += 1
                else:
                    reply.seen[index] = arrived
            elif raw.startswith(b"data: ") and kind == b"chat.message.completed":
                reply.completed.set()
                return


async def _generate(
    session: aiohttp.ClientSession, base: str, reply: _Reply, token: str, duration: float
) -> None:
    headers = _headers(token)
    async with session.post(
        f"{base}/chat/threads/{reply.thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "bench"},
        headers=headers,
    ) as response:
        response.raise_for_status()
        reply.message_id = (await response.json())["id"]
    target = {"thread_id": reply.thread_id, "message_id": reply.message_id}
    async with session.ws_connect(f"{base}/chat/ws", headers=headers) as socket:
        began = time.perf_counter()
        for index in range(int(duration * RATE)):
            due = began + index / RATE
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            reply.sent_at[index] = time.perf_counter()
            frame = {"op": "chunk", "id": index, **target, "index": index, "content": TOKEN_TEXT}
            await socket.send_str(orjson.dumps(frame).decode())
            answer = orjson.loads((await socket.receive()).data)
            if answer.get("op") != "ack":
                raise RuntimeError(f"chunk {index} refused: {answer}")
            reply.acked.append(index)
        await socket.send_str(
            orjson.dumps(
                {"op": "complete", "id": "done", **target, "finish_reason": "stop"}
            ).decode()
        )
        answer = orjson.loads((await socket.receive()).data)
        if answer.get("op") != "ack":
            raise RuntimeError(f"complete refused: {answer}")


async def _streaming(base: str, count: int, duration: float) -> dict[str, Any]:
    member, agent = _token("u_reader", "member"), _token("u_agent", "agent")
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        replies = []
        for _ in range(count):
            async with session.post(
                f"{base}/chat/threads", json={}, headers=_headers(member)
            ) as response:
                replies.append(_Reply((await response.json())["id"]))
        readers = [asyncio.create_task(_read_thread(session, base, r, member)) for r in replies]
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(r.reader_ready.wait() for r in replies))
        began = time.perf_counter()
        async with asyncio.timeout(duration + DEADLINE):
            await asyncio.gather(*(_generate(session, base, r, agent, duration) for r in replies))
        elapsed = time.perf_counter() - began
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(r.completed.wait() for r in replies))
        await asyncio.gather(*readers, return_exceptions=True)
        mismatched = 0
        for reply in replies:
            async with session.get(
                f"{base}/chat/threads/{reply.thread_id}/messages", headers=_headers(member)
            ) as response:
                message = (await response.json())["data"][0]
            wanted = TOKEN_TEXT * len(reply.acked)
            mismatched += (message["status"], message["content"]) != ("complete", wanted)
    latencies = sorted(r.seen[i] - r.sent_at[i] for r in replies for i in r.acked if i in r.seen)
    acked = sum(len(r.acked) for r in replies)
    return {
        "generations": count,
        "acked": acked,
        "lost": sum(1 for r in replies for i in r.acked if i not in r.seen),
        "duplicated": sum(r.duplicates for r in replies),
        "mismatched": mismatched,
        "chunk_rps": acked / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


async def _measure(quick: bool) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        server = _start_chat_core(port, f"sqlite:///{folder}/bench.db", access_log=True)
        assert server.stderr is not None
        lines = _LineCounter(server.stderr)
        try:
            await _wait_ready(base)
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{base}/chat/threads", json={}, headers=_headers(_token("u_bench", "member"))
                ) as response,
            ):
                thread_id = (await response.json())["id"]
            cost = await _cost(
                port,
                thread_id,
                QUICK_ROUNDS if quick else ROUNDS,
                QUICK_SECONDS if quick else SECONDS,
            )
            streaming = await _streaming(
                base,
                QUICK_GENERATIONS if quick else GENERATIONS,
                QUICK_DURATION if quick else DURATION,
            )
        finally:
            server.terminate()
            server.wait(timeout=15)
        access_lines = lines.wait()
    return {"cost": cost, "streaming": streaming, "access_lines": access_lines}


def _pin_load() -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(LOAD_CORE)})


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure chunk cost against a plain POST and many concurrent streamed replies."""
    _pin_load()
    figures = asyncio.run(_measure(quick))
    cost, streaming = figures["cost"], figures["streaming"]
    rounds = ", ".join(f"{ratio:.3f}" for ratio in cost["ratios"])
    print(f"\nGeneration, one server, default configuration (access log on), {CONNECTIONS} clients")
    print(
        f"  chunk over HTTP {cost['chunk_rps']:,.0f} req/s beside plain POST "
        f"{cost['post_rps']:,.0f} req/s: {cost['ratio']:.3f}x (rounds {rounds}; target >= 1.0)"
    )
    print(
        f"  {streaming['generations']} generations x {RATE} chunks/s over the WebSocket, "
        "one SSE reader per thread:"
    )
    print(
        f"    {streaming['acked']:,} chunks acknowledged, {streaming['lost']} lost, "
        f"{streaming['duplicated']} duplicated, {streaming['mismatched']} replies read back "
        "different (target 0, 0, 0)"
    )
    print(
        f"    chunk to reader p50 {streaming['p50_ms']:.1f} ms, p99 {streaming['p99_ms']:.1f} ms "
        f"(target < 100 ms), max {streaming['max_ms']:.1f} ms"
    )
    print(
        f"    chunks served {streaming['chunk_rps']:,.0f}/s beside plain POST "
        f"{cost['post_rps']:,.0f} req/s: {streaming['chunk_rps'] / cost['post_rps']:.3f}x"
    )
    print(f"  access lines written: {figures['access_lines']:,}")
    return figures


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
