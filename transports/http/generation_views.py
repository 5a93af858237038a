"""Thin views for a generation's steps: chunks, complete, cancel and fail, beside their bodies."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from attrs import field, frozen

from chat_core.commands import AppendChunk, CancelMessage, CompleteMessage, FailMessage
from transports.http.app_keys import AUTH, CONTEXT
from transports.http.chat_views import (
    MAX_CONTENT,
    FinishReason,
    ToolCallBody,
    UsageBody,
    tool_call_problems,
    tool_calls_of,
    usage_of,
    usage_problems,
)
from transports.http.requests import (
    FieldErrors,
    check_length,
    decode_body,
    idempotency_of,
    read_json,
    reject_query,
    send_command,
)

__all__ = ["CancelBody", "ChunkBody", "CompleteBody", "FailBody", "routes"]

MAX_ERROR = 500


@frozen(kw_only=True)
class ChunkBody:
    """The body of POST …/messages/{message_id}/chunks."""

    index: int
    content: str

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        if self.index < 0:
            errors.append(("index", "must be a non-negative integer"))
        check_length(errors, "content", self.content, 1, MAX_CONTENT)
        return errors


@frozen(kw_only=True)
class CompleteBody:
    """The body of POST …/messages/{message_id}/complete."""

    finish_reason: FinishReason | None = None
    usage: UsageBody | None = None
    tool_calls: list[ToolCallBody] = field(factory=list)

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        # Only an assistant's generation is completed: agents post them.
        tool_call_problems(errors, "assistant", self.tool_calls)
        usage_problems(errors, self.usage)
        return errors


@frozen(kw_only=True)
class CancelBody:
    """The body of POST …/messages/{message_id}/cancel: nothing."""

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds: nothing can."""
        return []


@frozen(kw_only=True)
class FailBody:
    """The body of POST …/messages/{message_id}/fail."""

    error: str

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "error", self.error, 1, MAX_ERROR)
        return errors


routes = web.RouteTableDef()
MESSAGE = "/chat/threads/{thread_id}/messages/{message_id}"


def _target(request: web.Request) -> dict[str, Any]:
    return {
        "context": request[CONTEXT],
        "auth": request[AUTH],
        "thread_id": request.match_info["thread_id"],
        "message_id": request.match_info["message_id"],
    }


@routes.post(MESSAGE + "/chunks")
async def append_chunk(request: web.Request) -> web.Response:
    """Append the next chunk of a generation."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, ChunkBody)
    command = AppendChunk(
        **_target(request),
        index=body.index,
        content=body.content,
        idempotency=idempotency_of(request, data),
    )
    return await send_command(request, command, 200)


@routes.post(MESSAGE + "/complete")
async def complete(request: web.Request) -> web.Response:
    """Complete a generation."""
    reject_query(request)
    data = await read_json(request, empty_is_object=True)
    body = decode_body(data, CompleteBody)
    command = CompleteMessage(
        **_target(request),
        finish_reason=body.finish_reason,
        usage=usage_of(body.usage),
        tool_calls=tool_calls_of(body.tool_calls),
        idempotency=idempotency_of(request, data),
    )
    return await send_command(request, command, 200)


@routes.post(MESSAGE + "/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Cancel a generation: the stop button of anyone who reads the thread."""
    reject_query(request)
    data = await read_json(request, empty_is_object=True)
    decode_body(data, CancelBody)
    command = CancelMessage(**_target(request), idempotency=idempotency_of(request, data))
    return await send_command(request, command, 200)


@routes.post(MESSAGE + "/fail")
async def fail(request: web.Request) -> web.Response:
    """Fail a generation, saying why."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, FailBody)
    command = FailMessage(
        **_target(request), error=body.error, idempotency=idempotency_of(request, data)
    )
    return await send_command(request, command, 200)
