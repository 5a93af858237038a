"""The codec round-trips every registered payload, upcasts old ones, refuses unknown types."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given

from events.codec import EventCodec, UndecodableEvent, UnknownEventType
from events.envelope import DatasetEvent
from tests.events.factories import make_event
from tests.events.payloads import Noted
from tests.strategies import datasets_events

CODEC = EventCodec()


@given(datasets_events())
def test_decode_inverts_encode(event: DatasetEvent) -> None:
    assert CODEC.decode(CODEC.encode(event)) == event


@given(datasets_events())
def test_stored_payload_round_trips(event: DatasetEvent) -> None:
    raw = CODEC.payload_to_json(event.payload)
    assert CODEC.payload_from_json(event.type, event.schema_version, raw) == event.payload


def test_unknown_type_is_refused() -> None:
    document = CODEC.to_dict(make_event("s", 1))
    document["type"] = "test.never.registered"
    with pytest.raises(UnknownEventType):
        CODEC.decode(orjson.dumps(document))
    with pytest.raises(UnknownEventType):
        CODEC.payload_from_json("test.never.registered", 1, b"{}")


def test_old_schema_version_is_upcast() -> None:
    payload = CODEC.payload_from_json("test.noted", 1, b'{"body": "old note"}')
    assert payload == Noted(text="old note", priority=0, tags={})


def test_newer_schema_version_than_the_code_is_refused() -> None:
    with pytest.raises(UndecodableEvent):
        CODEC.payload_from_json("test.noted", 3, b'{"text": "x", "priority": 1}')


def test_payload_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(UndecodableEvent):
        CODEC.payload_from_json("test.pinged", 1, b'{"target": "x", "extra": 1}')


def test_event_with_a_bad_tenant_does_not_decode() -> None:
    document = CODEC.to_dict(make_event("s", 1))
    document["tenant"] = "t_unknown"
    with pytest.raises(UndecodableEvent):
        CODEC.decode(orjson.dumps(document))
