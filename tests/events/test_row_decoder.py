"""SQLite rows decode into the events they were made from, or fail as the constructor does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest
from hypothesis import given

import chat_core.payloads  # noqa: F401  (registers the chat event types)
from events.codec import CodecError, EventCodec, UndecodableEvent
from events.envelope import DatasetEvent
from events.store.base import RecordedEvent
from events.store.row_decoder import ENV_OF
from events.store.sqlite_rows import RowDecoder, encode_event, event_id_of_bytes
from tests.calls import calls_of
from tests.events.factories import make_event
from tests.strategies import datasets_events

VALID = make_event("s", 1)


def _row(event: DatasetEvent, position: int = 1) -> tuple[Any, ...]:
    return (position, *encode_event(EventCodec(), event))


def _outcome(decode: Callable[[list[tuple[Any, ...]]], list[Any]], row: tuple[Any, ...]) -> Any:
    try:
        return decode([row])
    except Exception as exc:
        return (type(exc), str(exc))


@given(datasets_events())
def test_rows_decode_into_the_events_they_were_made_from(event: DatasetEvent) -> None:
    decoder = RowDecoder(EventCodec())
    (recorded,) = decoder.decode([_row(event, 7)])
    assert recorded == RecordedEvent(event=event, position=7)
    assert type(recorded.event.event_id) is uuid.UUID
    assert type(recorded.event.metadata) is type(event.metadata)


# A column of a valid row, changed: (column index, stored value).
_ROW_EDITS = [
    (1, b"\x00"),
    (1, "abcdefghijklmnop"),
    (1, bytearray(VALID.event_id.bytes)),
    (2, ""),
    (2, " s"),
    (2, 5),
    (3, 0),
    (3, "1"),
    (3, True),
    (4, "no.such.type"),
    (5, 9),
    (6, "t_unknown"),
    (6, "T_acme"),
    (6, 5),
    (7, "qa"),
    (7, None),
    (8, ""),
    (8, "r\n"),
    (9, ""),
    (9, " padded"),
    (10, "\u2003actor"),
    (10, b"actor"),
    (11, "2025-01-01T00:00:00"),
    (11, "2025-01-01T01:00:00.000000+01:00"),
    (11, "yesterday"),
    (12, b"not json"),
    (12, b'{"text": 5}'),
    (12, 5),
    (13, b"{"),
    (13, b'{"k": "v"}'),
    (13, b"null"),
    (13, 5),
]


def _constructed(row: tuple[Any, ...]) -> Any:
    """What decoding the row must give: its columns through DatasetEvent's constructor."""
    position, event_id, stream, version, event_type, schema_version = row[:6]
    tenant, env, request_id, trace_id, actor, occurred_at, payload, metadata = row[6:]
    codec = EventCodec()
    try:
        decode_payload = codec.payload_decoder(event_type, schema_version)
        event = DatasetEvent(
            event_id=event_id_of_bytes(event_id),
            stream=stream,
            version=version,
            tenant=tenant,
            env=ENV_OF(env, env),
            request_id=request_id,
            trace_id=trace_id,
            actor=actor,
            occurred_at=datetime.fromisoformat(occurred_at),
            payload=decode_payload(payload),
            metadata=None if metadata is None else orjson.loads(metadata),
        )
    except CodecError as exc:
        return (type(exc), str(exc))
    except Exception as exc:
        return (UndecodableEvent, f"event at position {position}: {exc}")
    return [RecordedEvent(event=event, position=position)]


@pytest.mark.parametrize(("column", "value"), _ROW_EDITS)
def test_an_edited_row_decodes_or_fails_as_the_constructor_says(column: int, value: Any) -> None:
    row = list(_row(VALID))
    row[column] = value
    assert _outcome(RowDecoder(EventCodec()).decode, tuple(row)) == _constructed(tuple(row))


def test_a_valid_row_is_built_without_the_constructor() -> None:
    # Fails when the decoder stops going through the fast path of event_from_columns.
    row, decoder = _row(VALID), RowDecoder(EventCodec())
    decoder.decode([row])  # the first row of a payload type builds its decoder
    assert calls_of(DatasetEvent.__init__, lambda: decoder.decode([row])) == 0


def test_the_trace_id_equal_to_the_request_id_is_still_checked() -> None:
    row = list(_row(VALID))
    row[8] = row[9] = " padded"
    with pytest.raises(UndecodableEvent, match="request_id"):
        RowDecoder(EventCodec()).decode([tuple(row)])
