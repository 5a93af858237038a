"""Reads: threads, message pages and the temperature config, each within one tenant and env."""

from __future__ import annotations

from collections.abc import Hashable

from chat_core.caches import PageCache, StreamCache, ThreadCache
from chat_core.context import AuthContext, RequestContext, require_role
from chat_core.cursors import decode_cursor, encode_cursor
from chat_core.errors import NotFound
from chat_core.search import SearchPage, search_messages
from chat_core.state import (
    TemperatureState,
    ThreadState,
    temperature_stream,
    thread_stream,
)
from chat_core.thread_directory import ThreadDirectory
from chat_core.thread_listing import ThreadFilter, listed
from chat_core.views import MessageView, Page, TemperatureConfigView, ThreadView
from chat_core.visibility import visible_thread
from events.search.terms import Term
from events.store.base import EventStore

__all__ = ["ChatQueries"]


class ChatQueries:
    """Answer reads from cached stream folds and the store's indexes."""

    def __init__(
        self,
        *,
        store: EventStore,
        threads: ThreadCache,
        temperatures: StreamCache[TemperatureState],
        temperature_defaults: TemperatureState,
    ) -> None:
        self._store = store
        self._threads = threads
        self._temperatures = temperatures
        self._defaults = temperature_defaults
        self._pages = PageCache()
        self._directory = ThreadDirectory(store)

    async def list_threads(
        self,
        context: RequestContext,
        auth: AuthContext,
        *,
        limit: int,
        after: str | None,
        wanted: ThreadFilter | None = None,
    ) -> Page:
        """Return a page of this tenant and env's threads the caller may see, newest first.

        Threads the caller may not see, or that the filter leaves out, are skipped on the
        thread directory's facts without folding them (chat_core.thread_directory), so a
        page is always full unless it is the last.
        """
        require_role(context, auth)
        wanted = wanted or ThreadFilter()
        before = None if after is None else decode_cursor(after, "threads", "desc")
        shown: list[tuple[int, ThreadView]] = []
        # The directory yields only threads the caller may see (archived and creator as
        # asked); each is still folded and held to the listing's whole rule here.
        walk = await self._directory.walk(
            context, auth, before=before, archived=wanted.archived, created_by=wanted.created_by
        )
        for facts in walk:
            state = await self._threads.load(thread_stream(context, facts.thread_id))
            if listed(state, context, auth, wanted):
                shown.append((facts.position, state.view()))
                if len(shown) > limit:
                    break
        has_more = len(shown) > limit
        cursor = encode_cursor("threads", "desc", shown[limit - 1][0]) if has_more else None
        return Page(data=tuple(view for _, view in shown[:limit]), has_more=has_more, next=cursor)

    async def search(
        self,
        context: RequestContext,
        auth: AuthContext,
        *,
        terms: tuple[Term, ...],
        thread_id: str | None,
        limit: int,
        after: str | None,
    ) -> SearchPage:
        """Return a page of the messages the caller may read that hold every term."""
        return await search_messages(
            self._store,
            self._threads,
            context,
            auth,
            terms=terms,
            thread_id=thread_id,
            limit=limit,
            after=after,
            directory=self._directory,
        )

    async def get_thread(
        self, context: RequestContext, auth: AuthContext, thread_id: str
    ) -> ThreadView:
        """Return one thread of this tenant and env, else NotFound."""
        return (await self._thread(context, auth, thread_id)).view()

    async def list_messages(
        self,
        context: RequestContext,
        auth: AuthContext,
        thread_id: str,
        *,
        limit: int,
        after: str | None,
        order: str,
    ) -> Page:
        """Return a page of a thread's messages by seq, in either order.

        Access is checked first, on every request; a page of messages all kept in memory
        is then served again from the page cache until the thread changes.
        """
        state = await self._thread(context, auth, thread_id)
        stream = thread_stream(context, thread_id)
        key = (stream, order, after, limit)
        page = self._pages.get(key, state)
        if page is not None:
            return page
        # One more than the page, to tell whether there is a next one.
        if order == "asc":
            start = 0 if after is None else decode_cursor(after, "messages", order)
            first, last = start + 1, start + limit + 1
        else:
            end = state.last_seq + 1
            if after is not None:
                end = min(end, decode_cursor(after, "messages", order))
            first, last = end - limit - 1, end - 1
        chosen = await self._threads.span(stream, state, first, last)
        if order != "asc":
            chosen.reverse()
        has_more = len(chosen) > limit
        views: list[MessageView] = [message.view(thread_id) for message in chosen[:limit]]
        cursor = encode_cursor("messages", order, views[-1].seq) if has_more else None
        page = Page(data=tuple(views), has_more=has_more, next=cursor)
        if state.holds(first, last):
            self._pages.put(key, state, page)
        return page

    async def list_children(
        self,
        context: RequestContext,
        auth: AuthContext,
        thread_id: str,
        parent_id: str,
        *,
        limit: int,
        after: str | None,
        order: str,
    ) -> Page:
        """Return a page of the children of a message of the thread, by seq, else NotFound."""
        state = await self._thread(context, auth, thread_id)
        stream = thread_stream(context, thread_id)
        parent = await self._threads.find(stream, state, parent_id)
        if parent is None:
            raise NotFound("no such message in this thread")
        seqs = state.children_seqs(parent.seq)
        if order == "asc":
            if after is not None:
                start = decode_cursor(after, "messages", order)
                seqs = [seq for seq in seqs if seq > start]
        else:
            seqs.reverse()
            if after is not None:
                end = decode_cursor(after, "messages", order)
                seqs = [seq for seq in seqs if seq < end]
        return await self._seq_page(stream, state, thread_id, seqs, limit, "messages", order)

    async def get_path(
        self,
        context: RequestContext,
        auth: AuthContext,
        thread_id: str,
        message_id: str,
        *,
        limit: int,
        after: str | None,
    ) -> Page:
        """Return a page of the messages from the root to a message of the thread, root first."""
        state = await self._thread(context, auth, thread_id)
        stream = thread_stream(context, thread_id)
        key = (stream, "path", message_id, after, limit)
        page = self._pages.get(key, state)
        if page is not None:
            return page
        seq = state.seq_of(message_id)
        message = None if seq is None else state.kept_message(seq)
        if message is None or message.message_id != message_id:
            message = await self._threads.find(stream, state, message_id)
        if message is None:
            raise NotFound("no such message in this thread")
        seqs = state.path_seqs(message.seq)
        if after is not None:
            start = decode_cursor(after, "path", "asc")
            seqs = [seq for seq in seqs if seq > start]
        return await self._seq_page(stream, state, thread_id, seqs, limit, "path", "asc", key)

    async def _seq_page(
        self,
        stream: str,
        state: ThreadState,
        thread_id: str,
        seqs: list[int],
        limit: int,
        kind: str,
        order: str,
        key: Hashable | None = None,
    ) -> Page:
        """Render a page of the messages with these seqs, in their order, the first limit."""
        has_more = len(seqs) > limit
        chosen = seqs[:limit]
        ascending = sorted(chosen) if order != "asc" else chosen
        version, withdrawals = state.version, state.withdrawals
        messages = await self._threads.pick(stream, state, ascending)
        if order != "asc":
            messages.reverse()
        views: list[MessageView] = [message.view(thread_id) for message in messages]
        cursor = encode_cursor(kind, order, chosen[-1]) if has_more else None
        page = Page(data=tuple(views), has_more=has_more, next=cursor)
        # Read back or not, the page shows the thread as of this version and withdrawals
        # (redactions and ratings move the version, an erasure the withdrawals): kept
        # unless either moved while its messages were read.
        if key is not None and (state.version, state.withdrawals) == (version, withdrawals):
            self._pages.put(key, state, page)
        return page

    async def get_temperature(
        self, context: RequestContext, auth: AuthContext
    ) -> TemperatureConfigView:
        """Return the temperature config, or the configured defaults at version 0."""
        require_role(context, auth)
        state = await self._temperatures.load(temperature_stream(context))
        source = state if state.version else self._defaults
        return TemperatureConfigView(
            tenant=context.tenant,
            env=context.env,
            default=source.default,
            min=source.min,
            max=source.max,
            overrides=source.overrides,
            version=state.version,
            updated_at=state.updated_at,
            updated_by=state.updated_by,
        )

    async def _thread(
        self, context: RequestContext, auth: AuthContext, thread_id: str
    ) -> ThreadState:
        return await visible_thread(self._threads, context, auth, thread_id)
