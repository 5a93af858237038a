"""Rebuild the chat's derived state by folding the log, and compare it with the live state.

Derived state: each thread's read model, each tenant and env's temperature config, and
each idempotency record, rebuilt from the metadata of the events that answered it with
the answers the pipeline rendered, so a rebuilt body is byte for byte the stored one. A
record's created_at is when it was stored, which the log knows only as its event's time,
so the check allows CREATED_AT_SLACK between them. A server purges records once they are
older than its retention (CHAT_CORE_IDEMPOTENCY_TTL), so a record past it that is gone
from the store is counted as expired and not checked (its key may even be in use again).

Stream by stream, in flat memory. Every state belongs to one stream, so the log is folded
one stream at a time, in the order the store lists stream names (EventStore.list_streams),
each stream read in pages of PAGE events into a fresh state. That state is compared with
the live one (when checking), handed to on_state, and dropped before the next stream is
read; only counters outlive a stream. Memory is therefore bounded by the largest single
stream (its state and one page of its events), not by the size of the log. Streams that
are neither threads nor temperature configs are read too, for their idempotency records.
Differences come in the same order on every run: stream by stream, and within a stream
its idempotency records in version order, then its state.

About 300 lines for one concept, the replay: reading the log stream by stream, folding
each, and comparing what it rebuilt with the live state are one pass over one stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import orjson

from chat_core.caches import StreamCache
from chat_core.fold import apply_event
from chat_core.idempotency import IDEMPOTENCY_FINGERPRINT, IDEMPOTENCY_SCOPE, IDEMPOTENCY_STATUS
from chat_core.search_replay import IndexReplay
from chat_core.settings import IDEMPOTENCY_TTL
from chat_core.state import TemperatureState, ThreadState
from chat_core.views import render_answer
from events.envelope import DatasetEvent
from events.keys import KeyRing
from events.search.records import SearchDoc
from events.store.base import EventStore, IdempotencyRecord, RecordedEvent
from events.tooling.selection import Progress

__all__ = [
    "OnDifference",
    "OnState",
    "ReplayResult",
    "State",
    "idempotency_record",
    "kept_idempotency_record",
    "replay_log",
]

THREAD_PREFIX = "chat/"
TEMPERATURE_PREFIX = "temperature/"
CREATED_AT_SLACK = timedelta(seconds=5)
# Events per read_stream call, and stream names per list_streams call.
PAGE = 1000
# The progress bar moves on by at least this many events at a time.
PROGRESS_STEP = 1000

State = ThreadState | TemperatureState
# An idempotent answer: its key's scope and the request that made it.
Answer = tuple[str, str]
OnState = Callable[[str, State], None]
OnDifference = Callable[[str], None]


@attrs.define
class ReplayResult:
    """How much the fold rebuilt, and how many differences from the live state it found."""

    events: int = 0
    threads: int = 0
    messages: int = 0
    temperature_configs: int = 0
    idempotency_records: int = 0
    # Messages in the search index as the log makes it (0 when replayed without keys).
    search_documents: int = 0
    # Why the search index was neither rebuilt nor checked (its keys do not open), or None.
    search_skipped: str | None = None
    # Records past the retention, which the store may have purged: not checked.
    expired_records: int = 0
    differences: int = 0


def idempotency_record(event: DatasetEvent) -> IdempotencyRecord | None:
    """Rebuild the idempotency record an event's metadata names, or None when it names none."""
    metadata = event.metadata
    scope = metadata.get(IDEMPOTENCY_SCOPE)
    answer = None if scope is None else render_answer(event)
    if scope is None or answer is None:
        return None
    return IdempotencyRecord(
        key=scope,
        fingerprint=metadata.get(IDEMPOTENCY_FINGERPRINT, ""),
        status=int(metadata.get(IDEMPOTENCY_STATUS, "0")),
        body=orjson.dumps(answer.record_json()),
        created_at=event.occurred_at,
    )


def kept_idempotency_record(
    event: DatasetEvent, expired_before: datetime
) -> IdempotencyRecord | None:
    """Rebuild an event's idempotency record unless it is past the retention (purged by now).

    What `copy` gives the destination: a record that expired may have been purged and its
    key used again by a later request, whose record is the one to keep.
    """
    record = idempotency_record(event)
    if record is None or record.created_at < expired_before:
        return None
    return record


async def replay_log(
    store: EventStore,
    *,
    check: bool = False,
    progress: Progress | None = None,
    on_state: OnState | None = None,
    on_difference: OnDifference | None = None,
    idempotency_ttl: timedelta = timedelta(seconds=IDEMPOTENCY_TTL),
    now: datetime | None = None,
    keys: KeyRing | None = None,
) -> ReplayResult:
    """Fold the log stream by stream into derived state; with check, compare it with the live.

    on_state gets each rebuilt thread and temperature config once, in stream order, after
    its stream is folded (and checked); replay keeps no reference to it afterwards.
    on_difference gets each difference as it is found; the result only counts them.
    A record created before now - idempotency_ttl may have been purged (the server's
    retention; give the same value). With keys, the search index is rebuilt from the log
    too (checked, with check; see chat_core.search_replay).
    """
    expired_before = (now or datetime.now(UTC)) - idempotency_ttl
    replay = _Replay(
        store,
        check=check,
        progress=progress,
        on_difference=on_difference,
        expired_before=expired_before,
    )
    index = None
    if keys is not None:
        index = IndexReplay(store, keys, check=check, differs=replay.differs)
        replay.index = index
        await index.start()
    async for stream in _stream_names(store):
        # No local here holds the state: it is gone before the next stream is read.
        await replay.fold_stream(stream, on_state)
    replay.flush_progress()
    if index is not None:
        await index.end()
        replay.result.search_documents = index.documents
        replay.result.search_skipped = index.skipped
    return replay.result


async def _stream_names(store: EventStore) -> AsyncIterator[str]:
    """Yield every stream name of the log, holding one page of names at a time."""
    after: str | None = None
    while True:
        names = await store.list_streams(after=after, limit=PAGE)
        for name in names:
            yield name
        if len(names) < PAGE:
            return
        after = names[-1]


def _new_state(stream: str) -> State | None:
    """Return the empty state a stream folds into, None for a stream with no read model."""
    if stream.startswith(THREAD_PREFIX):
        return ThreadState()
    if stream.startswith(TEMPERATURE_PREFIX):
        return TemperatureState()
    return None


class _Replay:
    """One replay's counters, progress and live-state readers; it holds no stream's state."""

    def __init__(
        self,
        store: EventStore,
        *,
        check: bool,
        progress: Progress | None,
        on_difference: OnDifference | None,
        expired_before: datetime,
    ) -> None:
        self.result = ReplayResult()
        self._expired_before = expired_before
        self._store = store
        self._check = check
        self._progress = progress
        self._pending = 0
        self._on_difference = on_difference
        # Capacity 1, and each stream forgotten once compared: the live path is the
        # request path, but nothing of it is kept from one stream to the next.
        self._live_threads = StreamCache(store, ThreadState, capacity=1)
        self._live_temperatures = StreamCache(store, TemperatureState, capacity=1)
        self.index: IndexReplay | None = None

    async def fold_stream(self, stream: str, on_state: OnState | None) -> None:
        """Fold one stream page by page, count what it rebuilt, check it, hand it on.

        With check, the live state is loaded first and the fold stops at its version, so
        both sides describe the same events even while a server appends to the stream.
        """
        state = _new_state(stream)
        live = None if state is None or not self._check else await self._live_state(stream, state)
        until = None if live is None else live.version
        last_answer: Answer | None = None
        version = 0
        index = self.index if isinstance(state, ThreadState) else None
        index_state = None if index is None else index.new_state()
        docs: dict[str, SearchDoc] = {}
        while until is None or version < until:
            limit = PAGE if until is None else min(PAGE, until - version)
            batch = await self._store.read_stream(stream, after_version=version, limit=limit)
            indexing = index is not None and await index.prepare(batch)
            for item in batch:
                last_answer = await self._fold_event(item, state, last_answer)
                if indexing and index is not None and index_state is not None:
                    index.follow(index_state, item, docs)
            self._advance(len(batch))
            if len(batch) < limit:
                break
            version = batch[-1].event.version
        self._count(state)
        if index is not None and index_state is not None:
            await index.finish(stream, index_state, docs)
        if state is None:
            return
        if live is not None:
            self._compare(stream, state, live)
        if on_state is not None:
            on_state(stream, state)

    def flush_progress(self) -> None:
        """Advance the progress bar by the events folded since it last moved."""
        if self._progress is not None and self._pending:
            self._progress(self._pending)
        self._pending = 0

    async def _fold_event(
        self, item: RecordedEvent, state: State | None, last_answer: Answer | None
    ) -> Answer | None:
        """Fold an event, rebuild (and check) its idempotency record; return its answer."""
        event = item.event
        self.result.events += 1
        if state is not None:
            apply_event(state, event)
        # An idempotent answer's events are appended together, in one stream, by one
        # request: its record is built once, from the first of them. The same key again
        # in a later request (once its record was purged) is another answer.
        record = idempotency_record(event)
        answer = None if record is None else (record.key, event.request_id)
        if record is not None and answer != last_answer:
            self.result.idempotency_records += 1
            if self._check:
                await self._check_record(record, item.position)
        return answer

    def _advance(self, events: int) -> None:
        self._pending += events
        if self._pending >= PROGRESS_STEP:
            self.flush_progress()

    def _count(self, state: State | None) -> None:
        if isinstance(state, ThreadState):
            self.result.threads += 1
            # A thread's seqs run 1, 2, ... with no gap: its newest seq is its message count.
            self.result.messages += state.last_seq
        elif isinstance(state, TemperatureState):
            self.result.temperature_configs += 1

    def differs(self, difference: str) -> None:
        """Count a difference and hand it on."""
        self._differs(difference)

    def _differs(self, difference: str) -> None:
        self.result.differences += 1
        if self._on_difference is not None:
            self._on_difference(difference)

    async def _check_record(self, rebuilt: IdempotencyRecord, position: int) -> None:
        if rebuilt.created_at < self._expired_before:
            # Past the retention: it may be purged, and its key used again since.
            self.result.expired_records += 1
            return
        live = await self._store.get_idempotency(rebuilt.key)
        where = f"idempotency record {rebuilt.key[:12]}… (event at position {position})"
        if live is None:
            self._differs(f"{where}: missing from the store")
            return
        changed = [
            name
            for name in ("fingerprint", "status", "body")
            if getattr(rebuilt, name) != getattr(live, name)
        ]
        if abs(rebuilt.created_at - live.created_at) > CREATED_AT_SLACK:
            changed.append("created_at")
        if changed:
            self._differs(f"{where}: {', '.join(changed)} differ")

    async def _live_state(self, stream: str, rebuilt: State) -> State:
        """Load a stream's state as the request path does, then forget it there."""
        live: State
        if isinstance(rebuilt, ThreadState):
            live = await self._live_threads.load(stream)
            self._live_threads.forget(stream)
        else:
            live = await self._live_temperatures.load(stream)
            self._live_temperatures.forget(stream)
        return live

    def _compare(self, stream: str, rebuilt: State, live: State) -> None:
        """Report a difference between a rebuilt state and the live one."""
        changed = _changed_fields(rebuilt, live)
        if changed:
            self._differs(f"{stream}: {', '.join(changed)} differ from the live state")


def _changed_fields(rebuilt: State, live: State) -> Sequence[str]:
    # Fields that do not take part in equality (a key ring, counts of in-place changes)
    # tell nothing about the log.
    names = [field.name for field in attrs.fields(type(rebuilt)) if field.eq]
    return [name for name in names if getattr(rebuilt, name) != getattr(live, name)]
