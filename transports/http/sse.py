"""Server-Sent Events of one thread: stored events after Last-Event-ID, then live ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from chat_core.hub import SlowConsumer, StreamClosed, Subscription, follow_stream
from transports.http.app_keys import CORE, HUB, RENDERER, REQUEST_ID, STREAMS
from transports.http.problems import HTTPProblem
from transports.http.stream_common import check_thread, parse_version, seconds_left, shut_out

__all__ = ["routes"]

QUERY = frozenset({"ticket", "last_event_id"})
RETRY_MS = 1000

routes = web.RouteTableDef()
log = logging.getLogger("transports.http.sse")


def _resume_point(request: web.Request) -> int:
    unknown = sorted(set(request.query) - QUERY)
    if unknown:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(unknown)}")
    if len(request.query.getall("last_event_id", [])) > 1:
        raise HTTPProblem(400, "query parameter last_event_id is given more than once")
    query = request.query.get("last_event_id")
    after = 0 if query is None else parse_version(query, "last_event_id")
    header = request.headers.get("Last-Event-ID")
    # A reconnecting EventSource sends the header and keeps its URL: the header wins.
    return after if header is None else parse_version(header.strip(), "Last-Event-ID")


class _Writer:
    """Write frames, cutting the connection if the hub drops this client mid-write."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self._writing = False

    async def write(self, frame: bytes) -> None:
        self._writing = True
        try:
            await self._response.write(frame)
        finally:
            self._writing = False

    def on_cut(self) -> None:
        """A slow client blocked in a write gets its connection aborted; memory stays bounded."""
        transport = self._request.transport
        if self._writing and transport is not None:
            transport.abort()


@routes.get("/chat/threads/{thread_id}/events")
async def thread_events(request: web.Request) -> web.StreamResponse:
    """Stream a thread's events as text/event-stream, resuming after Last-Event-ID."""
    after = _resume_point(request)
    stream = await check_thread(request, request.match_info["thread_id"])
    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
        "X-Request-Id": request[REQUEST_ID],
    }
    if request.method == "HEAD":
        # Frames written after a HEAD's headers would be read as the next response.
        return web.Response(headers=headers)
    hub = request.app[HUB]
    subscription = hub.open(stream, request.app[STREAMS].buffer)
    try:
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        writer = _Writer(request, response)
        subscription.on_cut = writer.on_cut
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            async with asyncio.timeout(seconds_left(request)):
                await _pump(request, writer, subscription, after)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response
    finally:
        hub.release(subscription)


async def _pump(
    request: web.Request, writer: _Writer, subscription: Subscription, after: int
) -> None:
    renderer = request.app[RENDERER]
    heartbeat = request.app[STREAMS].heartbeat
    await writer.write(b"retry: %d\n: connected\n\n" % RETRY_MS)
    events = follow_stream(
        request.app[CORE].store, subscription, after_version=after, idle=heartbeat
    )
    try:
        async for item in events:
            if item is None:
                await writer.write(b": keep-alive\n\n")
            elif await shut_out(request, item):
                break
            else:
                await writer.write(await renderer.sse_frame(item))
    except SlowConsumer as exc:
        log.info("cut off a slow SSE client of request %s: %s", request[REQUEST_ID], exc)
    except StreamClosed:
        pass
    finally:
        await events.aclose()
