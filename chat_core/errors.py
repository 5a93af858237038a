"""The chat domain's errors, each mapped to one HTTP status by the transport.

ChatError
├── BadRequest             a malformed cursor or parameter
├── NotFound               no such thread or message in this tenant and env
├── Forbidden              the caller's role in the tenant is too low
├── ValidationFailed       a command that breaks a domain rule (field errors attached)
├── PreconditionFailed     an If-Match version that does not match
├── Conflict               optimistic concurrency exhausted, or a state that forbids it
│   └── OutOfOrder         a generation's chunk that is not the next one
├── IdempotencyInFlight    the same idempotency key is still being answered
└── IdempotencyMismatch    an idempotency key reused with another request
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BadRequest",
    "ChatError",
    "Conflict",
    "FieldError",
    "Forbidden",
    "IdempotencyInFlight",
    "IdempotencyMismatch",
    "NotFound",
    "OutOfOrder",
    "PreconditionFailed",
    "ValidationFailed",
]

FieldError = tuple[str, str]


class ChatError(Exception):
    """Base of the chat domain's errors."""


class NotFound(ChatError):
    """No such resource in this tenant and env."""


class Forbidden(ChatError):
    """The caller may not do this in this tenant."""


class ValidationFailed(ChatError):
    """A command that breaks a domain rule."""

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class PreconditionFailed(ChatError):
    """The resource is not at the version the caller named."""


class Conflict(ChatError):
    """Concurrent writers kept winning; the caller may retry."""


class OutOfOrder(Conflict):
    """A chunk whose index is not the next one, or that repeats one with other text."""

    def __init__(self, detail: str, expected_index: int) -> None:
        super().__init__(detail)
        self.expected_index = expected_index


class IdempotencyInFlight(ChatError):
    """A request with this idempotency key is still being answered."""


class IdempotencyMismatch(ChatError):
    """This idempotency key was used for a different request."""


class BadRequest(ChatError):
    """A malformed cursor or parameter."""
