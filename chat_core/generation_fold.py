"""A generation's chunks and end, folded into its message: the text so far, then how it ended."""

from __future__ import annotations

import sys

import attrs

from chat_core.payloads import (
    LlmFields,
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
)
from chat_core.sealing import open_chunk
from chat_core.state import MessageState
from events.envelope import DatasetEvent
from events.keys import KeyRing

__all__ = ["GENERATION_EVENTS", "GenerationEvent", "apply_to_message", "chunk_text"]

GenerationEvent = MessageChunk | MessageCompleted | MessageCancelled | MessageFailed
GENERATION_EVENTS = (MessageChunk, MessageCompleted, MessageCancelled, MessageFailed)


def apply_to_message(message: MessageState, event: DatasetEvent, keys: KeyRing | None) -> None:
    """Fold a generation's chunk or end into its message, in place; others change nothing."""
    payload = event.payload
    if isinstance(payload, MessageChunk):
        if payload.index != message.next_index or message.status != "in_progress":
            return
        text = chunk_text(payload, event, keys)
        message.next_index += 1
        message.length = payload.length
        message.active_at = event.occurred_at
        message.chunks.append(text)
        message.cached_view = None
        if text is None or message.erased:
            if keys is not None and text is None:
                message.withdraw(erased=True)
                message.content = None
            return
        message.content = (message.content or "") + text
        message.size += sys.getsizeof(text)
        return
    if not isinstance(payload, GENERATION_EVENTS) or message.status != "in_progress":
        return
    if isinstance(payload, MessageCompleted):
        message.status = "complete"
        message.llm = attrs.evolve(
            message.llm or LlmFields(),
            status=None,
            finish_reason=payload.finish_reason,
            usage=payload.usage,
            tool_calls=payload.tool_calls,
        )
    elif isinstance(payload, MessageCancelled):
        message.status = "cancelled"
    elif isinstance(payload, MessageFailed):
        message.status = "failed"
        message.error = payload.error
    message.drop_chunks()
    message.cached_view = None


def chunk_text(
    payload: MessageChunk, event: DatasetEvent, keys: KeyRing | None, *, keep: bool = False
) -> str | None:
    """Return a chunk's text, opened when sealed; None once its key is destroyed or unknown.

    keep is open_message's: the search index reads a chunk before the fold does.
    """
    if payload.sealed is None:
        return payload.content
    if keys is None:
        return None
    return open_chunk(
        keys,
        tenant=event.tenant,
        author=event.actor,
        message_id=payload.message_id,
        index=payload.index,
        sealed=payload.sealed,
        keep=keep,
    )
