"""Test payload types registered in the default registry: events/ knows nothing of chat."""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from events.codec import register_payload
from events.envelope import EventPayload, FrozenMap, freeze_map

__all__ = ["Noted", "Pinged"]


def _noted_from_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """Split the v1 single text field into v2's text and a default priority."""
    return {"text": payload["body"], "priority": 0, "tags": {}}


@register_payload(upcasters={1: _noted_from_v1})
@frozen(kw_only=True)
class Noted(EventPayload):
    """A note was taken; schema version 2 renamed body to text and added priority and tags."""

    event_type = "test.noted"
    schema_version = 2

    text: str
    priority: int
    tags: FrozenMap = field(factory=dict, converter=freeze_map)


@register_payload
@frozen(kw_only=True)
class Pinged(EventPayload):
    """Someone was pinged."""

    event_type = "test.pinged"

    target: str
