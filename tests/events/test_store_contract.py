"""The contract every EventStore backend keeps, run against each one in BACKENDS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from events.envelope import Env
from events.store.base import (
    ConcurrencyError,
    EventFilter,
    EventStore,
    IdempotencyConflict,
    IdempotencyRecord,
    InvalidAppend,
    StoreClosed,
)
from tests.events.factories import BASE_TIME, make_event, make_events, ping


async def positions(store: EventStore, **kwargs: object) -> list[int]:
    """Return the positions read_all yields for these arguments."""
    return [item.position async for item in store.read_all(**kwargs)]  # type: ignore[arg-type]


def record(key: str) -> IdempotencyRecord:
    """Return an idempotency record under key."""
    return IdempotencyRecord(
        key=key, fingerprint="f" + key, status=201, body=b'{"ok":true}', created_at=BASE_TIME
    )


async def test_append_returns_positions_in_order(store: EventStore) -> None:
    first = await store.append("a", make_events("a", 1, 2), 0)
    second = await store.append("b", make_events("b", 1, 1), 0)
    assert [r.position for r in first + second] == [1, 2, 3]
    assert await store.head_position() == 3


async def test_read_stream_returns_the_events_appended(store: EventStore) -> None:
    events = make_events("a", 1, 3)
    await store.append("a", events, 0)
    read = await store.read_stream("a")
    assert [r.event for r in read] == events
    assert [r.event.version for r in await store.read_stream("a", after_version=1, limit=1)] == [2]


async def test_read_all_interleaves_streams_in_commit_order(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0)
    await store.append("b", make_events("b", 1, 1), 0)
    await store.append("a", make_events("a", 2, 1), 1)
    streams = [(r.event.stream, r.event.version) async for r in store.read_all()]
    assert streams == [("a", 1), ("b", 1), ("a", 2)]


async def test_expected_version_none_appends_whatever_the_version(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), None)
    await store.append("a", make_events("a", 2, 1), None)
    assert await store.stream_version("a") == 2


async def test_expected_version_zero_means_a_new_stream(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0)
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("a", make_events("a", 2, 1), 0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)


async def test_wrong_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 2), 0)
    with pytest.raises(ConcurrencyError):
        await store.append("a", make_events("a", 3, 1), 1)
    assert await store.stream_version("a") == 2
    assert await store.head_position() == 2


async def test_event_for_another_stream_is_invalid(store: EventStore) -> None:
    with pytest.raises(InvalidAppend):
        await store.append("a", [make_event("a", 1), make_event("b", 2)], 0)
    assert await store.head_position() == 0


@pytest.mark.parametrize("versions", [[2], [1, 3], [1, 1]])
async def test_versions_that_do_not_follow_on_are_invalid(
    store: EventStore, versions: list[int]
) -> None:
    with pytest.raises(InvalidAppend):
        await store.append("a", [make_event("a", v) for v in versions], None)


async def test_appending_a_version_already_taken_is_invalid(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0)
    with pytest.raises(InvalidAppend):
        await store.append("a", make_events("a", 1, 1), None)


async def test_a_failed_batch_writes_none_of_its_events(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0)
    with pytest.raises(InvalidAppend):
        await store.append("a", [*make_events("a", 2, 3), make_event("a", 9)], 1)
    assert await store.read_stream("a", after_version=1) == []
    assert await positions(store) == [1]


@pytest.mark.parametrize(
    ("event_filter", "expected"),
    [
        (EventFilter(tenants={"t_beta"}), [2, 4]),
        (EventFilter(envs={Env.PROD}), [3, 4]),
        (EventFilter(types={"test.pinged"}), [2]),
        (EventFilter(streams={"s3"}), [3]),
        (EventFilter(since=BASE_TIME + timedelta(hours=2)), [3, 4]),
        (EventFilter(until=BASE_TIME + timedelta(hours=2)), [1, 2]),
        (EventFilter(tenants={"t_beta"}, envs={Env.PROD}), [4]),
    ],
)
async def test_read_all_filters(
    store: EventStore, event_filter: EventFilter, expected: list[int]
) -> None:
    hour = timedelta(hours=1)
    rows = [
        make_event("s1", 1, occurred_at=BASE_TIME),
        make_event("s2", 1, tenant="t_beta", payload=ping("x"), occurred_at=BASE_TIME + hour),
        make_event("s3", 1, env=Env.PROD, occurred_at=BASE_TIME + 2 * hour),
        make_event("s4", 1, tenant="t_beta", env=Env.PROD, occurred_at=BASE_TIME + 3 * hour),
    ]
    for event in rows:
        await store.append(event.stream, [event], 0)
    assert await positions(store, event_filter=event_filter) == expected


async def test_time_filters_compare_instants_not_text(store: EventStore) -> None:
    moment = datetime(2025, 6, 1, 12, 0, 0, 500, tzinfo=UTC)
    await store.append("a", [make_event("a", 1, occurred_at=moment)], 0)
    assert await positions(store, event_filter=EventFilter(since=moment)) == [1]
    later = moment + timedelta(microseconds=1)
    assert await positions(store, event_filter=EventFilter(since=later)) == []


async def test_read_all_descending_limit_and_bounds(store: EventStore) -> None:
    for n in range(1, 6):
        await store.append(f"s{n}", [make_event(f"s{n}", 1)], 0)
    assert await positions(store, descending=True) == [5, 4, 3, 2, 1]
    assert await positions(store, limit=2) == [1, 2]
    assert await positions(store, descending=True, limit=2) == [5, 4]
    assert await positions(store, before_position=3) == [1, 2]
    assert await positions(store, after_position=2, before_position=5) == [3, 4]
    assert await positions(store, after_position=1, descending=True, before_position=4) == [3, 2]


async def test_read_all_pages_through_more_than_a_page(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 2500), 0)
    assert await positions(store) == list(range(1, 2501))
    assert await positions(store, descending=True, limit=1500) == list(range(2500, 1000, -1))


async def test_list_streams_names_each_stream_once_in_order(store: EventStore) -> None:
    assert await store.list_streams() == []
    names = [f"chat/t_acme/dev/th_{n:02d}" for n in (7, 3, 11, 0, 5)] + ["temperature/t/dev"]
    for name in names:
        await store.append(name, make_events(name, 1, 3), 0)
    with pytest.raises(ConcurrencyError):
        await store.append("chat/t_acme/dev/th_99", make_events("chat/t_acme/dev/th_99", 1, 1), 1)
    assert await store.list_streams() == sorted(names)
    assert await store.list_streams(after="chat/t_acme/dev/th_03", limit=2) == [
        "chat/t_acme/dev/th_05",
        "chat/t_acme/dev/th_07",
    ]
    assert await store.list_streams(after="chat/t_acme/dev/th_04") == sorted(names)[2:]
    assert await store.list_streams(after="temperature/t/dev") == []


async def test_list_streams_pages_through_every_stream(store: EventStore) -> None:
    names = [f"s{n:02d}" for n in range(12)]
    for name in reversed(names):
        await store.append(name, make_events(name, 1, 2), 0)
    pages: list[list[str]] = []
    after: str | None = None
    while not pages or len(pages[-1]) == 5:
        pages.append(await store.list_streams(after=after, limit=5))
        after = pages[-1][-1] if pages[-1] else after
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [name for page in pages for name in page] == names


async def test_idempotency_record_is_stored_with_the_append(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0, idempotency=record("k1"))
    assert await store.get_idempotency("k1") == record("k1")
    assert await store.get_idempotency("k2") is None


async def test_idempotency_key_reused_conflicts_and_writes_nothing(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0, idempotency=record("k1"))
    with pytest.raises(IdempotencyConflict):
        await store.append("b", make_events("b", 1, 1), 0, idempotency=record("k1"))
    assert await store.stream_version("b") == 0


async def test_purge_deletes_only_records_older_than_the_cut_in_bounded_batches(
    store: EventStore,
) -> None:
    hour = timedelta(hours=1)
    for n in range(5):
        aged = attrs.evolve(record(f"old{n}"), created_at=BASE_TIME - hour * (n + 1))
        await store.append(f"o{n}", make_events(f"o{n}", 1, 1), 0, idempotency=aged)
    await store.append("cut", make_events("cut", 1, 1), 0, idempotency=record("at-the-cut"))
    await store.append("new", make_events("new", 1, 1), 0, idempotency=record("new"))

    assert await store.purge_idempotency(before=BASE_TIME, limit=3) == 3
    assert await store.purge_idempotency(before=BASE_TIME, limit=3) == 2
    assert await store.purge_idempotency(before=BASE_TIME, limit=3) == 0
    for n in range(5):
        assert await store.get_idempotency(f"old{n}") is None
    assert await store.get_idempotency("at-the-cut") == record("at-the-cut")
    assert await store.get_idempotency("new") == record("new")
    # The events they answered stay; a purged key is free for a new first answer.
    assert len(await positions(store)) == 7
    await store.append("again", make_events("again", 1, 1), 0, idempotency=record("old0"))
    assert await store.get_idempotency("old0") == record("old0")


async def test_subscribe_catches_up_then_goes_live(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 3), 0)
    seen: list[int] = []

    async def follow() -> None:
        async for item in store.subscribe(after_position=1):
            seen.append(item.position)
            if item.position == 5:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0)
    await store.append("a", make_events("a", 4, 2), 3)
    await asyncio.wait_for(task, 10)
    assert seen == [2, 3, 4, 5]


async def test_subscribe_applies_the_filter(store: EventStore) -> None:
    await store.append("a", [make_event("a", 1, tenant="t_other")], 0)
    await store.append("b", [make_event("b", 1)], 0)
    subscription = store.subscribe(event_filter=EventFilter(tenants={"t_acme"}))
    first = await asyncio.wait_for(anext(subscription), 10)
    assert first.event.stream == "b"


async def test_closed_store_refuses_appends_and_reads(store: EventStore) -> None:
    await store.append("a", make_events("a", 1, 1), 0)
    await store.close()
    with pytest.raises(StoreClosed):
        await store.append("a", make_events("a", 2, 1), 1)
    with pytest.raises(StoreClosed):
        await store.head_position()
    with pytest.raises(StoreClosed):
        await store.list_streams()


async def test_ping_answers_while_open(store: EventStore) -> None:
    await store.ping()
