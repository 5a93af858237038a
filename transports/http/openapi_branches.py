"""The OpenAPI operations of branches: a message's path, forks and feedback."""

from __future__ import annotations

from typing import Any

from transports.http.chat_views import MAX_TOOL_FIELD
from transports.http.openapi_parts import context, problems, response

__all__ = ["BRANCH_OPERATIONS", "PARENT_ID"]

Spec = dict[str, Any]
_READ_ERRORS = (400, 401, 403, 404, 429, 500)
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
}
