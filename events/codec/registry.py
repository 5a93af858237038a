"""Payload classes by stable type name and schema version, and the upcasters between versions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from events.codec.errors import CodecError, UndecodableEvent, UnknownEventType
from events.envelope import EventPayload

__all__ = ["PayloadRegistry", "Upcaster", "default_registry", "register_payload"]

P = TypeVar("P", bound=EventPayload)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@attrs.frozen
class _Entry:
    cls: type[EventPayload]
    version: int
    upcasters: dict[int, Upcaster]


class PayloadRegistry:
    """Payload classes by stable type name, with upcasters from older schema versions."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, cls: type[P], *, upcasters: Mapping[int, Upcaster] | None = None) -> type[P]:
        """Register a payload class under its event_type; a clash with another class is an error."""
        name = cls.event_type
        known = self._entries.get(name)
        if known is not None and known.cls is not cls:
            raise CodecError(f"event type {name!r} is already registered to {known.cls!r}")
        self._entries[name] = _Entry(cls, cls.schema_version, dict(upcasters or {}))
        return cls

    def payload_class(self, event_type: str) -> type[EventPayload]:
        """Return the class for a type name, or raise UnknownEventType."""
        return self._entry(event_type).cls

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Bring a stored payload of an older schema version up to the current one."""
        entry = self._entry(event_type)
        if version > entry.version:
            raise UndecodableEvent(
                f"{event_type} schema version {version} is newer than this code ({entry.version})"
            )
        while version < entry.version:
            step = entry.upcasters.get(version)
            if step is None:
                raise UndecodableEvent(f"{event_type}: no upcaster from schema version {version}")
            payload = step(payload)
            version += 1
        return payload

    def upcast_steps(self, event_type: str, version: int) -> tuple[Upcaster, ...]:
        """Return the upcasters that upcast() applies to this version, in order.

        Raise as upcast() would (UnknownEventType, UndecodableEvent) when it would.
        """
        entry = self._entry(event_type)
        if version > entry.version:
            raise UndecodableEvent(
                f"{event_type} schema version {version} is newer than this code ({entry.version})"
            )
        steps = []
        while version < entry.version:
            step = entry.upcasters.get(version)
            if step is None:
                raise UndecodableEvent(f"{event_type}: no upcaster from schema version {version}")
            steps.append(step)
            version += 1
        return tuple(steps)

    def types(self) -> list[type[EventPayload]]:
        """Return every registered payload class."""
        return [entry.cls for entry in self._entries.values()]

    def _entry(self, event_type: str) -> _Entry:
        try:
            return self._entries[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None


default_registry = PayloadRegistry()


def register_payload(
    cls: type[P] | None = None, *, upcasters: Mapping[int, Upcaster] | None = None
) -> Any:
    """Register a payload class in the default registry; usable bare or with upcasters."""

    def wrap(target: type[P]) -> type[P]:
        return default_registry.register(target, upcasters=upcasters)

    return wrap if cls is None else wrap(cls)
