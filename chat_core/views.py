"""What reads and commands return: frozen views shaped as the HTTP contract shows them.

Also how each command's answer is rendered from the event it recorded (render_answer), one
way for the pipeline when the event is new and for replay when it rebuilds a record: the
views and the answers are one shape, so they are one module.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any, Protocol, cast

import orjson
from attrs import field, frozen

from chat_core.erasure_progress import COMPLETED
from chat_core.payloads import (
    ErasureRecorded,
    ForkedFrom,
    LlmFields,
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
    MessagePosted,
    MessageRated,
    TemperatureConfigChanged,
    ThreadCreated,
)
from events.envelope import DatasetEvent, Env, FrozenMap, freeze_map
from events.fastpath import slot_builder

__all__ = [
    "ERASURE_STATUS",
    "Answer",
    "ChunkView",
    "ErasureView",
    "FeedbackView",
    "MessageRef",
    "MessageView",
    "MessageViewBuilder",
    "Page",
    "Replay",
    "TemperatureConfigView",
    "ThreadView",
    "feedback_answer",
    "forked_data",
    "forked_map",
    "kept_json",
    "message_answer",
    "message_view",
    "render_answer",
    "rfc3339",
    "thread_answer",
]

# The status an erasure's idempotency record keeps, as replay rebuilds it from the event;
# the answers themselves say the status of their time (chat_core.erasure).
ERASURE_STATUS = COMPLETED


def kept_json(value: Any) -> bytes:
    """Return value as JSON bytes in an allocation of their own length, for bytes kept long.

    orjson.dumps answers with bytes whose allocation is far larger than their length: 4 KiB
    at the least, about eight times the length for long text (orjson 3.10 to 3.13, seen
    with tracemalloc). In a cache that slack was most of the memory: 100,000 short values
    held 392 MiB of RSS as orjson returned them, 7 MiB copied tight. The copy costs a few hundred
    instructions, once per kept value.
    """
    return memoryview(orjson.dumps(value)).tobytes()


def rfc3339(moment: datetime) -> str:
    """Format an aware UTC datetime as RFC 3339 with a Z.

    The last moment formatted is kept: a batch of posts shares one, and pages of messages
    posted together repeat theirs.
    """
    global _last_rfc3339
    last, text = _last_rfc3339
    if moment is last:
        return text
    text = moment.isoformat().replace("+00:00", "Z")
    _last_rfc3339 = moment, text
    return text


# One tuple, swapped whole: a reader on another thread sees an old pair or the new one.
_last_rfc3339: tuple[datetime | None, str] = (None, "")


def forked_data(forked: ForkedFrom | None) -> dict[str, str] | None:
    """Return where a fork was copied from, as its created event shows it (None for none)."""
    if forked is None:
        return None
    return {"thread_id": forked.thread_id, "message_id": forked.message_id}


def forked_map(forked: ForkedFrom | None) -> FrozenMap | None:
    """Return where a fork was copied from as a thread view holds it."""
    if forked is None:
        return None
    return freeze_map({"thread_id": forked.thread_id, "message_id": forked.message_id})


@frozen(kw_only=True)
class ThreadView:
    """A thread as the API shows it."""

    id: str
    title: str | None
    metadata: FrozenMap
    created_at: datetime
    created_by: str
    message_count: int
    last_seq: int
    # The sealed form an answer to a create is recorded with, so no record holds the title.
    sealed: str | None = field(default=None, eq=False, repr=False)
    head: str | None = None
    visibility: str = "tenant"
    participants: tuple[str, ...] = ()
    archived: bool = False
    # None reads as created_at: a thread no update has changed.
    updated_at: datetime | None = None
    # {"thread_id", "message_id"} of the message a fork copied up to; None for no fork.
    forked_from: FrozenMap | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        forked_from = self.forked_from
        return {
            "id": self.id,
            "title": self.title,
            "metadata": dict(self.metadata),
            "created_at": rfc3339(self.created_at),
            "created_by": self.created_by,
            "message_count": self.message_count,
            "last_seq": self.last_seq,
            "head": self.head,
            "visibility": self.visibility,
            "participants": list(self.participants),
            "archived": self.archived,
            "updated_at": rfc3339(self.updated_at or self.created_at),
            "forked_from": None if forked_from is None else dict(forked_from),
        }

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it: sealed, never in clear."""
        if self.sealed is None:
            return self.to_json()
        return {**self.to_json(), "title": None, "metadata": {}, "sealed": self.sealed}

    def json_bytes(self) -> bytes:
        """Return the contract's JSON object serialised."""
        return orjson.dumps(self.to_json())


@frozen(kw_only=True)
class MessageView:
    """A message as the API shows it; withdrawn content reads as null."""

    id: str
    thread_id: str
    seq: int
    role: str
    content: str | None
    metadata: FrozenMap
    author: str
    created_at: datetime
    request_id: str
    redacted: bool = False
    erased: bool = False
    # The sealed form an answer to a post is recorded with, so no record holds plaintext.
    sealed: str | None = field(default=None, eq=False, repr=False)
    parent_id: str | None = None
    status: str = "complete"
    llm: LlmFields | None = None
    error: str | None = None
    # Its ratings counted: up, down.
    feedback: tuple[int, int] = (0, 0)
    _json: dict[str, Any] | None = field(default=None, init=False, eq=False, repr=False)
    _bytes: bytes | None = field(default=None, init=False, eq=False, repr=False)
    # The snippet the latest search that found it showed: that search's terms, the snippet.
    _snippet: tuple[Hashable, str] | None = field(default=None, init=False, eq=False, repr=False)

    def snippet(self, terms: Hashable, make: Callable[[str], str]) -> str:
        """Return make(content), the snippet of a search's terms: made again only for new terms."""
        kept = self._snippet
        if kept is not None and kept[0] == terms:
            return kept[1]
        made = make(self.content or "")
        object.__setattr__(self, "_snippet", (terms, made))
        return made

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object, built once per view (read it, never change it)."""
        if self._json is None:
            object.__setattr__(self, "_json", self._build_json())
        assert self._json is not None
        return self._json

    def json_bytes(self) -> bytes:
        """Return the contract's JSON object serialised, once per view (pages splice it)."""
        if self._bytes is None:
            object.__setattr__(self, "_bytes", kept_json(self.to_json()))
        assert self._bytes is not None
        return self._bytes

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it: sealed, never in clear.

        Without the parent, which the event alone may not name (see MessagePosted): a
        repeated post is answered with the message as it reads now (ChatHandlers).
        """
        recorded = {**self.to_json()}
        del recorded["parent_id"]
        if self.sealed is None:
            return recorded
        return {**recorded, "content": None, "metadata": {}, "sealed": self.sealed}

    def _build_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "seq": self.seq,
            "role": self.role,
            "content": self.content,
            "metadata": dict(self.metadata),
            "author": self.author,
            "created_at": rfc3339(self.created_at),
            "request_id": self.request_id,
            "redacted": self.redacted,
            "erased": self.erased,
            "parent_id": self.parent_id,
            "status": self.status,
            **(_NO_LLM if self.llm is None else llm_json(self.llm)),
            "error": self.error,
            "feedback": _UNRATED
            if self.feedback == (0, 0)
            else {"up": self.feedback[0], "down": self.feedback[1]},
        }


def llm_json(llm: LlmFields) -> dict[str, Any]:
    """Return a message's model fields as the contract shows them."""
    usage = llm.usage
    return {
        "model": llm.model,
        "temperature": llm.temperature,
        "finish_reason": llm.finish_reason,
        "usage": None
        if usage is None
        else {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
        "tool_calls": [
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in llm.tool_calls
        ],
        "tool_call_id": llm.tool_call_id,
    }


# Shared by every view's JSON, which is read and never changed (see MessageView.to_json).
_UNRATED: dict[str, int] = {"up": 0, "down": 0}
# The model fields of a plain message, built once: most messages are plain, and every post
# answers with one.
_NO_LLM: dict[str, Any] = {
    "model": None,
    "temperature": None,
    "finish_reason": None,
    "usage": None,
    "tool_calls": [],
    "tool_call_id": None,
}


@frozen(kw_only=True)
class ChunkView:
    """The answer to a chunk: where the generation's text stands."""

    message_id: str
    index: int
    length: int

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        return {"message_id": self.message_id, "index": self.index, "length": self.length}

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        return self.to_json()


@frozen(kw_only=True)
class FeedbackView:
    """A reader's rating of a message, as the PUT that made it answers."""

    message_id: str
    rating: int | None
    comment: str | None
    by: str
    updated_at: datetime
    # The sealed comment an answer is recorded with, so no record holds the words.
    sealed: str | None = field(default=None, eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        return {
            "message_id": self.message_id,
            "rating": self.rating,
            "comment": self.comment,
            "by": self.by,
            "updated_at": rfc3339(self.updated_at),
        }

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it: sealed, never in clear."""
        if self.sealed is None:
            return self.to_json()
        return {**self.to_json(), "comment": None, "sealed": self.sealed}


def feedback_answer(event: DatasetEvent, payload: MessageRated) -> FeedbackView:
    """Return the answer to a rating; in clear only what the payload holds in clear."""
    return FeedbackView(
        message_id=payload.message_id,
        rating=payload.rating,
        comment=payload.comment,
        by=event.actor,
        updated_at=event.occurred_at,
        sealed=payload.sealed,
    )


@frozen(kw_only=True)
class MessageRef:
    """A message an answer shows as it reads once the events deciding it are stored.

    A generation's end is answered with its message, chunks joined, which only the
    thread's fold knows; the record keeps the ids, and the handler renders the message.
    """

    id: str
    thread_id: str

    def to_json(self) -> dict[str, Any]:
        """Return the ids of the message."""
        return {"id": self.id, "thread_id": self.thread_id}

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        return self.to_json()


class MessageViewBuilder(Protocol):
    """The signature of message_view: MessageView's init fields, in order."""

    def __call__(
        self,
        id: str,
        thread_id: str,
        seq: int,
        role: str,
        content: str | None,
        metadata: FrozenMap,
        author: str,
        created_at: datetime,
        request_id: str,
        redacted: bool = False,
        erased: bool = False,
        sealed: str | None = None,
        parent_id: str | None = None,
        status: str = "complete",
        llm: LlmFields | None = None,
        error: str | None = None,
        feedback: tuple[int, int] = (0, 0),
    ) -> MessageView: ...


# What MessageView(...) returns, built through its slots by events.fastpath.slot_builder
# (the one place bypasses are written): every post's answer is a view, and every message a
# page shows first. Worth 10,703 instructions per POST, 1.6% (bench.instructions post on
# a7c6f18, with against without); tests/chat/test_message_view_builder.py holds it to the
# constructor.
message_view = cast(MessageViewBuilder, slot_builder(MessageView))


@frozen(kw_only=True)
class TemperatureConfigView:
    """A tenant's temperature config for one env, at a version."""

    tenant: str
    env: Env
    default: float
    min: float
    max: float
    overrides: Mapping[str, float]
    version: int
    updated_at: datetime | None
    updated_by: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        return {
            "tenant": self.tenant,
            "env": self.env.value,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "overrides": dict(self.overrides),
            "version": self.version,
            "updated_at": None if self.updated_at is None else rfc3339(self.updated_at),
            "updated_by": self.updated_by,
        }

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        return self.to_json()


@frozen(kw_only=True)
class ErasureView:
    """An accepted erasure of a subject in a tenant."""

    erasure_id: str
    subject: str
    status: str

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        return {"erasure_id": self.erasure_id, "subject": self.subject, "status": self.status}

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        return self.to_json()


@frozen(kw_only=True)
class Page:
    """One page of a listing, with the cursor of the next."""

    data: tuple[ThreadView | MessageView, ...]
    has_more: bool
    next: str | None
    _bytes: bytes | None = field(default=None, init=False, eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Return the contract's page object."""
        return {
            "data": [item.to_json() for item in self.data],
            "has_more": self.has_more,
            "next": self.next,
        }

    def json_bytes(self) -> bytes:
        """Return the page serialised, once per page: each item's cached JSON spliced."""
        if self._bytes is None:
            items = b",".join([item.json_bytes() for item in self.data])
            more = b"true" if self.has_more else b"false"
            text = b'{"data":[%b],"has_more":%b,"next":%b}' % (items, more, orjson.dumps(self.next))
            object.__setattr__(self, "_bytes", text)
        assert self._bytes is not None
        return self._bytes


@frozen(kw_only=True)
class Replay:
    """The stored first answer to a repeated idempotent request."""

    status: int
    body: bytes


class Answer(Protocol):
    """A view that renders as the JSON body of a response."""

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        ...

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        ...


def message_answer(
    event: DatasetEvent,
    payload: MessagePosted,
    *,
    content: str | None,
    metadata: Mapping[str, str],
    parent_id: str | None,
) -> MessageView:
    """Return the answer to a post; its record keeps the sealed form, never the words.

    The pipeline answers with the words it was sent; replay, which has only the event,
    with what the payload holds in clear (nothing, once sealed). parent_id is the one
    the message has (the payload's None means the message before it).
    """
    llm = payload.llm
    return message_view(
        payload.message_id,
        payload.thread_id,
        payload.seq,
        payload.role,
        content,
        metadata,
        payload.author or event.actor,
        event.occurred_at,
        event.request_id,
        sealed=payload.sealed,
        parent_id=parent_id,
        status="complete" if llm is None or llm.status is None else llm.status,
        llm=llm,
    )


def thread_answer(
    event: DatasetEvent, payload: ThreadCreated, *, title: str | None, metadata: FrozenMap
) -> ThreadView:
    """Return the answer to a create; its record keeps the sealed form, never the title.

    The pipeline answers with the words it was sent; replay, which has only the event,
    with what the payload holds in clear (nothing, once sealed).
    """
    return ThreadView(
        id=payload.thread_id,
        title=title,
        metadata=metadata,
        created_at=event.occurred_at,
        created_by=event.actor,
        message_count=0,
        last_seq=0,
        sealed=payload.sealed,
        visibility=payload.visibility,
        forked_from=forked_map(payload.forked_from),
    )


def _thread_answer(event: DatasetEvent, payload: ThreadCreated) -> ThreadView:
    return thread_answer(event, payload, title=payload.title, metadata=payload.metadata)


def _message_answer(event: DatasetEvent, payload: MessagePosted) -> MessageView:
    return message_answer(
        event,
        payload,
        content=payload.content,
        metadata=payload.metadata,
        parent_id=payload.parent_id,
    )


def _chunk_answer(event: DatasetEvent, payload: MessageChunk) -> ChunkView:
    return ChunkView(message_id=payload.message_id, index=payload.index, length=payload.length)


def _end_answer(
    event: DatasetEvent, payload: MessageCompleted | MessageCancelled | MessageFailed
) -> MessageRef:
    return MessageRef(id=payload.message_id, thread_id=payload.thread_id)


def _erasure_answer(event: DatasetEvent, payload: ErasureRecorded) -> ErasureView:
    return ErasureView(
        erasure_id=payload.erasure_id, subject=payload.subject, status=ERASURE_STATUS
    )


def _temperature_answer(
    event: DatasetEvent, payload: TemperatureConfigChanged
) -> TemperatureConfigView:
    return TemperatureConfigView(
        tenant=event.tenant,
        env=event.env,
        default=payload.default,
        min=payload.min,
        max=payload.max,
        overrides=payload.overrides,
        version=event.version,
        updated_at=event.occurred_at,
        updated_by=event.actor,
    )


_RENDERERS: dict[type[Any], Callable[[DatasetEvent, Any], Answer]] = {
    ThreadCreated: _thread_answer,
    MessagePosted: _message_answer,
    MessageChunk: _chunk_answer,
    MessageCompleted: _end_answer,
    MessageCancelled: _end_answer,
    MessageFailed: _end_answer,
    ErasureRecorded: _erasure_answer,
    MessageRated: feedback_answer,
    TemperatureConfigChanged: _temperature_answer,
}


def render_answer(event: DatasetEvent) -> Answer | None:
    """Return the view a created thread, posted message, erasure or config change answered."""
    render = _RENDERERS.get(type(event.payload))
    return None if render is None else render(event, event.payload)
