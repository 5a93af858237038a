"""A real HTTP receiver on 127.0.0.1 for webhook tests: it answers as told and notes what came."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

__all__ = ["Receipt", "Receiver"]


class Receipt:
    """One POST as the receiver got it."""

    def __init__(self, headers: dict[str, str], body: bytes, answered: str) -> None:
        self.headers = headers
        self.body = body
        self.answered = answered

    @property
    def event(self) -> dict[str, Any]:
        """Return the posted event."""
        event: dict[str, Any] = orjson.loads(self.body)
        return event


class Receiver:
    """Answer each POST by the current mode: ok, fail (500), hang, redirect or reset."""

    def __init__(self) -> None:
        self.mode = "ok"
        # Answer this many POSTs with a failure first, then go back to ok.
        self.fail_first = 0
        self.receipts: list[Receipt] = []
        self.redirected_to = 0
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self) -> list[dict[str, Any]]:
        """Return the events answered 2xx, in the order they arrived."""
        return [r.event for r in self.receipts if r.answered == "ok"]

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/elsewhere", self._elsewhere)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, seconds: float = 20.0) -> list[dict[str, Any]]:
        """Wait until count events were delivered (2xx); return them."""
        async with asyncio.timeout(seconds):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.delivered()) >= count)
        return self.delivered()

    async def wait_for_attempts(self, count: int, seconds: float = 20.0) -> None:
        """Wait until count POSTs arrived, whatever they were answered."""
        async with asyncio.timeout(seconds):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.receipts) >= count)

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        mode = self.mode
        if self.fail_first > 0:
            self.fail_first -= 1
            mode = "fail"
        await self._note(Receipt(dict(request.headers), body, mode))
        if mode == "fail":
            return web.Response(status=500)
        if mode == "hang":
            await asyncio.sleep(30)
        if mode == "redirect":
            raise web.HTTPTemporaryRedirect("/elsewhere")
        if mode == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=200)
        return web.Response(status=204)

    async def _elsewhere(self, request: web.Request) -> web.Response:
        self.redirected_to += 1
        return web.Response(status=200)

    async def _note(self, receipt: Receipt) -> None:
        async with self._arrived:
            self.receipts.append(receipt)
            self._arrived.notify_all()
