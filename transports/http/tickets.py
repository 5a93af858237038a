"""Issue stream tickets over HTTP; the gate (admission.redeem_ticket) redeems them."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from attrs import frozen

from chat_core.tickets import Quota, TicketsExhausted
from chat_core.views import rfc3339
from transports.http.app_keys import AUTH, CONTEXT, CORE, TICKETS
from transports.http.problems import HTTPProblem
from transports.http.requests import (
    FieldErrors,
    check_length,
    decode_body,
    json_response,
    read_json,
    reject_query,
)

__all__ = ["routes"]


@frozen(kw_only=True)
class StreamTicketBody:
    """The body of POST /chat/stream-tickets."""

    thread_id: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "thread_id", self.thread_id, 1, 200)
        return errors


routes = web.RouteTableDef()


@routes.post("/chat/stream-tickets")
async def issue_ticket(request: web.Request) -> web.Response:
    """Issue a single-use stream ticket; Idempotency-Key is ignored, a ticket is used once."""
    reject_query(request)
    data = await read_json(request, empty_is_object=True)
    body = decode_body(data, StreamTicketBody)
    context, auth = request[CONTEXT], request[AUTH]
    if body.thread_id is not None:
        await request.app[CORE].queries.get_thread(context, auth, body.thread_id)
    try:
        ticket, bound = await request.app[TICKETS].issue(auth, context, body.thread_id)
    except TicketsExhausted as exc:
        # The caller's or its tenant's own quota is 429; a full book is the server's, 503.
        status = 503 if exc.quota is Quota.BOOK else 429
        headers = {"Retry-After": str(exc.retry_after)}
        raise HTTPProblem(status, str(exc), headers=headers) from None
    expires_at = rfc3339(datetime.fromtimestamp(bound.expires_at, UTC))
    return json_response(
        201, {"ticket": ticket, "expires_at": expires_at}, headers={"Cache-Control": "no-store"}
    )
