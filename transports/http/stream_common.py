"""What both stream transports check before they follow a thread."""

from __future__ import annotations

import time

from aiohttp import web

from chat_core.payloads import ThreadUpdated
from chat_core.state import thread_stream
from chat_core.visibility import shuts_out
from events.store.base import RecordedEvent
from transports.http.app_keys import AUTH, CONTEXT, CORE, TICKET
from transports.http.problems import HTTPProblem

__all__ = ["MAX_VERSION", "check_thread", "parse_version", "seconds_left", "shut_out"]

MAX_VERSION = 2**53


def parse_version(text: str, name: str) -> int:
    """Read a stream version (a resume point), else a 400 problem."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_VERSION:
        raise HTTPProblem(400, f"{name} must be a non-negative integer version")
    return int(text)


async def check_thread(request: web.Request, thread_id: str) -> str:
    """Return the thread's stream name if the caller may follow it: 403 ticket, 404 thread."""
    ticket = request.get(TICKET)
    if ticket is not None and ticket.thread_id is not None and ticket.thread_id != thread_id:
        raise HTTPProblem(403, "the stream ticket is bound to another thread")
    context = request[CONTEXT]
    await request.app[CORE].queries.get_thread(context, request[AUTH], thread_id)
    return thread_stream(context, thread_id)


def seconds_left(request: web.Request) -> float | None:
    """Return how long the caller's token stays valid, or None when it never expires."""
    expires_at = request[AUTH].expires_at
    if not expires_at:
        return None
    return max(0.0, expires_at - time.time())


async def shut_out(request: web.Request, item: RecordedEvent) -> bool:
    """Tell whether a followed event leaves the caller outside its private thread: the
    stream ends before it, as a stream of a thread the caller may not see never begins."""
    if type(item.event.payload) is not ThreadUpdated:
        return False
    state = await request.app[CORE].threads.load(item.event.stream)
    return shuts_out(state, item.event, request[CONTEXT], request[AUTH])
