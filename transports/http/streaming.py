"""Wire the live streams into the app: the core's hub, ticket book, routes and a clean shutdown.

The hub is the core's, fed by the core's follower of the log: nothing to start here.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSCloseCode, web

from chat_core.tickets import TicketBook
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
    app.on_shutdown.append(_close_streams)


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
