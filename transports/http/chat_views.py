"""Thin views for threads, messages and redactions, beside the bodies they take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from aiohttp import web
from attrs import field, frozen

from chat_core.commands import CreateThread, PostMessage, RedactMessage
from chat_core.payloads import LlmFields, ToolCall, Usage
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.pages import page_params
from transports.http.problems import HTTPProblem
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
from transports.http.thread_filters import is_thread_filter, thread_filter

__all__ = [
    "MAX_METADATA_KEY",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_VALUE",
    "CreateThreadBody",
    "PlainPostBody",
    "PostMessageBody",
    "ToolCallBody",
    "UsageBody",
    "decode_post_body",
    "metadata_problems",
    "routes",
]

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024


def metadata_problems(errors: FieldErrors, value: Mapping[str, str]) -> None:
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
    visibility: Literal["tenant", "private"] = "tenant"

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "title", self.title, 1, 200)
        metadata_problems(errors, self.metadata)
        return errors


MAX_CONTENT = 32000
MAX_MODEL = 100
MAX_TOOL_FIELD = 200
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@frozen(kw_only=True)
class UsageBody:
    """The tokens a model read and wrote."""

    input_tokens: int
    output_tokens: int


@frozen(kw_only=True)
class ToolCallBody:
    """One tool call of an assistant message."""

    id: str
    name: str
    arguments: str


def tool_call_problems(errors: FieldErrors, role: str, calls: list[ToolCallBody]) -> None:
    """Note tool calls on a message that is no assistant's, and ids or names out of bounds."""
    if calls and role != "assistant":
        errors.append(("tool_calls", "only an assistant message carries tool calls"))
    for index, call in enumerate(calls):
        check_length(errors, f"tool_calls[{index}].id", call.id, 1, MAX_TOOL_FIELD)
        check_length(errors, f"tool_calls[{index}].name", call.name, 1, MAX_TOOL_FIELD)
        check_length(errors, f"tool_calls[{index}].arguments", call.arguments, 0, MAX_CONTENT)


def usage_problems(errors: FieldErrors, usage: UsageBody | None) -> None:
    """Note a negative token count."""
    if usage is not None:
        for name in ("input_tokens", "output_tokens"):
            if getattr(usage, name) < 0:
                errors.append((f"usage.{name}", "must be a non-negative integer"))


def tool_calls_of(calls: list[ToolCallBody]) -> tuple[ToolCall, ...]:
    """Return the tool calls as a payload holds them."""
    return tuple(ToolCall(id=call.id, name=call.name, arguments=call.arguments) for call in calls)


def usage_of(usage: UsageBody | None) -> Usage | None:
    """Return the usage as a payload holds it."""
    if usage is None:
        return None
    return Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


@frozen(kw_only=True)
class PlainPostBody:
    """A body of POST /chat/threads/{thread_id}/messages with no model fields, the common one.

    Decoded apart from PostMessageBody because most posts are this: structuring the model
    fields that are absent cost about 1 us a post (see decode_post_body).
    """

    content: str
    role: Literal["user", "assistant", "tool", "system"] = "user"
    metadata: dict[str, str] = field(factory=dict)
    parent_id: ClassVar[None] = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "content", self.content, 1, MAX_CONTENT)
        if self.metadata:
            metadata_problems(errors, self.metadata)
        if self.role == "tool":
            errors.append(("tool_call_id", "required for a tool message"))
        return errors

    def llm(self) -> None:
        """Return the model fields sent: none."""
        return None


_PLAIN_FIELDS = frozenset(("content", "role", "metadata"))


def decode_post_body(data: Any) -> PlainPostBody | PostMessageBody:
    """Decode a post's body, a plain one (content, role, metadata only) the quick way."""
    if type(data) is dict and "content" in data and _PLAIN_FIELDS.issuperset(data):
        return decode_body(data, PlainPostBody)
    return decode_body(data, PostMessageBody)


@frozen(kw_only=True)
class PostMessageBody:
    """The body of POST /chat/threads/{thread_id}/messages."""

    content: str | None = None
    role: Literal["user", "assistant", "tool", "system"] = "user"
    metadata: dict[str, str] = field(factory=dict)
    parent_id: str | None = None
    status: Literal["complete", "in_progress"] = "complete"
    model: str | None = None
    temperature: float | None = None
    finish_reason: FinishReason | None = None
    usage: UsageBody | None = None
    tool_calls: list[ToolCallBody] = field(factory=list)
    tool_call_id: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        content = self.content
        if content is None:
            if self.status != "in_progress":
                errors.append(("content", "required"))
        elif not content:
            if self.status != "in_progress" and not (self.role == "assistant" and self.tool_calls):
                errors.append(
                    ("content", "may be empty only in progress or beside an assistant's tool_calls")
                )
        elif len(content) > MAX_CONTENT:
            errors.append(("content", f"must be 1 to {MAX_CONTENT} characters"))
        metadata_problems(errors, self.metadata)
        if self.role == "tool":
            if self.tool_call_id is None:
                errors.append(("tool_call_id", "required for a tool message"))
        elif self.tool_call_id is not None:
            errors.append(("tool_call_id", "only a tool message answers a tool call"))
        check_length(errors, "tool_call_id", self.tool_call_id, 1, MAX_TOOL_FIELD)
        check_length(errors, "model", self.model, 1, MAX_MODEL)
        check_length(errors, "parent_id", self.parent_id, 1, MAX_TOOL_FIELD)
        tool_call_problems(errors, self.role, self.tool_calls)
        usage_problems(errors, self.usage)
        return errors

    def llm(self) -> LlmFields | None:
        """Return the model fields sent, None when the body has none (a plain message)."""
        if (
            self.status == "complete"
            and self.model is None
            and self.temperature is None
            and self.finish_reason is None
            and self.usage is None
            and not self.tool_calls
            and self.tool_call_id is None
        ):
            return None
        return LlmFields(
            status=None if self.status == "complete" else self.status,
            model=self.model,
            temperature=self.temperature,
            finish_reason=self.finish_reason,
            usage=usage_of(self.usage),
            tool_calls=tool_calls_of(self.tool_calls),
            tool_call_id=self.tool_call_id,
        )


routes = web.RouteTableDef()

# aiohttp tries the routes that share a path prefix (all of these: /chat/threads) in the
# order they were added: the message routes, the busiest, come first.


@routes.post("/chat/threads/{thread_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    """Post a message to a thread."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_post_body(data)
    command = PostMessage(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        role=body.role,
        content=body.content or "",
        metadata=body.metadata,
        idempotency=idempotency_of(request, data),
        parent_id=body.parent_id,
        llm=body.llm(),
    )
    return await send_command(request, command, 201)


_CHILDREN = frozenset({"parent_id"})


@routes.get("/chat/threads/{thread_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Page through a thread's messages by seq, or through the children of one of them."""
    params = page_params(request, orders=("asc", "desc"), also=_CHILDREN)
    parent_id = request.query.get("parent_id")
    if parent_id is not None:
        if not 1 <= len(parent_id) <= MAX_TOOL_FIELD:
            raise HTTPProblem(400, f"parent_id must be 1 to {MAX_TOOL_FIELD} characters")
        page = await request.app[CORE].queries.list_children(
            request[CONTEXT],
            request[AUTH],
            request.match_info["thread_id"],
            parent_id,
            limit=params.limit,
            after=params.after,
            order=params.order,
        )
        return json_bytes_response(200, page.json_bytes())
    page = await request.app[CORE].queries.list_messages(
        request[CONTEXT],
        request[AUTH],
        request.match_info["thread_id"],
        limit=params.limit,
        after=params.after,
        order=params.order,
    )
    return json_bytes_response(200, page.json_bytes())


@routes.get("/chat/threads/{thread_id}/messages/{message_id}/path")
async def message_path(request: web.Request) -> web.Response:
    """Page through the messages from the root to one message, root first."""
    params = page_params(request)
    page = await request.app[CORE].queries.get_path(
        request[CONTEXT],
        request[AUTH],
        request.match_info["thread_id"],
        request.match_info["message_id"],
        limit=params.limit,
        after=params.after,
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
        visibility=body.visibility,
    )
    return await send_command(request, command, 201)


@routes.get("/chat/threads")
async def list_threads(request: web.Request) -> web.Response:
    """List this tenant and env's threads, newest first."""
    params = page_params(request, filters=is_thread_filter)
    page = await request.app[CORE].queries.list_threads(
        request[CONTEXT],
        request[AUTH],
        limit=params.limit,
        after=params.after,
        wanted=thread_filter(request),
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
