"""The read side of the store skeleton: a backend's statements, run and paged once.

A backend names its SQL (`Statements`) and its row conversions (`RowCodec`) and runs one
statement at a time (`_fetch`, `_fetchrow`, `_fetch_decoded`); `PagedReads` turns those
into the store's reads, and `read_pages` walks the log a page at a time for read_all and
for every other reader of rows (the SQLite raw log included).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import attrs

from events.codec import EventCodec
from events.envelope import DatasetEvent
from events.store.records import (
    DECODE_CHUNK,
    EventFilter,
    IdempotencyRecord,
    RecordedEvent,
    StoreClosed,
)

__all__ = ["PAGE", "PagedReads", "RowCodec", "RowDecoding", "Statements", "read_pages"]

Row = Sequence[Any]
# Rows per read of a page; read_all decodes them DECODE_CHUNK at a time.
PAGE = 1000
# Above every position a store hands out: the upper bound of an open-ended read.
_NO_UPPER = 1 << 62


@attrs.frozen(kw_only=True)
class Statements:
    """A backend's SQL for the reads the skeleton runs, in its own placeholders.

    `range_query(event_filter, descending=...)` returns the SELECT of a page of the log and
    the filter's parameters; its parameters are (after, before, *the filter's, limit).
    """

    head: str
    stream_version: str
    read_stream: str
    streams_first: str
    streams_after: str
    idempotency: str
    range_query: Callable[..., tuple[str, list[Any]]]
    # What LIMIT takes to mean no limit.
    no_limit: int | None


class RowDecoding(Protocol):
    """A backend's row decoder."""

    def decode(self, rows: Sequence[Any]) -> list[RecordedEvent]:
        """Return the recorded events the rows hold, in their order."""
        ...


@attrs.frozen(kw_only=True)
class RowCodec:
    """How a backend turns events and idempotency times into its rows, and rows back.

    encode_time and decode_time convert an idempotency record's created_at; None keeps
    the datetime as it is (a driver that stores timestamps itself).
    """

    decoder: Callable[[EventCodec], RowDecoding]
    encode_event: Callable[[EventCodec, DatasetEvent], tuple[Any, ...]]
    encode_time: Callable[[datetime], Any] | None = None
    decode_time: Callable[[Any], datetime] | None = None


Fetch = Callable[..., Awaitable[Sequence[Row]]]


async def read_pages(
    fetch: Fetch,
    sql: str,
    params: Sequence[Any],
    *,
    after_position: int = 0,
    before_position: int | None = None,
    limit: int | None = None,
    descending: bool = False,
) -> AsyncIterator[Sequence[Row]]:
    """Yield the rows of a range query between two positions, PAGE at a time, none empty.

    `fetch(sql, after, before, *params, limit)` runs one page. Each page starts after the
    last row of the one before, by position, so a page costs an index search however far
    into the log it is.
    """
    lower = max(after_position, 0)
    upper = _NO_UPPER if before_position is None else before_position
    remaining = limit
    while lower + 1 < upper and (remaining is None or remaining > 0):
        size = PAGE if remaining is None else min(PAGE, remaining)
        rows = await fetch(sql, lower, upper, *params, size)
        if rows:
            yield rows
        if len(rows) < size:
            return
        if remaining is not None:
            remaining -= len(rows)
        if descending:
            upper = rows[-1][0]
        else:
            lower = rows[-1][0]


class PagedReads:
    """The store's reads over a backend's statements; the backend runs each statement."""

    statements: Statements
    _decoder: RowDecoding
    _decode_time: Callable[[Any], datetime] | None
    _closed: bool

    async def stream_version(self, stream: str) -> int:
        """Return the stream's current version (0 when it has no event)."""
        row = await self._fetchrow(self.statements.stream_version, stream)
        return int(row[0])

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """Return the stream's events after a version, in version order."""
        sql = self.statements
        limit_param = sql.no_limit if limit is None else limit
        return await self._fetch_decoded(sql.read_stream, stream, after_version, limit_param)

    async def list_streams(self, *, after: str | None = None, limit: int = 1000) -> list[str]:
        """Return up to limit names of streams that have events, each once, after a name.

        Names come in ascending order, so passing the last name of a page as after reads
        the next one, and a page shorter than limit is the last: a caller can walk every
        stream of a log of any size holding one page of names. The order is the backend's
        order of text: code point order in memory and SQLite, the database's collation in
        PostgreSQL (code point order too under the C and C.UTF-8 collations). Each backend
        walks the unique (stream, version) index in order from after (see its
        statements), so a page costs its own streams' index entries, never a sort or a
        scan of the table.
        """
        self._check_open()
        if limit < 1:
            return []
        if after is None:
            rows = await self._fetch(self.statements.streams_first, limit)
        else:
            rows = await self._fetch(self.statements.streams_after, after, limit)
        return [row[0] for row in rows]

    async def read_all(
        self,
        *,
        after_position: int = 0,
        before_position: int | None = None,
        event_filter: EventFilter | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> AsyncIterator[RecordedEvent]:
        """Stream the log's events between two positions that pass the filter.

        They come page by page, so memory stays flat however long the log.
        """
        self._check_open()
        sql, params = self._range_query(event_filter, descending)
        decode = self._decoder.decode
        async for rows in read_pages(
            self._fetch,
            sql,
            params,
            after_position=after_position,
            before_position=before_position,
            limit=limit,
            descending=descending,
        ):
            for start in range(0, len(rows), DECODE_CHUNK):
                for item in decode(rows[start : start + DECODE_CHUNK]):
                    yield item

    async def head_position(self) -> int:
        """Return the global position of the newest event (0 for an empty log)."""
        row = await self._fetchrow(self.statements.head)
        return int(row[0])

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """Return the idempotency record stored under key, if any."""
        row = await self._fetchrow(self.statements.idempotency, key)
        if row is None:
            return None
        key, fingerprint, status, body, created_at = row
        decode_time = self._decode_time
        return IdempotencyRecord(
            key=key,
            fingerprint=fingerprint,
            status=status,
            body=bytes(body),
            created_at=created_at if decode_time is None else decode_time(created_at),
        )

    async def ping(self) -> None:
        """Raise unless the store answers: run the cheapest query there is."""
        await self._fetchrow("SELECT 1")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the store is closed")

    def _range_query(
        self, event_filter: EventFilter | None, descending: bool
    ) -> tuple[str, Sequence[Any]]:
        """Return the page query of read_all and its filter's parameters (see Statements)."""
        return self.statements.range_query(event_filter, descending=descending)

    async def _fetch(self, sql: str, *params: Any) -> Sequence[Row]:
        """Return the rows of a read; raise StoreClosed once the store is closed."""
        raise NotImplementedError

    async def _fetchrow(self, sql: str, *params: Any) -> Any:
        """Return the first row of a read, or None; raise StoreClosed once closed."""
        raise NotImplementedError

    async def _fetch_decoded(self, sql: str, *params: Any) -> list[RecordedEvent]:
        """Return the events a read's rows hold."""
        raise NotImplementedError
