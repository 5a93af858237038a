"""Read models folded from each stream's events, cached and caught up from the store on use.

A cached state is only ever moved forward by events read from the store (or just appended
to it), so it is exactly the fold of its stream up to its version. Nothing is replayed at
start-up: a stream is folded the first time it is used and kept in a bounded LRU.
"""

from __future__ import annotations

import weakref
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import singledispatch
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar

from attrs import define, field

from chat_core.payloads import (
    MessagePosted,
    MessageRedacted,
    TemperatureConfigChanged,
    ThreadCreated,
)
from chat_core.sealing import open_message, sealed_key_id
from chat_core.streams import names_seq, seq_in_message_id
from chat_core.views import MessageView, Page, ThreadView, message_view
from events.envelope import DatasetEvent, Env, EventPayload, FrozenMap
from events.keys import KeyRing
from events.store.base import EventStore, RecordedEvent

__all__ = [
    "MessageState",
    "PageCache",
    "StreamCache",
    "TemperatureState",
    "ThreadCache",
    "ThreadState",
    "apply_event",
    "erase_cached",
    "message_subjects",
]

_NO_METADATA: FrozenMap = MappingProxyType({})
# Messages of a thread kept in memory, oldest and newest: more than the largest page (100).
FIRST = 256
RECENT = 256
# A thread remembers the stream version of every STRIDE-th message, to read older ones back.
STRIDE = 64
# Bytes of rendered message pages kept by a PageCache.
PAGE_CACHE_BYTES = 8 << 20
# Messages withdrawn (redacted or erased) in this process so far: any withdrawal may change
# a page that a PageCache holds, so each cached page names the count it was rendered at.
_withdrawals = 0


@define(kw_only=True)
class MessageState:
    """One message as folded from its events, opened with its author's key when one is given.

    Equality compares what the log holds (the sealed form, redaction), not what a key opened,
    so a fold without keys compares equal to one with them.
    """

    message_id: str
    seq: int
    role: str
    content: str | None = field(eq=False)
    metadata: FrozenMap = field(eq=False)
    author: str
    created_at: datetime
    request_id: str
    redacted: bool = False
    erased: bool = field(default=False, eq=False)
    sealed: str | None = None
    cached_view: MessageView | None = field(default=None, eq=False, repr=False)

    def withdraw(self, *, redacted: bool = False, erased: bool = False) -> None:
        """Mark the content redacted or erased, so no later view shows it (nor cached page)."""
        global _withdrawals
        self.redacted = self.redacted or redacted
        self.erased = self.erased or erased
        self.cached_view = None
        _withdrawals += 1

    def view(self, thread_id: str) -> MessageView:
        """Return the message as the API shows it, built once until it is withdrawn."""
        if self.cached_view is None:
            self.cached_view = self._build_view(thread_id)
        return self.cached_view

    def _build_view(self, thread_id: str) -> MessageView:
        withdrawn = self.redacted or self.erased
        return message_view(
            self.message_id,
            thread_id,
            self.seq,
            self.role,
            None if withdrawn else self.content,
            {} if withdrawn else self.metadata,
            self.author,
            self.created_at,
            self.request_id,
            redacted=self.redacted,
            erased=self.erased,
        )


@define(kw_only=True)
class ThreadState:
    """A thread, its first and newest messages, and marks that find any other in its stream.

    Memory per thread is bounded: the FIRST oldest and the RECENT newest messages are kept
    (a page is at most 100; the default order starts at the oldest, a chat at the newest).
    Those between are read back from the stream when asked for, starting at the mark of
    their seq (the stream version of every STRIDE-th message). Redactions are remembered by
    id, so a message read back shows them; erasures show through the destroyed keys.
    """

    version: int = 0
    # Opens sealed messages as they are folded; without it they fold with no content.
    keys: KeyRing | None = field(default=None, eq=False, repr=False)
    thread_id: str | None = None
    tenant: str | None = None
    env: Env | None = None
    title: str | None = None
    metadata: FrozenMap = field(factory=dict)
    created_at: datetime | None = None
    created_by: str | None = None
    message_count: int = 0
    first: list[MessageState] = field(factory=list)
    recent: list[MessageState] = field(factory=list)
    marks: array[int] = field(factory=lambda: array("q"))
    redacted: set[str] = field(factory=set)
    # Ids that do not name their own seq (made before ids did), so they are looked up here.
    unnamed: dict[str, int] = field(factory=dict)

    @property
    def exists(self) -> bool:
        """Tell whether the thread was created."""
        return self.thread_id is not None

    @property
    def last_seq(self) -> int:
        """Return the seq of the newest message, 0 when there is none."""
        return self.message_count

    @property
    def first_recent_seq(self) -> int:
        """Return the seq of the oldest message kept in memory (last_seq + 1 when none is)."""
        return self.message_count - len(self.recent) + 1

    def seq_of(self, message_id: str) -> int | None:
        """Return the seq a message id names, or None when no message of it could have it."""
        seq = self.unnamed.get(message_id) or seq_in_message_id(message_id)
        return seq if seq is not None and 1 <= seq <= self.message_count else None

    def kept_message(self, seq: int) -> MessageState | None:
        """Return the message at seq when it is among the first or recent ones kept in memory."""
        if 1 <= seq <= len(self.first):
            return self.first[seq - 1]
        index = seq - self.first_recent_seq
        return self.recent[index] if 0 <= index < len(self.recent) else None

    def holds(self, first: int, last: int) -> bool:
        """Tell whether every message with seq first..last (clipped) is kept in memory."""
        first, last = max(first, 1), min(last, self.message_count)
        return max(first, len(self.first) + 1) > min(last, self.first_recent_seq - 1)

    def kept(self) -> Iterator[MessageState]:
        """Yield each message kept in memory once (the two lists share messages at first)."""
        yield from self.first
        for message in self.recent:
            if message.seq > len(self.first):
                yield message

    def view(self) -> ThreadView:
        """Return the thread as the API shows it."""
        assert self.thread_id is not None and self.created_at is not None
        assert self.created_by is not None
        return ThreadView(
            id=self.thread_id,
            title=self.title,
            metadata=self.metadata,
            created_at=self.created_at,
            created_by=self.created_by,
            message_count=self.message_count,
            last_seq=self.last_seq,
        )


@define(kw_only=True)
class TemperatureState:
    """The newest temperature config change of one tenant and env."""

    version: int = 0
    default: float = 0.0
    min: float = 0.0
    max: float = 0.0
    overrides: Mapping[str, float] = field(factory=dict)
    updated_at: datetime | None = None
    updated_by: str | None = None


class Versioned(Protocol):
    version: int


S = TypeVar("S", bound=Versioned)


@singledispatch
def _apply(payload: EventPayload, state: object, event: DatasetEvent) -> None:
    """Ignore event types a state does not fold."""


@_apply.register
def _(payload: ThreadCreated, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        state.thread_id = payload.thread_id
        state.tenant = event.tenant
        state.env = event.env
        state.title = payload.title
        state.metadata = payload.metadata
        state.created_at = event.occurred_at
        state.created_by = event.actor


@_apply.register
def _(payload: MessagePosted, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        message = message_state(payload, event, state.keys)
        seq = payload.seq
        if (seq - 1) % STRIDE == 0:
            state.marks.append(event.version)
        if not names_seq(payload.message_id, seq):
            state.unnamed[payload.message_id] = seq
        state.message_count = seq
        if seq <= FIRST:
            state.first.append(message)
        recent = state.recent
        recent.append(message)
        if len(recent) > RECENT:
            del recent[0]


def message_state(
    payload: MessagePosted, event: DatasetEvent, keys: KeyRing | None
) -> MessageState:
    """Fold a posted message, opened with its author's key when keys are given."""
    content, metadata, erased = _words(payload, event, keys)
    return MessageState(
        message_id=payload.message_id,
        seq=payload.seq,
        role=payload.role,
        content=content,
        metadata=metadata,
        author=event.actor,
        created_at=event.occurred_at,
        request_id=event.request_id,
        erased=erased,
        sealed=payload.sealed,
    )


def _words(
    payload: MessagePosted, event: DatasetEvent, keys: KeyRing | None
) -> tuple[str | None, FrozenMap, bool]:
    """Return a message's content, metadata and whether its author was erased."""
    if payload.sealed is None:
        # Schema 1, stored in clear before encryption: an erasure still hides it from reads.
        erased = keys is not None and keys.subject(event.tenant, event.actor).erased
        return (None, _NO_METADATA, True) if erased else (payload.content, payload.metadata, False)
    if keys is None:
        return None, _NO_METADATA, False
    opened = open_message(
        keys,
        tenant=event.tenant,
        author=event.actor,
        message_id=payload.message_id,
        sealed=payload.sealed,
    )
    if opened is None:
        return None, _NO_METADATA, True
    return opened[0], opened[1], False


def message_subjects(recorded: Iterable[RecordedEvent]) -> set[tuple[str, str]]:
    """Return the (tenant, author) of every posted message, whose keys a fold will need."""
    return {
        (item.event.tenant, item.event.actor)
        for item in recorded
        if type(item.event.payload) is MessagePosted
    }


def erase_cached(states: Iterable[object], tenant: str, subject: str, through_key_id: int) -> int:
    """Withdraw, as erased, a subject's messages sealed under destroyed keys; return how many.

    Changed in place, so a state an append is about to cache again is withdrawn too.
    """
    count = 0
    for state in states:
        if not isinstance(state, ThreadState) or state.tenant != tenant:
            continue
        for message in state.kept():
            if message.author != subject or message.erased:
                continue
            if message.sealed is None or sealed_key_id(message.sealed) <= through_key_id:
                message.withdraw(erased=True)
                message.content, message.metadata = None, _NO_METADATA
                count += 1
    return count


@_apply.register
def _(payload: MessageRedacted, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        state.redacted.add(payload.message_id)
        message = state.kept_message(payload.seq)
        if message is not None and message.message_id == payload.message_id:
            message.withdraw(redacted=True)


@_apply.register
def _(payload: TemperatureConfigChanged, state: object, event: DatasetEvent) -> None:
    if isinstance(state, TemperatureState):
        state.default = payload.default
        state.min = payload.min
        state.max = payload.max
        state.overrides = payload.overrides
        state.updated_at = event.occurred_at
        state.updated_by = event.actor


# _apply's implementation per payload class, looked up once: singledispatch's own lookup
# goes through a WeakKeyDictionary on every call, and every post is folded.
_FOLDS: dict[type[EventPayload], Callable[[EventPayload, object, DatasetEvent], None]] = {}


def apply_event(state: S, event: DatasetEvent) -> S:
    """Fold one event into a state, moving its version on."""
    payload = event.payload
    fold = _FOLDS.get(type(payload))
    if fold is None:
        fold = _FOLDS[type(payload)] = _apply.dispatch(type(payload))
    fold(payload, state, event)
    state.version = event.version
    return state


class StreamCache(Generic[S]):
    """A bounded LRU of folded stream states, caught up from the store on every use."""

    def __init__(
        self,
        store: EventStore,
        new_state: Callable[[], S],
        *,
        capacity: int = 10_000,
        weigh: Callable[[S], int] = lambda _state: 1,
        sole_writer: bool = False,
        prepare: Callable[[list[RecordedEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._new_state = new_state
        # Run before a batch read from the store is folded, e.g. to fetch the keys it needs.
        self._prepare = prepare
        # The cache holds states whose weights (e.g. messages) add up to at most capacity,
        # so memory is bounded by what is cached, not by how many streams there are.
        self._capacity = capacity
        self._weigh = weigh
        self._weights: dict[str, int] = {}
        self._total = 0
        # When this process is the store's only writer, every append to a cached stream
        # passes through advance(), so a cached state is current without asking the store.
        self._sole_writer = sole_writer
        self._states: OrderedDict[str, S] = OrderedDict()

    @property
    def weight(self) -> int:
        """Return the summed weight of the cached states."""
        return self._total

    def __contains__(self, stream: object) -> bool:
        return stream in self._states

    async def load(self, stream: str) -> S:
        """Return the stream's state, folded up to the store's newest event."""
        state = self._states.get(stream)
        if state is None:
            state = self._new_state()
        else:
            self._states.move_to_end(stream)
            if self._sole_writer:
                return state
        while True:
            batch = await self._store.read_stream(stream, after_version=state.version, limit=1000)
            if self._prepare is not None and batch:
                await self._prepare(batch)
            state = self.advance(stream, state, batch)
            if len(batch) < 1000:
                return state

    def states(self) -> Iterator[S]:
        """Return the cached states, to change them in place."""
        return iter(list(self._states.values()))

    def forget(self, stream: str) -> None:
        """Drop a stream's cached state so that the next load reads it from the store."""
        self._states.pop(stream, None)
        self._total -= self._weights.pop(stream, 0)

    def advance(self, stream: str, state: S, recorded: Iterable[RecordedEvent]) -> S:
        """Fold new events into a state and cache it, unless a fresher one is cached already."""
        for item in recorded:
            if item.event.version == state.version + 1:
                apply_event(state, item.event)
        cached = self._states.get(stream)
        if cached is not None and cached is not state and cached.version >= state.version:
            return cached
        if state.version:
            self._states[stream] = state
            self._states.move_to_end(stream)
            weight = self._weigh(state)
            self._total += weight - self._weights.get(stream, 0)
            self._weights[stream] = weight
            while self._total > self._capacity and len(self._states) > 1:
                evicted, _ = self._states.popitem(last=False)
                self._total -= self._weights.pop(evicted)
        return state


class PageCache:
    """Rendered pages of messages, each served again until its thread changes.

    A page is kept only when all its messages were in memory, so that it is a function of
    the thread's state object alone: of its version (every post, redaction or other event
    moves it) and of the messages' withdrawals, which erasure makes in place without an
    event in the thread. A page is served again only for the very state object it was
    rendered from, at the same version, with no message withdrawn anywhere since; the
    caller has checked the request's access to the thread before asking. Bounded by the
    bytes of the pages kept, least recently used first out; a page holds its state weakly,
    so a thread the thread cache let go is not kept alive here.
    """

    def __init__(self, budget: int = PAGE_CACHE_BYTES) -> None:
        self._budget = budget
        self._size = 0
        self._pages: OrderedDict[Hashable, tuple[weakref.ref[ThreadState], int, int, Page]] = (
            OrderedDict()
        )

    def get(self, key: Hashable, state: ThreadState) -> Page | None:
        """Return the page kept under key when it still shows this state, else None."""
        entry = self._pages.get(key)
        if entry is None:
            return None
        owner, version, withdrawals, page = entry
        if owner() is not state or version != state.version or withdrawals != _withdrawals:
            return None
        self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, state: ThreadState, page: Page) -> None:
        """Keep a page rendered from this state, all of whose messages were in memory."""
        size = len(page.json_bytes())
        old = self._pages.pop(key, None)
        if old is not None:
            self._size -= len(old[3].json_bytes())
        if size > self._budget:
            return
        self._pages[key] = (weakref.ref(state), state.version, _withdrawals, page)
        self._size += size
        while self._size > self._budget:
            _key, evicted = self._pages.popitem(last=False)
            self._size -= len(evicted[3].json_bytes())

    @property
    def size(self) -> int:
        """Return the bytes of the pages kept."""
        return self._size


class ThreadCache(StreamCache[ThreadState]):
    """Cached threads, whose older messages are read back from the store when asked for."""

    async def span(
        self, stream: str, state: ThreadState, first: int, last: int
    ) -> list[MessageState]:
        """Return the thread's messages with seq first..last (clipped to what it holds), by seq.

        The first and recent ones come from memory; those between are read from the stream
        as of the state's version, starting at the mark of the first seq, with its redactions.
        """
        first, last = max(first, 1), min(last, state.message_count)
        if first > last:
            return []
        kept_first = len(state.first)
        head = state.first[first - 1 : min(last, kept_first)]
        between = max(first, kept_first + 1), min(last, state.first_recent_seq - 1)
        middle = await self._read_back(stream, state, *between) if between[0] <= between[1] else []
        tail_first = max(first, kept_first + 1, state.first_recent_seq)
        start = tail_first - state.first_recent_seq
        tail = state.recent[start : max(start, start + last - tail_first + 1)]
        return head + middle + tail

    async def find(self, stream: str, state: ThreadState, message_id: str) -> MessageState | None:
        """Return the thread's message with this id, or None when it has none."""
        seq = state.seq_of(message_id)
        if seq is None:
            return None
        message = state.kept_message(seq)
        if message is None:
            found = await self._read_back(stream, state, seq, seq)
            message = found[0] if found else None
        return message if message is not None and message.message_id == message_id else None

    async def _read_back(
        self, stream: str, state: ThreadState, first: int, last: int
    ) -> list[MessageState]:
        # Seqs run 1, 2, ... so the mark exists; a log whose seqs do not (edited underneath)
        # is read from the nearest mark before, or from the start, never refused.
        marks = state.marks
        mark = min((first - 1) // STRIDE, len(marks) - 1)
        after = marks[mark] - 1 if mark >= 0 else 0
        found: list[MessageState] = []
        while after < state.version:
            # A page's messages, plus what may precede them after their mark, in one read.
            wanted = min(1000, state.version - after, last - first + STRIDE + 32)
            batch = await self._store.read_stream(stream, after_version=after, limit=wanted)
            if not batch:
                break
            if self._prepare is not None:
                await self._prepare(batch)
            for item in batch:
                payload = item.event.payload
                if type(payload) is not MessagePosted or not first <= payload.seq <= last:
                    continue
                message = message_state(payload, item.event, state.keys)
                if payload.message_id in state.redacted:
                    message.withdraw(redacted=True)
                found.append(message)
                if payload.seq == last:
                    return found
            after = batch[-1].event.version
        return found
