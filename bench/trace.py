"""The project files and functions one request runs through, in the order they are first entered.

Run: `python -m bench.trace [post|get]`. The real app (SQLite file in a temporary folder, the
serve command's settings) answers one warm-up request, then one more under `sys.setprofile`
(and `threading.setprofile`, for the store's writer thread); every call into a file of
`events/`, `chat_core/` or `transports/` is noted. What it prints is what a newcomer opens
to follow that request from the route to the durable append and back.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bench.http_api import TENANT, bench_settings, bench_token
from chat_core.bootstrap import bootstrap
from transports.http.app import create_app

__all__ = ["main", "trace"]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = tuple(str(ROOT / name) + "/" for name in ("events", "chat_core", "transports"))


class _Trace:
    """Collect (file, function) pairs in first-entered order."""

    def __init__(self) -> None:
        self.files: dict[str, None] = {}
        self.functions: dict[tuple[str, str], None] = {}

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        filename = frame.f_code.co_filename
        if not filename.startswith(PACKAGES):
            return
        relative = filename[len(str(ROOT)) + 1 :]
        self.files.setdefault(relative)
        self.functions.setdefault((relative, frame.f_code.co_qualname))


async def trace(kind: str) -> _Trace:
    """Answer one warm-up request of the kind, then trace one more and return what it entered."""
    with tempfile.TemporaryDirectory() as folder:
        settings = bench_settings(f"sqlite:///{folder}/trace.db")
        app = create_app(await bootstrap(settings=settings))
        client = TestClient(TestServer(app))
        await client.start_server()
        headers = {
            "Authorization": f"Bearer {bench_token()}",
            "X-Tenant-Id": TENANT,
            "X-Env": "dev",
        }
        try:
            created = await client.post("/chat/threads", json={}, headers=headers)
            thread_id = (await created.json())["id"]
            path = f"/chat/threads/{thread_id}/messages"

            async def one() -> None:
                if kind == "post":
                    answer = await client.post(path, json={"content": "hi"}, headers=headers)
                else:
                    answer = await client.get(path, params={"limit": "20"}, headers=headers)
                if answer.status >= 300:
                    raise RuntimeError(f"unexpected status {answer.status}")
                await answer.read()

            await one()
            seen = _Trace()
            threading.setprofile(seen)
            sys.setprofile(seen)
            try:
                await one()
            finally:
                sys.setprofile(None)
                threading.setprofile(None)
            return seen
        finally:
            await client.close()


def main(argv: list[str]) -> int:
    """Print the files and the count of functions one request of the kind enters."""
    kind = argv[0] if argv else "post"
    if kind not in ("post", "get"):
        print("usage: python -m bench.trace [post|get]", file=sys.stderr)
        return 2
    seen = asyncio.run(trace(kind))
    for number, name in enumerate(seen.files, 1):
        functions = [f for (file, f) in seen.functions if file == name]
        print(f"{number:3} {name}: {', '.join(functions)}")
    print(f"{kind.upper()}: {len(seen.files)} files, {len(seen.functions)} functions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
