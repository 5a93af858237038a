"""Turn DatasetEvents into SQLite rows and back, and filters into WHERE clauses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

from events.codec import (
    CodecError,
    EventCodec,
    PayloadCanonical,
    PayloadDecoder,
    UndecodableEvent,
)
from events.envelope import (
    DatasetEvent,
    Env,
    EventPayload,
    InvalidContext,
    check_tenant,
    event_from_columns,
)
from events.store.base import EventFilter, RecordedEvent
from events.store.sqlite_schema import COLUMNS

__all__ = [
    "SELECT",
    "RowChecker",
    "RowDecoder",
    "encode_event",
    "encode_time",
    "filter_clause",
]

Row = tuple[Any, ...]
_ENVS: dict[Any, Any] = {env.value: env for env in Env}
_ENV_OF: Any = _ENVS.get


def encode_time(value: datetime) -> str:
    """Return a fixed-width UTC timestamp, so text order is time order in SQL."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def encode_event(codec: EventCodec, event: DatasetEvent) -> Row:
    """Return the row of an event, less its position, which the writer assigns."""
    payload = event.payload
    return (
        event.event_id.bytes,
        event.stream,
        event.version,
        payload.event_type,
        payload.schema_version,
        event.tenant,
        event.env.value,
        event.request_id,
        event.trace_id,
        event.actor,
        encode_time(event.occurred_at),
        codec.payload_to_json(payload),
        orjson.dumps(dict(event.metadata)) if event.metadata else None,
    )


class RowDecoder:
    """Build validated RecordedEvents from rows, with payload decoders cached per type."""

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._payloads: dict[str, dict[int, PayloadDecoder]] = {}

    def _payload_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        decoder = self._codec.payload_decoder(event_type, schema_version)
        self._payloads.setdefault(event_type, {})[schema_version] = decoder
        return decoder

    def decode(self, rows: Sequence[Row]) -> list[RecordedEvent]:
        """Decode a page of rows in order."""
        payloads = self._payloads
        get_env = _ENV_OF
        parse_time = datetime.fromisoformat
        load_json = orjson.loads
        build = event_from_columns
        recorded = _recorded
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
            versions = payloads.get(event_type)
            decode_payload = None if versions is None else versions.get(schema_version)
            if decode_payload is None:
                decode_payload = self._payload_decoder(event_type, schema_version)
            try:
                event = build(
                    _uuid(event_id),
                    stream,
                    version,
                    tenant,
                    get_env(env, env),
                    request_id,
                    trace_id,
                    actor,
                    parse_time(occurred_at),
                    decode_payload(payload),
                    None if metadata is None else load_json(metadata),
                )
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"event at position {position}: {exc}") from None
            append(recorded(event, position))
        return out


_NO_SHORTCUT = (None, 0)
_CHECKED: dict[str, Any] = {}


class RowChecker:
    """Tell, without building it, that a row decodes, and give its export record.

    `record` answers for a row every field of which passes the same tests as the quick path
    of RowDecoder (and so of the DatasetEvent validators), whose payload its codec can
    convert without decoding (see EventCodec.payload_canonical), and whose metadata, if
    any, is a JSON object. For any other row it returns None, and the caller decodes the
    row with RowDecoder, which builds the event or refuses the row.
    """

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._payloads: dict[tuple[str, int], tuple[PayloadCanonical | None, int]] = {}
        self._tenants: set[str] = set()
        self._seconds: dict[str, bool] = {}

    def record(self, row: Row, build: bool = True) -> dict[str, Any] | None:
        """Return the event's export record (see tooling.export_record), None when unsure.

        With build=False an empty dict stands for the record: the row is only checked.
        """
        (
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
        ) = row
        if not (
            type(event_id) is bytes
            and len(event_id) == 16
            and type(stream) is str
            and stream
            and stream.strip() is stream
            and type(version) is int
            and version >= 1
            and type(tenant) is str
            and (tenant in self._tenants or self._known(tenant))
            and type(env) is str
            and env in _ENVS
            and type(request_id) is str
            and request_id
            and request_id.strip() is request_id
            and type(trace_id) is str
            and trace_id
            and trace_id.strip() is trace_id
            and type(actor) is str
            and actor
            and actor.strip() is actor
            and type(occurred_at) is str
        ):
            return None
        canonical, current = self._payloads.get((event_type, schema_version), _NO_SHORTCUT)
        if canonical is None:
            if (event_type, schema_version) in self._payloads:
                return None
            canonical, current = self._shortcut(event_type, schema_version)
            if canonical is None:
                return None
        # The store's fixed-width time, checked by its (cached) second: see _time_text.
        second = occurred_at[:19]
        fraction = occurred_at[20:26]
        if (
            self._seconds.get(second)
            and len(occurred_at) == 32
            and occurred_at[19] == "."
            and occurred_at[26:] == "+00:00"
            and fraction.isdigit()
            and fraction.isascii()
        ):
            when = occurred_at if fraction != "000000" else second + "+00:00"
        else:
            found = self._time_text(occurred_at)
            if found is None:
                return None
            when = found
        data = canonical(payload)
        if data is None:
            return None
        if metadata is None:
            extra: Any = {}
        else:
            try:
                # What the decoder would freeze: any JSON object, shown again as it was.
                extra = _load_json(metadata)
            except ValueError:
                return None
            if type(extra) is not dict:
                return None
        if not build:
            return _CHECKED
        hexed = event_id.hex()
        return {
            "event_id": f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}",
            "type": event_type,
            "schema_version": current,
            "stream": stream,
            "version": version,
            "position": position,
            "tenant": tenant,
            "env": env,
            "request_id": request_id,
            "trace_id": trace_id,
            "actor": actor,
            "occurred_at": when,
            "payload": data,
            "metadata": extra,
        }

    def _time_text(self, text: str) -> str | None:
        """Return what parsing the stored time and isoformat() give, None when not UTC.

        The store writes fixed-width times (see encode_time); their first 19 characters
        change once a second, so a text of that shape is checked by its second, cached,
        and by its six digits of microseconds.
        """
        if len(text) == 32 and text[19] == "." and text[26:] == "+00:00":
            second, fraction = text[:19], text[20:26]
            if fraction.isdigit() and fraction.isascii() and self._canonical_second(second):
                return text if fraction != "000000" else second + "+00:00"
        try:
            moment = _parse_time(text)
        except ValueError:
            return None
        return moment.isoformat() if moment.tzinfo is UTC else None

    def _canonical_second(self, second: str) -> bool:
        known = self._seconds.get(second)
        if known is None:
            try:
                known = _parse_time(second).isoformat() == second
            except ValueError:
                known = False
            if len(self._seconds) >= 100_000:
                self._seconds.clear()
            self._seconds[second] = known
        return known

    def _known(self, tenant: str) -> bool:
        try:
            check_tenant(tenant)
        except InvalidContext:
            return False
        if len(self._tenants) < 4096:
            self._tenants.add(tenant)
        return True

    def _shortcut(
        self, event_type: Any, schema_version: Any
    ) -> tuple[PayloadCanonical | None, int]:
        found: tuple[PayloadCanonical | None, int] = _NO_SHORTCUT
        if type(event_type) is str and type(schema_version) is int:
            canonical = self._codec.payload_canonical(event_type, schema_version)
            if canonical is not None:
                cls = self._codec.registry.payload_class(event_type)
                current = cls.schema_version
                # As the event's payload validator asks: a registered attrs EventPayload.
                if issubclass(cls, EventPayload) and attrs.has(cls):
                    found = (canonical, current)
        if len(self._payloads) < 1024:  # a tampered log may name any number of types
            self._payloads[(event_type, schema_version)] = found
        return found


_parse_time = datetime.fromisoformat
_load_json = orjson.loads


_new_uuid = uuid.UUID.__new__
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN = uuid.SafeUUID.unknown
_from_bytes = int.from_bytes


def _uuid(raw: bytes) -> uuid.UUID:
    """Return the UUID of 16 stored bytes, as UUID(bytes=raw) would, at a third of the cost."""
    if len(raw) != 16:
        raise ValueError(f"an event id is 16 bytes, not {len(raw)}")
    # UUID.__init__ spends most of its time choosing among its five argument forms.
    value = _new_uuid(uuid.UUID)
    _set_int(value, _from_bytes(raw, "big"))
    _set_is_safe(value, _UNKNOWN)
    return value


_new = object.__new__
_set_event = RecordedEvent.__dict__["event"].__set__
_set_position = RecordedEvent.__dict__["position"].__set__


def _recorded_directly(event: DatasetEvent, position: int) -> RecordedEvent:
    # RecordedEvent's __init__ only stores its two fields (checked below, at import).
    recorded: RecordedEvent = _new(RecordedEvent)
    _set_event(recorded, event)
    _set_position(recorded, position)
    return recorded


def _recorded_checked(event: DatasetEvent, position: int) -> RecordedEvent:
    return RecordedEvent(event=event, position=position)


_recorded = (
    _recorded_directly
    if all(a.validator is None and a.converter is None for a in attrs.fields(RecordedEvent))
    and not hasattr(RecordedEvent, "__attrs_post_init__")
    else _recorded_checked
)


def filter_clause(event_filter: EventFilter | None) -> tuple[list[str], list[Any]]:
    """Return SQL conditions and their parameters that select what the filter matches."""
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
            ordered = sorted(values)
            conditions.append(f"{column} IN ({', '.join('?' * len(ordered))})")
            params.extend(ordered)
    if event_filter.since is not None:
        conditions.append("occurred_at >= ?")
        params.append(encode_time(event_filter.since))
    if event_filter.until is not None:
        conditions.append("occurred_at < ?")
        params.append(encode_time(event_filter.until))
    return conditions, params


# Built from constants only, never from input.
SELECT = f"SELECT {COLUMNS} FROM events"  # noqa: S608
