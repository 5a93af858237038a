"""The OpenAPI operations of a generation's steps: chunks, complete, cancel and fail."""

from __future__ import annotations

from typing import Any

from transports.http.chat_views import MAX_CONTENT
from transports.http.generation_views import MAX_ERROR
from transports.http.openapi_parts import context, problems, response
from transports.http.openapi_schemas import MESSAGE_ID, ref

__all__ = ["CANCEL_BODY", "CHUNK_ANSWER", "CHUNK_BODY", "COMPLETE_BODY", "GENERATION_OPERATIONS"]

Spec = dict[str, Any]
_WRITE_HEADERS = ("Idempotent-Replayed",)
_ERRORS = (400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500)
CHUNK_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["index", "content"],
    "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "0, 1, 2, … with no gap."},
        "content": {"type": "string", "minLength": 1, "maxLength": MAX_CONTENT},
    },
}
CHUNK_ANSWER: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["message_id", "index", "length"],
    "properties": {
        "message_id": {"type": "string", "pattern": MESSAGE_ID},
        "index": {"type": "integer", "minimum": 0},
        "length": {"type": "integer", "minimum": 0, "description": "Characters so far."},
    },
}
COMPLETE_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "finish_reason": {
            "type": "string",
            "enum": ["stop", "length", "tool_calls", "content_filter"],
        },
        "usage": ref("Usage"),
        "tool_calls": {"type": "array", "items": ref("ToolCall")},
    },
}
CANCEL_BODY: Spec = {"type": "object", "additionalProperties": False, "properties": {}}
_FAIL_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {"error": {"type": "string", "minLength": 1, "maxLength": MAX_ERROR}},
}
_PATH = "/chat/threads/{thread_id}/messages/{message_id}"


def _op(summary: str, answer: str | Spec, body: Spec, *, required: bool) -> Spec:
    return {
        "summary": summary,
        "tags": ["chat"],
        "parameters": context("ThreadId", "MessageId", "IdempotencyKey"),
        "requestBody": {"required": required, "content": {"application/json": {"schema": body}}},
        "responses": {"200": response(200, answer, headers=_WRITE_HEADERS), **problems(*_ERRORS)},
    }


GENERATION_OPERATIONS: dict[tuple[str, str], Spec] = {
    ("POST", _PATH + "/chunks"): _op(
        "Append the next chunk of a generation: its author only. The same index and content"
        " again appends nothing; another content, or an index past the next, is a 409 whose"
        " expected_index is the next one; a message not in progress is a 409.",
        CHUNK_ANSWER,
        CHUNK_BODY,
        required=True,
    ),
    ("POST", _PATH + "/complete"): _op(
        "Complete a generation: its author only; again, the message unchanged; after a"
        " cancel or failure, 409.",
        "Message",
        COMPLETE_BODY,
        required=False,
    ),
    ("POST", _PATH + "/cancel"): _op(
        "Stop a generation, keeping its text so far: anyone who may read the thread; again,"
        " the message unchanged; once complete or failed, 409.",
        "Message",
        CANCEL_BODY,
        required=False,
    ),
    ("POST", _PATH + "/fail"): _op(
        "Fail a generation, saying why: its author only.",
        "Message",
        _FAIL_BODY,
        required=True,
    ),
}
