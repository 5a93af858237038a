"""The immutable DatasetEvent envelope and the checks on its context fields."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
from attrs import field, frozen

__all__ = [
    "RESERVED_TENANT",
    "RULE_NAMES",
    "TENANT_PATTERN",
    "DatasetEvent",
    "Env",
    "EventPayload",
    "FieldRule",
    "FrozenMap",
    "InvalidContext",
    "bind",
    "check_request_id",
    "check_tenant",
    "freeze_map",
    "is_payload_class",
    "quick_test",
    "rule_of",
]

TENANT_PATTERN = re.compile(r"t_[a-z0-9][a-z0-9_-]{0,62}")
RESERVED_TENANT = "t_unknown"

# Tenants already found valid: a log holds few tenants, and every request and every event
# checks one (see check_tenant); the tenant's FieldRule reads it too. The only such cache.
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


def is_payload_class(cls: type[Any]) -> bool:
    """Tell whether cls may be an event's payload: an attrs EventPayload (remembered once found)."""
    if cls in _PAYLOAD_CLASSES:
        return True
    if not (isinstance(cls, type) and issubclass(cls, EventPayload) and attrs.has(cls)):
        return False
    _PAYLOAD_CLASSES.add(cls)
    return True


def _tenant_is_valid(tenant: str) -> bool:
    try:
        check_tenant(tenant)
    except InvalidContext:
        return False
    return True


# What a FieldRule's test may read, besides builtins.
RULE_NAMES: Mapping[str, Any] = MappingProxyType(
    {
        "UTC": UTC,
        "Env": Env,
        "datetime": datetime,
        "_UUID": uuid.UUID,
        "_VALID_TENANTS": _VALID_TENANTS,
        "_PAYLOAD_CLASSES": _PAYLOAD_CLASSES,
        "_tenant_is_valid": _tenant_is_valid,
    }
)


def bind(test: str, variable: str) -> str:
    """Return a rule's test, written on `v`, written on another variable."""
    return re.sub(r"\bv\b", variable, test)


@frozen
class FieldRule:
    """One field's rule: an exact quick test, and the check for the values it is unsure of.

    `test` is a Python expression on `v` over RULE_NAMES: a value it passes is one `check`
    accepts, so fast paths generated from attrs.fields (see events.fastpath and quick_test)
    run the test inline and leave every other value to `check`, which accepts it or
    raises. `validator` is the attrs validator made of the two, the only one the field has.
    """

    test: str
    check: Callable[[str, Any], None]
    validator: Callable[[Any, Any, Any], None] = field(init=False)

    @validator.default
    def _compile(self) -> Callable[[Any, Any, Any], None]:
        source = (
            f"def validate(_inst, attr, v):\n    if not ({self.test}):\n        check(attr.name, v)"
        )
        namespace = {**RULE_NAMES, "check": self.check}
        exec(compile(source, f"<rule {self.test}>", "exec"), namespace)  # noqa: S102
        validate: Callable[[Any, Any, Any], None] = namespace["validate"]
        return validate


def _check_event_id(name: str, value: object) -> None:
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"{name} must be a uuid.UUID, not {type(value).__name__}")


def _check_text(name: str, value: object) -> None:
    try:
        check_request_id(value)
    except InvalidContext:
        raise InvalidContext(f"{name} {value!r} is empty, blank or padded") from None


def _check_version(name: str, value: object) -> None:
    if type(value) is not int or value < 1:
        raise ValueError(f"{name} must be an int >= 1, not {value!r}")


def _check_tenant(_name: str, value: object) -> None:
    check_tenant(value)


def _check_env(_name: str, value: object) -> None:
    if not isinstance(value, Env):
        raise InvalidContext(f"env {value!r} is not one of {[e.value for e in Env]}")


def _check_utc(name: str, value: object) -> None:
    if not isinstance(value, datetime) or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, not {value!r}")


def _check_payload(name: str, value: object) -> None:
    if not isinstance(value, EventPayload) or not is_payload_class(type(value)):
        raise TypeError(f"{name} must be a registered attrs EventPayload, not {type(value)!r}")


# The rule for a valid event, field by field: the one definition. strip() hands back the
# very string when it has nothing to strip, and strips exactly what check_request_id's
# strip() finds; were it ever to copy, the check runs.
_EVENT_ID = FieldRule("type(v) is _UUID", _check_event_id)
_TEXT = FieldRule("type(v) is str and v and v.strip() is v", _check_text)
_VERSION = FieldRule("type(v) is int and v >= 1", _check_version)
_TENANT = FieldRule(
    "type(v) is str and (v in _VALID_TENANTS or _tenant_is_valid(v))", _check_tenant
)
_ENV = FieldRule("type(v) is Env", _check_env)
# Nearly every moment is made by datetime.now(UTC): its tzinfo is the UTC singleton.
_UTC = FieldRule("type(v) is datetime and v.tzinfo is UTC", _check_utc)
_PAYLOAD = FieldRule("type(v) in _PAYLOAD_CLASSES", _check_payload)
_RULES = {
    rule.validator: rule for rule in (_EVENT_ID, _TEXT, _VERSION, _TENANT, _ENV, _UTC, _PAYLOAD)
}


def rule_of(attribute: attrs.Attribute[Any]) -> FieldRule | None:
    """Return the rule behind a field's validator, None for a field without one.

    A validator not made from a FieldRule is an error: a fast path generated from the
    fields could not test it.
    """
    if attribute.validator is None:
        return None
    rule = _RULES.get(attribute.validator)
    if rule is None:
        raise TypeError(f"{attribute.name}'s validator is not a FieldRule's: no quick test")
    return rule


@frozen(kw_only=True, slots=True, eq=True, hash=False)
class DatasetEvent:
    """One immutable fact in the log, stamped with the context of the request that made it."""

    event_id: uuid.UUID = field(validator=_EVENT_ID.validator)
    stream: str = field(validator=_TEXT.validator)
    version: int = field(validator=_VERSION.validator)
    tenant: str = field(validator=_TENANT.validator)
    env: Env = field(validator=_ENV.validator)
    request_id: str = field(validator=_TEXT.validator)
    trace_id: str = field(validator=_TEXT.validator)
    actor: str = field(validator=_TEXT.validator)
    occurred_at: datetime = field(validator=_UTC.validator)
    payload: EventPayload = field(validator=_PAYLOAD.validator)
    metadata: FrozenMap = field(default=_EMPTY, converter=freeze_map)

    @property
    def type(self) -> str:
        """Return the stable dotted type name of the payload."""
        return self.payload.event_type

    @property
    def schema_version(self) -> int:
        """Return the schema version of the payload."""
        return self.payload.schema_version


def quick_test(*names: str) -> Callable[..., bool]:
    """Return DatasetEvent's quick test of the named fields, a function of them in that order.

    True means every value passes its field's rule; False, that the rule is not sure
    (DatasetEvent's constructor then accepts the values or refuses them). For readers
    that check stored values without building an event (see sqlite_rows.RowChecker).
    """
    rules = {a.name: rule_of(a) for a in attrs.fields(DatasetEvent)}
    tests = []
    for name in names:
        rule = rules[name]
        if rule is not None:
            tests.append(f"({bind(rule.test, name)})")
    source = f"def test({', '.join(names)}):\n    return bool({' and '.join(tests) or 'True'})"
    namespace = dict(RULE_NAMES)
    exec(compile(source, f"<quick test {', '.join(names)}>", "exec"), namespace)  # noqa: S102
    built: Callable[..., bool] = namespace["test"]
    return built
