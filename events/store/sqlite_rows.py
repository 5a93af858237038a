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
    EVENT_FIELDS,
    EVENT_SETTERS,
    DatasetEvent,
    Env,
    EventPayload,
    InvalidContext,
    check_tenant,
    event_from_columns,
    freeze_map,
)
from events.ids import uuid_of_int
from events.store.base import EventFilter, RecordedEvent
from events.store.sqlite_schema import COLUMNS

__all__ = [
    "SELECT",
    "RowChecker",
    "RowDecoder",
    "encode_event",
    "encode_time",
    "filter_clause",
    "range_query",
    "recorded_event",
]

Row = tuple[Any, ...]
_ENVS: dict[Any, Any] = {env.value: env for env in Env}
_ENV_OF: Any = _ENVS.get
# RowDecoder.decode sets these fields, in this order, on the events it builds itself.
_INLINE = EVENT_FIELDS == (
    "event_id",
    "stream",
    "version",
    "tenant",
    "env",
    "request_id",
    "trace_id",
    "actor",
    "occurred_at",
    "payload",
    "metadata",
)
_NO_METADATA = freeze_map(None)


def encode_time(value: datetime) -> str:
    """Return a fixed-width UTC timestamp, so text order is time order in SQL.

    The last value encoded is kept: the events of one batch share their moment.
    """
    global _last_time
    last, text = _last_time
    if value is last:
        return text
    text = value.astimezone(UTC).isoformat(timespec="microseconds")
    _last_time = value, text
    return text


# One tuple, swapped whole: a reader on another thread sees an old pair or the new one.
_last_time: tuple[datetime | None, str] = (None, "")


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
        str(event.env),  # a StrEnum: its value, without the enum's property lookup
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
        # Tenants found valid by check_tenant, and payload classes found to be registered
        # attrs EventPayloads, as the DatasetEvent validators find them.
        self._tenants: set[str] = set()
        self._classes: set[type[Any]] = set()

    def _payload_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        decoder = self._codec.payload_decoder(event_type, schema_version)
        self._payloads.setdefault(event_type, {})[schema_version] = decoder
        cls = self._codec.registry.payload_class(event_type)
        if issubclass(cls, EventPayload) and attrs.has(cls):
            self._classes.add(cls)
        return decoder

    def decode(self, rows: Sequence[Row]) -> list[RecordedEvent]:
        """Decode a page of rows in order.

        read_all runs this loop for every event, so its body is flat: a row whose every
        value passes the quick test of event_from_columns (exact types, a tenant already
        found valid, the UTC singleton, a registered payload class, no metadata) is built
        right here; any other goes through event_from_columns, which builds it with its
        checks or refuses it with the constructor's error.
        """
        if not _INLINE:
            return self._decode_checked(rows)
        payloads, tenants, classes = self._payloads, self._tenants, self._classes
        envs = _ENVS
        parse_time = datetime.fromisoformat
        new, uuid_class, from_bytes = _new, _UUID, _from_bytes
        set_int, set_is_safe, unknown = _set_int, _set_is_safe, _UNKNOWN
        set_event, set_position = _set_event, _set_position
        (
            set_event_id,
            set_stream,
            set_version,
            set_tenant,
            set_env,
            set_request_id,
            set_trace_id,
            set_actor,
            set_occurred_at,
            set_payload,
            set_metadata,
        ) = EVENT_SETTERS
        no_metadata = _NO_METADATA
        out: list[RecordedEvent] = []
        append = out.append
        for row in rows:
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
            versions = payloads.get(event_type)
            decode_payload = None if versions is None else versions.get(schema_version)
            if decode_payload is None:
                decode_payload = self._payload_decoder(event_type, schema_version)
            try:
                if type(event_id) is not bytes or len(event_id) != 16:
                    _uuid(event_id)  # its error comes first, as it always has
                when = parse_time(occurred_at)
                data = decode_payload(payload)
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"event at position {position}: {exc}") from None
            # strip() hands back the very string when it has nothing to strip, and strips
            # exactly what the validators' isspace() tests find (see event_from_columns).
            if not (
                metadata is None
                and type(event_id) is bytes
                and len(event_id) == 16
                and type(stream) is str
                and stream
                and stream.strip() is stream
                and type(version) is int
                and version >= 1
                and type(tenant) is str
                and (tenant in tenants or self._known(tenant))
                and type(env) is str
                and env in envs
                and type(request_id) is str
                and request_id
                and request_id.strip() is request_id
                and type(trace_id) is str
                and (trace_id == request_id or (trace_id and trace_id.strip() is trace_id))
                and type(actor) is str
                and actor
                and actor.strip() is actor
                and when.tzinfo is UTC
                and type(data) in classes
            ):
                append(recorded_event(self._checked(row, data, when), position))
                continue
            identity = new(uuid_class)
            set_int(identity, from_bytes(event_id))
            set_is_safe(identity, unknown)
            event: DatasetEvent = new(DatasetEvent)
            set_event_id(event, identity)
            set_stream(event, stream)
            set_version(event, version)
            set_tenant(event, tenant)
            set_env(event, envs[env])
            set_request_id(event, request_id)
            set_trace_id(event, trace_id)
            set_actor(event, actor)
            set_occurred_at(event, when)
            set_payload(event, data)
            set_metadata(event, no_metadata)
            recorded: RecordedEvent = new(RecordedEvent)
            set_event(recorded, event)
            set_position(recorded, position)
            append(recorded)
        return out

    def _checked(self, row: Row, data: EventPayload, when: datetime) -> DatasetEvent:
        """Build the event of a row the quick test was not sure of, or refuse it."""
        position, event_id, stream, version = row[:4]
        tenant, env, request_id, trace_id, actor = row[6:11]
        metadata = row[13]
        try:
            return event_from_columns(
                _uuid(event_id),
                stream,
                version,
                tenant,
                _ENV_OF(env, env),
                request_id,
                trace_id,
                actor,
                when,
                data,
                None if metadata is None else _load_json(metadata),
            )
        except CodecError:
            raise
        except Exception as exc:
            raise UndecodableEvent(f"event at position {position}: {exc}") from None

    def _decode_checked(self, rows: Sequence[Row]) -> list[RecordedEvent]:
        """Decode every row through event_from_columns (DatasetEvent is not as decode knew)."""
        out: list[RecordedEvent] = []
        for row in rows:
            position, event_type, schema_version = row[0], row[4], row[5]
            versions = self._payloads.get(event_type)
            decode_payload = None if versions is None else versions.get(schema_version)
            if decode_payload is None:
                decode_payload = self._payload_decoder(event_type, schema_version)
            try:
                _uuid(row[1])  # its error comes first, as it always has
                when = _parse_time(row[11])
                data = decode_payload(row[12])
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"event at position {position}: {exc}") from None
            out.append(recorded_event(self._checked(row, data, when), position))
        return out

    def _known(self, tenant: str) -> bool:
        try:
            check_tenant(tenant)
        except InvalidContext:
            return False
        if len(self._tenants) < 4096:
            self._tenants.add(tenant)
        return True


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


# RowDecoder builds each row's UUID inline, as uuid_of_int does, sparing a call per row.
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN = uuid.SafeUUID.unknown
_from_bytes = int.from_bytes
_UUID = uuid.UUID


def _uuid(raw: bytes) -> uuid.UUID:
    """Return the UUID of 16 stored bytes, as UUID(bytes=raw) would, at a third of the cost."""
    if len(raw) != 16:
        raise ValueError(f"an event id is 16 bytes, not {len(raw)}")
    return uuid_of_int(_from_bytes(raw, "big"))


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


# What RecordedEvent(event=..., position=...) builds, without a frozen class's two
# object.__setattr__ calls; the writer builds one per committed event.
recorded_event = (
    _recorded_directly
    if all(a.validator is None and a.converter is None for a in attrs.fields(RecordedEvent))
    and not hasattr(RecordedEvent, "__attrs_post_init__")
    else _recorded_checked
)


def range_query(
    event_filter: EventFilter | None, *, descending: bool = False
) -> tuple[str, list[Any]]:
    """Return the SELECT of the rows between two positions that the filter matches, a page
    at a time, and the filter's parameters.

    Its parameters are (after, before, *the filter's, limit): positions strictly between.
    """
    conditions, params = filter_clause(event_filter)
    where = " AND ".join(["position > ?", "position < ?", *conditions])
    order = "DESC" if descending else "ASC"
    return f"{SELECT} WHERE {where} ORDER BY position {order} LIMIT ?", params


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
