"""The chat domain's event payloads, registered in the codec by stable type name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from attrs import field, frozen

from events.codec import register_payload
from events.envelope import EventPayload, FrozenMap, freeze_map

__all__ = [
    "MESSAGE_STATUSES",
    "THREAD_VISIBILITIES",
    "ErasureRecorded",
    "ForkedFrom",
    "LlmFields",
    "MessageCancelled",
    "MessageChunk",
    "MessageCompleted",
    "MessageFailed",
    "MessagePosted",
    "MessageRated",
    "MessageRedacted",
    "TemperatureConfigChanged",
    "ThreadCreated",
    "ThreadUpdated",
    "ToolCall",
    "Usage",
]

# Who may see a thread: everyone of its tenant and env, or its creator, participants and agents.
THREAD_VISIBILITIES = ("tenant", "private")

# What a message's status may be; a message posted without one is complete.
MESSAGE_STATUSES = ("complete", "in_progress", "cancelled", "failed")


def _freeze_floats(value: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(value))


def _thread_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Keep a schema 1 thread's title and metadata as they were: stored before sealing."""
    return data


@frozen(kw_only=True)
class ForkedFrom:
    """The thread and message a forked thread copied its path from."""

    thread_id: str
    message_id: str


@register_payload(upcasters={1: _thread_v1_to_v2})
@frozen(kw_only=True)
class ThreadCreated(EventPayload):
    """A thread was opened in a tenant and env; its title and metadata are its creator's words.

    Schema 2 carries `sealed`: base64 of the AES-GCM ciphertext of the title and metadata
    under the creator's data key in the tenant, bound to tenant, creator and thread id, so
    an erasure of the creator covers them as it covers their messages. Schema 1 events,
    written before, carry `title` and `metadata` in clear.

    `visibility` is "tenant" for every thread made before private ones were.
    """

    event_type: ClassVar[str] = "chat.thread.created"
    schema_version: ClassVar[int] = 2

    thread_id: str
    sealed: str | None = None
    title: str | None = None
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)
    visibility: str = "tenant"
    # Set on a fork: where its messages were copied from.
    forked_from: ForkedFrom | None = None


@register_payload
@frozen(kw_only=True)
class ThreadUpdated(EventPayload):
    """A thread's title, metadata, archived flag or participants were changed.

    `words` names which of title and metadata this update sets: they are the updater's
    words, sealed (`sealed`) under the updater's data key in the tenant, bound to tenant,
    updater and thread id, so an erasure of the updater covers them; in clear (`title`,
    `metadata`) only where words are stored in clear. `archived` and `participants` are
    None when the update leaves them as they were.
    """

    event_type: ClassVar[str] = "chat.thread.updated"

    thread_id: str
    words: tuple[str, ...] = ()
    sealed: str | None = None
    title: str | None = None
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)
    archived: bool | None = None
    participants: tuple[str, ...] | None = None


def _message_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Keep a schema 1 message's plaintext as it was: it was stored before encryption."""
    return data


@frozen(kw_only=True)
class ToolCall:
    """A call of a tool that an assistant message asks for."""

    id: str
    name: str
    arguments: str


@frozen(kw_only=True)
class Usage:
    """The tokens a model read and wrote for a message."""

    input_tokens: int
    output_tokens: int


@frozen(kw_only=True)
class LlmFields:
    """What a model's message records beside its words: how it was made and how it ended."""

    # "in_progress" for the start of a generation; None for a message complete when posted.
    status: str | None = None
    model: str | None = None
    temperature: float | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@register_payload(upcasters={1: _message_v1_to_v2})
@frozen(kw_only=True)
class MessagePosted(EventPayload):
    """A message took the next seq of its thread; its words are sealed under the author's key.

    Schema 2 carries `sealed`: base64 of the AES-GCM ciphertext of the content and metadata
    under the author's data key in the tenant, bound to tenant, author and message id.
    Schema 1 events, written before encryption, carry `content` and `metadata` in clear.

    `parent_id` None means the message before it (none for seq 1): a post that continues
    the conversation, and every message posted before parents were recorded, needs no id.
    `llm` is None for a plain message (complete, no model fields).

    A fork's copy names its `author` (the source message's) when that is not the event's
    actor (who forked), its words sealed under that author's key; a copy of a message
    redacted or erased in its source is `withdrawn` ("redacted" or "erased"), no words.
    """

    event_type: ClassVar[str] = "chat.message.posted"
    schema_version: ClassVar[int] = 2

    thread_id: str
    message_id: str
    seq: int
    role: str
    sealed: str | None = None
    content: str | None = None
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)
    parent_id: str | None = None
    llm: LlmFields | None = None
    author: str | None = None
    withdrawn: str | None = None


@register_payload
@frozen(kw_only=True)
class MessageChunk(EventPayload):
    """A generation's next piece of text, sealed under its author's key like a message's words.

    `length` is the characters of the message's text once this chunk is added, so an
    answer and a reader know it without opening every chunk before.
    """

    event_type: ClassVar[str] = "chat.message.chunk"

    thread_id: str
    message_id: str
    index: int
    length: int
    sealed: str | None = None
    content: str | None = None


@register_payload
@frozen(kw_only=True)
class MessageCompleted(EventPayload):
    """A generation ended well: its text is its chunks joined."""

    event_type: ClassVar[str] = "chat.message.completed"

    thread_id: str
    message_id: str
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@register_payload
@frozen(kw_only=True)
class MessageCancelled(EventPayload):
    """A generation was stopped by a reader; the text so far stays."""

    event_type: ClassVar[str] = "chat.message.cancelled"

    thread_id: str
    message_id: str


@register_payload
@frozen(kw_only=True)
class MessageFailed(EventPayload):
    """A generation failed, by its author's word or by going silent too long."""

    event_type: ClassVar[str] = "chat.message.failed"

    thread_id: str
    message_id: str
    error: str


@register_payload
@frozen(kw_only=True)
class MessageRedacted(EventPayload):
    """A message's content and metadata were withdrawn from every read."""

    event_type: ClassVar[str] = "chat.message.redacted"

    thread_id: str
    message_id: str
    seq: int


@register_payload
@frozen(kw_only=True)
class MessageRated(EventPayload):
    """A reader (the event's actor) rated an assistant message, or withdrew their rating.

    `rating` is 1 (up) or -1 (down), replacing the actor's earlier one; None withdraws it.
    `sealed` carries the comment, the rater's words, sealed under the rater's data key in
    the tenant (bound to tenant, rater and message id), so an erasure covers it as it
    covers their messages; `comment` holds it in clear when the server seals nothing.
    """

    event_type: ClassVar[str] = "chat.message.rated"

    thread_id: str
    message_id: str
    rating: int | None
    sealed: str | None = None
    comment: str | None = None


@register_payload
@frozen(kw_only=True)
class TemperatureConfigChanged(EventPayload):
    """A tenant's LLM temperature config for one env was replaced."""

    event_type: ClassVar[str] = "temperature.config.changed"

    default: float
    min: float
    max: float
    overrides: Mapping[str, float] = field(factory=dict, converter=_freeze_floats)


@register_payload
@frozen(kw_only=True)
class ErasureRecorded(EventPayload):
    """A subject's data keys in a tenant were destroyed: their messages are unreadable for good."""

    event_type: ClassVar[str] = "chat.erasure.recorded"

    erasure_id: str
    subject: str
    keys_destroyed: int
    # Every message of the subject sealed under this key id or an older one is unreadable.
    through_key_id: int
