"""Append to a SQLite store concurrently and print each acknowledged event; the parent kills us."""

from __future__ import annotations

import asyncio
import sys

from events.codec import EventCodec
from events.store.sqlite import SQLiteEventStore
from tests.events.factories import make_events


async def appender(store: SQLiteEventStore, stream: str) -> None:
    """Append two-event batches to one stream forever, printing each acknowledgement."""
    version = 0
    while True:
        recorded = await store.append(stream, make_events(stream, version + 1, 2), version)
        version += 2
        for item in recorded:
            sys.stdout.write(
                f"{item.position} {item.event.event_id} {stream} {item.event.version}\n"
            )
        sys.stdout.flush()


async def main(path: str) -> None:
    """Run sixteen appenders until killed."""
    store = await SQLiteEventStore.open(path, codec=EventCodec())
    await asyncio.gather(*(appender(store, f"crash-{n}") for n in range(16)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
