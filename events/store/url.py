"""Open an event store from its URL: memory://, sqlite:///path.db or postgresql://..."""

from __future__ import annotations

from events.codec import EventCodec
from events.store.base import EventStore, StoreError

__all__ = ["open_store", "redact_url", "sqlite_path"]


def redact_url(url: str) -> str:
    """Return the URL with any password hidden, fit for logs and errors."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}" if ":" in credentials else url


def sqlite_path(url: str) -> str:
    """Return the file path of a SQLite URL: three slashes then a relative path, four absolute."""
    # As in SQLAlchemy: sqlite:///data/chat.db is relative, sqlite:////var/chat.db absolute.
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise StoreError(f"a SQLite URL is sqlite:///relative.db or sqlite:////abs.db, not {url!r}")
    return url.removeprefix("sqlite:///")


async def open_store(url: str, *, codec: EventCodec) -> EventStore:
    """Open (and create where needed) the store a URL names."""
    if url == "memory://" or url.startswith("memory:"):
        from events.store.memory import MemoryEventStore

        return MemoryEventStore()
    if url.startswith("sqlite:"):
        from events.store.sqlite import SQLiteEventStore

        return await SQLiteEventStore.open(sqlite_path(url), codec=codec)
    if url.startswith(("postgresql://", "postgres://")):
        from events.store.postgres import PostgresEventStore

        store: EventStore = await PostgresEventStore.open(url, codec=codec)
        return store
    raise StoreError(f"unsupported store URL {redact_url(url)!r}")
