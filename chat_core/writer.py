"""One writer per stream: queued commands are decided in order and appended together.

Concurrent posts to one thread would otherwise each wait for their own commit, one fsync
apiece. Here the first caller starts a worker for the stream; everyone queued behind it is
decided against the same loaded state, in arrival order, and the events go to the store in
one append with one expected version. A failed append (another instance wrote first) is
retried from a fresh load; a domain refusal fails only its own command.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from attrs import define, field, frozen

from chat_core.commands import Idempotency
from chat_core.context import AuthContext, RequestContext
from chat_core.errors import ChatError, Conflict
from chat_core.idempotency import IdempotencyGuard, idempotency_metadata
from chat_core.readmodel import StreamCache, TemperatureState, ThreadState
from events.bus import MessageBus
from events.envelope import DatasetEvent, EventPayload
from events.store.base import (
    ConcurrencyError,
    EventStore,
    IdempotencyConflict,
    IdempotencyRecord,
)

__all__ = ["MAX_ATTEMPTS", "MAX_BATCH", "Draft", "Job", "StreamWriter"]

MAX_ATTEMPTS = 16
MAX_BATCH = 256

S = TypeVar("S", ThreadState, TemperatureState)


@define
class Draft(Generic[S]):
    """The loaded state plus what earlier commands of the same batch decided."""

    state: S
    decided: list[EventPayload] = field(factory=list)


@frozen(kw_only=True)
class Job:
    """One command's decision and answer, waiting for its stream's writer."""

    context: RequestContext
    auth: AuthContext
    decision: Callable[[Draft[Any]], Sequence[EventPayload]]
    render: Callable[[Sequence[DatasetEvent]], Any]
    status: int
    idempotency: Idempotency | None = None
    scope: str | None = None
    batchable: bool = True


@define
class _Entry:
    job: Job
    future: asyncio.Future[Any]
    events: list[DatasetEvent] = field(factory=list)
    answer: Any = None


class StreamWriter(Generic[S]):
    """Serialise each stream's writes through one worker that appends queued jobs together."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        cache: StreamCache[S],
        clock: Callable[[], datetime],
        guard: IdempotencyGuard,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._store = store
        self._bus = bus
        self._cache: StreamCache[S] = cache
        self._clock = clock
        self._guard = guard
        self._max_batch = max_batch
        self._queues: dict[str, deque[_Entry]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    async def submit(self, stream: str, job: Job) -> Any:
        """Queue a job on its stream and return its answer once its events are durable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(stream, deque()).append(_Entry(job, future))
        if stream not in self._workers:
            self._workers[stream] = asyncio.create_task(self._drain(stream))
        # The caller going away must not cancel an append that others share.
        return await asyncio.shield(future)

    async def _drain(self, stream: str) -> None:
        queue = self._queues[stream]
        try:
            while queue:
                await self._run(stream, self._take_batch(queue))
        finally:
            del self._workers[stream]
            if not queue:
                del self._queues[stream]
            else:  # cancelled at shutdown: nobody will answer these
                for entry in queue:
                    _fail(entry, Conflict("the server is shutting down; retry"))
                queue.clear()
                del self._queues[stream]

    def _take_batch(self, queue: deque[_Entry]) -> list[_Entry]:
        batch = [queue.popleft()]
        keyed = batch[0].job.scope is not None
        while queue and len(batch) < self._max_batch and batch[0].job.batchable:
            following = queue[0].job
            if not following.batchable or (keyed and following.scope is not None):
                break
            keyed = keyed or following.scope is not None
            batch.append(queue.popleft())
        return batch

    async def _run(self, stream: str, batch: list[_Entry]) -> None:
        try:
            for _attempt in range(MAX_ATTEMPTS):
                pending = [entry for entry in batch if not entry.future.done()]
                if not pending or await self._attempt(stream, pending):
                    return
            for entry in batch:
                _fail(entry, Conflict(f"{stream} kept changing under {MAX_ATTEMPTS} attempts"))
        except Exception as exc:
            for entry in batch:
                _fail(entry, exc)

    async def _attempt(self, stream: str, batch: list[_Entry]) -> bool:
        """Decide, append and answer the batch; False when it must be tried again."""
        state = await self._cache.load(stream)
        draft: Draft[S] = Draft(state)
        decided = [entry for entry in batch if self._decide(stream, draft, entry)]
        events = [event for entry in decided for event in entry.events]
        keyed = next((entry for entry in decided if entry.job.scope is not None), None)
        if not events:
            _answer(decided)
            return True
        record = None if keyed is None else self._record(keyed)
        try:
            recorded = await self._store.append(stream, events, state.version, idempotency=record)
        except ConcurrencyError:
            # Someone else wrote to the stream: fold it afresh from the store.
            self._cache.forget(stream)
            return False
        except IdempotencyConflict:
            # Another instance answered this key first: its answer is the answer.
            assert keyed is not None and keyed.job.scope is not None
            assert keyed.job.idempotency is not None
            try:
                replay = await self._guard.replay(keyed.job.scope, keyed.job.idempotency)
            except ChatError as exc:
                _fail(keyed, exc)
            else:
                if replay is not None and not keyed.future.done():
                    keyed.future.set_result(replay)
            return False
        self._cache.advance(stream, state, recorded)
        _answer(decided)
        await self._bus.publish(recorded)
        return True

    def _decide(self, stream: str, draft: Draft[S], entry: _Entry) -> bool:
        job = entry.job
        try:
            payloads = job.decision(draft)
        except ChatError as exc:
            _fail(entry, exc)
            return False
        now = self._clock()
        metadata = idempotency_metadata(job.scope, job.idempotency, job.status)
        first = draft.state.version + len(draft.decided) + 1
        entry.events = [
            _event(job.context, job.auth, stream, first + offset, payload, now, metadata)
            for offset, payload in enumerate(payloads)
        ]
        draft.decided.extend(payloads)
        entry.answer = job.render(entry.events)
        return True

    def _record(self, entry: _Entry) -> IdempotencyRecord:
        job = entry.job
        assert job.scope is not None and job.idempotency is not None
        body = orjson.dumps(entry.answer.record_json())
        return self._guard.record(job.scope, job.idempotency, job.status, body, self._clock())


def _answer(entries: Sequence[_Entry]) -> None:
    for entry in entries:
        if not entry.future.done():
            entry.future.set_result(entry.answer)


def _fail(entry: _Entry, error: BaseException) -> None:
    if not entry.future.done():
        entry.future.set_exception(error)


def _event(
    context: RequestContext,
    auth: AuthContext,
    stream: str,
    version: int,
    payload: EventPayload,
    now: datetime,
    metadata: Mapping[str, str],
) -> DatasetEvent:
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream=stream,
        version=version,
        tenant=context.tenant,
        env=context.env,
        request_id=context.request_id,
        trace_id=context.request_id,
        actor=auth.sub,
        occurred_at=now,
        payload=payload,
        metadata=metadata,
    )
