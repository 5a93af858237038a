"""Plain counters and hooks a store's writer keeps, for whoever wants to watch it.

The store knows nothing of metrics libraries: a transport registers an observer and turns
what it hears into whatever it exports.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

__all__ = ["StoreObserver", "WriterStats"]

log = logging.getLogger("events.store")


class StoreObserver(Protocol):
    """Hear of each committed transaction and each finished append."""

    def committed(self, *, appends: int, events: int, seconds: float) -> None:
        """Take one transaction: how many appends it grouped, their events, and its time."""

    def appended(self, *, events: int, seconds: float) -> None:
        """Take one append: its events and the time from its call to its commit."""


@attrs.define
class WriterStats:
    """How many transactions the writer committed for how many appends and events."""

    commits: int = 0
    appends: int = 0
    events: int = 0
    observers: list[StoreObserver] = attrs.field(factory=list, eq=False, repr=False)

    def record_commit(self, *, appends: int, events: int, seconds: float) -> None:
        """Count a committed transaction and tell every observer."""
        self.commits += 1
        self.appends += appends
        self.events += events
        for observer in self.observers:
            try:
                observer.committed(appends=appends, events=events, seconds=seconds)
            except Exception:
                log.exception("a store observer failed on a commit")

    def record_append(self, *, events: int, seconds: float) -> None:
        """Tell every observer an append has committed."""
        for observer in self.observers:
            try:
                observer.appended(events=events, seconds=seconds)
            except Exception:
                log.exception("a store observer failed on an append")
