"""Thin views for threads, messages and redactions, beside the bodies they take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aiohttp import web
from attrs import field, frozen

from chat_core.commands import CreateThread, PostMessage, RedactMessage
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.pages import page_params
from transports.http.requests import (
    FieldErrors,
    check_length,
    decode_body,
    idempotency_of,
    json_bytes_response,
    json_response,
    read_json,
    reject_query,
    send_command,
)

__all__ = [
    "MAX_METADATA_KEY",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE",
    "CreateThreadBody",
    "PostMessageBody",
    "routes",
]

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024


def _metadata(errors: FieldErrors, value: Mapping[str, str]) -> None:
    if len(value) > MAX_METADATA_KEYS:
        errors.append(("metadata", f"takes at most {MAX_METADATA_KEYS} keys"))
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY:
            errors.append(("metadata", f"keys must be 1 to {MAX_METADATA_KEY} characters"))
        if len(item) > MAX_METADATA_VALUE:
            errors.append((f"metadata.{key}", f"must be at most {MAX_METADATA_VALUE} characters"))


@frozen(kw_only=True)
class CreateThreadBody:
    """The body of POST /chat/threads."""

    title: str | None = None
    metadata: dict[str, str] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "title", self.title, 1, 200)
        _metadata(errors, self.metadata)
        return errors


@frozen(kw_only=True)
class PostMessageBody:
    """The body of POST /chat/threads/{thread_id}/messages."""

    content: str
    role: Literal["user", "assistant", "tool", "system"] = "user"
    metadata: dict[str, str] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "content", self.content, 1, 32000)
        _metadata(errors, self.metadata)
        return errors


routes = web.RouteTableDef()

# aiohttp tries the routes that share a path prefix (all of these: /chat/threads) in the
# order they were added: the message routes, the busiest, come first.


@routes.post("/chat/threads/{thread_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    """Post a message to a thread."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, PostMessageBody)
    command = PostMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        role=body.role,
        content=body.content,
        metadata=body.metadata,
        idempotency=idempotency_of(request, data),
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
    data = await read_json(request, empty_is_object=True)
    body = decode_body(data, CreateThreadBody)
    command = CreateThread(
        context=request[CONTEXT],
        auth=request[AUTH],
        title=body.title,
        metadata=body.metadata,
        idempotency=idempotency_of(request, data),
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
