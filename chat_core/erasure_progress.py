"""Whether each erasure is done: its destroyed keys gone from every file of the key store.

Destroying a key nulls its row at once, so nothing opens under it any more; but its bytes
may linger in the database's files (SQLite: old WAL frames, and the page a reader's
snapshot still needs) until the key store's scrub gets through, which it tries without
waiting on other connections. An erasure whose first scrub did not get through is
pending, and one task retries the scrub, backing off, until one does: that completes every
erasure that had destroyed its keys when the scrub began. Erasures made before this
process started count as one, completed by the first scrub of this process to get through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from events.keys import KeyStore

__all__ = ["COMPLETED", "PENDING", "ErasureProgress"]

COMPLETED = "completed"
PENDING = "pending"
# Seconds before each scrub an erasure tries before it answers (the first at once).
QUICK_WAITS = (0.0, 0.01, 0.02, 0.04)
# Seconds before a pending erasure's next scrub: the first wait, and the longest.
FIRST_RETRY = 0.05
LONGEST_RETRY = 1.0

log = logging.getLogger("chat_core.erasure")


class ErasureProgress:
    """Tell which erasures are completed, and finish the pending ones in the background."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store
        # Each erasure takes the next number once its keys are destroyed; 1 stands for
        # every erasure before this process. A scrub that gets through completes every
        # number up to the one it began at.
        self._destroyed = 1
        self._scrubbed = 0
        self._pending: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def destroyed(self, erasure_id: str) -> str:
        """Note that an erasure has destroyed its keys; scrub and return its status.

        A scrub also fails for a moment's reasons (a checkpoint or a commit under way), so
        it is tried a few times, QUICK_WAITS apart, before the erasure is called pending.
        """
        self._destroyed += 1
        self._pending[erasure_id] = self._destroyed
        for wait in QUICK_WAITS:
            await asyncio.sleep(wait)
            await self._scrub()
            if self._completed(erasure_id):
                return COMPLETED
        self._finish_later()
        return PENDING

    async def status(self, erasure_id: str) -> str:
        """Return an erasure's status, scrubbing first when it is not known to be completed."""
        if self._completed(erasure_id):
            return COMPLETED
        if self._task is None:
            await self._scrub()
            if self._completed(erasure_id):
                return COMPLETED
            self._finish_later()
        return PENDING

    async def close(self) -> None:
        """Stop retrying; what is still pending is finished by the next process's scrub."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _finish_later(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._retry(), name="chat-core erasure scrub")

    def _completed(self, erasure_id: str) -> bool:
        return self._pending.get(erasure_id, 1) <= self._scrubbed

    async def _scrub(self) -> None:
        began = self._destroyed
        try:
            if not await self._store.scrub():
                return
        except Exception:
            log.exception("scrubbing destroyed keys failed; it is tried again")
            return
        self._scrubbed = max(self._scrubbed, began)
        self._pending = {erasure: n for erasure, n in self._pending.items() if n > self._scrubbed}

    async def _retry(self) -> None:
        delay = FIRST_RETRY
        while self._scrubbed < self._destroyed:
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY)
            await self._scrub()
        self._task = None
