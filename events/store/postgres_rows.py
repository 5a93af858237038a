"""Turn DatasetEvents into PostgreSQL rows and back, and filters into WHERE clauses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.ids import uuid_of_int
from events.store.base import EventFilter, IdempotencyRecord
from events.store.postgres_schema import COLUMNS
from events.store.row_decoder import Row
from events.store.row_decoder import RowDecoder as SharedRowDecoder

__all__ = ["SELECT", "RowDecoder", "decode_idempotency", "encode_event", "filter_clause"]


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


def decode_idempotency(row: Row) -> IdempotencyRecord:
    """Return the record of an idempotency row."""
    key, fingerprint, status, body, created_at = row
    created: datetime = created_at
    return IdempotencyRecord(
        key=key, fingerprint=fingerprint, status=status, body=bytes(body), created_at=created
    )


def filter_clause(event_filter: EventFilter | None, first: int) -> tuple[list[str], list[Any]]:
    """Return SQL conditions whose parameters are numbered from first, and those parameters."""
    if event_filter is None:
        return [], []
    conditions: list[str] = []
    params: list[Any] = []
    for column, values in (
        ("tenant", event_filter.tenants),
        ("env", {Env(env).value for env in event_filter.envs}),
        ("type", event_filter.types),
        ("stream", event_filter.streams),
    ):
        if values:
            params.append(sorted(values))
            conditions.append(f"{column} = ANY(${first + len(params) - 1}::text[])")
    if event_filter.since is not None:
        params.append(event_filter.since)
        conditions.append(f"occurred_at >= ${first + len(params) - 1}")
    if event_filter.until is not None:
        params.append(event_filter.until)
        conditions.append(f"occurred_at < ${first + len(params) - 1}")
    return conditions, params


# Built from constants only, never from input.
SELECT = f"SELECT {COLUMNS} FROM events"  # noqa: S608
