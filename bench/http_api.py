"""HTTP benchmark: authenticated POST message and GET message page, against a bare aiohttp server.

Each server runs in its own process on 127.0.0.1; one client process drives a bounded
number of requests with a fixed concurrency and reports requests per second.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from chat_core.tokens import mint_token

SECRET = b"bench-secret-bench-secret-bench-secret!!"
ISSUER, AUDIENCE, TENANT = "bench-issuer", "chat-core", "t_bench"
CONCURRENCY = 32
THREADS = 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_ready(base: str, deadline: float = 20.0) -> None:
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - start < deadline:
            try:
                async with session.get(base + "/healthz") as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server at {base} did not start")


def _start_chat_core(port: int, store_url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        CHAT_CORE_STORE=store_url,
        CHAT_CORE_PORT=str(port),
        CHAT_CORE_HS256_SECRET=SECRET.decode(),
        CHAT_CORE_ISSUER=ISSUER,
        CHAT_CORE_AUDIENCE=AUDIENCE,
        CHAT_CORE_MODE="prod",
        CHAT_CORE_LOG_LEVEL="WARNING",
        CHAT_CORE_RATE_LIMIT="off",  # one tenant at full speed is the point here
    )
    command = [sys.executable, "-m", "transports.cli.main", "serve"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def _start_bare(port: int) -> subprocess.Popen[bytes]:
    script = Path(__file__).with_name("bare_server.py")
    return subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL)


async def _drive(
    base: str,
    method: str,
    paths: list[str],
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    total: int,
    seconds: float,
) -> float:
    """Send up to total requests (stopping after seconds) and return requests per second."""
    sent = 0
    failures = 0
    stop_at = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(base, connector=connector, headers=dict(headers)) as session:

        async def worker(index: int) -> None:
            nonlocal sent, failures
            while sent < total and time.monotonic() < stop_at:
                sent += 1
                path = paths[(sent + index) % len(paths)]
                async with session.request(method, path, data=body) as response:
                    await response.read()
                    if response.status >= 300:
                        failures += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{failures} of {sent} requests to {base} failed")
    return sent / elapsed


async def _measure(quick: bool) -> list[tuple[str, float, float]]:
    total = 3000 if quick else 20000
    seconds = 10.0 if quick else 30.0
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_bench",
        tenants={TENANT: ["member"]},
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Tenant-Id": TENANT,
        "X-Env": "dev",
        "Content-Type": "application/json",
    }
    body = b'{"content": "hello from the benchmark"}'
    ours_port, bare_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as folder:
        ours = _start_chat_core(ours_port, f"sqlite:///{folder}/bench.db")
        bare = _start_bare(bare_port)
        try:
            ours_base, bare_base = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{bare_port}"
            await _wait_ready(ours_base)
            await _wait_ready(bare_base)
            threads = await _make_threads(ours_base, headers)
            paths = [f"/chat/threads/{thread}/messages" for thread in threads]
            rows = []
            ours_post = await _drive(
                ours_base, "POST", paths, headers=headers, body=body, total=total, seconds=seconds
            )
            bare_post = await _drive(
                bare_base, "POST", paths, headers=headers, body=body, total=total, seconds=seconds
            )
            rows.append(("POST message (authenticated, durable)", ours_post, bare_post))
            pages = [path + "?limit=20" for path in paths]
            ours_get = await _drive(
                ours_base, "GET", pages, headers=headers, body=None, total=total, seconds=seconds
            )
            bare_get = await _drive(
                bare_base, "GET", pages, headers=headers, body=None, total=total, seconds=seconds
            )
            rows.append(("GET message page of 20", ours_get, bare_get))
            return rows
        finally:
            for process in (ours, bare):
                process.terminate()
                process.wait(timeout=15)


async def _make_threads(base: str, headers: Mapping[str, str]) -> list[str]:
    async with aiohttp.ClientSession(base, headers=dict(headers)) as session:
        threads = []
        for _ in range(THREADS):
            async with session.post("/chat/threads", data=b"{}") as response:
                threads.append((await response.json())["id"])
        return threads


def run(*, quick: bool = False) -> list[tuple[str, float, float]]:
    """Measure and print each figure beside the bare aiohttp server's, with the ratio."""
    rows = asyncio.run(_measure(quick))
    print(f"\nHTTP, {CONCURRENCY} concurrent connections, loopback, requests/s")
    print(f"{'':40} {'chat-core':>12} {'bare aiohttp':>14} {'ratio':>7}")
    for name, ours, bare in rows:
        print(f"{name:40} {ours:12,.0f} {bare:14,.0f} {ours / bare:7.2f}")
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
