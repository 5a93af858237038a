"""Erasure by crypto-shredding: destroy a subject's data keys, then record it in the log.

The keys go first: should the append then fail, the words are already unreadable and a
retry records the erasure (destroying nothing more). Cached reads are withdrawn at once,
here and, through `observe`, on every instance that follows the log.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from chat_core.caches import StreamCache
from chat_core.commands import EraseSubject
from chat_core.context import Role, require_role
from chat_core.fold import erase_cached
from chat_core.idempotency import IdempotencyGuard
from chat_core.payloads import ErasureRecorded
from chat_core.state import ThreadState
from chat_core.views import ERASURE_STATUS, ErasureView, Replay
from chat_core.writer import Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent
from events.keys import KeyRing
from events.store.base import EventStore, RecordedEvent

__all__ = ["ErasureHandler", "erasure_stream"]


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
        self._bus = bus
        self._keys = keys
        self._threads = threads
        self._guard = IdempotencyGuard(store)
        # Each erasure has a stream of its own, so nothing about it is worth caching.
        records = StreamCache(store, ThreadState, capacity=1)
        self._writer = StreamWriter(store=store, cache=records, clock=clock, guard=self._guard)

    def register(self) -> None:
        """Make this the bus's handler of EraseSubject."""
        self._bus.register(EraseSubject, self.erase)

    async def erase(self, command: EraseSubject) -> ErasureView | Replay:
        """Erase a subject in the tenant, once per Idempotency-Key."""
        require_role(command.context, command.auth, Role.ADMIN)
        return await self._guard.once(
            command.context,
            command.auth,
            command.idempotency,
            lambda scope: self._erase(command, scope),
        )

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
        view: ErasureView = await self._writer.submit(stream, job)
        return view

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
