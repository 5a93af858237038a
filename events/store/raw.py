"""Read a log's rows as stored, undecoded, so a check sees what a tampered row really holds.

A row is a tuple in the column order of the SQLite schema: position, event_id, stream,
version, type, schema_version, tenant, env, request_id, trace_id, actor, occurred_at,
payload, metadata. A SQLite file is read through its own read-only connection; any other
store is read through `read_all` and re-encoded, since it cannot hold a row that does not
decode.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from events.codec import EventCodec
from events.store.base import EventFilter, EventStore, StoreError
from events.store.reads import read_pages
from events.store.sqlite_rows import SELECT, encode_event, range_query
from events.store.url import sqlite_path

__all__ = ["RawLog", "RawRow", "SQLiteRawLog", "StoreRawLog", "StreamEntry", "open_raw_log"]

RawRow = tuple[Any, ...]
StreamEntry = tuple[str, int, int]
# 1000 rows a page: the rows and what checking them makes stay in cache (verify of 1M
# events ~240k/s at 1000, ~205k/s at 5000).
PAGE = 1000

# Walks over the (stream, version) index, from a name or after an entry, up to (not
# including) another name; each page costs its own index entries, never a sort.
_STREAMS_FROM = "SELECT stream, version, position FROM events WHERE stream >= ? "
_STREAMS_AFTER = "SELECT stream, version, position FROM events WHERE (stream, version) > (?, ?) "
_STREAMS_END = "AND stream < ? "
_STREAMS_ORDER = "ORDER BY stream, version LIMIT ?"
# The same walks, whole rows: a stream's events together, in version order.
_ROWS_FROM = f"{SELECT} WHERE stream >= ? AND stream < ? ORDER BY stream, version LIMIT ?"
_ROWS_AFTER = (
    f"{SELECT} WHERE (stream, version) > (?, ?) AND stream < ? ORDER BY stream, version LIMIT ?"
)
_STREAM_AT = "SELECT stream FROM events WHERE position >= ? ORDER BY position LIMIT 1"
_HEAD = "SELECT COALESCE(MAX(position), 0) FROM events"


class RawLog(Protocol):
    """The rows of a log in position order, and where the backend can, in stream order."""

    def pages(
        self, *, after_position: int = 0, before_position: int | None = None
    ) -> AsyncIterator[list[RawRow]]:
        """Yield pages of rows between two positions, in position order."""
        ...

    def stream_entries(
        self, *, first: str | None = None, end: str | None = None
    ) -> AsyncIterator[list[StreamEntry]] | None:
        """Yield (stream, version, position) ordered by stream then version, or None.

        With first and end, only the streams from first up to (not including) end.
        """
        ...

    async def close(self) -> None:
        """Release what the reader holds."""
        ...


class RowPages:
    """The rows of a SQLite log as stored, page by page, over a connection's `_fetch`.

    Written once for the store (through its reader threads) and for the raw log (through
    its own read-only connection).
    """

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Any]:
        raise NotImplementedError

    async def read_rows(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
    ) -> AsyncIterator[list[RawRow]]:
        """Yield pages of the rows read_all would decode, as stored, in position order.

        For tools that check rows themselves (see sqlite_rows.RowChecker) and decode, with
        RowDecoder, every row they are not sure of.
        """
        sql, params = range_query(event_filter)
        async for page in read_pages(
            self._fetch, sql, params, after_position=after_position, before_position=before_position
        ):
            # A SQLite cursor's fetchall: a list of tuples.
            yield cast(list[RawRow], page)


class SQLiteRawLog(RowPages):
    """Read a SQLite log's rows through a read-only connection, page by page.

    With inline=True each page is fetched on the caller's thread: for a worker process
    that has nothing else to do while it waits.
    """

    def __init__(self, path: str, *, inline: bool = False) -> None:
        if not Path(path).is_file():
            raise StoreError(f"no SQLite log at {path!r}")
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._conn.execute("PRAGMA query_only = ON")
        self._inline = inline

    async def pages(
        self, *, after_position: int = 0, before_position: int | None = None
    ) -> AsyncIterator[list[RawRow]]:
        """Yield pages of rows between two positions, in position order."""
        async for page in self.read_rows(
            after_position=after_position, before_position=before_position
        ):
            yield page

    async def _entries(
        self, first: str | None, end: str | None
    ) -> AsyncIterator[list[StreamEntry]]:
        bound = () if end is None else (end,)
        until = "" if end is None else _STREAMS_END
        if first is None:
            # From the very start, as the whole-log walk has always begun.
            page = await self._page(_STREAMS_AFTER + until + _STREAMS_ORDER, ("", 0, *bound, PAGE))
        else:
            page = await self._page(_STREAMS_FROM + until + _STREAMS_ORDER, (first, *bound, PAGE))
        following = _STREAMS_AFTER + until + _STREAMS_ORDER
        while page:
            yield page
            if len(page) < PAGE:
                return
            stream, version = page[-1][0], page[-1][1]
            page = await self._page(following, (stream, version, *bound, PAGE))

    def stream_entries(
        self, *, first: str | None = None, end: str | None = None
    ) -> AsyncIterator[list[StreamEntry]] | None:
        """Yield (stream, version, position) ordered by stream then version, from the index.

        With first and end, only the streams from first up to (not including) end.
        """
        return self._entries(first, end)

    async def stream_rows(self, *, first: str, end: str) -> AsyncIterator[list[RawRow]]:
        """Yield pages of rows of the streams from first up to (not including) end.

        Ordered by stream then version, over the (stream, version) index: one stream's
        events come together, so a reader can fold a stream and let it go.
        """
        page = await self._page(_ROWS_FROM, (first, end, PAGE))
        while page:
            yield page
            if len(page) < PAGE:
                return
            last = page[-1]
            page = await self._page(_ROWS_AFTER, (last[2], last[3], end, PAGE))

    def head(self) -> int:
        """Return the newest position in the file."""
        return int(self._rows_of(_HEAD, ())[0][0])

    def stream_at(self, position: int) -> str | None:
        """Return the stream of the first row at or after a position, None past the end."""
        found = self._rows_of(_STREAM_AT, (position,))
        return None if not found else found[0][0]

    async def _page(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._inline:
            return self._rows_of(sql, params)
        return await asyncio.to_thread(self._rows_of, sql, params)

    async def _fetch(self, sql: str, *params: Any) -> list[Any]:
        return await self._page(sql, params)

    async def close(self) -> None:
        """Close the read-only connection."""
        self._conn.close()

    def close_now(self) -> None:
        """Close the read-only connection, from code that has no event loop."""
        self._conn.close()

    def _rows_of(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()


class StoreRawLog:
    """Present any store's decoded events as rows, for backends that hold only valid events."""

    def __init__(self, store: EventStore, codec: EventCodec) -> None:
        self._store = store
        self._codec = codec

    async def pages(
        self, *, after_position: int = 0, before_position: int | None = None
    ) -> AsyncIterator[list[RawRow]]:
        """Yield pages of re-encoded events between two positions, in position order."""
        page: list[RawRow] = []
        async for item in self._store.read_all(
            after_position=after_position, before_position=before_position
        ):
            page.append((item.position, *encode_event(self._codec, item.event)))
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page

    def stream_entries(
        self, *, first: str | None = None, end: str | None = None
    ) -> AsyncIterator[list[StreamEntry]] | None:
        """Return None: this backend has no stream-ordered scan."""
        return None

    async def close(self) -> None:
        """Leave the store open: its owner closes it."""


def open_raw_log(url: str, store: EventStore, codec: EventCodec) -> RawLog:
    """Return the rows of the log a URL names: straight from the file for SQLite."""
    if url.startswith("sqlite:"):
        return SQLiteRawLog(sqlite_path(url))
    return StoreRawLog(store, codec)
