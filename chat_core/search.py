"""Search the messages a caller may read, best match first, with a snippet of each.

The store's index answers which complete messages of the tenant and env hold every term
(events.store.search_reads); each hit is then read as every other route reads a message,
through the thread's fold and the one visibility rule, so a private thread's message, a
redacted or an erased one is never shown, whatever the index holds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from attrs import frozen

from chat_core.caches import ThreadCache
from chat_core.context import AuthContext, RequestContext, require_role
from chat_core.cursors import decode_cursor, encode_cursor
from chat_core.state import thread_stream
from chat_core.thread_directory import ThreadDirectory
from chat_core.views import MessageView
from chat_core.visibility import may_see, visible_thread
from events.search.records import SearchDoc, SearchQuery
from events.search.terms import Term, words
from events.store.base import EventStore

__all__ = ["SearchHit", "SearchPage", "search_messages", "snippet"]

# Hits read from the index per step once the first read had too few the caller may see.
_SCAN_BATCH = 200
# A snippet's characters before its first matching word, and in all.
_BEFORE = 60
_SNIPPET = 160
_WORD = re.compile(r"[^\W_]+")
_WORD_START = r"(?<![^\W_])"
_WORD_END = r"(?![^\W_])"
_SPACES = re.compile(r"\s+")


@frozen(kw_only=True)
class SearchHit:
    """One found message and the part of its text around the first word that matched."""

    message: MessageView
    snippet: str

    def to_json(self) -> dict[str, Any]:
        """Return the contract's object."""
        return {"message": self.message.to_json(), "snippet": self.snippet}


@frozen(kw_only=True)
class SearchPage:
    """One page of hits, with the cursor of the next."""

    data: tuple[SearchHit, ...]
    has_more: bool
    next: str | None

    def json_bytes(self) -> bytes:
        """Return the contract's page object serialised, each message's JSON spliced in."""
        hits = b",".join(
            b'{"message":%b,"snippet":%b}' % (hit.message.json_bytes(), orjson.dumps(hit.snippet))
            for hit in self.data
        )
        return b'{"data":[%b],"has_more":%b,"next":%b}' % (
            hits,
            b"true" if self.has_more else b"false",
            orjson.dumps(self.next),
        )


async def search_messages(
    store: EventStore,
    threads: ThreadCache,
    context: RequestContext,
    auth: AuthContext,
    *,
    terms: tuple[Term, ...],
    thread_id: str | None,
    limit: int,
    after: str | None,
    directory: ThreadDirectory | None = None,
) -> SearchPage:
    """Return a page of the messages the caller may read that hold every term.

    A hit whose thread is not folded yet is first asked of the directory (when given):
    one in a thread the caller may not see is left out without folding that thread.
    """
    require_role(context, auth)
    if thread_id is not None:
        await visible_thread(threads, context, auth, thread_id)
    key = 0 if after is None else decode_cursor(after, "search", "rank")
    # Each hit's stream is this prefix and its thread's id (thread_stream, formatted once).
    streams = thread_stream(context, "")
    shown: list[tuple[int, MessageView]] = []
    hidden: Callable[[str], bool] | None = None
    batch = limit + 1
    while len(shown) <= limit:
        query = SearchQuery(
            tenant=context.tenant,
            env=context.env.value,
            terms=terms,
            thread_id=thread_id,
            after=key,
            limit=batch,
        )
        found = await store.search(query)
        for doc in found:
            if directory is not None and streams + doc.thread_id not in threads:
                if hidden is None:
                    hidden = await directory.hidden(context, auth)
                if hidden(doc.thread_id):
                    continue
            view = await _readable(threads, streams, context, auth, doc)
            if view is not None:
                shown.append((doc.key, view))
                if len(shown) > limit:
                    break
        if len(found) < batch:
            break
        key = found[-1].key
        batch = _SCAN_BATCH
    has_more = len(shown) > limit
    cursor = encode_cursor("search", "rank", shown[limit - 1][0]) if has_more else None
    # The hit past the page only tells that there is more: it needs no snippet. A view
    # keeps the snippet of the latest terms that found it (a page asked again, a popular
    # query), until its message changes and a new view shows it.
    make = functools.partial(_snippet, find=_first_match_finder(terms))
    hits = tuple(
        SearchHit(message=view, snippet=view.snippet(terms, make)) for _, view in shown[:limit]
    )
    return SearchPage(data=hits, has_more=has_more, next=cursor)


async def _readable(
    threads: ThreadCache,
    streams: str,
    context: RequestContext,
    auth: AuthContext,
    doc: SearchDoc,
) -> MessageView | None:
    """Return a hit's message as the caller may read it now, or None."""
    stream = streams + doc.thread_id
    state = threads.current(stream)
    if state is None:
        state = await threads.load(stream)
    if not may_see(state, context, auth):
        return None
    message = state.kept_by_id(doc.message_id)
    if message is None:
        message = await threads.find(stream, state, doc.message_id)
    if message is None or message.status != "complete":
        return None
    view = message.view(doc.thread_id)
    if view.redacted or view.erased or view.content is None:
        return None
    return view


def snippet(content: str, terms: Sequence[Term]) -> str:
    """Return up to _SNIPPET characters of content around its first word a term matches."""
    return _snippet(content, find=_first_match_finder(tuple(terms)))


def _snippet(content: str, *, find: Callable[[str], int]) -> str:
    start = find(content)
    begin = max(0, start - _BEFORE)
    if begin:
        space = content.find(" ", begin, start)
        begin = space + 1 if space != -1 else begin
    end = min(len(content), begin + _SNIPPET)
    if end < len(content):
        space = content.rfind(" ", start, end)
        end = space if space > start else end
    text = _spaced(content[begin:end])
    return ("…" if begin else "") + text + ("…" if end < len(content) else "")


def _spaced(text: str) -> str:
    """Return text with each run of white space one space, none at either end."""
    # Printable text holds no white space but the space (str.isprintable): with no two
    # in a row, stripping it is all the pattern would do.
    if text.isprintable() and "  " not in text:
        return text.strip(" ")
    return _SPACES.sub(" ", text).strip()


@functools.lru_cache(maxsize=256)
def _first_match_finder(terms: tuple[Term, ...]) -> Callable[[str], int]:
    """Return what finds where the first word a term matches begins (0 when none does)."""
    if not all(term.word.isascii() for term in terms):
        return functools.partial(_first_word_match, terms=terms)
    # ASCII text: its words are its runs of letters and digits, lower-cased, so one
    # case-blind pattern finds the first (a word's start, and its end unless a prefix).
    pattern = "|".join(re.escape(term.word) + ("" if term.prefix else _WORD_END) for term in terms)
    compiled = re.compile(f"{_WORD_START}(?:{pattern})", re.IGNORECASE)

    def first(content: str) -> int:
        if not content.isascii():
            return _first_word_match(content, terms)
        found = compiled.search(content)
        return 0 if found is None else found.start()

    return first


def _first_word_match(content: str, terms: Sequence[Term]) -> int:
    for token in _WORD.finditer(content):
        if any(term.matches(word) for word in words(token.group()) for term in terms):
            return token.start()
    return 0
