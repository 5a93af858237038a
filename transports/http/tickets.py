"""Stream tickets over HTTP: issue them, and redeem one in place of a bearer token.

Only the two stream routes take `?ticket=`, and only by GET; `middleware.authenticate`
asks `takes_ticket` and nothing else decides it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from chat_core.tickets import StreamTicket, TicketRefused, TicketsExhausted
from chat_core.views import rfc3339
from transports.http.app_keys import AUTH, CONTEXT, CORE, TICKETS
from transports.http.bodies import StreamTicketBody, decode_body
from transports.http.problems import HTTPProblem
from transports.http.requests import json_response, read_json, reject_query

__all__ = ["TICKET_ROUTES", "redeem_ticket", "routes", "takes_ticket"]

TICKET_ROUTES = frozenset({"/chat/threads/{thread_id}/events", "/chat/ws"})
INVALID_TICKET = 'Bearer error="invalid_token"'

routes = web.RouteTableDef()


def takes_ticket(request: web.Request, route: str) -> bool:
    """Tell whether a request goes to a stream route by GET with a `ticket` query parameter.

    route is the template of the route that took it (access_log.route_of).
    """
    return route in TICKET_ROUTES and request.method == "GET" and "ticket" in request.query


def redeem_ticket(request: web.Request) -> StreamTicket:
    """Use up the request's ticket, or raise a 401 problem."""
    values = request.query.getall("ticket")
    if len(values) != 1:
        raise HTTPProblem(400, "query parameter ticket is given more than once")
    try:
        return request.app[TICKETS].redeem(values[0])
    except TicketRefused as exc:
        raise HTTPProblem(401, str(exc), headers={"WWW-Authenticate": INVALID_TICKET}) from None


@routes.post("/chat/stream-tickets")
async def issue_ticket(request: web.Request) -> web.Response:
    """Issue a single-use stream ticket; Idempotency-Key is ignored, a ticket is used once."""
    reject_query(request)
    data, _raw = await read_json(request, empty_is_object=True)
    body = decode_body(data, StreamTicketBody)
    context, auth = request[CONTEXT], request[AUTH]
    if body.thread_id is not None:
        await request.app[CORE].queries.get_thread(context, auth, body.thread_id)
    try:
        ticket, bound = request.app[TICKETS].issue(auth, context, body.thread_id)
    except TicketsExhausted as exc:
        raise HTTPProblem(503, str(exc)) from None
    expires_at = rfc3339(datetime.fromtimestamp(bound.expires_at, UTC))
    return json_response(
        201, {"ticket": ticket, "expires_at": expires_at}, headers={"Cache-Control": "no-store"}
    )
