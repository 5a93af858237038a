"""Event stores: the protocol, its backends, and opening one from a URL."""

from events.store.base import (
    ConcurrencyError,
    EventFilter,
    EventStore,
    IdempotencyConflict,
    IdempotencyRecord,
    InvalidAppend,
    RecordedEvent,
    StoreClosed,
    StoreError,
)
from events.store.url import open_store

__all__ = [
    "ConcurrencyError",
    "EventFilter",
    "EventStore",
    "IdempotencyConflict",
    "IdempotencyRecord",
    "InvalidAppend",
    "RecordedEvent",
    "StoreClosed",
    "StoreError",
    "open_store",
]
