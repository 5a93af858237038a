"""Stream tickets in the log's own database, so every instance sharing it redeems each once.

A row is a ticket's digest (never the ticket), the tenant and caller whose quotas it
counts against, when it leaves the table, and what it stands for as opaque bytes (the
chat layer's). Issuing counts the live rows of the caller, the tenant and the table in
the transaction that inserts, so a quota holds across instances; redeeming is one
DELETE ... RETURNING, so of two instances redeeming one ticket at once only one gets it.
SQLite allows one server per file (sqlite_lock), so there the table serves restarts;
on PostgreSQL it is what lets a load balancer send a browser's stream to any instance.
The table is made by the stores' migrations (sqlite_schema, postgres_schema).

Errors:
    StoreError
    └── TicketsFull   a quota of live tickets is full (which one, and when its oldest leaves)
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from attrs import frozen

from events.store.key_statements import numbered
from events.store.records import StoreError
from events.store.sqlite_schema import connect

__all__ = [
    "MemoryTicketTable",
    "PostgresTicketTable",
    "SQLiteTicketTable",
    "TicketLimits",
    "TicketTable",
    "TicketsFull",
    "open_ticket_table",
]

T = TypeVar("T")
K = TypeVar("K")

_PURGE = "DELETE FROM stream_tickets WHERE leaves_at <= ?"
_CALLER = "SELECT count(*), min(leaves_at) FROM stream_tickets WHERE tenant = ? AND caller = ?"
_TENANT = "SELECT count(*), min(leaves_at) FROM stream_tickets WHERE tenant = ?"
_TABLE = "SELECT count(*), min(leaves_at) FROM stream_tickets"
_INSERT = (
    "INSERT INTO stream_tickets (digest, tenant, caller, leaves_at, body) VALUES (?, ?, ?, ?, ?)"
)
_REDEEM = "DELETE FROM stream_tickets WHERE digest = ? RETURNING body"
# Issues take turns on PostgreSQL, so two instances cannot both take a quota's last place.
_ISSUE_LOCK = 0x63686174636F7265 + 2


@frozen(kw_only=True)
class TicketLimits:
    """How many live tickets one caller in a tenant, one tenant, and the table may hold."""

    per_caller: int
    per_tenant: int
    capacity: int


@frozen(kw_only=True)
class Ticket:
    """One ticket's row: its digest, whose quotas it counts in, when it leaves, its body."""

    digest: bytes
    tenant: str
    caller: str
    leaves_at: float
    body: bytes


class TicketsFull(StoreError):
    """A quota of live tickets is full: quota is caller, tenant or book."""

    def __init__(self, quota: str, oldest_leaves_at: float) -> None:
        super().__init__(f"the {quota} quota of live stream tickets is full")
        self.quota = quota
        self.oldest_leaves_at = oldest_leaves_at


class TicketTable(Protocol):
    """Live stream tickets shared by every instance on one database."""

    async def issue(self, ticket: Ticket, *, now: float, limits: TicketLimits) -> None:
        """Insert the ticket unless a quota is full (TicketsFull); forget expired ones."""
        ...

    async def redeem(self, digest: bytes) -> bytes | None:
        """Delete the ticket and return its body; None when unknown or already used."""
        ...

    async def close(self) -> None:
        """Release the table's connection."""
        ...

    def __len__(self) -> int:
        """Return how many tickets the table holds, expired ones not yet forgotten included."""
        ...


def _check(counts: list[tuple[str, Any]], limits: TicketLimits) -> None:
    """Raise TicketsFull for the first quota whose (count, oldest) row is at its limit."""
    bounds = {"caller": limits.per_caller, "tenant": limits.per_tenant, "book": limits.capacity}
    for quota, (count, oldest) in counts:
        if count >= bounds[quota]:
            raise TicketsFull(quota, float(oldest))


class MemoryTicketTable:
    """The table in this process's memory, for a log in memory: one instance, no restart."""

    def __init__(self) -> None:
        # Oldest first, so forgetting expired tickets stops at the first live one.
        self._tickets: OrderedDict[bytes, Ticket] = OrderedDict()
        self._by_tenant: dict[str, OrderedDict[bytes, float]] = {}
        self._by_caller: dict[tuple[str, str], OrderedDict[bytes, float]] = {}

    def __len__(self) -> int:
        return len(self._tickets)

    async def issue(self, ticket: Ticket, *, now: float, limits: TicketLimits) -> None:
        while self._tickets:
            oldest = next(iter(self._tickets.values()))
            if oldest.leaves_at > now:
                break
            self._forget(oldest.digest)
        caller = self._by_caller.get((ticket.tenant, ticket.caller), OrderedDict())
        tenant = self._by_tenant.get(ticket.tenant, OrderedDict())
        _check(
            [
                ("caller", (len(caller), next(iter(caller.values()), 0.0))),
                ("tenant", (len(tenant), next(iter(tenant.values()), 0.0))),
                (
                    "book",
                    (len(self._tickets), next(iter(self._tickets.values()), ticket).leaves_at),
                ),
            ],
            limits,
        )
        digest = ticket.digest
        self._tickets[digest] = ticket
        self._by_tenant.setdefault(ticket.tenant, OrderedDict())[digest] = ticket.leaves_at
        self._by_caller.setdefault((ticket.tenant, ticket.caller), OrderedDict())[digest] = (
            ticket.leaves_at
        )

    async def redeem(self, digest: bytes) -> bytes | None:
        ticket = self._forget(digest)
        return None if ticket is None else ticket.body

    async def close(self) -> None:
        self._tickets.clear()
        self._by_tenant.clear()
        self._by_caller.clear()

    def _forget(self, digest: bytes) -> Ticket | None:
        """Remove a ticket and free its places in its tenant's and its caller's quotas."""
        ticket = self._tickets.pop(digest, None)
        if ticket is None:
            return None
        _release(self._by_tenant, ticket.tenant, digest)
        _release(self._by_caller, (ticket.tenant, ticket.caller), digest)
        return ticket


def _release(index: dict[K, OrderedDict[bytes, float]], key: K, digest: bytes) -> None:
    """Free a ticket's place under one quota, and the quota's entry once it is empty."""
    live = index[key]
    del live[digest]
    if not live:
        del index[key]


class SQLiteTicketTable:
    """The table in the SQLite log's file, through one connection of its own."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: str) -> SQLiteTicketTable:
        """Open the log's file (its store has made the table)."""
        return cls(await asyncio.to_thread(connect, path))

    async def issue(self, ticket: Ticket, *, now: float, limits: TicketLimits) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(_PURGE, (now,))
                _check(
                    [
                        (
                            "caller",
                            conn.execute(_CALLER, (ticket.tenant, ticket.caller)).fetchone(),
                        ),
                        ("tenant", conn.execute(_TENANT, (ticket.tenant,)).fetchone()),
                        ("book", conn.execute(_TABLE).fetchone()),
                    ],
                    limits,
                )
                conn.execute(_INSERT, _row(ticket))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(run)

    async def redeem(self, digest: bytes) -> bytes | None:
        row = await self._run(lambda conn: conn.execute(_REDEEM, (digest,)).fetchone())
        return None if row is None else bytes(row[0])

    async def close(self) -> None:
        await self._run(lambda conn: conn.close())

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM stream_tickets").fetchone()[0])

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return func(self._conn)

        return await asyncio.to_thread(locked)


class PostgresTicketTable:
    """The table in the PostgreSQL log's database, through a small pool."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresTicketTable:
        """Connect (the store has made the table)."""
        import asyncpg

        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=2))

    async def issue(self, ticket: Ticket, *, now: float, limits: TicketLimits) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _ISSUE_LOCK)
            await conn.execute(numbered(_PURGE), now)
            _check(
                [
                    (
                        "caller",
                        await conn.fetchrow(numbered(_CALLER), ticket.tenant, ticket.caller),
                    ),
                    ("tenant", await conn.fetchrow(numbered(_TENANT), ticket.tenant)),
                    ("book", await conn.fetchrow(_TABLE)),
                ],
                limits,
            )
            await conn.execute(numbered(_INSERT), *_row(ticket))

    async def redeem(self, digest: bytes) -> bytes | None:
        body = await self._pool.fetchval(numbered(_REDEEM), digest)
        return None if body is None else bytes(body)

    async def close(self) -> None:
        await self._pool.close()

    def __len__(self) -> int:
        raise TypeError("count a PostgreSQL table with SQL: len() cannot wait on it")


def _row(ticket: Ticket) -> tuple[Any, ...]:
    return (ticket.digest, ticket.tenant, ticket.caller, ticket.leaves_at, ticket.body)


async def open_ticket_table(store: object) -> TicketTable | None:
    """Open the ticket table beside a store's log, or None for a log in memory."""
    from events.store.sqlite import SQLiteEventStore

    if isinstance(store, SQLiteEventStore):
        return await SQLiteTicketTable.open(store.path)
    # Loaded only with asyncpg: a store can be PostgreSQL's only once it is.
    postgres = sys.modules.get("events.store.postgres")
    if postgres is not None and isinstance(store, postgres.PostgresEventStore):
        return await PostgresTicketTable.open(store.dsn)
    return None
