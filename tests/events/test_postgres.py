"""PostgreSQL only: gap-free global order across instances, live wake-ups across instances,
the listener's fallback, concurrent migrations and group commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import asyncpg
import attrs
import pytest

from events.codec import EventCodec
from events.store.base import (
    ConcurrencyError,
    IdempotencyConflict,
    IdempotencyRecord,
    InvalidAppend,
    RecordedEvent,
)
from events.store.postgres import PostgresEventStore
from events.store.postgres_schema import SCHEMA_VERSION
from tests.events.factories import BASE_TIME, make_event
from tests.pg import postgres_url

__all__ = ["postgres_url"]

pytestmark = pytest.mark.postgres

Opener = Callable[..., Awaitable[PostgresEventStore]]


@pytest.fixture
async def open_pg(postgres_url: str) -> AsyncIterator[Opener]:
    """Return a function opening store instances on one fresh database, all closed after."""
    async with AsyncExitStack() as stack:

        async def open_one(**options: object) -> PostgresEventStore:
            store = await PostgresEventStore.open(postgres_url, codec=EventCodec(), **options)  # type: ignore[arg-type]
            stack.push_async_callback(store.close)
            return store

        yield open_one


async def collect(source: AsyncIterator[RecordedEvent], total: int) -> list[int]:
    """Return the positions of the first total items of a subscription."""
    seen: list[int] = []
    async for item in source:
        seen.append(item.position)
        if len(seen) == total:
            break
    return seen


async def follow_read_all(store: PostgresEventStore, total: int) -> list[int]:
    """Poll read_all from the last position seen, as a naive reader would, until total."""
    seen: list[int] = []
    while len(seen) < total:
        last = seen[-1] if seen else 0
        seen.extend([item.position async for item in store.read_all(after_position=last)])
        await asyncio.sleep(0)
    return seen


async def test_readers_never_skip_a_position_under_concurrent_instances(open_pg: Opener) -> None:
    instances = [await open_pg(), await open_pg(), await open_pg(group_commit=False)]
    per_writer, writers_per_instance = 20, 16
    total = len(instances) * writers_per_instance * per_writer

    async def writer(store: PostgresEventStore, name: str) -> None:
        for version in range(1, per_writer + 1):
            await store.append(name, [make_event(name, version)], version - 1)

    readers = [asyncio.create_task(follow_read_all(store, total)) for store in instances]
    readers += [asyncio.create_task(collect(store.subscribe(), total)) for store in instances]
    await asyncio.gather(
        *(
            writer(store, f"w{i}-{n}")
            for i, store in enumerate(instances)
            for n in range(writers_per_instance)
        )
    )
    results = await asyncio.wait_for(asyncio.gather(*readers), 60)
    for seen in results:
        assert seen == list(range(1, total + 1))


async def test_a_subscriber_on_one_instance_sees_an_append_through_another(
    open_pg: Opener,
) -> None:
    a, b = await open_pg(), await open_pg()
    subscription = b.subscribe()
    waiting = asyncio.ensure_future(anext(subscription))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await a.append("s", [make_event("s", 1)], 0)
    item = await asyncio.wait_for(waiting, 1.0)
    assert item.event.stream == "s"
    assert time.monotonic() - started < 1.0


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Return once condition holds, failing the test after seconds."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def kill_listener(store: PostgresEventStore, admin_url: str) -> None:
    """Terminate the backend of the store's listening connection, as a failover would."""
    await until(lambda: store.listener.connection is not None)
    pid = store.listener.connection.get_server_pid()
    admin = await asyncpg.connect(admin_url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(lambda: store.listener.connection is None)


async def test_subscribers_stay_live_after_the_listener_drops_and_reconnects(
    open_pg: Opener, postgres_url: str
) -> None:
    a, b = await open_pg(), await open_pg()
    await kill_listener(b, postgres_url)
    subscription = b.subscribe()
    await a.append("s", [make_event("s", 1)], 0)
    assert (await asyncio.wait_for(anext(subscription), 2.5)).position == 1
    await until(lambda: b.listener.connection is not None)
    await a.append("s", [make_event("s", 2)], 1)
    assert (await asyncio.wait_for(anext(subscription), 1.0)).position == 2


async def test_the_poll_keeps_subscribers_live_while_listening_is_impossible(
    open_pg: Opener, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await open_pg(), await open_pg()

    async def refuse() -> None:
        raise OSError("listening connection refused")

    await until(lambda: b.listener.connection is not None)
    monkeypatch.setattr(b.listener, "_connect", refuse)
    await kill_listener(b, postgres_url)
    subscription = b.subscribe()
    for version in (1, 2):
        await a.append("s", [make_event("s", version)], version - 1)
        assert (await asyncio.wait_for(anext(subscription), 2.5)).position == version
    assert b.listener.connection is None


async def test_concurrent_starts_migrate_once(open_pg: Opener, postgres_url: str) -> None:
    stores = await asyncio.gather(*(open_pg() for _ in range(4)))
    await stores[0].append("s", [make_event("s", 1)], 0)
    assert await stores[3].stream_version("s") == 1
    admin = await asyncpg.connect(postgres_url)
    try:
        versions = await admin.fetch("SELECT version FROM chat_core_schema ORDER BY version")
        assert [row[0] for row in versions] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        await admin.close()


async def test_concurrent_appends_share_commits(open_pg: Opener) -> None:
    store = await open_pg()
    await asyncio.gather(*(store.append(f"s{n}", [make_event(f"s{n}", 1)], 0) for n in range(200)))
    assert store.stats.appends == 200
    assert store.stats.commits < 200
    assert await store.head_position() == 200


async def test_one_bad_append_does_not_fail_its_batch(open_pg: Opener) -> None:
    store = await open_pg()
    good = [store.append(f"g{n}", [make_event(f"g{n}", 1)], 0) for n in range(40)]
    stale = [store.append(f"g{n}", [make_event(f"g{n}", 1)], 5) for n in range(0, 40, 4)]
    invalid = [store.append("bad", [make_event("bad", 3)], None)]
    results = await asyncio.gather(*good, *stale, *invalid, return_exceptions=True)
    assert all(isinstance(r, list) for r in results[:40])
    assert all(isinstance(r, ConcurrencyError) for r in results[40:50])
    assert isinstance(results[50], InvalidAppend)
    assert [r.position async for r in store.read_all()] == list(range(1, 41))


async def test_same_stream_twice_in_one_batch_is_checked_in_order(open_pg: Opener) -> None:
    store = await open_pg()
    first = store.append("s", [make_event("s", 1)], 0)
    second = store.append("s", [make_event("s", 2)], 1)
    clash = store.append("s", [make_event("s", 2)], 1)
    results = await asyncio.gather(first, second, clash, return_exceptions=True)
    assert [r.event.version for r in results[1]] == [2]  # type: ignore[union-attr]
    assert isinstance(results[2], ConcurrencyError)
    assert [r.event.version for r in await store.read_stream("s")] == [1, 2]


async def test_a_recorded_event_id_fails_only_its_own_append(open_pg: Opener) -> None:
    store = await open_pg()
    original = make_event("a", 1)
    await store.append("a", [original], 0)
    copy = attrs.evolve(make_event("b", 1), event_id=original.event_id)
    results = await asyncio.gather(
        store.append("c", [make_event("c", 1)], 0),
        store.append("b", [copy], 0),
        store.append("d", [make_event("d", 1)], 0),
        return_exceptions=True,
    )
    assert isinstance(results[1], InvalidAppend)
    assert [r.event.stream async for r in store.read_all()] == ["a", "c", "d"]
    assert [r.position async for r in store.read_all()] == [1, 2, 3]


async def test_one_idempotency_key_in_one_batch_is_recorded_once(open_pg: Opener) -> None:
    store = await open_pg()
    record = IdempotencyRecord(
        key="k", fingerprint="f", status=201, body=b"{}", created_at=BASE_TIME
    )
    results = await asyncio.gather(
        *(store.append(f"s{n}", [make_event(f"s{n}", 1)], 0, idempotency=record) for n in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[0], list)
    assert all(isinstance(r, IdempotencyConflict) for r in results[1:])
    assert await store.head_position() == 1
    assert await store.get_idempotency("k") == record


async def test_one_transaction_per_append_keeps_the_contract(open_pg: Opener) -> None:
    store = await open_pg(group_commit=False)
    await asyncio.gather(*(store.append(f"s{n}", [make_event(f"s{n}", 1)], 0) for n in range(20)))
    with pytest.raises(ConcurrencyError):
        await store.append("s0", [make_event("s0", 2)], 0)
    assert store.stats.commits == 21  # the refused append had its own (empty) transaction
    assert [r.position async for r in store.read_all()] == list(range(1, 21))


async def test_a_store_closes_promptly_while_its_listener_connects(postgres_url: str) -> None:
    for _ in range(30):
        store = await PostgresEventStore.open(postgres_url, codec=EventCodec())
        await asyncio.wait_for(store.close(), 5)
