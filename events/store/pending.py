"""An append waiting for a store's writer, shared by the SQLite and PostgreSQL backends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import attrs

from events.envelope import DatasetEvent
from events.store.base import RecordedEvent, StoreError

__all__ = ["PendingAppend", "committed_events"]


@attrs.define(kw_only=True)
class PendingAppend:
    """One caller's append waiting for the writer, and what became of it.

    The writer sets `outcome`: the recorded events, or the StoreError that refused them.
    A caller waiting on `future` (group commit) hears of it through settle().
    """

    stream: str
    events: Sequence[DatasetEvent]
    rows: list[tuple[Any, ...]]
    expected_version: int | None
    idempotency: tuple[Any, ...] | None
    future: asyncio.Future[list[RecordedEvent]] | None = None
    outcome: list[RecordedEvent] | StoreError | None = None

    def result(self) -> list[RecordedEvent]:
        """Return the recorded events, or raise the error that refused them."""
        if isinstance(self.outcome, StoreError):
            raise self.outcome
        return self.outcome or []

    def settle(self) -> None:
        """Answer the waiting caller with the outcome, once."""
        future = self.future
        if future is None or future.done():
            return
        if isinstance(self.outcome, StoreError):
            future.set_exception(self.outcome)
        else:
            future.set_result(self.outcome or [])

    def fail(self, error: StoreError) -> None:
        """Answer the waiting caller with an error, unless it was answered already."""
        if self.future is not None and not self.future.done():
            self.future.set_exception(error)


def committed_events(batch: Sequence[PendingAppend]) -> int:
    """Count the events of a written batch that were not refused."""
    return sum(len(item.events) for item in batch if not isinstance(item.outcome, StoreError))
