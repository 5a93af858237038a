"""One cattrs converter, a registry of payload types by name and version, and upcasters.

- converter: the converter (frozen mappings, datetimes, UUIDs), built once per codec.
- registry: payload classes by type name and schema version, and their upcasters.
- event_codec: EventCodec, events and payloads to JSON and back through the converter.
- canonical: stored payload JSON to its exported form without decoding, for the tooling.

Errors (errors.py):
    CodecError
    ├── UnknownEventType   a type name nobody registered
    └── UndecodableEvent   a stored event whose fields or payload do not validate
"""

from events.codec.canonical import compile_canonical
from events.codec.converter import build_converter
from events.codec.errors import CodecError, UndecodableEvent, UnknownEventType
from events.codec.event_codec import EventCodec, PayloadCanonical, PayloadDecoder
from events.codec.registry import PayloadRegistry, Upcaster, default_registry, register_payload

__all__ = [
    "CodecError",
    "EventCodec",
    "PayloadCanonical",
    "PayloadDecoder",
    "PayloadRegistry",
    "UndecodableEvent",
    "UnknownEventType",
    "Upcaster",
    "build_converter",
    "compile_canonical",
    "default_registry",
    "register_payload",
]
