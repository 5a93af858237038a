"""Build validated RecordedEvents from the rows of either SQL backend."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import orjson

from events.codec import CodecError, EventCodec, PayloadDecoder, UndecodableEvent
from events.envelope import Env
from events.fastpath import event_from_columns
from events.store.records import RecordedEvent

__all__ = ["ENV_OF", "Row", "RowDecoder"]

Row = tuple[Any, ...]
_ENVS: dict[Any, Any] = {env.value: env for env in Env}
# The Env of a stored env name; anything else as it was, for the event's rule to refuse.
ENV_OF: Callable[..., Any] = _ENVS.get


class RowDecoder:
    """Decode rows (position, then the columns of sqlite_schema.COLUMNS) in order.

    Every row goes through event_from_columns, so through DatasetEvent's rule: a row the
    rule refuses raises UndecodableEvent naming its position. The backend says how its
    driver hands back an event id and a moment (event_id_of, moment_of).
    """

    def __init__(
        self,
        codec: EventCodec,
        *,
        event_id_of: Callable[[Any], Any],
        moment_of: Callable[[Any], datetime] | None,
    ) -> None:
        self._codec = codec
        self._payloads: dict[tuple[str, int], PayloadDecoder] = {}
        self._event_id_of = event_id_of
        self._moment_of = moment_of

    def decode(self, rows: Iterable[Row]) -> list[RecordedEvent]:
        """Return the recorded events the rows hold, in their order (read_all runs this)."""
        payloads = self._payloads
        event_id_of, moment_of = self._event_id_of, self._moment_of
        build, env_of, load_json = event_from_columns, ENV_OF, orjson.loads
        out: list[RecordedEvent] = []
        append = out.append
        for row in rows:
            position, event_id, stream, version, event_type, schema_version = row[:6]
            tenant, env, request_id, trace_id, actor, occurred_at, payload, metadata = row[6:]
            decode_payload = payloads.get((event_type, schema_version))
            if decode_payload is None:
                decode_payload = self._codec.payload_decoder(event_type, schema_version)
                payloads[(event_type, schema_version)] = decode_payload
            try:
                event = build(
                    event_id_of(event_id),  # its error comes first, as it always has
                    stream,
                    version,
                    tenant,
                    env_of(env, env),
                    request_id,
                    trace_id,
                    actor,
                    occurred_at if moment_of is None else moment_of(occurred_at),
                    decode_payload(payload),
                    None if metadata is None else load_json(metadata),
                )
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"event at position {position}: {exc}") from None
            append(RecordedEvent(event=event, position=position))
        return out
