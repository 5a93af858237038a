"""Commands: what a caller asks the chat domain to do, each carrying both contexts."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from attrs import field, frozen

from chat_core.context import AuthContext, RequestContext
from chat_core.payloads import LlmFields, ToolCall, Usage
from chat_core.views import ErasureView, MessageView, Replay, TemperatureConfigView, ThreadView
from events.bus import Command
from events.envelope import FrozenMap, freeze_map

__all__ = [
    "AppendChunk",
    "CancelMessage",
    "CompleteMessage",
    "CreateThread",
    "EraseSubject",
    "FailMessage",
    "ForkThread",
    "Idempotency",
    "PostMessage",
    "RateMessage",
    "RedactMessage",
    "SetTemperatureConfig",
    "UpdateThread",
]


@frozen(kw_only=True)
class Idempotency:
    """An Idempotency-Key with the fingerprint of the request that carried it."""

    key: str
    fingerprint: str


@frozen(kw_only=True)
class CreateThread(Command[ThreadView | Replay]):
    """Open a thread."""

    context: RequestContext
    auth: AuthContext
    title: str | None = None
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)
    idempotency: Idempotency | None = None
    # "tenant" (everyone of the tenant and env sees it) or "private".
    visibility: str = "tenant"


@frozen(kw_only=True)
class UpdateThread(Command[ThreadView]):
    """Change a thread's title, metadata, archived flag or participants; None leaves one be."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    title: str | None = None
    metadata: FrozenMap | None = None
    archived: bool | None = None
    participants: tuple[str, ...] | None = None


@frozen(kw_only=True)
class PostMessage(Command[MessageView | Replay]):
    """Post a message to a thread, which gives it the thread's next seq."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    role: str
    content: str
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)
    idempotency: Idempotency | None = None
    # A message of the thread; None continues from the thread's head.
    parent_id: str | None = None
    # The model fields as sent (status "in_progress" starts a generation); None for none.
    llm: LlmFields | None = None


@frozen(kw_only=True)
class AppendChunk(Command[Any]):
    """Add the next chunk of text to a generation in progress."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    index: int
    content: str
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class CompleteMessage(Command[Any]):
    """End a generation well, with how it finished."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class CancelMessage(Command[Any]):
    """Stop a generation, keeping its text so far."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class FailMessage(Command[Any]):
    """End a generation as failed, saying why."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    error: str
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class RedactMessage(Command[None]):
    """Withdraw a message's content from every read; repeating it changes nothing."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str


@frozen(kw_only=True)
class ForkThread(Command[Any]):
    """Open a thread holding copies of the path from the root to a message of another."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    title: str | None = None
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class RateMessage(Command[Any]):
    """Rate an assistant message (1 or -1, with a comment), or withdraw a rating (None)."""

    context: RequestContext
    auth: AuthContext
    thread_id: str
    message_id: str
    rating: int | None
    comment: str | None = None
    idempotency: Idempotency | None = None


def _freeze_floats(value: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(value))


@frozen(kw_only=True)
class SetTemperatureConfig(Command[TemperatureConfigView | Replay]):
    """Replace the tenant's temperature config for this env."""

    context: RequestContext
    auth: AuthContext
    default: float
    min: float
    max: float
    overrides: Mapping[str, float] = field(factory=dict, converter=_freeze_floats)
    if_match: str | None = None
    idempotency: Idempotency | None = None


@frozen(kw_only=True)
class EraseSubject(Command[ErasureView | Replay]):
    """Destroy a subject's data keys in the request's tenant and record that it was done."""

    context: RequestContext
    auth: AuthContext
    subject: str
    idempotency: Idempotency | None = None
