"""Instructions per event of a durable consumer's read, counted by valgrind: a steady figure.

Run: `python -m bench.consumer_instructions` (needs Debian's valgrind). bench.tooling's log
of 45,000 chat events (15,000 of the consumer's tenant) is written to a SQLite file; the
real app serves it and one raw keep-alive client reads it as bench.consumers does
(`GET /admin/consumers/{name}/events?limit=1000`, then an ack), all in one process under
`valgrind --tool=callgrind`: once from the log's start, once acked past SKIP first. The
difference of the two totals over the difference of the events read is the cost of one
event, start-up and the boot's reads of the log cancelled out. The client's own work
(its JSON parse included) is in the figure, the same for any version of the server.

Wall-clock figures on a shared machine drift by tens of percent; these repeat closely.
Quote them beside bench.consumers' rate, not instead of it.
`--child DB SKIP` is the measured process itself.
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

from bench.http_api import AUDIENCE, ISSUER, SECRET, bench_settings
from bench.tooling import build_log
from chat_core.bootstrap import bootstrap
from chat_core.tokens import mint_token
from transports.cli.main import GC_THRESHOLDS, SWITCH_INTERVAL, new_loop
from transports.http.app import create_app

__all__ = ["main"]

EVENTS = 45_000
SKIP = 30_000
TENANT = "t_bench0"


async def _serve_and_read(path: str, skip: int) -> int:
    """Serve the app on the log at path; read its tenant's events after skip; return how many."""
    runner = web.AppRunner(create_app(await bootstrap(settings=bench_settings(path))))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    token = mint_token(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub="u_bench", tenants={TENANT: ["admin"]}
    )
    headers = (
        f"Authorization: Bearer {token}\r\nX-Tenant-Id: {TENANT}\r\nX-Env: prod\r\nHost: b\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def ask(request: bytes) -> bytes:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 20"):
            raise RuntimeError(f"unexpected answer: {head[:80]!r}")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        assert length is not None, "every answer here has a length"
        return await reader.readexactly(int(length.group(1)))

    def post(target: str, body: object) -> bytes:
        data = orjson.dumps(body)
        return (
            f"POST {target} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    try:
        await ask(post("/admin/consumers", {"name": "bench"}))
        if skip:
            await ask(post("/admin/consumers/bench/ack", {"position": skip}))
        read = f"GET /admin/consumers/bench/events?limit=1000 HTTP/1.1\r\n{headers}\r\n".encode()
        count = 0
        while True:
            batch = orjson.loads(await ask(read))
            if not batch["data"]:
                return count
            count += len(batch["data"])
            await ask(post("/admin/consumers/bench/ack", {"position": batch["next_position"]}))
    finally:
        writer.close()
        await runner.cleanup()


def _child(path: str, skip: int) -> None:
    """Be the measured process, with the serve command's GC settings and event loop."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)
    logging.disable(logging.WARNING)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        count = runner.run(_serve_and_read(f"sqlite:///{path}", skip))
    print(f"events read: {count}", file=sys.stderr)


def _count(log: str, skip: int) -> tuple[int, int]:
    """Run the child under callgrind on a copy of the log; return instructions and events."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/bench.db"
        shutil.copy(log, path)
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            "-m",
            "bench.consumer_instructions",
            "--child",
            path,
            str(skip),
        ]
        # One hash seed for both runs, so dicts and sets do the same work in each.
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    events = re.search(r"events read: (\d+)", done.stderr)
    if collected is None or events is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(collected.group(1)), int(events.group(1))


def main(argv: list[str]) -> int:
    """Print instructions per event read through the consumer route."""
    if argv[:1] == ["--child"]:
        _child(argv[1], int(argv[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        log = f"{folder}/bench.db"
        build_log(log, EVENTS)
        (short, few), (long, many) = _count(log, SKIP), _count(log, 0)
    per_event = (long - short) / (many - few)
    print(f"consumer read, limit=1000, acked: {per_event:,.0f} instructions per event")
    print(f"  ({long:,} at {many} events - {short:,} at {few}) / {many - few}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
