"""An event type whose schema moved from v1 to v2, old code's v1 class beside the current one."""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import frozen

from events.codec import EventCodec, PayloadRegistry, register_payload
from events.envelope import EventPayload

__all__ = ["NoteTaken", "NoteTakenV1", "v1_codec"]


def _note_from_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """Rename v1's body to text and give it v2's default priority."""
    return {"text": payload["body"], "priority": 0}


@register_payload(upcasters={1: _note_from_v1})
@frozen(kw_only=True)
class NoteTaken(EventPayload):
    """A note was taken; v2 renamed body to text and added priority."""

    event_type: ClassVar[str] = "tooling.note.taken"
    schema_version: ClassVar[int] = 2

    text: str
    priority: int


@frozen(kw_only=True)
class NoteTakenV1(EventPayload):
    """The same event as the code of schema version 1 wrote it."""

    event_type: ClassVar[str] = "tooling.note.taken"
    schema_version: ClassVar[int] = 1

    body: str


def v1_codec() -> EventCodec:
    """Return a codec as old code had it: only the v1 class is known."""
    registry = PayloadRegistry()
    registry.register(NoteTakenV1)
    return EventCodec(registry)
