"""The OpenAPI component schemas: request bodies, response shapes and the problem document."""

from __future__ import annotations

from typing import Any

from chat_core.temperature import TEMPERATURE_CEILING, TEMPERATURE_FLOOR
from transports.http.chat_views import MAX_METADATA_KEY, MAX_METADATA_KEYS, MAX_METADATA_VALUE

__all__ = ["SCHEMAS", "ref"]

Schema = dict[str, Any]

THREAD_ID = "^th_[A-Za-z0-9_-]{1,64}$"
MESSAGE_ID = "^msg_[A-Za-z0-9_-]{1,64}$"
TEMPERATURE: Schema = {
    "type": "number",
    "minimum": TEMPERATURE_FLOOR,
    "maximum": TEMPERATURE_CEILING,
}


def ref(name: str) -> Schema:
    """Point at a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


def _page(item: str) -> Schema:
    return _object(
        {
            "data": {"type": "array", "items": ref(item)},
            "has_more": {"type": "boolean"},
            "next": {"type": ["string", "null"]},
        }
    )


_METADATA: Schema = {
    "type": "object",
    "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY},
    "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE},
}
_OVERRIDES: Schema = {"type": "object", "additionalProperties": TEMPERATURE}
_STAMP: Schema = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Schema] = {
    "Env": {"type": "string", "enum": ["dev", "staging", "prod"]},
    "Metadata": _METADATA,
    "CreateThread": _object(
        {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": ref("Metadata"),
        },
        required=(),
    ),
    "PostMessage": _object(
        {
            # No "default" keyword in a request body: generators (openapi-typescript) then make
            # the field required in the body's type. Say the default in words instead.
            "role": {
                "type": "string",
                "enum": ["user", "assistant", "tool", "system"],
                "description": "Who speaks; user when absent.",
            },
            "content": {"type": "string", "minLength": 1, "maxLength": 32000},
            "metadata": ref("Metadata"),
        },
        required=("content",),
    ),
    "SetTemperatureConfig": _object(
        {"default": TEMPERATURE, "min": TEMPERATURE, "max": TEMPERATURE, "overrides": _OVERRIDES},
        required=("default", "min", "max"),
    ),
    "Thread": _object(
        {
            "id": {"type": "string", "pattern": THREAD_ID},
            "title": {"type": ["string", "null"]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "created_at": _STAMP,
            "created_by": {"type": "string"},
            "message_count": {"type": "integer", "minimum": 0},
            "last_seq": {"type": "integer", "minimum": 0},
        }
    ),
    "Message": _object(
        {
            "id": {"type": "string", "pattern": MESSAGE_ID},
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "seq": {"type": "integer", "minimum": 1},
            "role": {"type": "string", "enum": ["user", "assistant", "tool", "system"]},
            "content": {"type": ["string", "null"]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "author": {"type": "string"},
            "created_at": _STAMP,
            "request_id": {"type": "string"},
            "redacted": {"type": "boolean"},
            "erased": {"type": "boolean"},
        }
    ),
    "ThreadPage": _page("Thread"),
    "MessagePage": _page("Message"),
    "TemperatureConfig": _object(
        {
            "tenant": {"type": "string"},
            "env": {"type": "string", "enum": ["dev", "staging", "prod"]},
            "default": TEMPERATURE,
            "min": TEMPERATURE,
            "max": TEMPERATURE,
            "overrides": _OVERRIDES,
            "version": {"type": "integer", "minimum": 0},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_by": {"type": ["string", "null"]},
        }
    ),
    "ServerSentEvent": {
        **_object(
            {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "event": {"type": "string"},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": ref("StreamEvent"),
                },
                "retry": {"type": "integer", "minimum": 0},
            },
            required=(),
        ),
        "description": "One event of a text/event-stream: id is the version, data the event.",
    },
    "Health": _object({"status": {"type": "string", "enum": ["ok", "unavailable"]}}),
    "Problem": {
        **_object(
            {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "request_id": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": _object({"field": {"type": "string"}, "message": {"type": "string"}}),
                },
            },
            required=("type", "title", "status", "detail", "request_id"),
        ),
        "description": "An RFC 9457 problem document; errors lists each failed field.",
    },
}
