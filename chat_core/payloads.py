"""The chat domain's event payloads, registered in the codec by stable type name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from attrs import field, frozen

from events.codec import register_payload
from events.envelope import EventPayload, FrozenMap, freeze_map

__all__ = [
    "MessagePosted",
    "MessageRedacted",
    "TemperatureConfigChanged",
    "ThreadCreated",
]


def _freeze_floats(value: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(value))


@register_payload
@frozen(kw_only=True)
class ThreadCreated(EventPayload):
    """A thread was opened in a tenant and env."""

    event_type: ClassVar[str] = "chat.thread.created"

    thread_id: str
    title: str | None = None
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)


@register_payload
@frozen(kw_only=True)
class MessagePosted(EventPayload):
    """A message took the next seq of its thread."""

    event_type: ClassVar[str] = "chat.message.posted"

    thread_id: str
    message_id: str
    seq: int
    role: str
    content: str
    metadata: FrozenMap = field(factory=dict, converter=freeze_map)


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
class TemperatureConfigChanged(EventPayload):
    """A tenant's LLM temperature config for one env was replaced."""

    event_type: ClassVar[str] = "temperature.config.changed"

    default: float
    min: float
    max: float
    overrides: Mapping[str, float] = field(factory=dict, converter=_freeze_floats)
