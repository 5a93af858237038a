"""The codec's errors.

CodecError
├── UnknownEventType   a type name nobody registered
└── UndecodableEvent   a stored event whose fields or payload do not validate
"""

from __future__ import annotations

__all__ = ["CodecError", "UndecodableEvent", "UnknownEventType"]


class CodecError(Exception):
    """An event could not be encoded or decoded."""


class UnknownEventType(CodecError):
    """The event type name is not registered: never dropped silently."""


class UndecodableEvent(CodecError):
    """A stored event does not decode into a valid DatasetEvent."""
