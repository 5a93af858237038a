"""Which threads of a tenant and env a caller may see, known without folding any thread.

A listing walks a tenant and env's threads newest first and shows those the caller may
see. Folding every thread to ask the visibility rule costs a member who sees 20 of 10,000
private threads 10,000 folds, each read back from the log once the thread cache has let it
go. What the rule reads of a thread (its visibility, creator and participants) and what a
listing filters on cheaply (archived, created_by) come from two event types alone,
thread.created and thread.updated. So the directory keeps those facts per tenant and env
(a book), catches a book up to the log before each walk (one read of those two types
after the book's position, on their index), and walks, by position, only the threads open
to the tenant and the caller's own private ones (every thread for an agent). A search
asks it the same of each hit whose thread is not folded already (hidden), so a hit in a
thread the caller may not see costs no fold either.

It only narrows: the caller of walk() still loads each thread it yields and asks the one
rule (visibility.may_see, through thread_listing.listed), so a thread it yields that the
rule refuses is not shown. The walk keeps only what visibility.facts_visible, the rule's
own decision on these facts, lets in, and its lists hold every thread that rule lets each
caller see as of the book's position (tests/chat/test_thread_directory.py holds the walk
to may_see on folded threads).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterator

from attrs import define, field

from chat_core.context import AuthContext, RequestContext, Role, has_role
from chat_core.payloads import ThreadCreated, ThreadUpdated
from chat_core.visibility import facts_visible
from events.envelope import Env
from events.store.base import EventFilter, EventStore

__all__ = ["DIRECTORY_THREADS", "ThreadDirectory", "ThreadFacts"]

# Threads the directory keeps in all; past it, the least recently walked books go (and are
# read back from the log when next walked). One thread's facts take about 300 bytes.
DIRECTORY_THREADS = 1_000_000
_TYPES = (ThreadCreated.event_type, ThreadUpdated.event_type)


@define(slots=True)
class ThreadFacts:
    """What a listing decides on without the thread's fold, as of a book's position."""

    position: int  # of the thread.created event: a listing's order and cursor
    thread_id: str
    visibility: str
    created_by: str
    participants: tuple[str, ...] = ()
    archived: bool = False


@define(slots=True)
class _Book:
    """One tenant and env's threads: their facts, and their positions by who may see them."""

    position: int = 0  # the last position of the log folded in
    by_thread: dict[str, ThreadFacts] = field(factory=dict)
    by_position: dict[int, ThreadFacts] = field(factory=dict)
    # Positions in ascending order: every thread, the tenant's open ones, and each sub's
    # private ones (as creator or participant).
    every: list[int] = field(factory=list)
    open: list[int] = field(factory=list)
    private: dict[str, list[int]] = field(factory=dict)
    lock: asyncio.Lock = field(factory=asyncio.Lock)

    def created(self, position: int, payload: ThreadCreated, actor: str) -> None:
        if payload.thread_id in self.by_thread:
            return  # a thread is created once; a second created event changes nothing
        facts = ThreadFacts(
            position=position,
            thread_id=payload.thread_id,
            visibility=payload.visibility,
            created_by=actor,
        )
        self.by_thread[facts.thread_id] = facts
        self.by_position[position] = facts
        # Read in log order: a new thread is past every thread this book holds.
        self.every.append(position)
        if facts.visibility == "tenant":
            self.open.append(position)
        else:
            self.private.setdefault(actor, []).append(position)

    def updated(self, payload: ThreadUpdated) -> None:
        facts = self.by_thread.get(payload.thread_id)
        if facts is None:
            return
        if payload.archived is not None:
            facts.archived = payload.archived
        if payload.participants is None or facts.visibility == "tenant":
            if payload.participants is not None:
                facts.participants = payload.participants
            return
        before = {*facts.participants, facts.created_by}
        facts.participants = payload.participants
        after = {*facts.participants, facts.created_by}
        for sub in before - after:
            positions = self.private[sub]
            del positions[bisect_left(positions, facts.position)]
        for sub in after - before:
            insort(self.private.setdefault(sub, []), facts.position)


class ThreadDirectory:
    """The facts of each tenant and env's threads, caught up from the log as they are read."""

    def __init__(self, store: EventStore, *, max_threads: int = DIRECTORY_THREADS) -> None:
        self._store = store
        self._max_threads = max_threads
        self._books: OrderedDict[tuple[str, Env], _Book] = OrderedDict()
        # The threads the books hold, counted as they grow and go.
        self._held = 0

    @property
    def held(self) -> int:
        """Return how many threads' facts the books hold."""
        return self._held

    async def walk(
        self,
        context: RequestContext,
        auth: AuthContext,
        *,
        before: int | None = None,
        archived: bool | None = None,
        created_by: str | None = None,
    ) -> Iterator[ThreadFacts]:
        """Return the threads the caller may see, newest first, created before `before`.

        The book is caught up first; the walk reads it step by step, so threads the log
        brings in while the caller awaits between steps are neither repeated nor skipped
        below the walk's place. archived and created_by leave out threads as the listing's
        filter would (None: either).
        """
        book = await self._caught_up(context.tenant, context.env)
        if has_role(auth, context.tenant, Role.AGENT):
            lists = [book.every]
        else:
            lists = [book.open, book.private.get(auth.sub, [])]
        return (
            facts
            for facts in _walk(book, lists, before, archived, created_by)
            if facts_visible(facts.visibility, facts.created_by, facts.participants, context, auth)
        )

    async def hidden(self, context: RequestContext, auth: AuthContext) -> Callable[[str], bool]:
        """Return what tells, by id, whether a thread is one the caller may not see.

        As of now: the book is caught up first. A thread the book does not know (one the
        log brought in since) is not called hidden: its fold decides, as for any other.
        """
        book = await self._caught_up(context.tenant, context.env)
        by_thread = book.by_thread

        def hidden(thread_id: str) -> bool:
            facts = by_thread.get(thread_id)
            return facts is not None and not facts_visible(
                facts.visibility, facts.created_by, facts.participants, context, auth
            )

        return hidden

    async def _caught_up(self, tenant: str, env: Env) -> _Book:
        books = self._books
        book = books.get((tenant, env))
        if book is None:
            book = books[(tenant, env)] = _Book()
        books.move_to_end((tenant, env))
        async with book.lock:
            held = len(book.every)
            selection = EventFilter(tenants=[tenant], envs=[env], types=_TYPES)
            async for item in self._store.read_all(
                after_position=book.position, event_filter=selection
            ):
                payload = item.event.payload
                if type(payload) is ThreadCreated:
                    book.created(item.position, payload, item.event.actor)
                elif type(payload) is ThreadUpdated:
                    book.updated(payload)
                book.position = item.position
            if books.get((tenant, env)) is book:  # else let go while it was read
                self._held += len(book.every) - held
        self._evict()
        return book

    def _evict(self) -> None:
        """Let the least recently walked books go while the directory holds too many threads."""
        books = self._books
        while self._held > self._max_threads and len(books) > 1:
            _, book = books.popitem(last=False)
            self._held -= len(book.every)


def _walk(
    book: _Book,
    lists: list[list[int]],
    before: int | None,
    archived: bool | None,
    created_by: str | None,
) -> Iterator[ThreadFacts]:
    """Yield the facts at the positions of lists, highest first, each below `before`."""
    below = before
    while True:
        # The next position below the walk's place in each list, found afresh each step.
        highest = 0
        for positions in lists:
            index = len(positions) if below is None else bisect_left(positions, below)
            if index:
                highest = max(highest, positions[index - 1])
        if not highest:
            return
        below = highest
        facts = book.by_position[highest]
        if archived is not None and facts.archived != archived:
            continue
        if created_by is not None and facts.created_by != created_by:
            continue
        yield facts
