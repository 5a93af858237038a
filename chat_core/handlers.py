"""The pipeline: each command handler checks, then hands its decision to the stream's writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs
import orjson

from chat_core import decide
from chat_core.answers import message_answer, render_answer
from chat_core.commands import (
    CreateThread,
    PostMessage,
    RedactMessage,
    SetTemperatureConfig,
)
from chat_core.errors import Conflict, NotFound
from chat_core.idempotency import IdempotencyGuard
from chat_core.payloads import MessagePosted
from chat_core.readmodel import StreamCache, TemperatureState, ThreadCache, ThreadState
from chat_core.sealing import seal_message
from chat_core.streams import (
    THREAD_ID,
    new_message_id,
    new_thread_id,
    temperature_stream,
    thread_stream,
)
from chat_core.views import MessageView, Replay, TemperatureConfigView, ThreadView
from chat_core.writer import PIPELINE_DEPTH, Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent
from events.keys import DataKey, KeyRing
from events.store.base import EventStore

__all__ = ["ChatHandlers"]

V = TypeVar("V", ThreadView, MessageView, TemperatureConfigView)


class ChatHandlers:
    """Turn commands into DatasetEvents stamped with the request's own context."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        threads: ThreadCache,
        temperatures: StreamCache[TemperatureState],
        clock: Callable[[], datetime],
        sole_writer: bool = False,
        keys: KeyRing | None = None,
    ) -> None:
        self._bus = bus
        # Seals each message under its author's data key; None stores words in clear.
        self._keys = keys
        self._thread_states = threads
        self._guard = IdempotencyGuard(store)
        self._threads = StreamWriter(
            store=store,
            cache=threads,
            clock=clock,
            guard=self._guard,
            depth=PIPELINE_DEPTH if sole_writer else 1,
        )
        self._temperatures = StreamWriter(
            store=store, cache=temperatures, clock=clock, guard=self._guard
        )

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
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=lambda _draft: [decide.create_thread(command, thread_id)],
            render=_render_thread,
            status=201,
            idempotency=command.idempotency,
        )
        stream = thread_stream(command.context, thread_id)
        result: ThreadView | Replay = await self._submit(self._threads, stream, job)
        return result

    async def post_message(self, command: PostMessage) -> MessageView | Replay:
        """Post a message at its thread's next seq."""
        decide.require_role(command.context, command.auth)
        _check_thread_id(command.thread_id)
        keys = self._keys
        tenant, author = command.context.tenant, command.auth.sub
        key = None
        if keys is not None:
            key = keys.cached_writing_key(tenant, author) or await keys.writing_key(tenant, author)

        def decision(draft: Draft[ThreadState]) -> list[MessagePosted]:
            if keys is not None and key is not None and not keys.still_live(tenant, author, key):
                # Erased while this post waited its turn: sealing under the destroyed key
                # would acknowledge words that already read as erased.
                raise Conflict(
                    "the author's messages in this tenant were erased while this post was"
                    " in flight; nothing was recorded, and posting again starts afresh"
                )
            queued = draft.count(MessagePosted)
            message_id = new_message_id(draft.state.last_seq + queued + 1)
            sealed = None if key is None else _seal(keys, key, command, message_id)
            return [
                decide.post_message(draft.state, command, message_id, queued=queued, sealed=sealed)
            ]

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda events: _render_message(events, command),
            status=201,
            idempotency=command.idempotency,
        )
        stream = thread_stream(command.context, command.thread_id)
        result: MessageView | Replay = await self._submit(self._threads, stream, job)
        if isinstance(result, Replay):
            return await self._current_answer(stream, result)
        return result

    async def _current_answer(self, stream: str, replay: Replay) -> Replay:
        """Replay a recorded post as the message reads now: opened, or redacted or erased."""
        body = orjson.loads(replay.body)
        if "sealed" not in body:
            return replay
        state = await self._thread_states.load(stream)
        message = await self._thread_states.find(stream, state, body["id"])
        assert message is not None, "a recorded answer names a message of its stream"
        return Replay(
            status=replay.status, body=orjson.dumps(message.view(body["thread_id"]).to_json())
        )

    async def redact_message(self, command: RedactMessage) -> None:
        """Withdraw a message's content; a repeat changes nothing."""
        decide.require_role(command.context, command.auth)
        _check_thread_id(command.thread_id)
        stream = thread_stream(command.context, command.thread_id)
        # Found before queueing (it may have to be read back); a message never changes
        # author or seq, and whether it is redacted yet is the writer's state's to say.
        state = await self._thread_states.load(stream)
        message = await self._thread_states.find(stream, state, command.message_id)
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=lambda draft: decide.redact_message(
                draft.state, command.context, command.auth, message, queued=draft.decided
            ),
            render=lambda _events: None,
            status=204,
            batchable=False,
        )
        await self._submit(self._threads, stream, job)

    async def set_temperature(
        self, command: SetTemperatureConfig
    ) -> TemperatureConfigView | Replay:
        """Replace the temperature config when the caller is an admin and If-Match holds."""
        decide.require_role(command.context, command.auth)
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=lambda draft: [decide.set_temperature(draft.state, command)],
            render=lambda events: _render_temperature(events[-1]),
            status=200,
            idempotency=command.idempotency,
            batchable=False,
        )
        stream = temperature_stream(command.context)
        result: TemperatureConfigView | Replay = await self._submit(self._temperatures, stream, job)
        return result

    def _submit(self, writer: StreamWriter[Any], stream: str, job: Job) -> Awaitable[Any]:
        """Answer a repeated idempotency key from the store, else queue the job."""
        if job.idempotency is None:
            # Most requests carry no key: straight to the writer's future, no guard to pass.
            return writer.submit(stream, job)

        async def run(scope: str | None) -> Any:
            return await writer.submit(stream, attrs.evolve(job, scope=scope))

        return self._guard.once(job.context, job.auth, job.idempotency, run)


def _check_thread_id(thread_id: str) -> None:
    if THREAD_ID.fullmatch(thread_id) is None:
        raise NotFound("no such thread in this tenant and env")


def _seal(keys: KeyRing | None, key: DataKey, command: PostMessage, message_id: str) -> str:
    assert keys is not None
    return seal_message(
        keys,
        key,
        tenant=command.context.tenant,
        author=command.auth.sub,
        message_id=message_id,
        content=command.content,
        metadata=command.metadata,
    )


def _render_message(events: Sequence[DatasetEvent], command: PostMessage) -> MessageView:
    # The sealed record is what the log holds; the caller is answered in clear.
    event = events[0]
    payload = event.payload
    assert isinstance(payload, MessagePosted)
    return message_answer(event, payload, content=command.content, metadata=command.metadata)


def _render_thread(events: Sequence[DatasetEvent]) -> ThreadView:
    return _answer(events[0], ThreadView)


def _render_temperature(event: DatasetEvent) -> TemperatureConfigView:
    return _answer(event, TemperatureConfigView)


def _answer(event: DatasetEvent, view_type: type[V]) -> V:
    """Render an event's answer with the same code replay rebuilds records with."""
    view = render_answer(event)
    assert isinstance(view, view_type)
    return view
