"""Show chat payloads in an export: messages opened with their author's key, or withdrawn."""

from __future__ import annotations

from typing import Any

import cattrs

from chat_core.payloads import MessagePosted, MessageRedacted
from chat_core.readmodel import message_subjects
from chat_core.sealing import open_message
from events.keys import KeyRing
from events.store.base import EventFilter, EventStore, RecordedEvent

__all__ = ["ChatExportView", "redacted_messages"]


async def redacted_messages(store: EventStore) -> set[str]:
    """Return the id of every redacted message, so an export never shows one's words."""
    wanted = EventFilter(types=[MessageRedacted.event_type])
    found: set[str] = set()
    async for item in store.read_all(event_filter=wanted):
        payload = item.event.payload
        assert isinstance(payload, MessageRedacted)
        found.add(payload.message_id)
    return found


class ChatExportView:
    """Open posted messages for export, as reads show them: words, or redacted or erased."""

    def __init__(self, *, keys: KeyRing, redacted: set[str], converter: cattrs.Converter) -> None:
        self._keys = keys
        self._redacted = redacted
        self._converter = converter

    async def prepare(self, items: list[RecordedEvent], /) -> None:
        """Fetch the keys of the authors of these events' messages."""
        await self._keys.prefetch(message_subjects(items))

    def payload(self, item: RecordedEvent, /) -> dict[str, Any]:
        """Return the payload, a posted message opened or withdrawn, never its sealed bytes."""
        payload = item.event.payload
        if type(payload) is not MessagePosted:
            data: dict[str, Any] = self._converter.unstructure(payload)
            return data
        content, metadata, redacted, erased = self._words(item, payload)
        return {
            "thread_id": payload.thread_id,
            "message_id": payload.message_id,
            "seq": payload.seq,
            "role": payload.role,
            "content": content,
            "metadata": metadata,
            "redacted": redacted,
            "erased": erased,
        }

    def _words(
        self, item: RecordedEvent, payload: MessagePosted
    ) -> tuple[str | None, dict[str, str], bool, bool]:
        event = item.event
        redacted = payload.message_id in self._redacted
        if payload.sealed is None:
            erased = self._keys.subject(event.tenant, event.actor).erased
            if redacted or erased:
                return None, {}, redacted, erased
            return payload.content, dict(payload.metadata), False, False
        opened = open_message(
            self._keys,
            tenant=event.tenant,
            author=event.actor,
            message_id=payload.message_id,
            sealed=payload.sealed,
        )
        if opened is None or redacted:
            return None, {}, redacted, opened is None
        return opened[0], dict(opened[1]), False, False
