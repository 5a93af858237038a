"""Pure decisions: from a command and the current state to the payloads to record."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from chat_core.commands import CreateThread, PostMessage, SetTemperatureConfig
from chat_core.context import AuthContext, RequestContext, Role, has_role
from chat_core.errors import FieldError, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from chat_core.payloads import (
    MessagePosted,
    MessageRedacted,
    TemperatureConfigChanged,
    ThreadCreated,
)
from chat_core.readmodel import MessageState, TemperatureState, ThreadState
from events.envelope import EventPayload

__all__ = [
    "check_if_match",
    "check_temperature",
    "create_thread",
    "post_message",
    "redact_message",
    "require_role",
    "set_temperature",
]

TEMPERATURE_CEILING = 2.0


def require_role(context: RequestContext, auth: AuthContext, role: Role = Role.MEMBER) -> None:
    """Raise Forbidden unless the caller holds role in the request's tenant."""
    if not has_role(auth, context.tenant, role):
        raise Forbidden(f"this action needs the {role.value} role in tenant {context.tenant}")


def create_thread(command: CreateThread, thread_id: str) -> ThreadCreated:
    """Decide the opening of a thread."""
    require_role(command.context, command.auth)
    return ThreadCreated(thread_id=thread_id, title=command.title, metadata=command.metadata)


def _existing(state: ThreadState) -> str:
    if state.thread_id is None:
        raise NotFound("no such thread in this tenant and env")
    return state.thread_id


def post_message(
    state: ThreadState,
    command: PostMessage,
    message_id: str,
    *,
    queued: int = 0,
    sealed: str | None = None,
) -> MessagePosted:
    """Decide a message at the thread's next seq, after the queued ones not yet stored.

    With sealed (its content and metadata sealed under the author's key) nothing is in clear.
    """
    require_role(command.context, command.auth)
    if sealed is not None:
        return MessagePosted(
            thread_id=_existing(state),
            message_id=message_id,
            seq=state.last_seq + queued + 1,
            role=command.role,
            sealed=sealed,
        )
    return MessagePosted(
        thread_id=_existing(state),
        message_id=message_id,
        seq=state.last_seq + queued + 1,
        role=command.role,
        content=command.content,
        metadata=command.metadata,
    )


def redact_message(
    state: ThreadState,
    context: RequestContext,
    auth: AuthContext,
    message: MessageState | None,
    *,
    queued: Sequence[EventPayload] = (),
) -> list[MessageRedacted]:
    """Decide a redaction of a message found in the thread, by its author or an admin.

    None when it is already redacted: by the state, or by a redaction decided ahead of this
    one (queued) that the state has not folded yet because its append is still in flight.
    """
    require_role(context, auth)
    thread_id = _existing(state)
    if message is None:
        raise NotFound("no such message in this thread")
    if message.author != auth.sub and not has_role(auth, context.tenant, Role.ADMIN):
        raise Forbidden("only the author or an admin may redact a message")
    message_id = message.message_id
    if message_id in state.redacted or any(
        type(payload) is MessageRedacted and payload.message_id == message_id for payload in queued
    ):
        return []
    return [MessageRedacted(thread_id=thread_id, message_id=message_id, seq=message.seq)]


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise PreconditionFailed unless If-Match is absent, * or names this strong version."""
    if if_match is None:
        return
    current = f'"{version}"'
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"If-Match {if_match!r} does not match the current ETag {current}")


def check_temperature(
    default: float, low: float, high: float, overrides: Mapping[str, float]
) -> list[FieldError]:
    """Return every rule 0 <= min <= default <= max <= 2 and min <= override <= max breaks."""
    errors: list[FieldError] = []
    for name, value in (("min", low), ("default", default), ("max", high)):
        if not math.isfinite(value) or not 0.0 <= value <= TEMPERATURE_CEILING:
            errors.append((name, f"must be between 0 and {TEMPERATURE_CEILING}"))
    if errors:
        return errors
    if low > default:
        errors.append(("default", "must be at least min"))
    if default > high:
        errors.append(("default", "must be at most max"))
    if low > high:
        errors.append(("max", "must be at least min"))
    for model, value in overrides.items():
        if not model or len(model) > 128:
            errors.append(("overrides", "model names must be 1 to 128 characters"))
        elif not math.isfinite(value) or not low <= value <= high:
            errors.append((f"overrides.{model}", f"must be between min {low} and max {high}"))
    return errors


def set_temperature(
    state: TemperatureState, command: SetTemperatureConfig
) -> TemperatureConfigChanged:
    """Decide a new temperature config for an admin whose If-Match holds."""
    require_role(command.context, command.auth, Role.ADMIN)
    check_if_match(command.if_match, state.version)
    errors = check_temperature(command.default, command.min, command.max, command.overrides)
    if errors:
        raise ValidationFailed("the temperature config breaks its bounds", errors)
    return TemperatureConfigChanged(
        default=command.default, min=command.min, max=command.max, overrides=command.overrides
    )
