"""Concurrent appenders, group commit and the catch-up/live seam under load."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import attrs

from events.codec import EventCodec
from events.store.base import (
    ConcurrencyError,
    EventStore,
    IdempotencyConflict,
    IdempotencyRecord,
    InvalidAppend,
    RecordedEvent,
)
from events.store.sqlite import SQLiteEventStore
from tests.events.factories import make_event, make_events

APPENDERS = 50
TARGET_VERSION = 120


async def race_for_versions(store: EventStore, appender: int, wins: list[tuple[int, int]]) -> None:
    """Append the next version (every third try two at once) until the stream is long enough."""
    while True:
        current = await store.stream_version("race")
        if current >= TARGET_VERSION:
            return
        size = 2 if (appender + current) % 3 == 0 else 1
        batch = f"batch-{appender}-{current}-{size}"
        events = make_events("race", current + 1, size, request_id=batch)
        try:
            recorded = await store.append("race", events, current)
        except ConcurrencyError:
            continue
        wins.extend((r.event.version, appender) for r in recorded)


async def test_concurrent_appenders_each_version_won_once(store: EventStore) -> None:
    wins: list[tuple[int, int]] = []
    await asyncio.gather(*(race_for_versions(store, n, wins) for n in range(APPENDERS)))
    versions = [version for version, _ in wins]
    assert sorted(versions) == list(range(1, len(versions) + 1))
    stored = await store.read_stream("race")
    assert [r.event.version for r in stored] == list(range(1, len(stored) + 1))
    assert len(stored) == len(versions)
    assert len({r.event.event_id for r in stored}) == len(stored)


async def test_multi_event_batches_are_all_there_or_absent(store: EventStore) -> None:
    wins: list[tuple[int, int]] = []
    await asyncio.gather(*(race_for_versions(store, n, wins) for n in range(APPENDERS)))
    batches: dict[str, list[int]] = {}
    for item in await store.read_stream("race"):
        batches.setdefault(item.event.request_id, []).append(item.event.version)
    assert any(len(versions) == 2 for versions in batches.values())
    for batch, versions in batches.items():
        size = int(batch.rsplit("-", 1)[1])
        assert len(versions) == size
        assert versions == list(range(versions[0], versions[0] + size))


async def open_sqlite(tmp_path: Path) -> SQLiteEventStore:
    """Open a SQLite store in a fresh file."""
    return await SQLiteEventStore.open(str(tmp_path / "events.db"), codec=EventCodec())


async def test_one_bad_append_does_not_fail_its_batch(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    try:
        good = [store.append(f"g{n}", [make_event(f"g{n}", 1)], 0) for n in range(40)]
        stale = [store.append(f"g{n}", [make_event(f"g{n}", 1)], 5) for n in range(0, 40, 4)]
        invalid = [store.append("bad", [make_event("bad", 3)], None)]
        results = await asyncio.gather(*good, *stale, *invalid, return_exceptions=True)
    finally:
        await store.close()
    assert all(isinstance(r, list) for r in results[:40])
    assert all(isinstance(r, ConcurrencyError) for r in results[40:50])
    assert isinstance(results[50], InvalidAppend)


async def test_same_stream_twice_in_one_batch_is_checked_in_order(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    try:
        first = store.append("s", [make_event("s", 1)], 0)
        second = store.append("s", [make_event("s", 2)], 1)
        clash = store.append("s", [make_event("s", 2)], 1)
        results = await asyncio.gather(first, second, clash, return_exceptions=True)
        assert [r.event.version for r in results[1]] == [2]  # type: ignore[union-attr]
        assert isinstance(results[2], ConcurrencyError)
        assert [r.event.version for r in await store.read_stream("s")] == [1, 2]
    finally:
        await store.close()


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    try:
        await asyncio.gather(
            *(store.append(f"s{n}", [make_event(f"s{n}", 1)], 0) for n in range(200))
        )
        assert store.stats.appends == 200
        assert store.stats.commits < 200
    finally:
        await store.close()


async def test_pending_appends_finish_when_the_store_closes(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    appends = [
        asyncio.ensure_future(store.append(f"s{n}", [make_event(f"s{n}", 1)], 0)) for n in range(20)
    ]
    await asyncio.sleep(0)
    await store.close()
    assert all(len(task.result()) == 1 for task in appends)


async def test_subscriber_sees_every_event_once_in_order_under_load(store: EventStore) -> None:
    await store.append("seed", make_events("seed", 1, 10), 0)
    total = 10 + 30 * 20
    seen: list[RecordedEvent] = []

    async def subscriber() -> None:
        async for item in store.subscribe():
            seen.append(item)
            if len(seen) == total:
                return

    async def writer(n: int) -> None:
        for version in range(1, 21):
            await store.append(f"w{n}", [make_event(f"w{n}", version)], version - 1)
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(n)) for n in range(15)]
    watching = asyncio.create_task(subscriber())
    writers += [asyncio.create_task(writer(n)) for n in range(15, 30)]
    await asyncio.gather(*writers)
    await asyncio.wait_for(watching, 30)
    assert [item.position for item in seen] == list(range(1, total + 1))


async def test_a_clashing_key_or_id_fails_alone_and_keeps_positions_dense(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    record = IdempotencyRecord(
        key="k", fingerprint="f", status=201, body=b"{}", created_at=datetime.now(UTC)
    )
    try:
        await store.append("seed", [make_event("seed", 1)], 0, idempotency=record)
        reused = make_event("reused-id", 1)
        await store.append("reused-id", [reused], 0)
        good = [store.append(f"g{n}", [make_event(f"g{n}", 1)], 0) for n in range(30)]
        key_clash = store.append("kc", [make_event("kc", 1)], 0, idempotency=record)
        id_clash = store.append("ic", [attrs.evolve(reused, stream="ic")], 0)
        results = await asyncio.gather(*good, key_clash, id_clash, return_exceptions=True)
        stored = [item async for item in store.read_all()]
    finally:
        await store.close()
    assert all(isinstance(r, list) for r in results[:30])
    assert isinstance(results[30], IdempotencyConflict)
    assert isinstance(results[31], InvalidAppend)
    assert [item.position for item in stored] == list(range(1, 33))
    assert {item.event.stream for item in stored} == {"seed", "reused-id"} | {
        f"g{n}" for n in range(30)
    }


async def test_a_stream_moved_by_another_process_is_a_concurrency_error(tmp_path: Path) -> None:
    first, second = await open_sqlite(tmp_path), await open_sqlite(tmp_path)
    try:
        await first.append("s", [make_event("s", 1)], 0)
        await second.append("s", [make_event("s", 2)], 1)
        stale = first.append("s", [make_event("s", 2)], 1)
        others = [first.append(f"o{n}", [make_event(f"o{n}", 1)], 0) for n in range(5)]
        results = await asyncio.gather(stale, *others, return_exceptions=True)
        after = await first.append("s", [make_event("s", 3)], 2)
    finally:
        await first.close()
        await second.close()
    assert isinstance(results[0], ConcurrencyError)
    assert all(isinstance(r, list) for r in results[1:])
    assert [r.event.version for r in after] == [3]


async def test_an_append_that_knows_a_newer_version_than_the_writer_succeeds(
    tmp_path: Path,
) -> None:
    first, second = await open_sqlite(tmp_path), await open_sqlite(tmp_path)
    try:
        await first.append("s", [make_event("s", 1)], 0)
        await second.append("s", [make_event("s", 2)], 1)
        recorded = await first.append("s", [make_event("s", 3)], 2)
    finally:
        await first.close()
        await second.close()
    assert [r.event.version for r in recorded] == [3]
