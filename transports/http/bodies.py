"""Request bodies: strict typed classes, decoded by one converter that never coerces."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, Protocol, TypeVar, get_args

import cattrs
from attrs import field, frozen
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from chat_core.temperature import TEMPERATURE_CEILING, TEMPERATURE_FLOOR
from transports.http.problems import HTTPProblem

__all__ = [
    "CreateThreadBody",
    "PostMessageBody",
    "StreamTicketBody",
    "TemperatureBody",
    "decode_body",
]

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024
FieldErrors = list[tuple[str, str]]


class Body(Protocol):
    def problems(self) -> FieldErrors: ...


B = TypeVar("B", bound=Body)


def _length(errors: FieldErrors, name: str, value: str | None, low: int, high: int) -> None:
    if value is not None and not low <= len(value) <= high:
        errors.append((name, f"must be {low} to {high} characters"))


def _metadata(errors: FieldErrors, value: Mapping[str, str]) -> None:
    if len(value) > MAX_METADATA_KEYS:
        errors.append(("metadata", f"takes at most {MAX_METADATA_KEYS} keys"))
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY:
            errors.append(("metadata", f"keys must be 1 to {MAX_METADATA_KEY} characters"))
        if len(item) > MAX_METADATA_VALUE:
            errors.append((f"metadata.{key}", f"must be at most {MAX_METADATA_VALUE} characters"))


@frozen(kw_only=True)
class CreateThreadBody:
    """The body of POST /chat/threads."""

    title: str | None = None
    metadata: dict[str, str] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        _length(errors, "title", self.title, 1, 200)
        _metadata(errors, self.metadata)
        return errors


@frozen(kw_only=True)
class PostMessageBody:
    """The body of POST /chat/threads/{thread_id}/messages."""

    content: str
    role: Literal["user", "assistant", "system"] = "user"
    metadata: dict[str, str] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        _length(errors, "content", self.content, 1, 32000)
        _metadata(errors, self.metadata)
        return errors


@frozen(kw_only=True)
class TemperatureBody:
    """The body of PUT /temperature/config."""

    default: float
    min: float
    max: float
    overrides: dict[str, float] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List numbers outside 0..2, so a bad body is 422 before If-Match can make it 412."""
        values = {"default": self.default, "min": self.min, "max": self.max}
        values.update({f"overrides.{k}": v for k, v in self.overrides.items()})
        return [
            (name, f"must be a number from {TEMPERATURE_FLOOR} to {TEMPERATURE_CEILING}")
            for name, v in values.items()
            if not (math.isfinite(v) and TEMPERATURE_FLOOR <= v <= TEMPERATURE_CEILING)
        ]


@frozen(kw_only=True)
class StreamTicketBody:
    """The body of POST /chat/stream-tickets."""

    thread_id: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        _length(errors, "thread_id", self.thread_id, 1, 200)
        return errors


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _strict_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("must be a number")
    return float(value)


def _build() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _strict_str)
    # An optional string may be left out (its default None), but an explicit null is not a str.
    converter.register_structure_hook(str | None, _strict_str)
    converter.register_structure_hook(float, _strict_float)
    return converter


_CONVERTER = _build()


def _describe(exc: BaseException, type_: Any) -> str:
    if "not in literal" in str(exc):
        return "must be one of " + ", ".join(repr(choice) for choice in get_args(type_))
    if isinstance(exc, TypeError) and str(exc).startswith("must be"):
        return str(exc)
    return format_exception(exc, type_)


def decode_body(data: Any, body_type: type[B]) -> B:
    """Structure parsed JSON into a body class, else a 422 problem listing each field."""
    if not isinstance(data, dict):
        raise HTTPProblem(422, "the body must be a JSON object", errors=[("$", "expected object")])
    try:
        body = _CONVERTER.structure(data, body_type)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        errors = [
            _field_error(line) for line in cattrs.transform_error(exc, format_exception=_describe)
        ]
        raise HTTPProblem(422, "the body fails validation", errors=errors) from None
    problems = body.problems()
    if problems:
        raise HTTPProblem(422, "the body fails validation", errors=problems)
    return body


def _field_error(line: str) -> tuple[str, str]:
    message, _, path = line.rpartition(" @ ")
    name = path.removeprefix("$").removeprefix(".") or "$"
    if message.startswith("extra fields found ("):
        return message.removeprefix("extra fields found (").rstrip(")"), "is not a known field"
    return name, message or line
