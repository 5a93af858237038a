"""The OpenAPI operations of branches: a message's path, forks and feedback."""

from __future__ import annotations

from typing import Any

from transports.http.branch_views import MAX_COMMENT
from transports.http.chat_views import MAX_TOOL_FIELD
from transports.http.openapi_parts import context, problems, response
from transports.http.openapi_schemas import MESSAGE_ID

__all__ = ["BRANCH_OPERATIONS", "PARENT_ID"]

Spec = dict[str, Any]
_READ_ERRORS = (400, 401, 403, 404, 429, 500)
_WRITE_ERRORS = (400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500)
_FORK_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["message_id"],
    "properties": {
        "message_id": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_FIELD},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}
_FEEDBACK_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["rating"],
    "properties": {
        "rating": {"type": "integer", "enum": [1, -1]},
        "comment": {"type": "string", "maxLength": MAX_COMMENT},
    },
}
_FEEDBACK: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["message_id", "rating", "comment", "by", "updated_at"],
    "properties": {
        "message_id": {"type": "string", "pattern": MESSAGE_ID},
        "rating": {"type": "integer", "enum": [1, -1]},
        "comment": {"type": ["string", "null"]},
        "by": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_PATH = "/chat/threads/{thread_id}/messages/{message_id}"

# The children listing's parameter on GET /chat/threads/{thread_id}/messages.
PARENT_ID: Spec = {
    "name": "parent_id",
    "in": "query",
    "required": False,
    "description": "List only the children of this message (its alternatives' siblings), by"
    " seq; a message that is not one of this thread's is a 404.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_FIELD},
}

BRANCH_OPERATIONS: dict[tuple[str, str], Spec] = {
    ("GET", _PATH + "/path"): {
        "summary": "Page through the messages from the root to this message, root first;"
        " a message that is not one of this thread's is a 404.",
        "tags": ["chat"],
        "parameters": context("ThreadId", "MessageId", "Limit", "After"),
        "responses": {"200": response(200, "MessagePage"), **problems(*_READ_ERRORS)},
    },
    ("POST", "/chat/threads/{thread_id}/forks"): {
        "summary": "Open a thread of this tenant and env holding copies (new ids, the same"
        " roles, words and authors) of the path from the root to a message of this thread,"
        " with forked_from; a message that is not this thread's is a 422, a path holding a"
        " message in progress a 409. Messages withdrawn in the source are copied withdrawn.",
        "tags": ["chat"],
        "parameters": context("ThreadId", "IdempotencyKey"),
        "requestBody": {"required": True, "content": {"application/json": {"schema": _FORK_BODY}}},
        "responses": {
            "201": response(201, "Thread", headers=("Idempotent-Replayed",)),
            **problems(*_WRITE_ERRORS),
        },
    },
    ("PUT", _PATH + "/feedback"): {
        "summary": "Rate an assistant message up (1) or down (-1), replacing the caller's"
        " earlier rating of it; a message that is no assistant's is a 422.",
        "tags": ["chat"],
        "parameters": context("ThreadId", "MessageId", "IdempotencyKey"),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _FEEDBACK_BODY}},
        },
        "responses": {
            "200": response(200, _FEEDBACK, headers=("Idempotent-Replayed",)),
            **problems(*_WRITE_ERRORS),
        },
    },
    ("DELETE", _PATH + "/feedback"): {
        "summary": "Withdraw the caller's rating of a message; withdrawing none is harmless.",
        "tags": ["chat"],
        "parameters": context("ThreadId", "MessageId"),
        "responses": {"204": response(204, None), **problems(*_READ_ERRORS, 409, 422)},
    },
}
