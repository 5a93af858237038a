"""Idempotency keys: the first answer is stored with its events and replayed thereafter."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from chat_core.commands import Idempotency
from chat_core.context import AuthContext, RequestContext
from chat_core.errors import IdempotencyInFlight, IdempotencyMismatch
from chat_core.views import Replay
from events.store.base import EventStore, IdempotencyRecord, StoreClosed

T = TypeVar("T")

__all__ = [
    "IDEMPOTENCY_FINGERPRINT",
    "IDEMPOTENCY_SCOPE",
    "IDEMPOTENCY_STATUS",
    "IdempotencyGuard",
    "idempotency_metadata",
    "keep_purging",
    "purge_expired",
    "scope_key",
]

# Records older than the retention go in batches this big, each its own short transaction,
# at start-up and then this often (seconds).
PURGE_BATCH = 1000
PURGE_EVERY = 600.0

log = logging.getLogger("chat_core.idempotency")

# Event metadata that names the idempotent request an event answered, so that replay can
# rebuild every idempotency record from the log alone.
IDEMPOTENCY_SCOPE = "idempotency_scope"
IDEMPOTENCY_FINGERPRINT = "idempotency_fingerprint"
IDEMPOTENCY_STATUS = "idempotency_status"


def scope_key(context: RequestContext, auth: AuthContext, key: str) -> str:
    """Name the record of a key under (tenant, env, sub, key), in a bounded length."""
    parts = "\x1f".join((context.tenant, context.env.value, auth.sub, key))
    return hashlib.sha256(parts.encode()).hexdigest()


def idempotency_metadata(
    scope: str | None, idempotency: Idempotency | None, status: int
) -> Mapping[str, str]:
    """Return the event metadata that ties an event to its idempotent request, if any."""
    if scope is None or idempotency is None:
        return {}
    return {
        IDEMPOTENCY_SCOPE: scope,
        IDEMPOTENCY_FINGERPRINT: idempotency.fingerprint,
        IDEMPOTENCY_STATUS: str(status),
    }


class IdempotencyGuard:
    """Answer repeats from the store and refuse a key whose first request is still running."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._in_flight: set[str] = set()

    @asynccontextmanager
    async def claim(self, scope: str) -> AsyncIterator[None]:
        """Hold the key for the length of one request, else raise IdempotencyInFlight."""
        if scope in self._in_flight:
            raise IdempotencyInFlight("a request with this Idempotency-Key is still in flight")
        self._in_flight.add(scope)
        try:
            yield
        finally:
            self._in_flight.discard(scope)

    async def once(
        self,
        context: RequestContext,
        auth: AuthContext,
        idempotency: Idempotency | None,
        run: Callable[[str | None], Awaitable[T]],
    ) -> T | Replay:
        """Run a command once per key: replay a stored answer, refuse one still in flight.

        run gets the key's scope (None without a key), to record its answer under.
        """
        if idempotency is None:
            return await run(None)
        scope = scope_key(context, auth, idempotency.key)
        async with self.claim(scope):
            replay = await self.replay(scope, idempotency)
            if replay is not None:
                return replay
            return await run(scope)

    async def replay(self, scope: str, idempotency: Idempotency) -> Replay | None:
        """Return the stored answer for this key, or None; another request's key is an error."""
        record = await self._store.get_idempotency(scope)
        if record is None:
            return None
        if record.fingerprint != idempotency.fingerprint:
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used with a different request"
            )
        return Replay(status=record.status, body=record.body)

    @staticmethod
    def record(
        scope: str, idempotency: Idempotency, status: int, body: bytes, now: datetime
    ) -> IdempotencyRecord:
        """Build the record to store with the events of the first answer."""
        return IdempotencyRecord(
            key=scope, fingerprint=idempotency.fingerprint, status=status, body=body, created_at=now
        )


async def purge_expired(
    store: EventStore, *, now: datetime, ttl: timedelta, batch: int = PURGE_BATCH
) -> int:
    """Delete every idempotency record older than ttl, batch by batch; return how many.

    A retry of a purged key is a new request. The events the records answered stay in the
    log, and replay --check knows a record past the retention may be gone.
    """
    cut = now - ttl
    total = 0
    while True:
        purged = await store.purge_idempotency(before=cut, limit=batch)
        total += purged
        if purged < batch:
            return total
        await asyncio.sleep(0)


async def keep_purging(
    store: EventStore,
    *,
    clock: Callable[[], datetime],
    ttl: timedelta,
    every: float = PURGE_EVERY,
) -> None:
    """Purge expired idempotency records now and then every few minutes, until cancelled.

    A failed purge is logged and tried again next time; a closed store ends the loop.
    """
    while True:
        try:
            purged = await purge_expired(store, now=clock(), ttl=ttl)
        except StoreClosed:
            return
        except Exception:
            log.exception("purging expired idempotency records failed; trying again later")
        else:
            if purged:
                log.info("purged %d idempotency records older than %s", purged, ttl)
        await asyncio.sleep(every)
