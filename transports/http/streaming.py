"""Wire the live streams into the app: the core's hub, ticket book, routes and a clean shutdown.

The ticket book keeps its tickets in the log's database once the app starts (a log in
memory keeps them in memory), so any instance on that database redeems them.

The hub is the core's, fed by the core's follower of the log: nothing to start here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web

from chat_core.tickets import TicketBook
from events.store.ticket_table import open_ticket_table
from transports.http import sse, tickets, websocket
from transports.http.admission import add_route_table
from transports.http.app_keys import CORE, HUB, RENDERER, SOCKETS, STREAMS, TICKETS
from transports.http.render import EventRenderer
from transports.http.stream_settings import StreamSettings

__all__ = ["add_streams"]

GOING_AWAY = b"the server is shutting down"


def add_streams(app: web.Application, settings: StreamSettings) -> None:
    """Add the SSE, WebSocket and ticket routes over the core's one hub."""
    core = app[CORE]
    app[STREAMS] = settings
    app[HUB] = core.hub
    app[TICKETS] = TicketBook(
        ttl=settings.ticket_seconds,
        capacity=settings.max_tickets,
        per_tenant=settings.tickets_per_tenant,
        per_caller=settings.tickets_per_caller,
    )
    app[RENDERER] = EventRenderer(core.presenter)
    app[SOCKETS] = set()
    for table in (sse.routes, websocket.routes, tickets.routes):
        add_route_table(app, table)
    app.cleanup_ctx.append(_shared_tickets)
    app.on_shutdown.append(_close_streams)


async def _shared_tickets(app: web.Application) -> AsyncIterator[None]:
    """Keep the tickets in the log's database, where every instance on it redeems them."""
    table = await open_ticket_table(app[CORE].store)
    if table is not None:
        app[TICKETS].share(table)
    yield
    await app[TICKETS].close()


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
