"""Keep a HeadNotifier at the database's head: LISTEN while connected, poll while not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from events.store.postgres_schema import CHANNEL
from events.store.subscription import HeadNotifier

__all__ = ["HeadListener"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
HEALTH_SECONDS = 5.0
TIMEOUT_SECONDS = 5.0


class HeadListener:
    """Advance a notifier from NOTIFY payloads; reconnect and poll each second while cut off.

    Every append transaction NOTIFYs its new head, and positions commit in order, so a
    payload p means every position up to p is visible: advancing to it is always safe.
    """

    def __init__(
        self,
        *,
        connect: Callable[[], Awaitable[Any]],
        read_head: Callable[[], Awaitable[int]],
        notifier: HeadNotifier,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.connection: Any = None
        self._connect = connect
        self._read_head = read_head
        self._notifier = notifier
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start listening in a background task."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._listen()
            except Exception as exc:
                log.warning("store listener lost its connection, polling: %r", exc)
            await self._catch_up()
            await asyncio.sleep(self._poll_seconds)

    async def _listen(self) -> None:
        """Listen until the connection drops or stops answering."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the connection completes, and stop() would then wait forever.
        async with asyncio.timeout(TIMEOUT_SECONDS):
            conn = await self._connect()
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notify)
            self.connection = conn
            # Read after LISTEN took effect: anything committed before it is caught here.
            await self._catch_up()
            while not lost.is_set() and not self._stopping:
                try:
                    async with asyncio.timeout(HEALTH_SECONDS):
                        await lost.wait()
                except TimeoutError:
                    async with asyncio.timeout(TIMEOUT_SECONDS):
                        await conn.fetchval("SELECT 1")
            raise ConnectionError("the listening connection was closed")
        finally:
            self.connection = None
            conn.terminate()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._notifier.advance(int(payload))
        except ValueError:
            log.warning("ignoring a malformed head notification %r", payload)

    async def _catch_up(self) -> None:
        try:
            self._notifier.advance(await self._read_head())
        except Exception as exc:
            log.warning("store listener could not read the head: %r", exc)
