"""Show stored events as clients may see them: messages opened, or withdrawn once gone."""

from __future__ import annotations

from typing import Any

import cattrs

from chat_core.caches import ThreadCache
from chat_core.export_view import rated_data
from chat_core.fold import thread_words, update_words
from chat_core.generation_fold import chunk_text
from chat_core.payloads import (
    LlmFields,
    MessageChunk,
    MessagePosted,
    MessageRated,
    ThreadCreated,
    ThreadUpdated,
)
from chat_core.sealing import open_feedback
from chat_core.state import MessageState, ThreadState
from chat_core.views import forked_data, llm_json
from events.envelope import DatasetEvent
from events.keys import KeyRing
from events.store.base import RecordedEvent

__all__ = [
    "EventPresenter",
    "chunk_event_data",
    "created_event_data",
    "posted_event_data",
    "updated_event_data",
]


def posted_event_data(payload: MessagePosted, message: MessageState | None) -> dict[str, Any]:
    """Return a posted event's data as its message reads now, never with sealed bytes."""
    view = None if message is None else message.view(payload.thread_id)
    withdrawn = view is None or view.content is None
    content = None if view is None else view.content
    llm = payload.llm
    if content is not None and message is not None and llm is not None and llm.status:
        # A generation's start shows the piece posted with it: its chunks show the rest.
        content = content[: message.opening]
    return {
        "thread_id": payload.thread_id,
        "message_id": payload.message_id,
        "seq": payload.seq,
        "role": payload.role,
        "content": content,
        "metadata": {} if withdrawn or view is None else dict(view.metadata),
        "redacted": view is not None and view.redacted,
        "erased": view is not None and view.erased,
        "parent_id": payload.parent_id if view is None else view.parent_id,
        # As posted: a start of a generation says in_progress, what follows is its chunks.
        "status": "complete" if payload.llm is None else payload.llm.status or "complete",
        **llm_json(payload.llm or _NO_LLM),
    }


_NO_LLM = LlmFields()


def chunk_event_data(
    payload: MessageChunk, text: str | None, *, redacted: bool = False
) -> dict[str, Any]:
    """Return a chunk's data: its text opened, or null once its reply is redacted or its
    author erased (a redaction withdraws the reply's chunks with it)."""
    shown = None if redacted else text
    return {
        "thread_id": payload.thread_id,
        "message_id": payload.message_id,
        "index": payload.index,
        "length": payload.length,
        "content": shown,
        "redacted": redacted,
        "erased": text is None and not redacted,
    }


def created_event_data(
    payload: ThreadCreated, event: DatasetEvent, state: ThreadState
) -> dict[str, Any]:
    """Return a created thread's data: its words as created, opened or withdrawn, never sealed.

    The words the thread was created with, not those an update set since (which its
    own event shows).
    """
    title, metadata = thread_words(payload, event, state.keys)
    return {
        "thread_id": payload.thread_id,
        "title": title,
        "metadata": dict(metadata),
        "visibility": payload.visibility,
        "forked_from": forked_data(payload.forked_from),
    }


def updated_event_data(
    payload: ThreadUpdated, event: DatasetEvent, state: ThreadState
) -> dict[str, Any]:
    """Return a thread update's data: what it changed (null: left as it was), words opened.

    `erased` says that the words it set are withdrawn: their updater was erased.
    """
    words = payload.words
    opened = update_words(payload, event, state.keys) if words else {}
    metadata = opened.get("metadata")
    return {
        "thread_id": payload.thread_id,
        "title": opened.get("title"),
        "metadata": None if metadata is None else dict(metadata),  # type: ignore[call-overload]
        "archived": payload.archived,
        "participants": None if payload.participants is None else list(payload.participants),
        "erased": bool(words) and not opened,
    }


def rated_comment(payload: MessageRated, event: DatasetEvent, keys: KeyRing | None) -> str | None:
    """Return a rating's comment opened with the rater's key: None once erased, or for none."""
    if payload.sealed is None:
        erased = keys is not None and keys.subject(event.tenant, event.actor).erased
        return None if erased else payload.comment
    if keys is None:
        return None
    return open_feedback(
        keys,
        tenant=event.tenant,
        rater=event.actor,
        message_id=payload.message_id,
        sealed=payload.sealed,
    )


class EventPresenter:
    """Render an event's data from the thread's read model, which knows redactions and keys."""

    def __init__(self, *, threads: ThreadCache, converter: cattrs.Converter) -> None:
        self._threads = threads
        self._converter = converter

    async def data(self, item: RecordedEvent) -> tuple[dict[str, Any], object]:
        """Return the event's data, and a token that changes when that data would change."""
        payload = item.event.payload
        if type(payload) is ThreadCreated:
            state = await self._threads.load(item.event.stream)
            created = created_event_data(payload, item.event, state)
            # Withdrawn or not (its creator erased): the one change its data may see.
            return created, created["title"] is None and not created["metadata"]
        if type(payload) is ThreadUpdated:
            state = await self._threads.load(item.event.stream)
            updated = updated_event_data(payload, item.event, state)
            return updated, updated["erased"]
        if type(payload) is MessageChunk:
            state = await self._threads.load(item.event.stream)
            redacted = payload.message_id in state.redacted
            text = None if redacted else chunk_text(payload, item.event, state.keys)
            # Opened, or withdrawn (its reply redacted, its author erased): the changes its
            # data may see.
            return chunk_event_data(payload, text, redacted=redacted), (redacted, text is None)
        if type(payload) is MessageRated:
            state = await self._threads.load(item.event.stream)
            comment = rated_comment(payload, item.event, state.keys)
            erased = comment is None and (payload.sealed or payload.comment) is not None
            return rated_data(
                self._converter.unstructure(payload), item.event.actor, comment, erased=erased
            ), erased
        if type(payload) is not MessagePosted:
            return self._converter.unstructure(payload), None
        stream = item.event.stream
        state = await self._threads.load(stream)
        message = await self._threads.find(stream, state, payload.message_id)
        # The view object is replaced when the message is withdrawn: a fresh token.
        token = None if message is None else message.view(payload.thread_id)
        return posted_event_data(payload, message), token
