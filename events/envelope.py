"""The immutable DatasetEvent envelope and the checks on its context fields."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
from attrs import field, frozen

__all__ = [
    "EVENT_FIELDS",
    "EVENT_SETTERS",
    "RESERVED_TENANT",
    "TENANT_PATTERN",
    "DatasetEvent",
    "Env",
    "EventPayload",
    "FrozenMap",
    "InvalidContext",
    "check_request_id",
    "check_tenant",
    "event_from_columns",
    "freeze_map",
]

TENANT_PATTERN = re.compile(r"t_[a-z0-9][a-z0-9_-]{0,62}")
RESERVED_TENANT = "t_unknown"

# Tenants already found valid: a log holds few tenants, and every request and every event
# checks one (see check_tenant); event_from_columns's quick test reads it too.
_VALID_TENANTS: set[str] = set()
_VALID_TENANTS_MAX = 4096

FrozenMap = Mapping[str, str]
_EMPTY: FrozenMap = MappingProxyType({})


class InvalidContext(ValueError):
    """A tenant, env or request id that no event may carry."""


class Env(enum.StrEnum):
    """The environments a tenant's data lives in; each is its own partition."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


def check_tenant(tenant: object) -> str:
    """Return the tenant if it is a real one, else raise InvalidContext.

    Every request and every event checks its tenant, nearly always one of a few: those
    that passed are remembered (exact str values, the first 4,096), so a repeat costs one
    set lookup instead of the pattern. Nothing refused is ever remembered.
    """
    if type(tenant) is str and tenant in _VALID_TENANTS:
        return tenant
    if not isinstance(tenant, str):
        raise InvalidContext(f"tenant must be a string, not {type(tenant).__name__}")
    if TENANT_PATTERN.fullmatch(tenant) is None:
        raise InvalidContext(f"tenant {tenant!r} does not match ^t_[a-z0-9][a-z0-9_-]{{0,62}}$")
    if tenant == RESERVED_TENANT:
        raise InvalidContext(f"tenant {RESERVED_TENANT!r} is reserved and never valid")
    if type(tenant) is str and len(_VALID_TENANTS) < _VALID_TENANTS_MAX:
        _VALID_TENANTS.add(tenant)
    return tenant


def check_request_id(request_id: object) -> str:
    """Return the request id if it is non-blank and unpadded, else raise InvalidContext."""
    if not isinstance(request_id, str):
        raise InvalidContext(f"request id must be a string, not {type(request_id).__name__}")
    if not request_id or request_id.strip() != request_id:
        raise InvalidContext(f"request id {request_id!r} is empty or padded with whitespace")
    return request_id


def freeze_map(value: Mapping[str, str] | None) -> FrozenMap:
    """Return a read-only copy of a str->str mapping."""
    if not value:
        return _EMPTY
    if isinstance(value, MappingProxyType):
        return value
    return MappingProxyType(dict(value))


class EventPayload:
    """Base of every typed payload; subclasses are frozen attrs classes with a type name."""

    __slots__ = ()
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


_PAYLOAD_CLASSES: set[type[Any]] = set()


def _tenant_validator(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    check_tenant(value)


def _env_validator(_inst: object, _attr: attrs.Attribute[Env], value: Env) -> None:
    if not isinstance(value, Env):
        raise InvalidContext(f"env {value!r} is not one of {[e.value for e in Env]}")


def _text_validator(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    # Same test as check_request_id (strip() removes exactly what isspace() finds), inlined.
    if type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
        return
    try:
        check_request_id(value)
    except InvalidContext:
        raise InvalidContext(f"{attr.name} {value!r} is empty, blank or padded") from None


def _version_validator(_inst: object, _attr: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"version must be an int >= 1, not {value!r}")


def _payload_validator(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    cls = type(value)
    if cls in _PAYLOAD_CLASSES:
        return
    if not isinstance(value, EventPayload) or not attrs.has(cls):
        raise TypeError(f"payload must be a registered attrs EventPayload, not {cls!r}")
    _PAYLOAD_CLASSES.add(cls)


def _event_id_validator(_inst: object, _attr: attrs.Attribute[uuid.UUID], value: object) -> None:
    if type(value) is not uuid.UUID and not isinstance(value, uuid.UUID):
        raise TypeError(f"event_id must be a uuid.UUID, not {type(value).__name__}")


def _utc_validator(_inst: object, _attr: attrs.Attribute[datetime], value: datetime) -> None:
    # Nearly every moment is made by datetime.now(UTC): its tzinfo is the UTC singleton.
    if type(value) is datetime and value.tzinfo is UTC:
        return
    if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
        raise ValueError(f"occurred_at must be an aware UTC datetime, not {value!r}")


@frozen(kw_only=True, slots=True, eq=True, hash=False)
class DatasetEvent:
    """One immutable fact in the log, stamped with the context of the request that made it."""

    event_id: uuid.UUID = field(validator=_event_id_validator)
    stream: str = field(validator=_text_validator)
    version: int = field(validator=_version_validator)
    tenant: str = field(validator=_tenant_validator)
    env: Env = field(validator=_env_validator)
    request_id: str = field(validator=_text_validator)
    trace_id: str = field(validator=_text_validator)
    actor: str = field(validator=_text_validator)
    occurred_at: datetime = field(validator=_utc_validator)
    payload: EventPayload = field(validator=_payload_validator)
    metadata: FrozenMap = field(default=_EMPTY, converter=freeze_map)

    @property
    def type(self) -> str:
        """Return the stable dotted type name of the payload."""
        return self.payload.event_type

    @property
    def schema_version(self) -> int:
        """Return the schema version of the payload."""
        return self.payload.schema_version


_new_event = object.__new__
# The slots' own setters: they store a value without the frozen class's __setattr__.
_SET = {a.name: DatasetEvent.__dict__[a.name].__set__ for a in attrs.fields(DatasetEvent)}
(
    _set_event_id,
    _set_stream,
    _set_version,
    _set_tenant,
    _set_env,
    _set_request_id,
    _set_trace_id,
    _set_actor,
    _set_occurred_at,
    _set_payload,
    _set_metadata,
) = (_SET[a.name] for a in attrs.fields(DatasetEvent))
_UUID = uuid.UUID

# DatasetEvent's fields in order, and their slots' setters. A reader that inlines the quick
# test of event_from_columns for speed (sqlite_rows.RowDecoder) builds events with these,
# and only while EVENT_FIELDS is still the list it was written for; tests hold it to the
# constructor as event_from_columns is held.
EVENT_FIELDS = tuple(a.name for a in attrs.fields(DatasetEvent))
EVENT_SETTERS = tuple(_SET[name] for name in EVENT_FIELDS)


def event_from_columns(
    event_id: uuid.UUID,
    stream: str,
    version: int,
    tenant: str,
    env: Env,
    request_id: str,
    trace_id: str,
    actor: str,
    occurred_at: datetime,
    payload: EventPayload,
    metadata: Mapping[str, str] | None,
) -> DatasetEvent:
    """Build a DatasetEvent from stored values, checked as the constructor checks them.

    Every field passes a test at least as strict as its validator (exact types, a tenant
    already found valid, the UTC singleton), so the validators are not run a second time;
    a value that fails the quick test goes through the constructor, which accepts it or
    refuses it with its usual error. Store readers decode millions of events this way.
    """
    # strip() hands back the very string when it has nothing to strip, and strips exactly
    # what the validators' isspace() tests find; were it ever to copy, the constructor runs.
    if not (
        type(event_id) is _UUID
        and type(stream) is str
        and stream
        and stream.strip() is stream
        and type(version) is int
        and version >= 1
        and type(tenant) is str
        and tenant in _VALID_TENANTS
        and type(env) is Env
        and type(request_id) is str
        and request_id
        and request_id.strip() is request_id
        and type(trace_id) is str
        and trace_id
        and trace_id.strip() is trace_id
        and type(actor) is str
        and actor
        and actor.strip() is actor
        and type(occurred_at) is datetime
        and occurred_at.tzinfo is UTC
        and type(payload) in _PAYLOAD_CLASSES
    ):
        return DatasetEvent(
            event_id=event_id,
            stream=stream,
            version=version,
            tenant=tenant,
            env=env,
            request_id=request_id,
            trace_id=trace_id,
            actor=actor,
            occurred_at=occurred_at,
            payload=payload,
            metadata=metadata,
        )
    event: DatasetEvent = _new_event(DatasetEvent)
    _set_event_id(event, event_id)
    _set_stream(event, stream)
    _set_version(event, version)
    _set_tenant(event, tenant)
    _set_env(event, env)
    _set_request_id(event, request_id)
    _set_trace_id(event, trace_id)
    _set_actor(event, actor)
    _set_occurred_at(event, occurred_at)
    _set_payload(event, payload)
    _set_metadata(event, _EMPTY if metadata is None else freeze_map(metadata))
    return event
