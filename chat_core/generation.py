"""A generation: an assistant reply appended chunk by chunk, then completed, cancelled or failed.

Each step is an event of the thread's stream, decided by the thread's writer against the
thread's fold and what the batch decided ahead of it (a chunk queued but not yet folded
still counts), so chunks take their indexes in order under any concurrency, and a step
repeated is answered without a second event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from chat_core.caches import ThreadCache
from chat_core.commands import AppendChunk, CancelMessage, CompleteMessage, FailMessage
from chat_core.context import AuthContext, RequestContext
from chat_core.errors import Conflict, Forbidden, NotFound, OutOfOrder
from chat_core.payloads import (
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
)
from chat_core.sealing import open_chunk, seal_chunk
from chat_core.state import MessageState, ThreadState, thread_stream
from chat_core.views import ChunkView, MessageRef, MessageView, Replay
from chat_core.visibility import visible_thread
from chat_core.writer import Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import EventPayload
from events.keys import DataKey, KeyRing

__all__ = [
    "ENDS",
    "SERVER",
    "TIMED_OUT",
    "GenerationHandlers",
    "decide_chunk",
    "decide_end",
    "status_now",
]

IN_PROGRESS = "in_progress"
TIMED_OUT = "timed out"
# The server's own steps (a generation timed out) are the actor chat-core's.
SERVER = AuthContext(sub="chat-core", memberships={})
# What each end makes of a message's status.
ENDS: dict[type[EventPayload], str] = {
    MessageCompleted: "complete",
    MessageCancelled: "cancelled",
    MessageFailed: "failed",
}
End = MessageCompleted | MessageCancelled | MessageFailed


def _queued(draft: Draft[ThreadState], message_id: str) -> tuple[int, int | None, str | None]:
    """Return the chunks the batch decided ahead for a message, its length after them, its end.

    One pass, by class first: a batch of a thread's chunks holds every other generation's
    chunks too, and each chunk's decision reads it.
    """
    chunks, length, ended = 0, None, None
    for payload in draft.decided:
        kind = type(payload)
        if kind is MessageChunk:
            if payload.message_id == message_id:  # type: ignore[attr-defined]
                chunks, length = chunks + 1, payload.length  # type: ignore[attr-defined]
        elif kind in ENDS and payload.message_id == message_id:  # type: ignore[attr-defined]
            ended = ENDS[kind]
    return chunks, length, ended


def status_now(draft: Draft[ThreadState], found: MessageState) -> str:
    """Return a message's status as the thread and the batch ahead of this command leave it."""
    return _status(draft, found, _queued(draft, found.message_id)[2])


def _status(draft: Draft[ThreadState], found: MessageState, ended: str | None) -> str:
    """Return a message's status, given the end the batch decided ahead for it (if any)."""
    if ended is not None:
        return ended
    state = draft.state
    if found.message_id in state.generating:
        return IN_PROGRESS
    settled = state.ended.get(found.message_id)
    return found.status if settled is None else settled[1]


def decide_chunk(
    draft: Draft[ThreadState],
    found: MessageState,
    index: int,
    content: str,
    seal: Callable[[int], tuple[str | None, str | None]],
    opened: Callable[[MessageChunk], str | None],
) -> tuple[list[MessageChunk], ChunkView]:
    """Decide the next chunk of a generation, nothing for a repeat, else refuse with 409.

    seal gives the (sealed, clear) forms of the content at an index; opened the text of a
    chunk the batch decided ahead (a repeat may come before its first try is folded).
    """
    chunks, queued_length, ended = _queued(draft, found.message_id)
    status = _status(draft, found, ended)
    if status != IN_PROGRESS:
        raise Conflict(f"the message is {status}, not in progress: it takes no more chunks")
    live = draft.state.generating[found.message_id]
    expected = live.next_index + chunks
    length = live.length if queued_length is None else queued_length
    if index < expected:
        if _text_at(draft, live, index, opened) == content:
            return [], ChunkView(message_id=found.message_id, index=index, length=length)
        raise OutOfOrder(
            f"chunk {index} was appended with other content; the next index is {expected}",
            expected,
        )
    if index > expected:
        raise OutOfOrder(f"chunk {index} is past the next index, {expected}", expected)
    length += len(content)
    sealed, clear = seal(index)
    chunk = MessageChunk(
        thread_id=live_thread(draft),
        message_id=found.message_id,
        index=index,
        length=length,
        sealed=sealed,
        content=clear,
    )
    return [chunk], ChunkView(message_id=found.message_id, index=index, length=length)


def _text_at(
    draft: Draft[ThreadState],
    live: MessageState,
    index: int,
    opened: Callable[[MessageChunk], str | None],
) -> str | None:
    """Return the text of a generation's chunk at an index below the next: folded or queued."""
    if index < len(live.chunks):
        return live.chunks[index]
    for payload in draft.decided:
        if (
            type(payload) is MessageChunk
            and payload.message_id == live.message_id
            and payload.index == index
        ):
            return opened(payload)
    return None


def live_thread(draft: Draft[ThreadState]) -> str:
    """Return the thread's id, which a message found in it proves it has."""
    thread_id = draft.state.thread_id
    assert thread_id is not None
    return thread_id


def decide_end(draft: Draft[ThreadState], found: MessageState, end: End) -> list[End]:
    """Decide a generation's end: nothing when it already ended so, 409 when otherwise."""
    wanted = ENDS[type(end)]
    status = status_now(draft, found)
    if status == wanted:
        return []
    if status != IN_PROGRESS:
        raise Conflict(f"the message is {status}: it cannot become {wanted}")
    return [end]


class GenerationHandlers:
    """Turn a generation's steps into events through the thread streams' writer."""

    def __init__(
        self,
        *,
        bus: MessageBus,
        writer: StreamWriter[ThreadState],
        threads: ThreadCache,
        keys: KeyRing | None,
        writing_key: Callable[[str, str], Awaitable[DataKey | None]],
    ) -> None:
        self._bus = bus
        self._writer = writer
        self._threads = threads
        self._keys = keys
        self._writing_key = writing_key

    def register(self) -> None:
        """Make these the bus's handlers of a generation's steps."""
        self._bus.register(AppendChunk, self.append_chunk)
        self._bus.register(CompleteMessage, self.complete)
        self._bus.register(CancelMessage, self.cancel)
        self._bus.register(FailMessage, self.fail)

    async def _message(
        self, command: AppendChunk | CompleteMessage | CancelMessage | FailMessage
    ) -> tuple[str, MessageState]:
        """Return the thread's stream and the message, else NotFound."""
        state = await visible_thread(
            self._threads, command.context, command.auth, command.thread_id
        )
        stream = thread_stream(command.context, command.thread_id)
        found = await self._threads.find(stream, state, command.message_id)
        if found is None:
            raise NotFound("no such message in this thread")
        return stream, found

    async def append_chunk(self, command: AppendChunk) -> ChunkView | Replay:
        """Append a chunk to a generation of the caller's."""
        stream, found = await self._message(command)
        _require_author(found, command.auth.sub, "appends its chunks")
        tenant, author, keys = command.context.tenant, command.auth.sub, self._keys
        # The writing key without a coroutine when it is cached: every chunk seals.
        key = None
        if keys is not None:
            key = keys.cached_writing_key(tenant, author) or await self._writing_key(tenant, author)

        def seal(index: int) -> tuple[str | None, str | None]:
            if keys is None or key is None:
                return None, command.content
            if not keys.still_live(tenant, author, key):
                raise Conflict("the author's messages in this tenant were erased meanwhile")
            sealed = seal_chunk(
                keys,
                key,
                tenant=tenant,
                author=author,
                message_id=found.message_id,
                index=index,
                text=command.content,
            )
            return sealed, None

        def opened(chunk: MessageChunk) -> str | None:
            if chunk.sealed is None:
                return chunk.content
            if keys is None:
                return None
            return open_chunk(
                keys,
                tenant=tenant,
                author=author,
                message_id=chunk.message_id,
                index=chunk.index,
                sealed=chunk.sealed,
            )

        answer: list[ChunkView] = []

        def decision(draft: Draft[ThreadState]) -> list[MessageChunk]:
            payloads, view = decide_chunk(
                draft, found, command.index, command.content, seal, opened
            )
            answer[:] = [view]
            return payloads

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda _events: answer[0],
            status=200,
            idempotency=command.idempotency,
        )
        result: ChunkView | Replay = await self._writer.run(stream, job)
        return result

    async def complete(self, command: CompleteMessage) -> MessageView:
        """Complete a generation of the caller's."""
        stream, found = await self._message(command)
        _require_author(found, command.auth.sub, "completes it")
        end = MessageCompleted(
            thread_id=command.thread_id,
            message_id=command.message_id,
            finish_reason=command.finish_reason,
            usage=command.usage,
            tool_calls=command.tool_calls,
        )
        return await self._end(stream, found, command, end)

    async def cancel(self, command: CancelMessage) -> MessageView:
        """Cancel a generation: anyone who reads the thread may stop it."""
        stream, found = await self._message(command)
        end = MessageCancelled(thread_id=command.thread_id, message_id=command.message_id)
        return await self._end(stream, found, command, end)

    async def fail(self, command: FailMessage) -> MessageView:
        """Fail a generation of the caller's."""
        stream, found = await self._message(command)
        _require_author(found, command.auth.sub, "fails it")
        end = MessageFailed(
            thread_id=command.thread_id, message_id=command.message_id, error=command.error
        )
        return await self._end(stream, found, command, end)

    async def _end(
        self,
        stream: str,
        found: MessageState,
        command: CompleteMessage | CancelMessage | FailMessage,
        end: End,
    ) -> MessageView:
        job = Job(
            context=command.context,
            auth=command.auth,
            decision=lambda draft: decide_end(draft, found, end),
            render=lambda _events: MessageRef(id=found.message_id, thread_id=command.thread_id),
            status=200,
            idempotency=command.idempotency,
            batchable=False,
        )
        await self._writer.run(stream, job)
        # Answered with the message as the thread's fold reads it now, chunks joined.
        return await self._current(stream, found.message_id, command.thread_id)

    async def time_out(
        self, context: RequestContext, thread_id: str, message_id: str, *, silent_since: datetime
    ) -> bool:
        """Fail a generation as timed out unless it moved after silent_since; tell if it did.

        Decided by the thread's writer against the fold, appended with the version it read:
        a chunk that came meanwhile, or another instance that timed it out first, leaves
        nothing to do (the second append fails, and its retry decides nothing).
        """
        stream = thread_stream(context, thread_id)
        state = await self._threads.load(stream)
        found = await self._threads.find(stream, state, message_id)
        if found is None:
            return False
        end = MessageFailed(thread_id=thread_id, message_id=message_id, error=TIMED_OUT)

        def decision(draft: Draft[ThreadState]) -> list[End]:
            live = draft.state.generating.get(message_id)
            if live is None or _queued(draft, message_id) != (0, None, None):
                return []
            if live.active_at is not None and live.active_at > silent_since:
                return []
            return decide_end(draft, found, end)

        failed: list[bool] = []
        job = Job(
            context=context,
            auth=SERVER,
            decision=decision,
            render=lambda events: failed.append(bool(events)),
            status=200,
            batchable=False,
        )
        await self._writer.run(stream, job)
        return any(failed)

    async def _current(self, stream: str, message_id: str, thread_id: str) -> MessageView:
        state = await self._threads.load(stream)
        message = await self._threads.find(stream, state, message_id)
        assert message is not None, "a message never leaves its thread"
        return message.view(thread_id)


def _require_author(found: MessageState, sub: str, does: str) -> None:
    if found.author != sub:
        raise Forbidden(f"only the message's author {does}")
