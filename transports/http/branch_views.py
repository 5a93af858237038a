"""Thin views for a message's feedback and for forks, beside the bodies they take."""

from __future__ import annotations

from aiohttp import web
from attrs import frozen

from chat_core.commands import ForkThread, RateMessage
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.chat_views import MAX_TOOL_FIELD
from transports.http.requests import (
    FieldErrors,
    check_length,
    decode_body,
    idempotency_of,
    read_json,
    reject_query,
    send_command,
)

__all__ = ["MAX_COMMENT", "FeedbackBody", "ForkBody", "routes"]

MAX_COMMENT = 2000


@frozen(kw_only=True)
class FeedbackBody:
    """The body of PUT …/messages/{message_id}/feedback."""

    rating: int
    comment: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        if self.rating not in (1, -1):
            errors.append(("rating", "must be 1 (up) or -1 (down)"))
        check_length(errors, "comment", self.comment, 0, MAX_COMMENT)
        return errors


@frozen(kw_only=True)
class ForkBody:
    """The body of POST /chat/threads/{thread_id}/forks."""

    message_id: str
    title: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "message_id", self.message_id, 1, MAX_TOOL_FIELD)
        check_length(errors, "title", self.title, 1, 200)
        return errors


routes = web.RouteTableDef()


@routes.post("/chat/threads/{thread_id}/forks")
async def fork_thread(request: web.Request) -> web.Response:
    """Open a thread holding copies of the path up to a message of this one."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, ForkBody)
    command = ForkThread(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        message_id=body.message_id,
        title=body.title,
        idempotency=idempotency_of(request, data),
    )
    return await send_command(request, command, 201)


_FEEDBACK = "/chat/threads/{thread_id}/messages/{message_id}/feedback"


@routes.put(_FEEDBACK)
async def rate_message(request: web.Request) -> web.Response:
    """Rate an assistant message; a new rating by the same caller replaces the old."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, FeedbackBody)
    command = RateMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        message_id=request.match_info["message_id"],
        rating=body.rating,
        comment=body.comment,
        idempotency=idempotency_of(request, data),
    )
    return await send_command(request, command, 200)


@routes.delete(_FEEDBACK)
async def withdraw_rating(request: web.Request) -> web.Response:
    """Withdraw the caller's rating of a message; withdrawing none is harmless."""
    reject_query(request)
    command = RateMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        message_id=request.match_info["message_id"],
        rating=None,
    )
    await request.app[CORE].bus.send(command)
    return web.Response(status=204)
