"""What a redaction costs the appends behind it on SQLite: the search index copied afresh.

Run: `python -m bench.redaction_stall [--quick] [--threads N] [--rounds N]`.
bench.search's log (N threads of its 100 messages, 1,000 by default: 100,000 messages;
--quick 200) is appended straight to a SQLite file. Then, ROUNDS times: a message is
posted in one thread and another in a second thread alone (the reference: an append with
nothing ahead of it); the first message is redacted and, 1 ms later, a message is posted
behind the redaction. A redaction deletes index rows, so the writer copies the index
afresh before it answers (events.store.sqlite_search.compact_index): the append behind
it waits for that copy.
Printed: each round's three times and the append behind the redaction as a multiple of
the append alone.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from bench.http_api import TENANT
from bench.search import AUTHOR, PER_THREAD, _build, _index, bench_event, thread_events
from chat_core.payloads import MessagePosted, MessageRedacted
from chat_core.state import new_message_id
from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.search.records import IndexDrop
from events.store.sqlite import SQLiteEventStore

__all__ = ["run"]

THREADS, ROUNDS = 1_000, 4


def _event(stream: str, version: int, payload: MessagePosted | MessageRedacted) -> DatasetEvent:
    return bench_event(stream, version, payload, actor=AUTHOR, now=datetime.now(UTC), label="stall")


async def _timed(append: Awaitable[object]) -> float:
    began = time.perf_counter()
    await append
    return (time.perf_counter() - began) * 1000


class _Thread:
    """One thread of the measurement, appended to version by version."""

    def __init__(self, thread_id: str, version: int) -> None:
        self.thread_id = thread_id
        self.stream = f"chat/{TENANT}/dev/{thread_id}"
        self.version = version

    def post(self, seq: int) -> tuple[DatasetEvent, MessagePosted]:
        payload = MessagePosted(
            thread_id=self.thread_id,
            message_id=new_message_id(seq),
            seq=seq,
            role="user",
            content=f"words posted to be indexed, message {seq}",
        )
        self.version += 1
        return _event(self.stream, self.version, payload), payload


async def _rounds(path: str, rounds: int) -> list[tuple[float, float, float]]:
    store = await SQLiteEventStore.open(path, codec=EventCodec())
    now = datetime.now(UTC)
    threads = []
    for number in (-1, -2):
        thread_id, events = thread_events(number, [], now)
        await store.append(events[0].stream, events, 0)
        threads.append(_Thread(thread_id, len(events)))
    redacted, other = threads
    times = []
    try:
        for round_ in range(rounds):
            posted, payload = redacted.post(1 + round_)
            await store.append(
                redacted.stream, [posted], redacted.version - 1, index=_index([posted])
            )
            alone, _ = other.post(1 + 2 * round_)
            alone_ms = await _timed(
                store.append(other.stream, [alone], other.version - 1, index=_index([alone]))
            )
            redacted.version += 1
            redaction = _event(
                redacted.stream,
                redacted.version,
                MessageRedacted(
                    thread_id=redacted.thread_id, message_id=payload.message_id, seq=payload.seq
                ),
            )
            drop = IndexDrop(
                tenant=TENANT,
                env=Env.DEV.value,
                thread_id=redacted.thread_id,
                message_id=payload.message_id,
            )
            ahead = asyncio.ensure_future(
                _timed(
                    store.append(redacted.stream, [redaction], redacted.version - 1, index=[drop])
                )
            )
            await asyncio.sleep(0.001)
            behind, _ = other.post(2 + 2 * round_)
            behind_ms = await _timed(
                store.append(other.stream, [behind], other.version - 1, index=_index([behind]))
            )
            times.append((alone_ms, await ahead, behind_ms))
    finally:
        await store.close()
    return times


async def _run(threads: int, rounds: int) -> tuple[list[tuple[float, float, float]], float]:
    with tempfile.TemporaryDirectory(dir=".") as folder:
        path = f"{folder}/stall.db"
        print(f"  building {threads * PER_THREAD:,} messages with their index")
        await _build(path, threads)
        size = await asyncio.to_thread(os.path.getsize, path) / 1e6
        return await _rounds(path, rounds), size


def run(
    *, quick: bool = False, threads: int | None = None, rounds: int = ROUNDS
) -> list[tuple[float, float, float]]:
    """Measure and print each round: an append alone, a redaction, an append behind it."""
    threads = threads or (THREADS // 5 if quick else THREADS)
    times, size = asyncio.run(_run(threads, rounds))
    print(f"\nredaction on SQLite, {threads * PER_THREAD:,} indexed messages ({size:,.0f} MB)")
    for number, (alone, redaction, behind) in enumerate(times):
        print(
            f"  round {number}: append alone {alone:.1f} ms; redaction {redaction:,.0f} ms;"
            f" append 1 ms behind it {behind:,.0f} ms ({behind / alone:,.0f}x the append alone)"
        )
    median = statistics.median(behind / alone for alone, _, behind in times)
    print(f"  median: an append behind a redaction waits {median:,.0f}x an append alone")
    return times


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen = int(arguments[arguments.index("--threads") + 1]) if "--threads" in arguments else None
    count = int(arguments[arguments.index("--rounds") + 1]) if "--rounds" in arguments else None
    run(quick="--quick" in arguments, threads=chosen, rounds=count or ROUNDS)
