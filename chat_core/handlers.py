"""The pipeline: each command handler loads state, decides, appends and publishes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

import orjson

from chat_core import decide
from chat_core.commands import (
    CreateThread,
    Idempotency,
    PostMessage,
    RedactMessage,
    SetTemperatureConfig,
)
from chat_core.context import AuthContext, RequestContext
from chat_core.errors import Conflict, NotFound
from chat_core.idempotency import IdempotencyGuard, idempotency_metadata, scope_key
from chat_core.payloads import MessagePosted, TemperatureConfigChanged, ThreadCreated
from chat_core.readmodel import StreamCache, TemperatureState, ThreadState
from chat_core.streams import (
    THREAD_ID,
    new_message_id,
    new_thread_id,
    temperature_stream,
    thread_stream,
)
from chat_core.views import MessageView, Replay, TemperatureConfigView, ThreadView
from events.bus import MessageBus
from events.envelope import DatasetEvent, EventPayload
from events.store.base import ConcurrencyError, EventStore, IdempotencyConflict

__all__ = ["MAX_ATTEMPTS", "ChatHandlers"]

MAX_ATTEMPTS = 16

S = TypeVar("S", ThreadState, TemperatureState)
V = TypeVar("V", ThreadView, MessageView, TemperatureConfigView, None)

Decision = Callable[[Any], Sequence[EventPayload]]
Render = Callable[[Any, Sequence[DatasetEvent]], Any]


class ChatHandlers:
    """Turn commands into DatasetEvents stamped with the request's own context."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        threads: StreamCache[ThreadState],
        temperatures: StreamCache[TemperatureState],
        temperature_defaults: TemperatureState,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._bus = bus
        self._threads = threads
        self._temperatures = temperatures
        self._defaults = temperature_defaults
        self._clock = clock
        self._guard = IdempotencyGuard(store)

    def register(self) -> None:
        """Make these the bus's handlers of the chat commands."""
        self._bus.register(CreateThread, self.create_thread)
        self._bus.register(PostMessage, self.post_message)
        self._bus.register(RedactMessage, self.redact_message)
        self._bus.register(SetTemperatureConfig, self.set_temperature)

    async def create_thread(self, command: CreateThread) -> ThreadView | Replay:
        """Open a thread with a fresh id."""
        decide.require_role(command.context, command.auth)
        thread_id = new_thread_id()
        result: ThreadView | Replay = await self._commit(
            cache=self._threads,
            stream=thread_stream(command.context, thread_id),
            context=command.context,
            auth=command.auth,
            idempotency=command.idempotency,
            status=201,
            decision=lambda _state: [decide.create_thread(command, thread_id)],
            render=_render_thread,
        )
        return result

    async def post_message(self, command: PostMessage) -> MessageView | Replay:
        """Post a message at its thread's next seq."""
        decide.require_role(command.context, command.auth)
        _check_thread_id(command.thread_id)
        result: MessageView | Replay = await self._commit(
            cache=self._threads,
            stream=thread_stream(command.context, command.thread_id),
            context=command.context,
            auth=command.auth,
            idempotency=command.idempotency,
            status=201,
            decision=lambda state: [decide.post_message(state, command, new_message_id())],
            render=_render_message,
        )
        return result

    async def redact_message(self, command: RedactMessage) -> None:
        """Withdraw a message's content; a repeat changes nothing."""
        decide.require_role(command.context, command.auth)
        _check_thread_id(command.thread_id)
        await self._commit(
            cache=self._threads,
            stream=thread_stream(command.context, command.thread_id),
            context=command.context,
            auth=command.auth,
            idempotency=None,
            status=204,
            decision=lambda state: decide.redact_message(
                state, command.context, command.auth, command.message_id
            ),
            render=lambda _state, _events: None,
        )

    async def set_temperature(
        self, command: SetTemperatureConfig
    ) -> TemperatureConfigView | Replay:
        """Replace the temperature config when the caller is an admin and If-Match holds."""
        decide.require_role(command.context, command.auth)
        result: TemperatureConfigView | Replay = await self._commit(
            cache=self._temperatures,
            stream=temperature_stream(command.context),
            context=command.context,
            auth=command.auth,
            idempotency=command.idempotency,
            status=200,
            decision=lambda state: [decide.set_temperature(state, command)],
            render=lambda _state, events: _render_temperature(command.context, events[-1]),
        )
        return result

    async def _commit(
        self,
        *,
        cache: StreamCache[S],
        stream: str,
        context: RequestContext,
        auth: AuthContext,
        idempotency: Idempotency | None,
        status: int,
        decision: Decision,
        render: Render,
    ) -> Any:
        scope = None if idempotency is None else scope_key(context, auth, idempotency.key)
        claim: AbstractAsyncContextManager[None] = (
            nullcontext() if scope is None else self._guard.claim(scope)
        )
        async with claim:
            if scope is not None and idempotency is not None:
                replay = await self._guard.replay(scope, idempotency)
                if replay is not None:
                    return replay
            async with cache.lock(stream):
                return await self._decide_and_append(
                    cache, stream, context, auth, idempotency, scope, status, decision, render
                )

    async def _decide_and_append(
        self,
        cache: StreamCache[S],
        stream: str,
        context: RequestContext,
        auth: AuthContext,
        idempotency: Idempotency | None,
        scope: str | None,
        status: int,
        decision: Decision,
        render: Render,
    ) -> Any:
        for _attempt in range(MAX_ATTEMPTS):
            state = await cache.load(stream)
            now = self._clock()
            metadata = idempotency_metadata(scope, idempotency, status)
            events = [
                self._event(context, auth, stream, state.version + offset, payload, now, metadata)
                for offset, payload in enumerate(decision(state), start=1)
            ]
            answer = render(state, events)
            if not events:
                return answer
            record = None
            if scope is not None and idempotency is not None:
                body = orjson.dumps(answer.to_json())
                record = self._guard.record(scope, idempotency, status, body, now)
            try:
                recorded = await self._store.append(
                    stream, events, state.version, idempotency=record
                )
            except ConcurrencyError:
                continue
            except IdempotencyConflict:
                # Another instance answered this key first: its answer is the answer.
                assert scope is not None and idempotency is not None
                replay = await self._guard.replay(scope, idempotency)
                if replay is not None:
                    return replay
                continue
            cache.advance(stream, state, recorded)
            await self._bus.publish(recorded)
            return answer
        raise Conflict(f"{stream} kept changing under {MAX_ATTEMPTS} attempts; retry")

    @staticmethod
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


def _check_thread_id(thread_id: str) -> None:
    if THREAD_ID.fullmatch(thread_id) is None:
        raise NotFound("no such thread in this tenant and env")


def _render_thread(_state: ThreadState, events: Sequence[DatasetEvent]) -> ThreadView:
    event = events[0]
    payload = event.payload
    assert isinstance(payload, ThreadCreated)
    return ThreadView(
        id=payload.thread_id,
        title=payload.title,
        metadata=payload.metadata,
        created_at=event.occurred_at,
        created_by=event.actor,
        message_count=0,
        last_seq=0,
    )


def _render_message(_state: ThreadState, events: Sequence[DatasetEvent]) -> MessageView:
    event = events[0]
    payload = event.payload
    assert isinstance(payload, MessagePosted)
    return MessageView(
        id=payload.message_id,
        thread_id=payload.thread_id,
        seq=payload.seq,
        role=payload.role,
        content=payload.content,
        metadata=payload.metadata,
        author=event.actor,
        created_at=event.occurred_at,
        request_id=event.request_id,
    )


def _render_temperature(context: RequestContext, event: DatasetEvent) -> TemperatureConfigView:
    payload = event.payload
    assert isinstance(payload, TemperatureConfigChanged)
    return TemperatureConfigView(
        tenant=context.tenant,
        env=context.env,
        default=payload.default,
        min=payload.min,
        max=payload.max,
        overrides=payload.overrides,
        version=event.version,
        updated_at=event.occurred_at,
        updated_by=event.actor,
    )
