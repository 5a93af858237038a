"""Feedback: a reader rates an assistant message up or down, or withdraws the rating.

One rating per message and rater (the token's sub): a new one replaces it, and the counts
on the message's `feedback` are the fold's (chat_core.fold). A comment is the rater's
words, sealed under their data key like a message's, so an erasure of the rater covers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs
import orjson

from chat_core.caches import ThreadCache
from chat_core.commands import RateMessage
from chat_core.errors import Conflict, NotFound, ValidationFailed
from chat_core.payloads import MessageRated
from chat_core.sealing import open_feedback, seal_feedback
from chat_core.state import MessageState, ThreadState, thread_stream
from chat_core.views import FeedbackView, Replay, feedback_answer
from chat_core.visibility import visible_thread
from chat_core.writer import Draft, Job, StreamWriter
from events.bus import MessageBus
from events.envelope import DatasetEvent
from events.keys import DataKey, KeyRing

__all__ = ["FeedbackHandlers", "decide_rating"]


def decide_rating(
    draft: Draft[ThreadState], message: MessageState, rater: str, command: RateMessage
) -> list[MessageRated]:
    """Decide a rating, or its withdrawal; withdrawing none that stands decides nothing.

    What counts is the state's ratings with those decided ahead of this one in the batch.
    """
    standing = message.message_id in draft.state.ratings and (
        rater in draft.state.ratings[message.message_id]
    )
    for payload in draft.decided:
        if type(payload) is MessageRated and payload.message_id == message.message_id:
            # Only this rater's own commands reach here under their sub, in order.
            standing = payload.rating is not None
    if command.rating is None and not standing:
        return []
    return [
        MessageRated(
            thread_id=command.thread_id,
            message_id=message.message_id,
            rating=command.rating,
            comment=command.comment,
        )
    ]


class FeedbackHandlers:
    """Rate messages through the thread's writer, in the thread's order."""

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
        """Make this the bus's handler of ratings."""
        self._bus.register(RateMessage, self.rate)

    async def rate(self, command: RateMessage) -> FeedbackView | Replay | None:
        """Rate an assistant message of the thread (or withdraw the caller's rating)."""
        state = await visible_thread(
            self._threads, command.context, command.auth, command.thread_id
        )
        stream = thread_stream(command.context, command.thread_id)
        message = await self._threads.find(stream, state, command.message_id)
        if message is None:
            raise NotFound("no such message in this thread")
        if message.role != "assistant":
            raise ValidationFailed(
                "only an assistant message takes feedback",
                [("message_id", f"names a {message.role} message, not an assistant's")],
            )
        tenant, rater = command.context.tenant, command.auth.sub
        sealed = await self._sealed(command, tenant, rater)

        def decision(draft: Draft[ThreadState]) -> list[MessageRated]:
            decided = decide_rating(draft, message, rater, command)
            if sealed is not None:
                decided = [attrs.evolve(p, comment=None, sealed=sealed) for p in decided]
            return decided

        job = Job(
            context=command.context,
            auth=command.auth,
            decision=decision,
            render=lambda events: _answer(events, command.comment),
            status=200 if command.rating is not None else 204,
            idempotency=command.idempotency,
            batchable=False,
        )
        result: FeedbackView | Replay | None = await self._writer.run(stream, job)
        if isinstance(result, Replay):
            return self._opened(command, result)
        return result

    async def _sealed(self, command: RateMessage, tenant: str, rater: str) -> str | None:
        """Seal the comment under the rater's key; None when there is none or keys are off."""
        keys, comment = self._keys, command.comment
        if keys is None or comment is None:
            return None
        key = await self._writing_key(tenant, rater)
        if key is None:
            return None
        if not keys.still_live(tenant, rater, key):
            raise Conflict("the rater's words in this tenant were erased meanwhile")
        return seal_feedback(
            keys, key, tenant=tenant, rater=rater, message_id=command.message_id, comment=comment
        )

    def _opened(self, command: RateMessage, replay: Replay) -> Replay:
        """Answer a repeated PUT with its comment opened, or null once the rater is erased."""
        body = orjson.loads(replay.body)
        sealed = body.pop("sealed", None)
        if sealed is None or self._keys is None:
            return replay
        body["comment"] = open_feedback(
            self._keys,
            tenant=command.context.tenant,
            rater=command.auth.sub,
            message_id=body["message_id"],
            sealed=sealed,
        )
        return Replay(status=replay.status, body=orjson.dumps(body))


def _answer(events: Sequence[DatasetEvent], comment: str | None) -> FeedbackView | None:
    """Answer a PUT with the rating recorded, its comment in clear; a DELETE with nothing."""
    if not events:
        return None
    event = events[0]
    payload = event.payload
    assert isinstance(payload, MessageRated)
    if payload.rating is None:
        return None
    # The sealed record is what the log holds; the caller is answered in clear.
    return attrs.evolve(feedback_answer(event, payload), comment=comment)
