"""The caches: folded stream states and rendered message pages, bounded, caught up on use.

Nothing is replayed at start-up: a stream is folded the first time it is used and kept in
a bounded LRU, caught up from the store (or from the events just appended to it) whenever
it is used again. Each cache is built by bootstrap() and belongs to one core; nothing here
is shared by the process.

The thread cache has two bounds: the messages it keeps (CHAT_CORE_CACHE_MESSAGES) and the
bytes it holds (CHAT_CORE_CACHE_BYTES). Over the byte budget it first lets go of the kept
messages of the threads used least recently, keeping their folds: a post to such a thread
needs only its fold, and a read reads the messages it wants back from the stream (one
page's worth, not the thread) and keeps them again. A whole fold goes only when the
messages bound is passed, or when folds alone outgrow the budget.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from typing import Any, Generic

from chat_core.fold import S, apply_event, message_state
from chat_core.generation_fold import apply_to_message
from chat_core.payloads import MessagePosted
from chat_core.state import STRIDE, MessageState, ThreadState
from chat_core.views import Page
from events.store.base import EventStore, RecordedEvent

__all__ = [
    "CACHE_BYTES",
    "PAGE_CACHE_BYTES",
    "PageCache",
    "StreamCache",
    "ThreadCache",
    "thread_weight",
]

# Bytes of rendered message pages kept by a PageCache.
PAGE_CACHE_BYTES = 8 << 20
# Bytes a ThreadCache holds unless told otherwise (CHAT_CORE_CACHE_BYTES).
CACHE_BYTES = 256 << 20


def thread_weight(state: ThreadState) -> int:
    """Weigh a cached thread by its messages, which is what its memory grows with."""
    return 1 + len(state.first) + len(state.recent)


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
        # Folds under way of streams not cached, which other loads of them wait for.
        self._folding: dict[str, asyncio.Future[S]] = {}

    @property
    def weight(self) -> int:
        """Return the summed weight of the cached states."""
        return self._total

    def __contains__(self, stream: object) -> bool:
        return stream in self._states

    def current(self, stream: str) -> S | None:
        """Return the stream's cached state when it needs no catching up (a sole writer's)."""
        if not self._sole_writer:
            return None
        state = self._states.get(stream)
        if state is not None:
            self._used(stream)
        return state

    async def load(self, stream: str) -> S:
        """Return the stream's state, folded up to the store's newest event."""
        state = self._states.get(stream)
        if state is None:
            # Loads of a stream not cached share one fold from the start; each that joins
            # it late catches up as a load of a cached state would (a sole writer need not).
            folding = self._folding.get(stream)
            joined = folding is not None
            if folding is None:
                folding = asyncio.ensure_future(self._fold_anew(stream))
                folding.add_done_callback(_retrieved)
                self._folding[stream] = folding
            state = await asyncio.shield(folding)
            if self._sole_writer or not joined:
                return state
            return await self._catch_up(stream, state)
        self._used(stream)
        if self._sole_writer:
            return state
        return await self._catch_up(stream, state)

    async def _fold_anew(self, stream: str) -> S:
        try:
            return await self._catch_up(stream, self._new_state())
        finally:
            # Gone before the fold's result is set: a later load never joins a finished one.
            self._folding.pop(stream, None)

    async def _catch_up(self, stream: str, state: S) -> S:
        """Fold the store's events after the state's version into it; return it as cached."""
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
        if self._states.pop(stream, None) is not None:
            self._dropped(stream)

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
            self._used(stream)
            self._weighed(stream, state)
        return state

    def _used(self, stream: str) -> None:
        """Make a cached stream the most recently used."""
        self._states.move_to_end(stream)

    def _weighed(self, stream: str, state: S) -> None:
        """Weigh a state just cached or moved on, and make room for it."""
        weight = self._weigh(state)
        self._total += weight - self._weights.get(stream, 0)
        self._weights[stream] = weight
        while self._total > self._capacity and len(self._states) > 1:
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used state."""
        evicted, _ = self._states.popitem(last=False)
        self._dropped(evicted)

    def _dropped(self, stream: str) -> None:
        """Forget what a dropped state weighed."""
        self._total -= self._weights.pop(stream, 0)


class ThreadCache(StreamCache[ThreadState]):
    """Cached threads within a byte budget; messages not kept are read back when asked for."""

    def __init__(
        self,
        store: EventStore,
        new_state: Callable[[], ThreadState],
        *,
        capacity: int = 10_000,
        max_bytes: int = CACHE_BYTES,
        sole_writer: bool = False,
        prepare: Callable[[list[RecordedEvent]], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            store,
            new_state,
            capacity=capacity,
            weigh=thread_weight,
            sole_writer=sole_writer,
            prepare=prepare,
        )
        self._max_bytes = max_bytes
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        # Threads that keep messages in memory, least recently used first: the first to
        # let them go when the budget is passed.
        self._holding: OrderedDict[str, None] = OrderedDict()

    @property
    def bytes(self) -> int:
        """Return the bytes the cached threads hold, as their sizes estimate them."""
        return self._bytes

    def _used(self, stream: str) -> None:
        self._states.move_to_end(stream)
        if stream in self._holding:
            self._holding.move_to_end(stream)

    def _weighed(self, stream: str, state: ThreadState) -> None:
        size = state.size
        self._bytes += size - self._sizes.get(stream, 0)
        self._sizes[stream] = size
        if state.kept_bytes:
            self._holding[stream] = None
            self._holding.move_to_end(stream)
        super()._weighed(stream, state)
        while self._bytes > self._max_bytes and self._holding:
            self._let_go(next(iter(self._holding)))
        while self._bytes > self._max_bytes and len(self._states) > 1:
            self._evict()

    def _let_go(self, stream: str) -> None:
        """Drop messages a thread keeps in memory (its fold stays), and weigh it again."""
        state = self._states[stream]
        state.let_go()
        if not state.kept_bytes:
            del self._holding[stream]
        size, weight = state.size, self._weigh(state)
        self._bytes += size - self._sizes[stream]
        self._total += weight - self._weights[stream]
        self._sizes[stream], self._weights[stream] = size, weight

    def _dropped(self, stream: str) -> None:
        super()._dropped(stream)
        self._bytes -= self._sizes.pop(stream, 0)
        self._holding.pop(stream, None)

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
        low, high = max(first, kept_first + 1), min(last, state.first_recent_seq - 1)
        middle: list[MessageState] = []
        if low <= high:
            withdrawals = state.withdrawals
            middle = await self._read_back(stream, state, low, high)
            if len(middle) == high - low + 1:
                self._take_back(stream, state, middle, withdrawals)
        # The newest from memory, as they are now (read back, they may be kept again).
        tail_first = max(first, kept_first + 1, high + 1, state.first_recent_seq)
        start = tail_first - state.first_recent_seq
        tail = state.recent[start : max(start, start + last - tail_first + 1)]
        return head + middle + tail

    def _take_back(
        self, stream: str, state: ThreadState, found: list[MessageState], withdrawals: int
    ) -> None:
        """Keep messages read back in their thread again, unless an erasure came meanwhile.

        A redaction or rating folded while they were read is shown on them first; an erasure moves
        the thread's withdrawals, and what was opened before it is not kept.
        """
        if self._states.get(stream) is not state or state.withdrawals != withdrawals:
            return
        for message in found:
            if message.message_id in state.redacted and not message.redacted:
                message.withdraw(redacted=True)
            # A rating folded meanwhile too.
            message.rated(state.ratings.get(message.message_id))
        if state.take_back(found):
            self._weighed(stream, state)

    async def pick(self, stream: str, state: ThreadState, seqs: list[int]) -> list[MessageState]:
        """Return the thread's messages with these seqs (ascending).

        Those not kept in memory are read back from the stream, a run of nearby seqs in one
        read that opens only the messages asked for.
        """
        found: dict[int, MessageState] = {}
        missing: list[int] = []
        for seq in seqs:
            message = state.kept_message(seq)
            if message is None:
                missing.append(seq)
            else:
                found[seq] = message
        for run in _runs(missing):
            wanted = set(run)
            for message in await self._read_back(stream, state, run[0], run[-1], wanted):
                found[message.seq] = message
        return [found[seq] for seq in seqs if seq in found]

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
        self,
        stream: str,
        state: ThreadState,
        first: int,
        last: int,
        only: set[int] | None = None,
    ) -> list[MessageState]:
        # Seqs run 1, 2, ... so the mark exists; a log whose seqs do not (edited underneath)
        # is read from the nearest mark before, or from the start, never refused.
        # From the mark before the message ahead of the first: its id is the first's
        # parent when that names none.
        marks = state.marks
        mark = min((max(first - 1, 1) - 1) // STRIDE, len(marks) - 1)
        after = marks[mark] - 1 if mark >= 0 else 0
        found: list[MessageState] = []
        predecessor: str | None = None
        while after < state.version:
            # A page's messages, plus what may precede them after their mark, in one read.
            count = min(1000, state.version - after, last - first + STRIDE + 32)
            batch = await self._store.read_stream(stream, after_version=after, limit=count)
            if not batch:
                break
            if self._prepare is not None:
                await self._prepare(batch)
            for item in batch:
                payload = item.event.payload
                if type(payload) is not MessagePosted:
                    continue
                if not first <= payload.seq <= last or (
                    only is not None and payload.seq not in only
                ):
                    predecessor = payload.message_id
                    continue
                message = message_state(payload, item.event, state.keys, predecessor=predecessor)
                predecessor = payload.message_id
                if message.status == "in_progress":
                    message = await self._generated(stream, state, message, item.event.version)
                if payload.message_id in state.redacted:
                    message.withdraw(redacted=True)
                if payload.message_id in state.ratings:
                    message.rated(state.ratings[payload.message_id])
                found.append(message)
                if payload.seq == last:
                    return found
            after = batch[-1].event.version
        return found

    async def _generated(
        self, stream: str, state: ThreadState, message: MessageState, posted: int
    ) -> MessageState:
        """Return a generation read back with its chunks and end, as the thread folded them.

        One in progress is the thread's own (its chunks fold into it); an ended one is read
        from its start to its end, taking its own events.
        """
        live = state.generating.get(message.message_id)
        if live is not None:
            return live
        ended = state.ended.get(message.message_id)
        end = None if ended is None else ended[0]
        after = posted
        while end is not None and after < end:
            batch = await self._store.read_stream(
                stream, after_version=after, limit=min(1000, end - after)
            )
            if not batch:
                break
            if self._prepare is not None:
                await self._prepare(batch)
            for item in batch:
                if getattr(item.event.payload, "message_id", None) == message.message_id:
                    apply_to_message(message, item.event, state.keys)
            after = batch[-1].event.version
        return message


def _retrieved(done: asyncio.Future[Any]) -> None:
    """Take a shared fold's exception, so that none is reported unheard when no load waits."""
    if not done.cancelled():
        done.exception()


def _runs(seqs: list[int]) -> list[list[int]]:
    """Split ascending seqs into runs read back in one go: nearby ones share a read."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq - runs[-1][-1] <= STRIDE:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return runs


class PageCache:
    """Rendered pages of messages, each served again until its thread changes.

    A page is kept only when all its messages were in memory, so that it is a function of
    the thread's state object alone: of its version (every post, redaction or other event
    moves it) and of its withdrawals, which an erasure makes in place without an event in
    the thread. A page is served again only for the very state object it was rendered
    from, at the same version and count of withdrawals; the caller has checked the
    request's access to the thread before asking. Bounded by the bytes of the pages kept,
    least recently used first out; a page holds its state weakly, so a thread the thread
    cache let go is not kept alive here.
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
        if owner() is not state or version != state.version or withdrawals != state.withdrawals:
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
        self._pages[key] = (weakref.ref(state), state.version, state.withdrawals, page)
        self._size += size
        while self._size > self._budget:
            _key, evicted = self._pages.popitem(last=False)
            self._size -= len(evicted[3].json_bytes())

    @property
    def size(self) -> int:
        """Return the bytes of the pages kept."""
        return self._size
