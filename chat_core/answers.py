"""Render the answer an event gave its request, as the pipeline rendered it when it was new."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chat_core.payloads import (
    ErasureRecorded,
    MessagePosted,
    TemperatureConfigChanged,
    ThreadCreated,
)
from chat_core.views import (
    ErasureView,
    MessageView,
    TemperatureConfigView,
    ThreadView,
    message_view,
)
from events.envelope import DatasetEvent

__all__ = ["ERASURE_STATUS", "Answer", "message_answer", "render_answer"]

# An erasure's status: its keys are destroyed before the answer, so it is already done.
ERASURE_STATUS = "completed"


class Answer(Protocol):
    """A view that renders as the JSON body of a response."""

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object."""
        ...

    def record_json(self) -> dict[str, Any]:
        """Return the answer as an idempotency record keeps it."""
        ...


def _thread(event: DatasetEvent, payload: ThreadCreated) -> ThreadView:
    return ThreadView(
        id=payload.thread_id,
        title=payload.title,
        metadata=payload.metadata,
        created_at=event.occurred_at,
        created_by=event.actor,
        message_count=0,
        last_seq=0,
    )


def message_answer(
    event: DatasetEvent,
    payload: MessagePosted,
    *,
    content: str | None,
    metadata: Mapping[str, str],
) -> MessageView:
    """Return the answer to a post; its record keeps the sealed form, never the words.

    The pipeline answers with the words it was sent; replay, which has only the event,
    with what the payload holds in clear (nothing, once sealed).
    """
    return message_view(
        payload.message_id,
        payload.thread_id,
        payload.seq,
        payload.role,
        content,
        metadata,
        event.actor,
        event.occurred_at,
        event.request_id,
        sealed=payload.sealed,
    )


def _message(event: DatasetEvent, payload: MessagePosted) -> MessageView:
    return message_answer(event, payload, content=payload.content, metadata=payload.metadata)


def _erasure(event: DatasetEvent, payload: ErasureRecorded) -> ErasureView:
    return ErasureView(
        erasure_id=payload.erasure_id, subject=payload.subject, status=ERASURE_STATUS
    )


def _temperature(event: DatasetEvent, payload: TemperatureConfigChanged) -> TemperatureConfigView:
    return TemperatureConfigView(
        tenant=event.tenant,
        env=event.env,
        default=payload.default,
        min=payload.min,
        max=payload.max,
        overrides=payload.overrides,
        version=event.version,
        updated_at=event.occurred_at,
        updated_by=event.actor,
    )


_RENDERERS: dict[type[Any], Callable[[DatasetEvent, Any], Answer]] = {
    ThreadCreated: _thread,
    MessagePosted: _message,
    ErasureRecorded: _erasure,
    TemperatureConfigChanged: _temperature,
}


def render_answer(event: DatasetEvent) -> Answer | None:
    """Return the view a created thread, posted message or config change answered with."""
    render = _RENDERERS.get(type(event.payload))
    return None if render is None else render(event, event.payload)
