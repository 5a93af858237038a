"""Thin views for threads, messages and redactions: parse, send, render."""

from __future__ import annotations

from aiohttp import web

from chat_core.commands import CreateThread, PostMessage, RedactMessage
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.bodies import CreateThreadBody, PostMessageBody, decode_body
from transports.http.requests import (
    idempotency_of,
    json_bytes_response,
    json_response,
    page_params,
    read_json,
    reject_query,
    send_command,
)

__all__ = ["routes"]

routes = web.RouteTableDef()

# aiohttp tries the routes that share a path prefix (all of these: /chat/threads) in the
# order they were added: the message routes, the busiest, come first.


@routes.post("/chat/threads/{thread_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    """Post a message to a thread."""
    reject_query(request)
    data, raw = await read_json(request, empty_is_object=False)
    body = decode_body(data, PostMessageBody)
    command = PostMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        role=body.role,
        content=body.content,
        metadata=body.metadata,
        idempotency=idempotency_of(request, data, raw),
    )
    return await send_command(request, command, 201)


@routes.get("/chat/threads/{thread_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Page through a thread's messages by seq."""
    params = page_params(request, orders=("asc", "desc"))
    page = await request.app[CORE].queries.list_messages(
        request[CONTEXT],
        request[AUTH],
        request.match_info["thread_id"],
        limit=params.limit,
        after=params.after,
        order=params.order,
    )
    return json_bytes_response(200, page.json_bytes())


@routes.post("/chat/threads")
async def create_thread(request: web.Request) -> web.Response:
    """Open a thread."""
    reject_query(request)
    data, raw = await read_json(request, empty_is_object=True)
    body = decode_body(data, CreateThreadBody)
    command = CreateThread(
        context=request[CONTEXT],
        auth=request[AUTH],
        title=body.title,
        metadata=body.metadata,
        idempotency=idempotency_of(request, data, raw),
    )
    return await send_command(request, command, 201)


@routes.get("/chat/threads")
async def list_threads(request: web.Request) -> web.Response:
    """List this tenant and env's threads, newest first."""
    params = page_params(request)
    page = await request.app[CORE].queries.list_threads(
        request[CONTEXT], request[AUTH], limit=params.limit, after=params.after
    )
    return json_bytes_response(200, page.json_bytes())


@routes.get("/chat/threads/{thread_id}")
async def get_thread(request: web.Request) -> web.Response:
    """Show one thread."""
    reject_query(request)
    thread = await request.app[CORE].queries.get_thread(
        request[CONTEXT], request[AUTH], request.match_info["thread_id"]
    )
    return json_response(200, thread.to_json())


@routes.delete("/chat/threads/{thread_id}/messages/{message_id}")
async def redact_message(request: web.Request) -> web.Response:
    """Redact a message: its author or an admin; repeating it is harmless."""
    reject_query(request)
    command = RedactMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        message_id=request.match_info["message_id"],
    )
    await request.app[CORE].bus.send(command)
    return web.Response(status=204)
