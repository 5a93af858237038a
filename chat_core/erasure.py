"""Erasure by crypto-shredding: destroy a subject's data keys, then record it in the log.

The keys go first: should the append then fail, the words are already unreadable and a
retry records the erasure (destroying nothing more). Cached reads are withdrawn at once,
here and, through `observe`, on every instance that follows the log.

An erasure is answered "completed" once the destroyed keys' bytes are gone from every file
of the key store, else "pending" while that finishes in the background (see
chat_core.erasure_progress); `show` tells which, later. The idempotency record keeps the
answer as replay rebuilds it from the event (status "completed"); a repeated request is
answered with the status as it is now.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

import attrs
import orjson

from chat_core.caches import StreamCache
from chat_core.commands import EraseSubject
from chat_core.context import AuthContext, RequestContext, Role, require_role
from chat_core.erasure_progress import ErasureProgress
from chat_core.errors import NotFound
from chat_core.fold import erase_cached
from chat_core.idempotency import IdempotencyGuard
from chat_core.payloads import ErasureRecorded
from chat_core.search_index import SearchIndexer
from chat_core.state import ThreadState
from chat_core.views import ERASURE_STATUS, ErasureView, Replay
from chat_core.writer import Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent
from events.keys import KeyRing
from events.store.base import EventStore, RecordedEvent

__all__ = ["ERASURE_ID_PATTERN", "ErasureHandler", "erasure_stream"]

# An erasure's id as _erase makes it, with room to spare: anything else names no erasure.
ERASURE_ID_PATTERN = "^er_[A-Za-z0-9_-]{1,64}$"
_ERASURE_ID = re.compile(ERASURE_ID_PATTERN)


def erasure_stream(tenant: str, env: str, erasure_id: str) -> str:
    """Name the one-event stream of an erasure."""
    return f"erasure/{tenant}/{env}/{erasure_id}"


class ErasureHandler:
    """Handle EraseSubject, and withdraw erased words from this process's caches."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        keys: KeyRing,
        threads: StreamCache[ThreadState],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._bus = bus
        self._keys = keys
        self.progress = ErasureProgress(keys.store)
        self._threads = threads
        self._guard = IdempotencyGuard(store)
        # Each erasure has a stream of its own, so nothing about it is worth caching.
        records = StreamCache(store, ThreadState, capacity=1)
        self._writer = StreamWriter(
            store=store,
            cache=records,
            clock=clock,
            guard=self._guard,
            indexer=SearchIndexer(keys),
        )

    def register(self) -> None:
        """Make this the bus's handler of EraseSubject."""
        self._bus.register(EraseSubject, self.erase)

    async def erase(self, command: EraseSubject) -> ErasureView | Replay:
        """Erase a subject in the tenant, once per Idempotency-Key."""
        require_role(command.context, command.auth, Role.ADMIN)
        answer = await self._guard.once(
            command.context,
            command.auth,
            command.idempotency,
            lambda scope: self._erase(command, scope),
        )
        if isinstance(answer, Replay):
            body = orjson.loads(answer.body)
            body["status"] = await self.progress.status(body["erasure_id"])
            return Replay(status=answer.status, body=orjson.dumps(body))
        return answer

    async def show(
        self, context: RequestContext, auth: AuthContext, erasure_id: str
    ) -> ErasureView:
        """Return an erasure of this tenant and env with its status now: admins only."""
        require_role(context, auth, Role.ADMIN)
        if _ERASURE_ID.fullmatch(erasure_id) is None:
            raise NotFound("no such erasure in this tenant and env")
        stream = erasure_stream(context.tenant, context.env.value, erasure_id)
        recorded = await self._store.read_stream(stream, limit=1)
        if not recorded:
            raise NotFound("no such erasure in this tenant and env")
        payload = recorded[0].event.payload
        assert isinstance(payload, ErasureRecorded), "an erasure stream records an erasure"
        status = await self.progress.status(erasure_id)
        return ErasureView(erasure_id=erasure_id, subject=payload.subject, status=status)

    async def close(self) -> None:
        """Stop finishing pending erasures (the next process's scrub finishes them)."""
        await self.progress.close()

    async def _erase(self, command: EraseSubject, scope: str | None) -> ErasureView:
        tenant = command.context.tenant
        destroyed, through = await self._keys.destroy(tenant, command.subject)
        erase_cached(self._threads.states(), tenant, command.subject, through)
        erasure_id = "er_" + secrets.token_urlsafe(15)
        payload = ErasureRecorded(
            erasure_id=erasure_id,
            subject=command.subject,
            keys_destroyed=destroyed,
            through_key_id=through,
        )
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=lambda _draft: [payload],
            render=_render,
            status=202,
            idempotency=command.idempotency,
            scope=scope,
            batchable=False,
        )
        stream = erasure_stream(tenant, command.context.env.value, erasure_id)
        try:
            view: ErasureView = await self._writer.submit(stream, job)
        finally:
            # Scrubbed once the event is in: its transaction deleted the subject's words
            # from the search index, whose older page images the scrub clears too.
            status = await self.progress.destroyed(erasure_id)
        return attrs.evolve(view, status=status)

    def observe(self, item: RecordedEvent) -> None:
        """Withdraw the words of a subject erased elsewhere, once its erasure is in the log."""
        payload = item.event.payload
        if isinstance(payload, ErasureRecorded):
            tenant = item.event.tenant
            self._keys.destroyed_through(tenant, payload.subject, payload.through_key_id)
            erase_cached(self._threads.states(), tenant, payload.subject, payload.through_key_id)


def _render(events: Sequence[DatasetEvent]) -> ErasureView:
    payload = events[0].payload
    assert isinstance(payload, ErasureRecorded)
    return ErasureView(
        erasure_id=payload.erasure_id, subject=payload.subject, status=ERASURE_STATUS
    )
