"""Show chat payloads in an export: words opened with their author's key, or withdrawn.

A posted message's content and metadata, and a created thread's title and metadata, are
sealed under the key of the person who wrote them; an export shows them opened, or as
withdrawn once redacted or erased, never the sealed bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

import cattrs
from attrs import field, frozen

from chat_core.fold import message_subjects
from chat_core.payloads import (
    MessageChunk,
    MessagePosted,
    MessageRated,
    MessageRedacted,
    ThreadCreated,
    ThreadUpdated,
)
from chat_core.sealing import (
    chunk_aad,
    feedback_aad,
    message_aad,
    message_data,
    open_message_data,
    open_thread,
    open_thread_update,
)
from chat_core.views import forked_data
from events.codec import EventCodec
from events.crypto import MasterKey
from events.keys import KeyNotLoaded, KeyRing, open_key_store
from events.store.base import EventFilter, EventStore, RecordedEvent

__all__ = ["ChatExportView", "ChatViewOpener", "rated_data", "redacted_messages"]


def rated_data(
    data: Mapping[str, Any], rater: str, comment: str | None, *, erased: object
) -> dict[str, Any]:
    """Return a rating's data as exports and streams show it: the comment opened, or erased.

    rating null is a withdrawal; by is the rater (the event's actor).
    """
    return {
        "thread_id": data["thread_id"],
        "message_id": data["message_id"],
        "rating": data["rating"],
        "by": rater,
        "comment": comment,
        "erased": bool(erased),
    }


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

    def __init__(self, *, keys: KeyRing, redacted: Set[str], converter: cattrs.Converter) -> None:
        self._keys = keys
        self._redacted = redacted
        self._converter = converter
        # Authors of fork copies (not their events' actors) whose keys a row wanted.
        self._missing: set[tuple[str, str]] = set()

    # The types whose payloads this view changes; the others are shown as decoded.
    row_types = frozenset(
        {
            MessagePosted.event_type,
            ThreadCreated.event_type,
            ThreadUpdated.event_type,
            MessageChunk.event_type,
            MessageRated.event_type,
        }
    )

    async def prepare(self, items: list[RecordedEvent], /) -> None:
        """Fetch the keys of the authors of these events' messages."""
        await self._keys.prefetch(message_subjects(items))

    async def prepare_subjects(self, subjects: Iterable[tuple[str, str]], /) -> None:
        """Fetch the keys of these (tenant, author) pairs, and of any copy's author wanted."""
        wanted = {*subjects, *self._missing}
        self._missing.clear()
        await self._keys.prefetch(wanted)

    def payload(self, item: RecordedEvent, /) -> dict[str, Any]:
        """Return the payload, a posted message opened or withdrawn, never its sealed bytes."""
        payload = item.event.payload
        event = item.event
        if type(payload) is ThreadCreated:
            return self._thread(
                event.tenant,
                event.actor,
                payload.thread_id,
                payload.sealed,
                payload.title,
                payload.metadata,
            ) | {"visibility": payload.visibility, "forked_from": forked_data(payload.forked_from)}
        if type(payload) is ThreadUpdated:
            updated = self._update(event.tenant, event.actor, self._converter.unstructure(payload))
            assert updated is not None, "prepare fetched the updater's keys"
            return updated
        if type(payload) is MessageChunk:
            chunk: dict[str, Any] = self._converter.unstructure(payload)
            shown = self._chunk_data(event.tenant, event.actor, chunk)
            assert shown is not None, "prepare fetched the author's keys"
            return shown
        if type(payload) is MessageRated:
            rated = self._rated_data(
                event.tenant, event.actor, self._converter.unstructure(payload)
            )
            assert rated is not None, "prepare fetched the rater's keys"
            return rated
        if type(payload) is not MessagePosted:
            data: dict[str, Any] = self._converter.unstructure(payload)
            return data
        extra = {"parent_id": payload.parent_id, "llm": self._converter.unstructure(payload.llm)}
        if payload.author is not None:
            extra["author"] = payload.author
        if payload.withdrawn is not None:
            copy = self._withdrawn(event.tenant, event.actor, self._converter.unstructure(payload))
            assert copy is not None, "prepare fetched the copy's author's keys"
            return copy
        return (
            self._shown(
                event.tenant,
                payload.author or event.actor,
                payload.thread_id,
                payload.message_id,
                payload.seq,
                payload.role,
                payload.sealed,
                payload.content,
                payload.metadata,
            )
            | extra
        )

    def payload_data(
        self, event_type: str, tenant: str, actor: str, data: dict[str, Any], /
    ) -> dict[str, Any] | None:
        """Return what payload() returns, from a posted message's payload in exported form.

        None when the author's keys were not fetched yet: prepare_subjects, then ask again.
        A sealed message (nearly every one) is opened here in one go, as _shown opens it.
        """
        if event_type == ThreadCreated.event_type:
            try:
                return self._thread(
                    tenant,
                    actor,
                    data["thread_id"],
                    data["sealed"],
                    data["title"],
                    data["metadata"],
                ) | {
                    "visibility": data.get("visibility", "tenant"),
                    "forked_from": data.get("forked_from"),
                }
            except KeyNotLoaded:
                return None
        if event_type == ThreadUpdated.event_type:
            return self._update(tenant, actor, data)
        if event_type == MessageChunk.event_type:
            return self._chunk_data(tenant, actor, data)
        if event_type == MessageRated.event_type:
            return self._rated_data(tenant, actor, data)
        assert event_type == MessagePosted.event_type
        if data.get("withdrawn") is not None:
            return self._withdrawn(tenant, actor, data)
        if data.get("author") is not None:
            actor = data["author"]
        sealed = data["sealed"]
        message_id = data["message_id"]
        try:
            if sealed is None:
                plaintext, erased = None, self._keys.subject(tenant, actor).erased
            else:
                aad = message_aad(tenant, actor, message_id)
                plaintext = self._keys.open_text(tenant, actor, sealed, aad)
                erased = plaintext is None
        except KeyNotLoaded:
            self._missing.add((tenant, actor))
            return None
        redacted = message_id in self._redacted
        metadata: dict[str, Any]
        if redacted or erased:
            content, metadata = None, {}
        elif plaintext is None:
            content, metadata = data["content"], data["metadata"]
        else:
            content, metadata = message_data(plaintext)
        # One dict in the order payload() gives: _shown's fields, then parent, llm, author.
        return {
            "thread_id": data["thread_id"],
            "message_id": message_id,
            "seq": data["seq"],
            "role": data["role"],
            "content": content,
            "metadata": metadata,
            "redacted": redacted,
            "erased": erased,
            "parent_id": data.get("parent_id"),
            "llm": data.get("llm"),
            **({} if data.get("author") is None else {"author": data["author"]}),
        }

    def _thread(
        self,
        tenant: str,
        creator: str,
        thread_id: str,
        sealed: str | None,
        title: str | None,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        erased = False
        if sealed is None:
            erased = self._keys.subject(tenant, creator).erased
        else:
            opened = open_thread(
                self._keys, tenant=tenant, creator=creator, thread_id=thread_id, sealed=sealed
            )
            erased = opened is None
            if opened is not None:
                title, metadata = opened
        if erased:
            title, metadata = None, {}
        return {"thread_id": thread_id, "title": title, "metadata": dict(metadata)}

    def _update(self, tenant: str, updater: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Return a thread update with the words it set opened (erased: withdrawn), never sealed."""
        words, sealed = data.get("words") or (), data.get("sealed")
        title, metadata = data.get("title"), data.get("metadata")
        erased = False
        try:
            if sealed is not None:
                opened = open_thread_update(
                    self._keys,
                    tenant=tenant,
                    updater=updater,
                    thread_id=data["thread_id"],
                    sealed=sealed,
                )
                erased = opened is None
                if opened is not None:
                    title, metadata = opened.get("title"), opened.get("metadata")
            elif words:
                erased = self._keys.subject(tenant, updater).erased
        except KeyNotLoaded:
            return None
        if erased or "title" not in words:
            title = None
        if erased or "metadata" not in words:
            metadata = None
        shown = {name: value for name, value in data.items() if name != "sealed"}
        return {
            **shown,
            "words": list(words),
            "title": title,
            "metadata": None if metadata is None else dict(metadata),
            "erased": erased,
        }

    def _chunk_data(self, tenant: str, actor: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Return a chunk opened (content in clear, no sealed bytes), or withdrawn with none:
        redacted with its reply, or erased with its author."""
        sealed, content = data["sealed"], data["content"]
        try:
            if sealed is not None:
                aad = chunk_aad(tenant, actor, data["message_id"], data["index"])
                plaintext = self._keys.open_text(tenant, actor, sealed, aad)
                content = None if plaintext is None else plaintext.decode()
            elif self._keys.subject(tenant, actor).erased:
                content = None
        except KeyNotLoaded:
            return None
        redacted = data["message_id"] in self._redacted
        shown = {name: value for name, value in data.items() if name != "sealed"}
        return {
            **shown,
            "content": None if redacted else content,
            "redacted": redacted,
            "erased": content is None and not redacted,
        }

    def _rated_data(self, tenant: str, rater: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Return a rating with its comment opened (erased: null), never the sealed bytes."""
        sealed, comment = data.get("sealed"), data.get("comment")
        try:
            if sealed is not None:
                aad = feedback_aad(tenant, rater, data["message_id"])
                plaintext = self._keys.open_text(tenant, rater, sealed, aad)
                comment = None if plaintext is None else plaintext.decode()
            elif comment is not None and self._keys.subject(tenant, rater).erased:
                comment = None
        except KeyNotLoaded:
            return None
        return rated_data(
            data, rater, comment, erased=comment is None and (sealed or data.get("comment"))
        )

    def _withdrawn(self, tenant: str, actor: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return a fork's copy of a message withdrawn in its source: no words, its flags set.

        Erased as reads show it: so copied, or once its author's keys are (a redacted copy
        of an author erased since); None when those keys were not fetched yet.
        """
        author = data.get("author") or actor
        withdrawn = data["withdrawn"]
        try:
            erased = withdrawn == "erased" or self._keys.subject(tenant, author).erased
        except KeyNotLoaded:
            self._missing.add((tenant, author))
            return None
        shown = {
            name: data.get(name) for name in ("thread_id", "message_id", "seq", "role", "parent_id")
        }
        return {
            **shown,
            "content": None,
            "metadata": {},
            "redacted": withdrawn == "redacted",
            "erased": erased,
            "llm": data.get("llm"),
            **({} if data.get("author") is None else {"author": data["author"]}),
        }

    def _shown(
        self,
        tenant: str,
        author: str,
        thread_id: str,
        message_id: str,
        seq: int,
        role: str,
        sealed: str | None,
        content: str | None,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        redacted = message_id in self._redacted
        erased = False
        if sealed is None:
            erased = self._keys.subject(tenant, author).erased
            if redacted or erased:
                content, metadata = None, {}
            else:
                metadata = dict(metadata)
        else:
            opened = open_message_data(
                self._keys, tenant=tenant, author=author, message_id=message_id, sealed=sealed
            )
            if opened is None or redacted:
                content, metadata, erased = None, {}, opened is None
            else:
                content, metadata = opened
        return {
            "thread_id": thread_id,
            "message_id": message_id,
            "seq": seq,
            "role": role,
            "content": content,
            "metadata": metadata,
            "redacted": redacted,
            "erased": erased,
        }


@frozen(kw_only=True)
class ChatViewOpener:
    """How a worker process of a parallel export opens its own ChatExportView (picklable)."""

    key_store_url: str
    master_secret: bytes = field(repr=False)
    # Found once by the parent: every worker withdraws the same messages.
    redacted: frozenset[str]

    async def open(self, codec: EventCodec, /) -> ChatExportView:
        """Open the key store under the master key and build the view on it."""
        keys = KeyRing(await open_key_store(self.key_store_url), MasterKey(self.master_secret))
        return ChatExportView(keys=keys, redacted=self.redacted, converter=codec.converter)
