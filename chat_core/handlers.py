"""Thread and message commands: each handler checks, decides, and hands it to the stream's writer.

A handler checks what needs no state (the caller's role, the id's shape) and loads what
its decision needs; the decision itself is a pure function of the thread's state beside
it, run by the writer in the stream's order and stamped with the request's context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import orjson

from chat_core.caches import StreamCache, ThreadCache
from chat_core.commands import CreateThread, PostMessage, RedactMessage
from chat_core.context import (
    AuthContext,
    RequestContext,
    Role,
    has_role,
    require_poster,
    require_role,
)
from chat_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chat_core.feedback import FeedbackHandlers
from chat_core.forks import ForkHandlers
from chat_core.generation import GenerationHandlers
from chat_core.idempotency import IdempotencyGuard
from chat_core.model_fields import applied_temperature, needs_temperature, require_generator
from chat_core.payloads import LlmFields, MessagePosted, MessageRedacted, ThreadCreated
from chat_core.sealing import seal_message, seal_thread
from chat_core.search_index import SearchIndexer
from chat_core.state import (
    MessageState,
    TemperatureState,
    ThreadState,
    new_message_id,
    new_thread_id,
    require_thread_id,
    temperature_stream,
    thread_stream,
)
from chat_core.thread_updates import ThreadUpdates
from chat_core.views import MessageView, Replay, ThreadView, message_answer, thread_answer
from chat_core.visibility import require_visible
from chat_core.writer import BATCHES_IN_FLIGHT, Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent, EventPayload
from events.keys import DataKey, KeyRing
from events.store.base import EventStore

__all__ = ["ChatHandlers", "create_thread", "post_message", "redact_message"]


def _existing(state: ThreadState) -> str:
    if state.thread_id is None:
        raise NotFound("no such thread in this tenant and env")
    return state.thread_id


def create_thread(
    command: CreateThread, thread_id: str, *, sealed: str | None = None
) -> ThreadCreated:
    """Decide the opening of a thread.

    With sealed (its title and metadata sealed under the creator's key) nothing is in clear.
    """
    visibility = command.visibility
    if sealed is not None:
        return ThreadCreated(thread_id=thread_id, sealed=sealed, visibility=visibility)
    return ThreadCreated(
        thread_id=thread_id, title=command.title, metadata=command.metadata, visibility=visibility
    )


def post_message(
    state: ThreadState,
    command: PostMessage,
    message_id: str,
    *,
    queued: int = 0,
    sealed: str | None = None,
    head: str | None = None,
    llm: LlmFields | None = None,
) -> MessagePosted:
    """Decide a message at the thread's next seq, after the queued ones not yet stored.

    With sealed (its content and metadata sealed under the author's key) nothing is in clear.
    head is the newest message before it: a parent that is the head is recorded as None
    (see MessagePosted). llm is the model fields with the temperature applied.
    """
    parent_id = None if command.parent_id == head else command.parent_id
    if sealed is not None:
        return MessagePosted(
            thread_id=_existing(state),
            message_id=message_id,
            seq=state.last_seq + queued + 1,
            role=command.role,
            sealed=sealed,
            parent_id=parent_id,
            llm=llm,
        )
    return MessagePosted(
        thread_id=_existing(state),
        message_id=message_id,
        seq=state.last_seq + queued + 1,
        role=command.role,
        content=command.content,
        metadata=command.metadata,
        parent_id=parent_id,
        llm=llm,
    )


def batch_head(draft: Draft[ThreadState]) -> str | None:
    """Return the id of the newest message, counting those decided ahead in the batch."""
    for payload in reversed(draft.decided):
        if type(payload) is MessagePosted:
            return payload.message_id
    return draft.state.head


def redact_message(
    state: ThreadState,
    context: RequestContext,
    auth: AuthContext,
    message: MessageState | None,
    *,
    queued: Sequence[EventPayload] = (),
) -> list[MessageRedacted]:
    """Decide a redaction of a message found in the thread, by its author or an admin.

    None when it is already redacted: by the state, or by a redaction decided ahead of this
    one (queued) that the state has not folded yet because its append is still in flight.
    """
    thread_id = _existing(state)
    if message is None:
        raise NotFound("no such message in this thread")
    if message.author != auth.sub and not has_role(auth, context.tenant, Role.ADMIN):
        raise Forbidden("only the author or an admin may redact a message")
    message_id = message.message_id
    if message_id in state.redacted or any(
        type(payload) is MessageRedacted and payload.message_id == message_id for payload in queued
    ):
        return []
    return [MessageRedacted(thread_id=thread_id, message_id=message_id, seq=message.seq)]


class ChatHandlers:
    """Turn thread and message commands into events stamped with the request's own context."""

    def __init__(
        self,
        *,
        store: EventStore,
        bus: MessageBus,
        threads: ThreadCache,
        clock: Callable[[], datetime],
        sole_writer: bool = False,
        keys: KeyRing | None = None,
        temperatures: StreamCache[TemperatureState] | None = None,
        temperature_defaults: TemperatureState | None = None,
        search_index: bool = True,
    ) -> None:
        self._bus = bus
        # The tenant's temperature config, which model fields are checked against.
        self._temperatures = temperatures
        self._temperature_defaults = temperature_defaults or TemperatureState()
        # Seals each message under its author's data key; None stores words in clear.
        self._keys = keys
        self._thread_states = threads
        self._threads = StreamWriter(
            store=store,
            cache=threads,
            clock=clock,
            guard=IdempotencyGuard(store),
            depth=BATCHES_IN_FLIGHT if sole_writer else 1,
            indexer=SearchIndexer(keys) if search_index else None,
        )
        # A generation's steps go through the same writer as the thread's posts.
        self.generations = GenerationHandlers(
            bus=bus,
            writer=self._threads,
            threads=threads,
            keys=keys,
            writing_key=self._writing_key,
        )
        self.forks = ForkHandlers(
            bus=bus,
            writer=self._threads,
            threads=threads,
            keys=keys,
            writing_key=self._writing_key,
        )
        # So do ratings: a message's feedback is a version of its thread's stream.
        self.feedback = FeedbackHandlers(
            bus=bus,
            writer=self._threads,
            threads=threads,
            keys=keys,
            writing_key=self._writing_key,
        )
        self.thread_updates = ThreadUpdates(
            bus=bus,
            writer=self._threads,
            threads=threads,
            keys=keys,
            writing_key=self._writing_key,
        )

    def register(self) -> None:
        """Make these the bus's handlers of the thread and message commands."""
        self._bus.register(CreateThread, self.create_thread)
        self._bus.register(PostMessage, self.post_message)
        self._bus.register(RedactMessage, self.redact_message)
        self.generations.register()
        self.feedback.register()
        self.thread_updates.register()
        self.forks.register()

    async def create_thread(self, command: CreateThread) -> ThreadView | Replay:
        """Open a thread with a fresh id."""
        require_role(command.context, command.auth)
        thread_id = new_thread_id()
        keys = self._keys
        tenant, creator = command.context.tenant, command.auth.sub
        key = await self._writing_key(tenant, creator)

        def decision(_draft: Draft[ThreadState]) -> list[ThreadCreated]:
            sealed = None
            if keys is not None and key is not None:
                _require_live(keys, tenant, creator, key, "create")
                sealed = seal_thread(
                    keys,
                    key,
                    tenant=tenant,
                    creator=creator,
                    thread_id=thread_id,
                    title=command.title,
                    metadata=command.metadata,
                )
            return [create_thread(command, thread_id, sealed=sealed)]

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda events: _render_thread(events, command),
            status=201,
            idempotency=command.idempotency,
        )
        stream = thread_stream(command.context, thread_id)
        result: ThreadView | Replay = await self._threads.run(stream, job)
        if isinstance(result, Replay):
            return await self._current_thread(command, result)
        return result

    async def _writing_key(self, tenant: str, subject: str) -> DataKey | None:
        """Return the subject's key to seal new words under, None when words stay in clear."""
        keys = self._keys
        if keys is None:
            return None
        return keys.cached_writing_key(tenant, subject) or await keys.writing_key(tenant, subject)

    async def _current_thread(self, command: CreateThread, replay: Replay) -> Replay:
        """Replay a recorded create as the thread reads now: its title opened, or erased."""
        body = orjson.loads(replay.body)
        if "sealed" not in body:
            return replay
        state = await self._thread_states.load(thread_stream(command.context, body["id"]))
        return Replay(status=replay.status, body=orjson.dumps(state.view().to_json()))

    async def post_message(self, command: PostMessage) -> MessageView | Replay:
        """Post a message at its thread's next seq, if the caller may post its role."""
        require_poster(command.context, command.auth, command.role)
        require_thread_id(command.thread_id)
        stream = thread_stream(command.context, command.thread_id)
        llm = command.llm
        if llm is not None:
            require_generator(command.context, command.auth, llm)
            if needs_temperature(command.role, llm):
                llm = applied_temperature(command.role, llm, await self._config(command))
        if command.parent_id is not None:
            await self._require_message(command, stream, command.parent_id)
        keys = self._keys
        tenant, author = command.context.tenant, command.auth.sub
        # _writing_key written out: a cached key needs no coroutine, and every post seals.
        key = None
        if keys is not None:
            key = keys.cached_writing_key(tenant, author) or await keys.writing_key(tenant, author)

        def decision(draft: Draft[ThreadState]) -> list[MessagePosted]:
            require_visible(draft.state, command.context, command.auth)
            if keys is not None and key is not None:
                _require_live(keys, tenant, author, key, "post")
            queued = draft.count(MessagePosted)
            message_id = new_message_id(draft.state.last_seq + queued + 1)
            sealed = None if key is None else _seal(keys, key, command, message_id)
            head = draft.state.head if not queued else batch_head(draft)
            parent[0] = head if command.parent_id is None else command.parent_id
            return [
                post_message(
                    draft.state,
                    command,
                    message_id,
                    queued=queued,
                    sealed=sealed,
                    head=head,
                    llm=llm,
                )
            ]

        # The parent the decision found, for the answer that is rendered right after it.
        parent: list[str | None] = [None]
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda events: _render_message(events, command, parent[0]),
            status=201,
            idempotency=command.idempotency,
        )
        result: MessageView | Replay = await self._threads.run(stream, job)
        if isinstance(result, Replay):
            return await self._current_answer(command, stream, result)
        return result

    async def _config(self, command: PostMessage) -> TemperatureState:
        """Return the temperature config in force in the command's tenant and env."""
        if self._temperatures is None:
            return self._temperature_defaults
        state = await self._temperatures.load(temperature_stream(command.context))
        return state if state.version else self._temperature_defaults

    async def _require_message(self, command: PostMessage, stream: str, message_id: str) -> None:
        """Raise ValidationFailed unless the thread holds this message (a parent named)."""
        state = await self._thread_states.load(stream)
        require_visible(state, command.context, command.auth)
        if await self._thread_states.find(stream, state, message_id) is None:
            raise ValidationFailed(
                "the parent is not a message of this thread",
                [("parent_id", "must be the id of a message of this thread")],
            )

    async def _current_answer(self, command: PostMessage, stream: str, replay: Replay) -> Replay:
        """Replay a recorded post as the message reads now: opened, or redacted or erased.

        Its parent too, which the record leaves out (MessageView.record_json). Only to a
        poster who may still see the thread: one since left out of a private thread gets
        the thread's NotFound, as for any other read of it.
        """
        body = orjson.loads(replay.body)
        state = await self._thread_states.load(stream)
        require_visible(state, command.context, command.auth)
        message = await self._thread_states.find(stream, state, body["id"])
        assert message is not None, "a recorded answer names a message of its stream"
        return Replay(
            status=replay.status, body=orjson.dumps(message.view(body["thread_id"]).to_json())
        )

    async def redact_message(self, command: RedactMessage) -> None:
        """Withdraw a message's content; a repeat changes nothing."""
        require_role(command.context, command.auth)
        require_thread_id(command.thread_id)
        stream = thread_stream(command.context, command.thread_id)
        # Found before queueing (it may have to be read back); a message never changes
        # author or seq, and whether it is redacted yet is the writer's state's to say.
        state = await self._thread_states.load(stream)
        message = await self._thread_states.find(stream, state, command.message_id)

        def decision(draft: Draft[ThreadState]) -> list[MessageRedacted]:
            require_visible(draft.state, command.context, command.auth)
            return redact_message(
                draft.state, command.context, command.auth, message, queued=draft.decided
            )

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda _events: None,
            status=204,
            batchable=False,
        )
        await self._threads.run(stream, job)


def _require_live(keys: KeyRing, tenant: str, subject: str, key: DataKey, what: str) -> None:
    if not keys.still_live(tenant, subject, key):
        # Erased while this command waited its turn: sealing under the destroyed key
        # would acknowledge words that already read as erased.
        raise Conflict(
            f"the author's words in this tenant were erased while this {what} was"
            " in flight; nothing was recorded, and sending it again starts afresh"
        )


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


def _render_message(
    events: Sequence[DatasetEvent], command: PostMessage, parent_id: str | None
) -> MessageView:
    # The sealed record is what the log holds; the caller is answered in clear.
    event = events[0]
    payload = event.payload
    assert isinstance(payload, MessagePosted)
    return message_answer(
        event, payload, content=command.content, metadata=command.metadata, parent_id=parent_id
    )


def _render_thread(events: Sequence[DatasetEvent], command: CreateThread) -> ThreadView:
    # The sealed record is what the log holds; the caller is answered in clear.
    event = events[0]
    payload = event.payload
    assert isinstance(payload, ThreadCreated)
    return thread_answer(event, payload, title=command.title, metadata=command.metadata)
