"""The generation time-out: a reply left in progress with no chunk for too long fails.

The sweeper watches the log through the core's follower (every instance sees every
event), so it knows each generation in progress and when it last moved; a timer fails
those silent for CHAT_CORE_GENERATION_TIMEOUT seconds, each with the message's own tenant
and env, a request id of its own and the actor chat-core. Every instance may try: the
thread's writer appends with the version it read, so one of them fails it, once.

The follower shows only what comes after the log's head at boot, so the generations
already in progress then (a restart or a crash mid-reply) are learnt from the log itself,
in the background (see recover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from attrs import define

from chat_core.context import RequestContext, new_request_id
from chat_core.generation import ENDS, GenerationHandlers
from chat_core.payloads import MessageChunk, MessagePosted
from events.codec import EventCodec
from events.envelope import Env, EventPayload
from events.store.base import EventStore, RecordedEvent
from events.store.records import EventFilter
from events.store.sqlite_rows import RowDecoder
from events.tooling.export import RowSource

__all__ = ["GenerationSweeper", "in_progress_before"]

log = logging.getLogger("chat_core.generation_timeout")


@define
class _Watched:
    tenant: str
    env: Env
    thread_id: str
    active_at: datetime


_WATCHED_TYPES: tuple[type[EventPayload], ...] = (MessagePosted, MessageChunk, *ENDS)


def _track(watched: dict[str, _Watched], item: RecordedEvent) -> None:
    """Fold a generation's start, chunk or end into the generations watched."""
    event = item.event
    payload = event.payload
    if type(payload) is MessagePosted:
        if payload.llm is not None and payload.llm.status == "in_progress":
            watched[payload.message_id] = _Watched(
                event.tenant, event.env, payload.thread_id, event.occurred_at
            )
    elif type(payload) is MessageChunk:
        found = watched.get(payload.message_id)
        if found is not None:
            found.active_at = max(found.active_at, event.occurred_at)
    elif type(payload) in ENDS:
        watched.pop(getattr(payload, "message_id", ""), None)


_WANTED = EventFilter(types=frozenset(kind.event_type for kind in _WATCHED_TYPES))
_POSTED = MessagePosted.event_type


async def in_progress_before(
    store: EventStore, up_to: int, codec: EventCodec | None
) -> dict[str, _Watched]:
    """Return the generations in progress at a position, as the log up to it leaves them.

    The fast path, on a store that hands out its rows (SQLite) and given the codec: a
    posted row is decoded only when its payload says in_progress, a chunk or an end only
    when its message is one of those; any other store decodes every start, chunk and end.
    Every plain message is a posted event, so on a log of 1M messages the read decoded 1M
    events on every boot, in the server's loop beside its requests (bench.http_api's 1M
    rounds: POST 372 req/s, p99 323 ms); this path decodes the generations alone.
    tests/llm/test_generation_timeout.py holds both paths to the same answer.
    """
    found: dict[str, _Watched] = {}
    if codec is None or not isinstance(store, RowSource):
        async for item in store.read_all(before_position=up_to + 1, event_filter=_WANTED):
            _track(found, item)
        return found
    decoder = RowDecoder(codec)
    pages = store.read_rows(before_position=up_to + 1, event_filter=_WANTED)
    async for page in pages:
        for row in page:
            payload = row[12]
            if row[4] == _POSTED:
                if b"in_progress" not in payload:
                    continue
            elif not found or orjson.loads(payload)["message_id"] not in found:
                continue
            (item,) = decoder.decode([row])
            _track(found, item)
    return found


class GenerationSweeper:
    """Fail the generations that went silent, from what the log follower shows."""

    def __init__(
        self,
        *,
        generations: GenerationHandlers,
        timeout: float,
        clock: Callable[[], datetime],
        codec: EventCodec | None = None,
    ) -> None:
        self._generations = generations
        self._codec = codec
        self._timeout = timedelta(seconds=timeout)
        self._clock = clock
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        # What the follower showed while the log before boot was still being read.
        self._late: list[RecordedEvent] | None = None
        # Checked often enough that a reply fails within a fifth of the time-out past it.
        self.interval = min(max(timeout / 5, 0.05), 5.0)

    def observe(self, item: RecordedEvent) -> None:
        """Note a generation's start, chunk or end (a bus subscriber)."""
        if self._late is not None and type(item.event.payload) in _WATCHED_TYPES:
            self._late.append(item)
        _track(self._watched, item)

    def recover(self, store: EventStore, up_to: int) -> None:
        """Learn, in the background, the generations left in progress up to a position.

        up_to is where the follower started (the log's head at boot). What the follower
        showed meanwhile is folded in after the log read, so a reply that ended since is
        not watched again and one that moved since is watched from its latest move.
        """
        if up_to > 0 and self._recovery is None:
            self._late = []
            self._recovery = asyncio.create_task(self._recover(store, up_to))

    async def _recover(self, store: EventStore, up_to: int) -> None:
        try:
            found = await in_progress_before(store, up_to, self._codec)
        except Exception:
            log.exception("could not read the generations left in progress before boot")
            found = {}
        late, self._late = self._late or [], None
        for item in late:
            _track(found, item)
        for message_id, watched in found.items():
            self._watched.setdefault(message_id, watched)

    async def sweep(self) -> int:
        """Fail every watched generation silent past the time-out; return how many failed."""
        cutoff = self._clock() - self._timeout
        failed = 0
        for message_id, watched in list(self._watched.items()):
            if watched.active_at > cutoff:
                continue
            context = RequestContext(
                tenant=watched.tenant, env=watched.env, request_id=new_request_id()
            )
            try:
                if await self._generations.time_out(
                    context, watched.thread_id, message_id, silent_since=cutoff
                ):
                    failed += 1
            except Exception:
                log.exception("could not time out generation %s", message_id)
            # Kept until the log shows its end (failed here or elsewhere) or a chunk.
        return failed

    def start(self) -> None:
        """Sweep on a timer until stopped."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the timer (and a read of the log before boot still going)."""
        for task in (self._task, self._recovery):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._recovery = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.sweep()
