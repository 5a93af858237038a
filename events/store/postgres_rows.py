"""Turn DatasetEvents into PostgreSQL rows and back, and filters into WHERE clauses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from events.codec import CodecError, EventCodec, PayloadDecoder, UndecodableEvent
from events.envelope import DatasetEvent, Env
from events.ids import uuid_of_int
from events.store.base import EventFilter, IdempotencyRecord, RecordedEvent
from events.store.postgres_schema import COLUMNS

__all__ = ["SELECT", "RowDecoder", "decode_idempotency", "encode_event", "filter_clause"]

Row = tuple[Any, ...]
_ENVS: dict[Any, Any] = {env.value: env for env in Env}


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


class RowDecoder:
    """Build validated RecordedEvents from rows, with payload decoders cached per type."""

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._payloads: dict[tuple[str, int], PayloadDecoder] = {}

    def decode(self, rows: Iterable[Row]) -> list[RecordedEvent]:
        """Decode a page of rows in order."""
        payloads = self._payloads
        envs = _ENVS
        load_json = orjson.loads
        out: list[RecordedEvent] = []
        append = out.append
        for (
            position,
            event_id,
            stream,
            version,
            event_type,
            schema_version,
            tenant,
            env,
            request_id,
            trace_id,
            actor,
            occurred_at,
            payload,
            metadata,
        ) in rows:
            decode_payload = payloads.get((event_type, schema_version))
            if decode_payload is None:
                decode_payload = self._codec.payload_decoder(event_type, schema_version)
                payloads[(event_type, schema_version)] = decode_payload
            try:
                event = DatasetEvent(
                    event_id=_std_uuid(event_id),
                    stream=stream,
                    version=version,
                    tenant=tenant,
                    env=envs[env] if env in envs else env,  # noqa: SIM401 (get is typed Optional)
                    request_id=request_id,
                    trace_id=trace_id,
                    actor=actor,
                    occurred_at=occurred_at,
                    payload=decode_payload(payload),
                    metadata=None if metadata is None else load_json(metadata),
                )
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"event at position {position}: {exc}") from None
            append(RecordedEvent(event=event, position=position))
        return out


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
