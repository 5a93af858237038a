"""Client frames of the WebSocket: parse and check them, refusing with the HTTP status."""

from __future__ import annotations

from typing import Any

import orjson
from attrs import frozen

from chat_core.commands import AppendChunk, CancelMessage, CompleteMessage, Idempotency
from chat_core.context import AuthContext, RequestContext
from transports.http.chat_views import (
    PlainPostBody,
    PostMessageBody,
    decode_post_body,
    tool_calls_of,
    usage_of,
)
from transports.http.generation_views import CancelBody, ChunkBody, CompleteBody
from transports.http.problems import HTTPProblem
from transports.http.requests import IDEMPOTENCY_KEY, decode_body, request_fingerprint
from transports.http.stream_common import MAX_VERSION

__all__ = [
    "Frame",
    "GenerationCommand",
    "PostFrame",
    "SubscribeFrame",
    "generation_frame",
    "parse_frame",
    "post_frame",
    "subscribe_frame",
]

FrameId = str | int | None


@frozen(kw_only=True)
class Frame:
    """A client frame: its op, the id its reply echoes, and its other fields."""

    op: str
    id: FrameId
    fields: dict[str, Any]


@frozen(kw_only=True)
class SubscribeFrame:
    """Follow a thread after a version."""

    thread_id: str
    after: int


@frozen(kw_only=True)
class PostFrame:
    """Post a message, as POST /chat/threads/{thread_id}/messages would."""

    thread_id: str
    body: PlainPostBody | PostMessageBody
    idempotency: Idempotency | None


def parse_frame(raw: str) -> Frame:
    """Read a text frame into op, id and fields; the id is kept when the rest is wrong."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPProblem(400, "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPProblem(400, "a frame must be a JSON object")
    frame_id = data.pop("id", None)
    if isinstance(frame_id, bool) or not isinstance(frame_id, str | int | None):
        raise HTTPProblem(400, "id must be a string or an integer")
    op = data.pop("op", None)
    if not isinstance(op, str):
        return Frame(op="", id=frame_id, fields=data)
    return Frame(op=op, id=frame_id, fields=data)


def _refuse_extra(fields: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(fields) - allowed)
    if extra:
        errors = [(name, "is not a field of this op") for name in extra]
        raise HTTPProblem(422, "the frame fails validation", errors=errors)


def thread_of(fields: dict[str, Any]) -> str:
    """Return the frame's thread_id, else a 422 problem."""
    thread_id = fields.get("thread_id")
    if not isinstance(thread_id, str) or not thread_id:
        raise HTTPProblem(422, "the frame fails validation", errors=[("thread_id", "required")])
    return thread_id


def subscribe_frame(frame: Frame) -> SubscribeFrame:
    """Check a subscribe frame."""
    _refuse_extra(frame.fields, {"thread_id", "after"})
    thread_id = thread_of(frame.fields)
    after = frame.fields.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_VERSION:
        errors = [("after", "must be a non-negative integer version")]
        raise HTTPProblem(422, "the frame fails validation", errors=errors)
    return SubscribeFrame(thread_id=thread_id, after=after)


def post_frame(frame: Frame) -> PostFrame:
    """Check a post frame; its idempotency fingerprint covers everything it asks for."""
    fields = dict(frame.fields)
    thread_id = thread_of(fields)
    del fields["thread_id"]
    key = fields.pop("idempotency_key", None)
    body = decode_post_body(fields)
    idempotency = None
    if key is not None:
        if not isinstance(key, str) or IDEMPOTENCY_KEY.fullmatch(key) is None:
            raise HTTPProblem(400, "idempotency_key must be 1 to 255 printable ASCII characters")
        # The fingerprint POST /chat/threads/{thread_id}/messages with this body gets.
        path = f"/chat/threads/{thread_id}/messages"
        fingerprint = request_fingerprint("POST", path, fields)
        idempotency = Idempotency(key=key, fingerprint=fingerprint)
    return PostFrame(thread_id=thread_id, body=body, idempotency=idempotency)


GenerationCommand = AppendChunk | CompleteMessage | CancelMessage
_STEP_BODIES: dict[str, type[ChunkBody] | type[CompleteBody] | type[CancelBody]] = {
    "chunk": ChunkBody,
    "complete": CompleteBody,
    "cancel": CancelBody,
}


def generation_frame(frame: Frame, context: RequestContext, auth: AuthContext) -> GenerationCommand:
    """Check a chunk, complete or cancel frame and make the command the HTTP route would."""
    fields = dict(frame.fields)
    thread_id = thread_of(fields)
    message_id = fields.pop("message_id", None)
    if not isinstance(message_id, str) or not message_id:
        raise HTTPProblem(422, "the frame fails validation", errors=[("message_id", "required")])
    del fields["thread_id"]
    body = decode_body(fields, _STEP_BODIES[frame.op])
    target: dict[str, Any] = {
        "context": context,
        "auth": auth,
        "thread_id": thread_id,
        "message_id": message_id,
    }
    if isinstance(body, ChunkBody):
        return AppendChunk(**target, index=body.index, content=body.content)
    if isinstance(body, CompleteBody):
        return CompleteMessage(
            **target,
            finish_reason=body.finish_reason,
            usage=usage_of(body.usage),
            tool_calls=tool_calls_of(body.tool_calls),
        )
    return CancelMessage(**target)
