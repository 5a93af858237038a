"""The OpenAPI operations of the webhooks' admin routes."""

from __future__ import annotations

from typing import Any

from chat_core.webhooks import WEBHOOK_ID_PATTERN
from chat_core.webhooks.policy import MAX_URL
from chat_core.webhooks.service import MAX_DESCRIPTION
from transports.http.openapi_parts import context, problems, response

__all__ = ["WEBHOOK_OPERATIONS", "WEBHOOK_TAG"]

Spec = dict[str, Any]
WEBHOOK_TAG = "webhooks"
_READ_ERRORS = (400, 401, 403, 429, 500)
_WRITE_ERRORS = (400, 401, 403, 408, 413, 415, 422, 429, 500)
_WEBHOOK_PROPERTIES: Spec = {
    "id": {"type": "string", "pattern": WEBHOOK_ID_PATTERN},
    "url": {"type": "string"},
    "types": {"type": "array", "items": {"type": "string"}},
    "description": {"type": ["string", "null"]},
    "status": {"type": "string", "enum": ["active"]},
    "created_at": {"type": "string", "format": "date-time"},
}
_WEBHOOK: Spec = {
    "type": "object",
    "required": list(_WEBHOOK_PROPERTIES),
    "properties": _WEBHOOK_PROPERTIES,
}
_REGISTERED: Spec = {
    "type": "object",
    "required": [*_WEBHOOK_PROPERTIES, "secret"],
    "properties": {
        **_WEBHOOK_PROPERTIES,
        "secret": {
            "type": "string",
            "pattern": "^whsec_[A-Za-z0-9+/=]+$",
            "description": "The signing secret, shown in this answer only.",
        },
    },
}
_REGISTER: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {
            "type": "string",
            "maxLength": MAX_URL,
            "description": "https (http only for hosts CHAT_CORE_WEBHOOK_ALLOW lists); a host"
            " that is or resolves to a loopback, private, link-local, unique-local or metadata"
            " address is 422 unless listed.",
        },
        "types": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string", "minLength": 1, "maxLength": MAX_DESCRIPTION},
    },
}
_DELIVERY: Spec = {
    "type": "object",
    "required": [
        "event_id",
        "position",
        "attempts",
        "last_status",
        "last_error",
        "next_attempt_at",
        "status",
    ],
    "properties": {
        "event_id": {"type": "string"},
        "position": {"type": "integer", "minimum": 1},
        "attempts": {"type": "integer", "minimum": 0},
        "last_status": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]},
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "status": {"type": "string", "enum": ["pending", "failed", "parked"]},
    },
}
_DELIVERY_PAGE: Spec = {
    "type": "object",
    "required": ["data", "has_more", "next"],
    "properties": {
        "data": {"type": "array", "items": _DELIVERY},
        "has_more": {"type": "boolean"},
        "next": {"type": ["string", "null"]},
    },
}
_REPLAYED: Spec = {
    "type": "object",
    "required": ["id", "replayed"],
    "properties": {"id": {"type": "string"}, "replayed": {"type": "integer", "minimum": 0}},
}
_ID: Spec = {
    "name": "webhook_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": WEBHOOK_ID_PATTERN},
}
_DELIVERY_QUERY: list[Spec] = [
    {
        "name": "status",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["pending", "failed", "parked"]},
    },
    {"$ref": "#/components/parameters/Limit"},
    {
        "name": "after",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        "description": "The next cursor of a previous page.",
    },
]


def _json(schema: Spec, *, required: bool = True) -> Spec:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, responses: dict[str, Spec], **extra: Any) -> Spec:
    return {"summary": summary, "tags": [WEBHOOK_TAG], "responses": responses, **extra}


def _ok(status: int, schema: Spec | None) -> dict[str, Spec]:
    return {str(status): response(status, schema)}


_LIST: Spec = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": _WEBHOOK}},
}

WEBHOOK_OPERATIONS: dict[tuple[str, str], Spec] = {
    ("POST", "/admin/webhooks"): _op(
        "Register a webhook for this tenant and env's events from now on: admins only. The"
        " answer carries the signing secret, this once.",
        {**_ok(201, _REGISTERED), **problems(*_WRITE_ERRORS)},
        parameters=context("IdempotencyKey"),
        requestBody=_json(_REGISTER),
    ),
    ("GET", "/admin/webhooks"): _op(
        "List this tenant and env's webhooks, without their secrets.",
        {**_ok(200, _LIST), **problems(*_READ_ERRORS)},
        parameters=context(),
    ),
    ("GET", "/admin/webhooks/{webhook_id}"): _op(
        "Show one webhook, without its secret.",
        {**_ok(200, _WEBHOOK), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _ID],
    ),
    ("GET", "/admin/webhooks/{webhook_id}/deliveries"): _op(
        "Page through the webhook's deliveries by position: pending, failed (being retried)"
        " or parked.",
        {**_ok(200, _DELIVERY_PAGE), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _ID, *_DELIVERY_QUERY],
    ),
    ("POST", "/admin/webhooks/{webhook_id}/replay"): _op(
        "Try the webhook's parked deliveries again, in position order.",
        {**_ok(202, _REPLAYED), **problems(*_WRITE_ERRORS, 404)},
        parameters=[*context("IdempotencyKey"), _ID],
        requestBody=_json(
            {"type": "object", "additionalProperties": False, "properties": {}}, required=False
        ),
    ),
    ("DELETE", "/admin/webhooks/{webhook_id}"): _op(
        "Delete a webhook and its deliveries.",
        {**_ok(204, None), **problems(*_READ_ERRORS, 404)},
        parameters=[*context(), _ID],
    ),
}
