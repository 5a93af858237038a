"""Turn DatasetEvents into PostgreSQL rows and back, and filters into WHERE clauses."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.ids import uuid_of_int
from events.store.postgres_schema import COLUMNS
from events.store.records import EventFilter
from events.store.row_decoder import Row
from events.store.row_decoder import RowDecoder as SharedRowDecoder

__all__ = ["SELECT", "RowDecoder", "encode_event", "filter_clause"]


def encode_event(codec: EventCodec, event: DatasetEvent) -> Row:
    """Return the row of an event, less its position, which the writer assigns."""
    payload = event.payload
    return (
        event.event_id,
        event.stream,
        event.version,
        payload.event_type,
        payload.schema_version,
        event.tenant,
        event.env.value,
        event.request_id,
        event.trace_id,
        event.actor,
        event.occurred_at,
        codec.payload_to_json(payload).decode(),
        orjson.dumps(dict(event.metadata)).decode() if event.metadata else None,
    )


class RowDecoder(SharedRowDecoder):
    """Decode PostgreSQL rows: asyncpg's UUIDs and aware datetimes."""

    def __init__(self, codec: EventCodec) -> None:
        super().__init__(codec, event_id_of=_std_uuid, moment_of=None)


def _std_uuid(value: uuid.UUID) -> uuid.UUID:
    """Return a plain uuid.UUID equal to asyncpg's faster subclass, so events compare as made."""
    return uuid_of_int(value.int)


def filter_clause(event_filter: EventFilter | None, first: int) -> tuple[list[str], list[Any]]:
    """Return SQL conditions whose parameters are numbered from first, and those parameters."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, operator, value in [] if event_filter is None else event_filter.conditions():
        mark = f"${first + len(params)}"
        if operator == "IN":
            conditions.append(f"{column} = ANY({mark}::text[])")
        else:
            conditions.append(f"{column} {operator} {mark}")
        params.append(value)
    return conditions, params


# Built from constants only, never from input.
SELECT = f"SELECT {COLUMNS} FROM events"  # noqa: S608
