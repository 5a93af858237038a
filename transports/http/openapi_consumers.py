"""The OpenAPI operations of the durable consumers' admin routes."""

from __future__ import annotations

from typing import Any

from chat_core.consumers import CONSUMER_NAME_PATTERN, MAX_READ, MAX_WAIT
from transports.http.admin_consumers import DEFAULT_READ, MAX_POSITION
from transports.http.openapi_parts import context, problems, response
from transports.http.openapi_schemas import ref

__all__ = ["CONSUMER_OPERATIONS", "CONSUMER_TAG"]

Spec = dict[str, Any]
CONSUMER_TAG = "consumers"
_READ_ERRORS = (400, 401, 403, 429, 500)
_WRITE_ERRORS = (400, 401, 403, 408, 413, 415, 422, 429, 500)
_TYPES: Spec = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Event types to see; empty or left out: every type.",
}
_CONSUMER: Spec = {
    "type": "object",
    "required": ["name", "types", "position", "lag", "created_at"],
    "properties": {
        "name": {"type": "string"},
        "types": {"type": "array", "items": {"type": "string"}},
        "position": {"type": "integer", "minimum": 0, "description": "The checkpoint."},
        "lag": {"type": "integer", "minimum": 0, "description": "Its events after it."},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_CREATE: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": CONSUMER_NAME_PATTERN},
        "types": _TYPES,
        "start": {"type": "string", "enum": ["beginning", "end"]},
    },
}
_ACK: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["position"],
    "properties": {"position": {"type": "integer", "minimum": 0, "maximum": MAX_POSITION}},
}
_CHECKPOINT: Spec = {
    "type": "object",
    "required": ["name", "position"],
    "properties": {
        "name": {"type": "string"},
        "position": {"type": "integer", "minimum": 0, "description": "The checkpoint now."},
    },
}
_BATCH: Spec = {
    "type": "object",
    "required": ["data", "next_position"],
    "properties": {
        "data": {"type": "array", "items": ref("StreamEvent")},
        "next_position": {
            "type": "integer",
            "minimum": 0,
            "description": "Ack this once the events are handled.",
        },
    },
}
_NAME: Spec = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": CONSUMER_NAME_PATTERN},
}
_READ_QUERY: list[Spec] = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_READ},
        "description": f"At most this many events (default {DEFAULT_READ}).",
    },
    {
        "name": "wait",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT},
        "description": "Hold the request up to this many seconds until an event arrives.",
    },
]


def _json(schema: Spec) -> Spec:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict[str, Spec], **extra: Any) -> Spec:
    return {"summary": summary, "tags": [CONSUMER_TAG], "responses": responses, **extra}


def _ok(status: int, schema: Spec | None) -> dict[str, Spec]:
    return {str(status): response(status, schema)}


CONSUMER_OPERATIONS: dict[tuple[str, str], Spec] = {
    ("POST", "/admin/consumers"): _op(
        "Make a durable consumer of this tenant and env at the log's beginning or end: admins"
        " only. Idempotency-Key has nothing to record here: a repeat is a 409.",
        {**_ok(201, _CONSUMER), **problems(*_WRITE_ERRORS, 409)},
        parameters=context("IdempotencyKey"),
        requestBody=_json(_CREATE),
    ),
    ("GET", "/admin/consumers"): _op(
        "List this tenant and env's consumers with their checkpoints and lags.",
        {
            **_ok(
                200,
                {
                    "type": "object",
                    "required": ["data"],
                    "properties": {"data": {"type": "array", "items": _CONSUMER}},
                },
            ),
            **problems(*_READ_ERRORS),
        },
        parameters=context(),
    ),
    ("GET", "/admin/consumers/{name}"): _op(
        "Show one consumer.",
        {**_ok(200, _CONSUMER), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _NAME],
    ),
    ("GET", "/admin/consumers/{name}/events"): _op(
        "Read the consumer's events after its checkpoint, in log order; with wait, hold the"
        " request until one arrives.",
        {**_ok(200, _BATCH), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _NAME, *_READ_QUERY],
    ),
    ("POST", "/admin/consumers/{name}/ack"): _op(
        "Move the checkpoint forward to a position (a lower one leaves it; past the log's end"
        " is 422).",
        {**_ok(200, _CHECKPOINT), **problems(*_WRITE_ERRORS, 404)},
        parameters=[*context("IdempotencyKey"), _NAME],
        requestBody=_json(_ACK),
    ),
    ("DELETE", "/admin/consumers/{name}"): _op(
        "Delete a consumer and its checkpoint.",
        {**_ok(204, None), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _NAME],
    ),
}
