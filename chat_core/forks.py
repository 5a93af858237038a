"""Forks: a new thread of the same tenant and env holding copies of a path of another.

Each copy has a new id and the next seq of the fork, the same role, words and author as
its source; its words are sealed again under that author's key, bound to the new id. A
source message withdrawn (redacted, or its author erased) is copied withdrawn, with no
words, so a fork never brings back what an erasure took. A fork of a private thread is
private, seen by the forker (and agents) until its participants are set. A path holding
a message still in progress is a conflict: there is nothing whole to copy yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs
import orjson

from chat_core.caches import ThreadCache
from chat_core.commands import ForkThread
from chat_core.errors import Conflict, ValidationFailed
from chat_core.payloads import ForkedFrom, MessagePosted, ThreadCreated
from chat_core.sealing import seal_message, seal_thread
from chat_core.state import (
    MessageState,
    ThreadState,
    new_message_id,
    new_thread_id,
    thread_stream,
)
from chat_core.views import Replay, ThreadView, thread_answer
from chat_core.visibility import visible_thread
from chat_core.writer import Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent, EventPayload
from events.keys import DataKey, KeyRing

__all__ = ["ForkHandlers", "copy_message"]

Seal = Callable[[MessageState, str], str | None]


def copy_message(
    source: MessageState, *, thread_id: str, seq: int, forker: str, seal: Seal
) -> MessagePosted:
    """Decide the copy of a message at seq of the fork, continuing from the one before."""
    message_id = new_message_id(seq)
    llm = source.llm
    if llm is not None or source.status != "complete":
        status = None if source.status == "complete" else source.status
        llm = attrs.evolve(llm, status=status) if llm is not None else None
    author = None if source.author == forker else source.author
    # Redacted first: the copy of a redacted message reads erased too once its author is.
    withdrawn = "redacted" if source.redacted else "erased" if source.erased else None
    if withdrawn is not None:
        return MessagePosted(
            thread_id=thread_id,
            message_id=message_id,
            seq=seq,
            role=source.role,
            llm=llm,
            author=author,
            withdrawn=withdrawn,
        )
    sealed = seal(source, message_id)
    return MessagePosted(
        thread_id=thread_id,
        message_id=message_id,
        seq=seq,
        role=source.role,
        sealed=sealed,
        content=None if sealed is not None else source.content,
        metadata={} if sealed is not None else source.metadata,
        llm=llm,
        author=author,
    )


class ForkHandlers:
    """Fork threads: read the source path, then write the new thread in one append."""

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
        """Make this the bus's handler of forks."""
        self._bus.register(ForkThread, self.fork)

    async def fork(self, command: ForkThread) -> ThreadView | Replay:
        """Open a fork of the path up to a message of the thread."""
        context, auth = command.context, command.auth
        source = await visible_thread(self._threads, context, auth, command.thread_id)
        source_stream = thread_stream(context, command.thread_id)
        tip = await self._threads.find(source_stream, source, command.message_id)
        if tip is None:
            raise ValidationFailed(
                "the message is not one of this thread's",
                [("message_id", "must be the id of a message of this thread")],
            )
        path = await self._threads.pick(source_stream, source, source.path_seqs(tip.seq))
        if any(message.status == "in_progress" for message in path):
            raise Conflict("the path holds a message still in progress; fork it once it ends")
        keys = self._keys
        tenant, forker = context.tenant, auth.sub
        authors = {m.author for m in path if not (m.redacted or m.erased)} | {forker}
        writing: dict[str, DataKey] = {}
        for author in sorted(authors):
            key = await self._writing_key(tenant, author)
            if key is not None:
                writing[author] = key
        thread_id = new_thread_id()
        forked_from = ForkedFrom(thread_id=command.thread_id, message_id=tip.message_id)

        def seal(message: MessageState, message_id: str) -> str | None:
            key = writing.get(message.author)
            if keys is None or key is None:
                return None
            _require_live(keys, tenant, message.author, key)
            return seal_message(
                keys,
                key,
                tenant=tenant,
                author=message.author,
                message_id=message_id,
                content=message.content or "",
                metadata=message.metadata,
            )

        def decision(_draft: Draft[ThreadState]) -> list[EventPayload]:
            sealed = None
            key = writing.get(forker)
            if keys is not None and key is not None:
                _require_live(keys, tenant, forker, key)
                sealed = seal_thread(
                    keys,
                    key,
                    tenant=tenant,
                    creator=forker,
                    thread_id=thread_id,
                    title=command.title,
                    metadata={},
                )
            created = ThreadCreated(
                thread_id=thread_id,
                sealed=sealed,
                title=None if sealed is not None else command.title,
                forked_from=forked_from,
                # A private thread's words stay private: its fork is the forker's own.
                visibility=source.visibility,
            )
            copies = [
                copy_message(message, thread_id=thread_id, seq=seq, forker=forker, seal=seal)
                for seq, message in enumerate(path, start=1)
            ]
            return [created, *copies]

        job = Job(
            context=context,
            auth=auth,
            decision=decision,
            render=lambda events: _render(events, command.title),
            status=201,
            idempotency=command.idempotency,
            batchable=False,
        )
        result: ThreadView | Replay = await self._writer.run(thread_stream(context, thread_id), job)
        # Recorded as a create is (replay rebuilds it from the first event); answered
        # with the fork as it reads now, its messages counted and its title opened.
        if isinstance(result, Replay):
            recorded = orjson.loads(result.body)
            state = await self._threads.load(thread_stream(context, recorded["id"]))
            return Replay(status=result.status, body=orjson.dumps(state.view().to_json()))
        state = await self._threads.load(thread_stream(context, thread_id))
        return state.view()


def _require_live(keys: KeyRing, tenant: str, subject: str, key: DataKey) -> None:
    if not keys.still_live(tenant, subject, key):
        raise Conflict(
            "an author's words in this tenant were erased while this fork was in flight;"
            " nothing was recorded, and sending it again starts afresh"
        )


def _render(events: Sequence[DatasetEvent], title: str | None) -> ThreadView:
    event = events[0]
    payload = event.payload
    assert isinstance(payload, ThreadCreated)
    return thread_answer(event, payload, title=title, metadata={})
