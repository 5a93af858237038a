"""Subscribers near the head take just-committed events from memory, never skipping any."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from events.codec import EventCodec
from events.store.base import EventFilter, RecordedEvent
from events.store.sqlite import SQLiteEventStore
from events.store.subscription import HeadNotifier
from tests.events.factories import make_event, make_events
from tests.events.payloads import Noted


async def open_sqlite(tmp_path: Path) -> SQLiteEventStore:
    return await SQLiteEventStore.open(str(tmp_path / "events.db"), codec=EventCodec())


async def take(events: AsyncIterator[RecordedEvent], count: int) -> list[RecordedEvent]:
    """Read count events from a subscription, failing rather than hanging."""

    async def read() -> list[RecordedEvent]:
        return [await anext(events) for _ in range(count)]

    return await asyncio.wait_for(read(), 10)


def recorded(position: int) -> RecordedEvent:
    return RecordedEvent(event=make_event("s", position), position=position)


async def test_a_live_subscriber_gets_the_committed_events_themselves(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    try:
        await store.append("seed", make_events("seed", 1, 3), 0)
        wanted = EventFilter(tenants={"t_acme"})
        everything = store.subscribe(after_position=3)
        acme = store.subscribe(after_position=3, event_filter=wanted)
        first = [
            *await store.append("a", [make_event("a", 1)], 0),
            *await store.append("b", [make_event("b", 1, tenant="t_other")], 0),
            *await store.append("a", make_events("a", 2, 2), 1),
        ]
        seen = await take(everything, 4)
        seen_acme = await take(acme, 3)
    finally:
        await store.close()
    # The very objects the writer committed: nothing was read back from the file.
    assert all(mine is theirs for mine, theirs in zip(seen, first, strict=True))
    assert [item.position for item in seen_acme] == [4, 6, 7]
    assert all(item.event.tenant == "t_acme" for item in seen_acme)


async def test_events_another_writer_commits_in_between_are_not_skipped(tmp_path: Path) -> None:
    ours, theirs = await open_sqlite(tmp_path), await open_sqlite(tmp_path)
    try:
        events = ours.subscribe()
        await ours.append("a", [make_event("a", 1)], 0)
        await theirs.append("b", [make_event("b", 1)], 0)
        await ours.append("a", [make_event("a", 2)], 1)
        seen = await take(events, 3)
    finally:
        await ours.close()
        await theirs.close()
    assert [(item.position, item.event.stream) for item in seen] == [(1, "a"), (2, "b"), (3, "a")]


async def test_subscribers_far_behind_or_just_behind_see_every_event_once(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path)
    try:
        for start in range(0, 3000, 100):
            await store.append(f"s{start}", make_events(f"s{start}", 1, 100), 0)
        from_start = await take(store.subscribe(), 3000)
        near_head = await take(store.subscribe(after_position=2900), 100)
    finally:
        await store.close()
    assert [item.position for item in from_start] == list(range(1, 3001))
    assert [item.position for item in near_head] == list(range(2901, 3001))


def test_the_notifier_holds_only_what_it_can_vouch_for() -> None:
    notifier = HeadNotifier(10, hold=4)
    assert notifier.held_after(10) == []
    assert notifier.held_after(9) is None  # committed before the notifier began
    notifier.advance(13, [recorded(11), recorded(12), recorded(13)])
    assert [item.position for item in notifier.held_after(10) or []] == [11, 12, 13]
    assert [item.position for item in notifier.held_after(12) or []] == [13]
    # Past twice the hold it keeps the newest hold's worth.
    notifier.advance(19, [recorded(p) for p in range(14, 20)])
    assert notifier.held_after(14) is None
    assert [item.position for item in notifier.held_after(15) or []] == [16, 17, 18, 19]
    # A commit that does not run on from the head (someone else wrote 20) ends the hold.
    notifier.advance(21, [recorded(21)])
    assert notifier.head == 21
    assert notifier.held_after(19) is None
    assert notifier.held_after(21) == []
    # So does a head that moves without its events (another instance's commit).
    notifier.advance(22, [recorded(22)])
    notifier.advance(25)
    assert notifier.held_after(22) is None
    assert notifier.held_after(25) == []


def test_the_notifier_holds_the_newest_events_within_its_byte_budget() -> None:
    notifier = HeadNotifier(0, hold=100, hold_bytes=1000)
    notifier.advance(3, [recorded(1), recorded(2), recorded(3)], [400, 400, 400])
    assert [item.position for item in notifier.held_after(0) or []] == [1, 2, 3]
    # Past twice the bytes (2,500 > 2,000), the newest that fit the budget stay: 5 and 6.
    notifier.advance(6, [recorded(4), recorded(5), recorded(6)], [400, 400, 500])
    assert notifier.held_after(3) is None
    assert [item.position for item in notifier.held_after(4) or []] == [5, 6]
    # One event over the whole budget is not held at all; what comes after it is.
    notifier.advance(7, [recorded(7)], [5000])
    assert notifier.held_after(6) is None and notifier.held_after(7) == []
    notifier.advance(8, [recorded(8)], [10])
    assert [item.position for item in notifier.held_after(7) or []] == [8]


async def test_the_sqlite_writer_hands_payload_sizes_so_long_events_are_held_fewer(
    tmp_path: Path,
) -> None:
    store = await open_sqlite(tmp_path)
    try:
        notifier = store.notifier
        notifier._hold_bytes = 4096  # four of the long events below
        for version in range(1, 41):
            long = Noted(text="x" * 1000, priority=version)
            await store.append("s", [make_event("s", version, payload=long)], version - 1)
        assert notifier.held_after(0) is None  # the oldest were let go
        held = notifier.held_after(40 - 4)
        assert held is not None and [item.position for item in held] == [37, 38, 39, 40]
        everything = await take(store.subscribe(), 40)
    finally:
        await store.close()
    assert [item.position for item in everything] == list(range(1, 41))
