"""Wire the live streams into the app: hub task, ticket book, routes and a clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web

from chat_core.hub import StreamHub
from chat_core.tickets import TicketBook
from transports.http import sse, tickets, websocket
from transports.http.admission import add_route_table
from transports.http.app_keys import CORE, HUB, RENDERER, SOCKETS, STREAMS, TICKETS
from transports.http.render import EventRenderer
from transports.http.stream_settings import StreamSettings

__all__ = ["add_streams"]

GOING_AWAY = b"the server is shutting down"


def add_streams(app: web.Application, settings: StreamSettings) -> None:
    """Add the SSE, WebSocket and ticket routes, and run one hub for every client."""
    core = app[CORE]
    app[STREAMS] = settings
    app[HUB] = StreamHub(core.store, capacity=settings.buffer, observer=core.observe)
    app[TICKETS] = TicketBook(ttl=settings.ticket_seconds, capacity=settings.max_tickets)
    app[RENDERER] = EventRenderer(core.presenter)
    app[SOCKETS] = set()
    for table in (sse.routes, websocket.routes, tickets.routes):
        add_route_table(app, table)
    app.cleanup_ctx.append(_run_hub)
    app.on_shutdown.append(_close_streams)


async def _run_hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    head = await app[CORE].store.head_position()
    task = asyncio.create_task(hub.run(after_position=head), name="chat-core stream hub")
    yield
    hub.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_streams(app: web.Application) -> None:
    """End every SSE response and close every socket, so shutdown need not wait on them."""
    app[HUB].stop()
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    await asyncio.gather(
        *(
            socket.close(code=WSCloseCode.GOING_AWAY, message=GOING_AWAY)
            for socket in list(sockets)
        ),
        return_exceptions=True,
    )
