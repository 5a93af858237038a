"""Instructions per authenticated POST (or GET, or chunk), counted by valgrind: a steady figure.

Run: `python -m bench.instructions [post|get|chunk] [--access-log] [--no-index]` (needs
Debian's valgrind); --no-index serves without the search index (bootstrap's
search_index=False), the reference for what the index costs.
`chunk` is POST …/messages/{id}/chunks: each client starts a generation of its own in the
thread (an agent's in-progress assistant message) and appends its chunks, index after index,
with the benchmark's words as each chunk's content.
The server (the real app on a SQLite file in a temporary folder, with the serve command's
GC settings and event loop; its logs off, or with --access-log set up as serve sets them
up by default: INFO, text, one access line per request, here to a file in that folder)
and 32 raw keep-alive clients run in one process under `valgrind --tool=callgrind`, once
with SHORT and once with LONG requests; the difference of the two totals over the
difference of the counts is the cost of one request, start-up and warm-up cancelled out.
The clients' own instructions are included, the same for any version of the server.

Wall-clock figures on this machine drift by tens of percent between half-minutes, so two
versions of the code a few percent apart cannot be told apart by req/s; instruction
counts of the same run repeat within 0.2%. Instructions are not time (a cache miss costs
more than an add): quote them beside bench.http_api's figures, not instead of them.
`--child N KIND [--access-log] [--no-index]` is the measured process itself.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile

import orjson
from aiohttp import web

from bench.http_api import AUDIENCE, ISSUER, SECRET, TENANT, bench_settings, bench_token
from chat_core.bootstrap import bootstrap
from chat_core.tokens import mint_token
from transports.cli.logs import configure_logging
from transports.cli.main import GC_THRESHOLDS, SWITCH_INTERVAL, new_loop
from transports.http.app import create_app

__all__ = ["main"]

SHORT, LONG = 1_600, 4_800
CLIENTS = 32
WARM_UP = 40
BODY = b'{"content": "hello from the benchmark"}'
KINDS = ("post", "get", "chunk")
# A generation's start: an agent's assistant message in progress, its text to come in chunks.
START = b'{"role": "assistant", "status": "in_progress"}'


def _child(requests: int, kind: str, access_log: bool, index: bool) -> None:
    """Be the measured process: serve and load, logs off or the access log to a file."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)
    with tempfile.TemporaryDirectory() as folder, open(f"{folder}/access.log", "w+") as log:
        if access_log:
            configure_logging(log_format="text", level="INFO", stream=log)
        else:
            logging.disable(logging.WARNING)
        # On the loop the serve command runs on: uvloop where installed.
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(_serve_and_load(folder, requests, kind, index))
        if access_log:
            logging.getLogger().handlers[0].flush()
            log.seek(0)
            lines = sum(" chat_core.access: " in line for line in log)
            # A broken access log cannot be counted as a cheap one: one line per request.
            # A chunk run's clients each start their generation with one post first.
            sent = 1 + CLIENTS * (WARM_UP + requests // CLIENTS + (kind == "chunk"))
            if lines != sent:
                raise RuntimeError(f"{lines} access lines for {sent} requests")


async def _serve_and_load(folder: str, requests: int, kind: str, index: bool) -> None:
    """Serve the real app on a SQLite file in folder and load it."""
    settings = bench_settings(f"sqlite:///{folder}/bench.db")
    core = await bootstrap(settings=settings, search_index=index)
    runner = web.AppRunner(create_app(core), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await _load(port, requests, kind)
    finally:
        await runner.cleanup()


async def _load(port: int, requests: int, kind: str) -> None:
    # Only an agent starts a generation; a member posts the plain messages.
    token = _agent_token() if kind == "chunk" else bench_token()
    headers = f"Authorization: Bearer {token}\r\nX-Tenant-Id: {TENANT}\r\nX-Env: dev\r\nHost: b\r\n"
    create = (
        f"POST /chat/threads HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
        "Content-Length: 2\r\n\r\n{}"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(create)
    thread_id = re.search(rb'"id":"([^"]+)"', await _answer(reader)).group(1).decode()  # type: ignore[union-attr]
    writer.close()
    path = f"/chat/threads/{thread_id}/messages"
    if kind == "chunk":
        await _load_chunks(port, requests, path, headers)
        return
    if kind == "post":
        request = (
            f"POST {path} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode() + BODY
    else:
        request = f"GET {path}?limit=20 HTTP/1.1\r\n{headers}\r\n".encode()

    async def client(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(request)
            await _answer(reader)
        writer.close()

    await asyncio.gather(*(client(WARM_UP) for _ in range(CLIENTS)))
    await asyncio.gather(*(client(requests // CLIENTS) for _ in range(CLIENTS)))


def _agent_token() -> str:
    return mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_bench_agent",
        tenants={TENANT: ["agent"]},
        ttl=3600,
    )


async def _load_chunks(port: int, requests: int, path: str, headers: str) -> None:
    """Start one generation per client, then append its chunks, WARM_UP first."""
    start = (
        f"POST {path} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
        f"Content-Length: {len(START)}\r\n\r\n"
    ).encode() + START
    content = orjson.loads(BODY)["content"]

    async def client(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(start)
        message_id = orjson.loads(await _answer(reader))["id"]
        target = f"POST {path}/{message_id}/chunks HTTP/1.1\r\n"
        chunks = f"{target}{headers}Content-Type: application/json\r\n"
        for index in range(WARM_UP + count):
            body = orjson.dumps({"index": index, "content": content})
            writer.write(f"{chunks}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await _answer(reader)
        writer.close()

    await asyncio.gather(*(client(requests // CLIENTS) for _ in range(CLIENTS)))


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 20"):
        raise RuntimeError(f"unexpected answer: {head[:80]!r}")
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    assert length is not None, "every answer here has a length"
    return await reader.readexactly(int(length.group(1)))


def _count(requests: int, kind: str, access_log: bool, index: bool) -> int:
    """Run the child under callgrind and return the instructions it executed."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            str(requests),
            kind,
            *(["--access-log"] if access_log else []),
            *([] if index else ["--no-index"]),
        ]
        # One hash seed for both runs, so dicts and sets do the same work in each.
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if collected is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(collected.group(1))


def main(argv: list[str]) -> int:
    """Print instructions per request of the kind asked (post by default)."""
    access_log = "--access-log" in argv
    index = "--no-index" not in argv
    argv = [item for item in argv if item not in ("--access-log", "--no-index")]
    if argv[:1] == ["--child"]:
        _child(int(argv[1]), argv[2], access_log, index)
        return 0
    kind = argv[0] if argv else "post"
    if kind not in KINDS or len(argv) > 1:
        print(
            "usage: python -m bench.instructions [post|get|chunk] [--access-log] [--no-index]",
            file=sys.stderr,
        )
        return 2
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    short = _count(SHORT, kind, access_log, index)
    long = _count(LONG, kind, access_log, index)
    per_request = (long - short) / (LONG - SHORT)
    logs = "the access log on (text, to a file)" if access_log else "logs off"
    search = "" if index else ", no search index"
    print(f"{kind.upper()}, {logs}{search}: {per_request:,.0f} instructions per request")
    print(f"  ({long:,} at {LONG} requests - {short:,} at {SHORT}) / {LONG - SHORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
