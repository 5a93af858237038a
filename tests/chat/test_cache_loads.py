"""Loads of a thread not cached share one fold; one joining it late still sees what came after."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from chat_core.caches import ThreadCache
from chat_core.payloads import MessagePosted, ThreadCreated
from chat_core.state import ThreadState, new_message_id, new_thread_id
from events.envelope import DatasetEvent, Env
from events.store.memory import MemoryEventStore
from events.store.records import RecordedEvent


class _CountedStore(MemoryEventStore):
    """The memory store, counting its stream reads, each of which lets others run once it has
    read (as a real store's does), and may wait at a gate then."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.read = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def read_stream(
        self, stream: str, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        self.reads += 1
        found = await super().read_stream(stream, after_version=after_version, limit=limit)
        self.read.set()
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        return found


def _event(stream: str, version: int, payload: ThreadCreated | MessagePosted) -> DatasetEvent:
    return DatasetEvent(
        event_id=uuid.uuid4(),
        stream=stream,
        version=version,
        tenant="t_acme",
        env=Env.DEV,
        request_id=f"r-{version}",
        trace_id=f"r-{version}",
        actor="u_ada",
        occurred_at=datetime.now(UTC),
        payload=payload,
    )


def _posted(stream: str, thread_id: str, seq: int) -> DatasetEvent:
    payload = MessagePosted(
        thread_id=thread_id, message_id=new_message_id(seq), seq=seq, role="user", content=f"m{seq}"
    )
    return _event(stream, seq + 1, payload)


async def _thread(store: MemoryEventStore, messages: int) -> tuple[str, str]:
    thread_id = new_thread_id()
    stream = f"chat/t_acme/dev/{thread_id}"
    events = [_event(stream, 1, ThreadCreated(thread_id=thread_id))]
    events += [_posted(stream, thread_id, seq) for seq in range(1, messages + 1)]
    await store.append(stream, events, 0)
    return stream, thread_id


async def test_loads_of_a_thread_not_cached_fold_it_once() -> None:
    store = _CountedStore()
    stream, _ = await _thread(store, 50)
    threads = ThreadCache(store, ThreadState, sole_writer=True)
    states = await asyncio.gather(*(threads.load(stream) for _ in range(20)))
    assert store.reads == 1
    assert all(state is states[0] for state in states)
    assert states[0].message_count == 50


async def test_a_load_that_joins_a_fold_late_sees_an_event_appended_meanwhile() -> None:
    store = _CountedStore()
    stream, thread_id = await _thread(store, 3)
    # Not the sole writer: another instance may append between the fold's read and a load.
    threads = ThreadCache(store, ThreadState, sole_writer=False)
    store.gate = asyncio.Event()
    first = asyncio.ensure_future(threads.load(stream))
    await store.read.wait()
    await store.append(stream, [_posted(stream, thread_id, 4)], 4)
    late = asyncio.ensure_future(threads.load(stream))
    await asyncio.sleep(0)
    store.gate.set()
    assert (await first).message_count >= 3
    assert (await late).message_count == 4
    assert store.reads == 2


async def test_a_fold_that_fails_fails_every_load_waiting_for_it_and_the_next_starts_anew() -> None:
    store = _CountedStore()
    stream, _ = await _thread(store, 2)
    threads = ThreadCache(store, ThreadState, sole_writer=True)
    await store.close()
    results = await asyncio.gather(
        *(threads.load(stream) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, Exception) for result in results)
    assert store.reads == 1
    await asyncio.gather(threads.load(stream), return_exceptions=True)
    assert store.reads == 2
