"""What each chat event does to the search index: the one rule, for appends and for replay.

A message is indexed once it is complete (posted complete, or its generation completed,
its text then its chunks joined), with its words opened under its author's key; a
redaction drops it, and an erasure drops its author's messages sealed under the keys it
destroyed. The StreamWriter asks this before each append, so the index changes commit in
the events' own transaction; replay asks it event by event to rebuild the index.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define, field

from chat_core.fold import message_words
from chat_core.generation_fold import chunk_text
from chat_core.payloads import (
    ErasureRecorded,
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
    MessagePosted,
    MessageRedacted,
    ThreadCreated,
)
from chat_core.sealing import sealed_key_id
from chat_core.state import ThreadState
from events.envelope import DatasetEvent
from events.keys import KeyRing
from events.search.records import IndexChange, IndexDrop, IndexErase, IndexPut, SearchDoc
from events.search.terms import words

__all__ = ["SearchIndexer", "document"]


def document(
    event: DatasetEvent,
    *,
    thread_id: str,
    message_id: str,
    author: str,
    key_id: int | None,
    private: bool,
    text: str,
) -> SearchDoc | None:
    """Return a message's index entry, unranked; None when its text holds no word."""
    found = words(text)
    if not found:
        return None
    return SearchDoc(
        tenant=event.tenant,
        env=event.env.value,
        thread_id=thread_id,
        message_id=message_id,
        author=author,
        key_id=key_id,
        private=private,
        words=len(found),
        terms=tuple(dict.fromkeys(found)),
    )


@define
class _Generation:
    """A generation's text so far, as the index follows it."""

    author: str
    key_id: int | None
    text: list[str] = field(factory=list)
    next_index: int = 0
    erased: bool = False


class SearchIndexer:
    """Tell the index changes of a batch of a stream's events, on top of its folded state."""

    def __init__(self, keys: KeyRing | None) -> None:
        self._keys = keys

    def __call__(
        self, state: object, earlier: Sequence[DatasetEvent], events: Sequence[DatasetEvent]
    ) -> list[IndexChange]:
        """Return the changes events make; earlier ones follow the state but are not folded."""
        pass_ = _Pass(state if isinstance(state, ThreadState) else None, self._keys)
        for event in earlier:
            pass_.follow(event)
        changes: list[IndexChange] = []
        for offset, event in enumerate(events):
            change = pass_.follow(event)
            if isinstance(change, SearchDoc):
                changes.append(IndexPut(offset=offset, doc=change))
            elif change is not None:
                changes.append(change)
        return changes


class _Pass:
    """One walk over a batch: the thread's privacy and its generations, as they move on."""

    def __init__(self, state: ThreadState | None, keys: KeyRing | None) -> None:
        self._state = state
        self._keys = keys
        self._private = state is not None and state.visibility != "tenant"
        self._generations: dict[str, _Generation | None] = {}

    def follow(self, event: DatasetEvent) -> SearchDoc | IndexDrop | IndexErase | None:
        payload = event.payload
        if isinstance(payload, ThreadCreated):
            self._private = payload.visibility != "tenant"
        elif isinstance(payload, MessagePosted):
            return self._posted(payload, event)
        elif isinstance(payload, MessageChunk):
            self._chunk(payload, event)
        elif isinstance(payload, MessageCompleted):
            return self._completed(payload, event)
        elif isinstance(payload, MessageCancelled | MessageFailed):
            self._generations[payload.message_id] = None
        elif isinstance(payload, MessageRedacted):
            return IndexDrop(
                tenant=event.tenant,
                env=event.env.value,
                thread_id=payload.thread_id,
                message_id=payload.message_id,
            )
        elif isinstance(payload, ErasureRecorded):
            return IndexErase(
                tenant=event.tenant,
                author=payload.subject,
                through_key_id=payload.through_key_id,
            )
        return None

    def _posted(self, payload: MessagePosted, event: DatasetEvent) -> SearchDoc | None:
        if payload.withdrawn is not None:
            return None
        author = payload.author or event.actor
        # Kept for the fold: it opens the message again once the append commits.
        content, _metadata, erased = message_words(payload, event, self._keys, author, keep=True)
        key_id = None if payload.sealed is None else sealed_key_id(payload.sealed)
        status = None if payload.llm is None else payload.llm.status
        if status == "in_progress":
            generation = _Generation(author=author, key_id=key_id, erased=erased)
            generation.text.append(content or "")
            self._generations[payload.message_id] = generation
            return None
        if status not in (None, "complete") or content is None or erased:
            return None
        return document(
            event,
            thread_id=payload.thread_id,
            message_id=payload.message_id,
            author=author,
            key_id=key_id,
            private=self._private,
            text=content,
        )

    def _chunk(self, payload: MessageChunk, event: DatasetEvent) -> None:
        generation = self._generation(payload.message_id)
        if generation is None or payload.index != generation.next_index:
            return
        generation.next_index += 1
        text = chunk_text(payload, event, self._keys, keep=True)
        if text is None:
            generation.erased = True
        else:
            generation.text.append(text)

    def _completed(self, payload: MessageCompleted, event: DatasetEvent) -> SearchDoc | None:
        generation = self._generation(payload.message_id)
        self._generations[payload.message_id] = None
        if generation is None or generation.erased:
            return None
        return document(
            event,
            thread_id=payload.thread_id,
            message_id=payload.message_id,
            author=generation.author,
            key_id=generation.key_id,
            private=self._private,
            text="".join(generation.text),
        )

    def _generation(self, message_id: str) -> _Generation | None:
        """Return a generation in progress, from this pass or from the folded state."""
        if message_id in self._generations:
            return self._generations[message_id]
        message = None if self._state is None else self._state.generating.get(message_id)
        if message is None:
            return None
        generation = _Generation(
            author=message.author,
            key_id=message.key_id,
            text=[message.content or ""],
            next_index=message.next_index,
            erased=message.erased,
        )
        self._generations[message_id] = generation
        return generation
