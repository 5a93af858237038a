"""Count a log's events per tenant, env and type, with the first and last time of each."""

from __future__ import annotations

from datetime import datetime

import attrs

from events.store.base import EventStore
from events.tooling.selection import Progress, Selection, read_selection

__all__ = ["LogStats", "StatsRow", "log_stats"]

StatsKey = tuple[str, str, str]


@attrs.define
class StatsRow:
    """How many events one tenant, env and type has, and when the first and last were."""

    count: int
    first: datetime
    last: datetime


@attrs.define
class LogStats:
    """Counts by (tenant, env, type), ordered by key when read."""

    rows: dict[StatsKey, StatsRow] = attrs.Factory(dict)

    @property
    def total(self) -> int:
        """Return the number of events counted."""
        return sum(row.count for row in self.rows.values())

    def sorted_rows(self) -> list[tuple[StatsKey, StatsRow]]:
        """Return the rows ordered by tenant, env and type."""
        return sorted(self.rows.items())

    def totals_by(self, index: int) -> dict[str, int]:
        """Return event counts per tenant (0), env (1) or type (2)."""
        totals: dict[str, int] = {}
        for key, row in self.rows.items():
            totals[key[index]] = totals.get(key[index], 0) + row.count
        return dict(sorted(totals.items()))


async def log_stats(
    store: EventStore, selection: Selection, *, progress: Progress | None = None
) -> LogStats:
    """Read the selected events once and count them."""
    stats = LogStats()
    rows = stats.rows
    pending = 0
    async for item in read_selection(store, selection):
        event = item.event
        key = (event.tenant, event.env.value, event.type)
        row = rows.get(key)
        moment = event.occurred_at
        if row is None:
            rows[key] = StatsRow(count=1, first=moment, last=moment)
        else:
            row.count += 1
            row.first = min(row.first, moment)
            row.last = max(row.last, moment)
        pending += 1
        if progress is not None and pending == 1000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    return stats
