"""Idempotency keys: the first answer is stored with its events and replayed thereafter."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

from chat_core.commands import Idempotency
from chat_core.context import AuthContext, RequestContext
from chat_core.errors import IdempotencyInFlight, IdempotencyMismatch
from chat_core.views import Replay
from events.store.base import EventStore, IdempotencyRecord

T = TypeVar("T")

__all__ = [
    "IDEMPOTENCY_FINGERPRINT",
    "IDEMPOTENCY_SCOPE",
    "IDEMPOTENCY_STATUS",
    "IdempotencyGuard",
    "idempotency_metadata",
    "scope_key",
]

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
        if record.fingerprint != idempotency.fingerprint and (
            record.fingerprint not in idempotency.earlier
        ):
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
