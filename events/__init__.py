"""Domain-agnostic event machinery: envelope, codec, bus, stores, replay."""

from events.bus import BusError, Command, MessageBus
from events.codec import (
    CodecError,
    EventCodec,
    PayloadRegistry,
    UndecodableEvent,
    UnknownEventType,
    default_registry,
    register_payload,
)
from events.envelope import (
    RESERVED_TENANT,
    DatasetEvent,
    Env,
    EventPayload,
    InvalidContext,
    check_request_id,
    check_tenant,
    freeze_map,
)

__all__ = [
    "RESERVED_TENANT",
    "BusError",
    "CodecError",
    "Command",
    "DatasetEvent",
    "Env",
    "EventCodec",
    "EventPayload",
    "InvalidContext",
    "MessageBus",
    "PayloadRegistry",
    "UndecodableEvent",
    "UnknownEventType",
    "check_request_id",
    "check_tenant",
    "default_registry",
    "freeze_map",
    "register_payload",
]
