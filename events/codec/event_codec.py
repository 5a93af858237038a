"""EventCodec: DatasetEvents to JSON and back, payloads to their stored form and back."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from events.codec.canonical import compile_canonical
from events.codec.converter import build_converter
from events.codec.errors import CodecError, UndecodableEvent
from events.codec.registry import PayloadRegistry, default_registry
from events.envelope import DatasetEvent, Env, EventPayload

__all__ = ["EventCodec", "PayloadCanonical", "PayloadDecoder"]

PayloadDecoder = Callable[[bytes | str], EventPayload]
# Stored payload JSON to its exported form, or None when unsure (the caller decodes it).
PayloadCanonical = Callable[[bytes | str], dict[str, Any] | None]


class EventCodec:
    """Encode DatasetEvents to JSON and decode them back, through one converter."""

    def __init__(self, registry: PayloadRegistry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry
        self.converter = build_converter()
        self._decoders: dict[tuple[str, int], PayloadDecoder] = {}
        self._canonicals: dict[tuple[str, int], PayloadCanonical | None] = {}
        self._unstructurers: dict[type[Any], Callable[[Any], Any]] = {}

    def payload_to_json(self, payload: EventPayload) -> bytes:
        """Serialise a payload alone, as the store keeps it.

        The converter's hook for each payload class is looked up once: its dispatch on
        every call cost a quarter of this (every appended event comes through here).
        """
        unstructure = self._unstructurers.get(type(payload))
        if unstructure is None:
            unstructure = self.converter.get_unstructure_hook(type(payload))
            self._unstructurers[type(payload)] = unstructure
        return orjson.dumps(unstructure(payload))

    def payload_from_json(self, event_type: str, schema_version: int, raw: bytes | str) -> Any:
        """Decode a stored payload of a given type and version into its current class."""
        return self.payload_decoder(event_type, schema_version)(raw)

    def payload_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        """Return a cached function that decodes stored payloads of one type and version."""
        key = (event_type, schema_version)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._build_decoder(event_type, schema_version)
            self._decoders[key] = decoder
        return decoder

    def payload_canonical(self, event_type: str, schema_version: int) -> PayloadCanonical | None:
        """Return a cached function from stored payload JSON to its exported form, or None.

        The function gives what decoding then unstructuring would give, upcasts included,
        or None for a payload it is not sure of; None instead of a function means the type
        has no such shortcut. Either way the caller decodes the payload the usual way.
        """
        key = (event_type, schema_version)
        if key not in self._canonicals:
            self._canonicals[key] = self._build_canonical(event_type, schema_version)
        return self._canonicals[key]

    def _build_canonical(self, event_type: str, schema_version: int) -> PayloadCanonical | None:
        try:
            cls = self.registry.payload_class(event_type)
            steps = self.registry.upcast_steps(event_type, schema_version)
        except CodecError:
            return None  # the decoder refuses these payloads with the error
        loads = orjson.loads

        def upcast(raw: bytes | str) -> Any:
            data = loads(raw)
            for step in steps:
                data = step(data)
            return data

        return compile_canonical(cls, self.converter, parse=upcast if steps else loads)

    def _build_decoder(self, event_type: str, schema_version: int) -> PayloadDecoder:
        cls = self.registry.payload_class(event_type)
        # The hook is looked up once per type, not once per event: replay decodes millions.
        hook = self.converter.get_structure_hook(cls)
        upcast = schema_version != cls.schema_version
        registry = self.registry
        loads = orjson.loads

        def decode(raw: bytes | str) -> EventPayload:
            try:
                data = loads(raw)
                if upcast:
                    data = registry.upcast(event_type, schema_version, data)
                payload: EventPayload = hook(data, cls)
                return payload
            except CodecError:
                raise
            except Exception as exc:
                raise UndecodableEvent(f"{event_type} payload does not decode: {exc}") from None

        return decode

    def to_dict(
        self,
        event: DatasetEvent,
        *,
        position: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return the envelope as plain JSON-ready data.

        With a position (an export record) it stands after version; a payload given
        replaces the event's own, as an export view shows it.
        """
        document: dict[str, Any] = {
            "event_id": str(event.event_id),
            "type": event.type,
            "schema_version": event.schema_version,
            "stream": event.stream,
            "version": event.version,
        }
        if position is not None:
            document["position"] = position
        document.update(
            tenant=event.tenant,
            env=event.env.value,
            request_id=event.request_id,
            trace_id=event.trace_id,
            actor=event.actor,
            occurred_at=event.occurred_at.isoformat(),
            payload=self.converter.unstructure(event.payload) if payload is None else payload,
            metadata=dict(event.metadata),
        )
        return document

    def encode(self, event: DatasetEvent) -> bytes:
        """Serialise a whole event as one JSON document."""
        return orjson.dumps(self.to_dict(event))

    def from_dict(self, data: Mapping[str, Any]) -> DatasetEvent:
        """Build a validated DatasetEvent from its JSON form."""
        try:
            event_type = data["type"]
            cls = self.registry.payload_class(event_type)
            payload = data["payload"]
            version = data.get("schema_version", cls.schema_version)
            if version != cls.schema_version:
                payload = self.registry.upcast(event_type, version, dict(payload))
            return DatasetEvent(
                event_id=uuid.UUID(data["event_id"]),
                stream=data["stream"],
                version=data["version"],
                tenant=data["tenant"],
                env=Env(data["env"]),
                request_id=data["request_id"],
                trace_id=data["trace_id"],
                actor=data["actor"],
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                payload=self.converter.structure(payload, cls),
                metadata=data.get("metadata") or {},
            )
        except CodecError:
            raise
        except Exception as exc:
            raise UndecodableEvent(f"event does not decode: {exc!r}") from None

    def decode(self, raw: bytes | str) -> DatasetEvent:
        """Parse one JSON document into a validated DatasetEvent."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UndecodableEvent(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UndecodableEvent("an event must be a JSON object")
        return self.from_dict(data)
