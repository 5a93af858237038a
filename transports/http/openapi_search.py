"""The OpenAPI operation of search: GET /chat/search and the shape of its page."""

from __future__ import annotations

from typing import Any

from events.search.terms import MAX_QUERY_CHARS, MAX_QUERY_TERMS, MAX_WORD_CHARS
from transports.http.openapi_parts import context, problems, response
from transports.http.search_views import MAX_THREAD_ID

__all__ = ["SEARCH_OPERATIONS", "SEARCH_SCHEMAS"]

Spec = dict[str, Any]
_READ_ERRORS = (400, 401, 403, 404, 429, 500)

SEARCH_SCHEMAS: dict[str, Spec] = {
    "SearchHit": {
        "type": "object",
        "additionalProperties": False,
        "required": ["message", "snippet"],
        "properties": {
            "message": {"$ref": "#/components/schemas/Message"},
            "snippet": {
                "type": "string",
                "description": "Up to 160 characters of the message around the first word"
                " that matched, with … where it was cut.",
            },
        },
    },
    "SearchPage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["data", "has_more", "next"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}},
            "has_more": {"type": "boolean"},
            "next": {"type": ["string", "null"]},
        },
    },
}

_Q: Spec = {
    "name": "q",
    "in": "query",
    "required": True,
    "description": f"1 to {MAX_QUERY_CHARS} characters holding 1 to {MAX_QUERY_TERMS} words"
    " (runs of letters and digits, matched whole, ignoring case and accents; at most"
    f" {MAX_WORD_CHARS} characters each); a word ending in * matches every word it begins."
    " A message must hold every word. Empty, too long or only punctuation: 400.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
}
_THREAD: Spec = {
    "name": "thread_id",
    "in": "query",
    "required": False,
    "description": "Search only this thread; one the caller may not see is a 404.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_THREAD_ID},
}

SEARCH_OPERATIONS: dict[tuple[str, str], Spec] = {
    ("GET", "/chat/search"): {
        "summary": "Page through the complete messages of this tenant and env the caller may"
        " read that hold every word of q, best match first (the fewest words, then the"
        " newest), each with a snippet. Redacted and erased messages, messages in progress"
        " and private threads of others are never found.",
        "tags": ["chat"],
        "parameters": [*context("Limit", "After"), _Q, _THREAD],
        "responses": {"200": response(200, "SearchPage"), **problems(*_READ_ERRORS)},
    },
}
