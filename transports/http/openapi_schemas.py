"""The OpenAPI component schemas: request bodies, response shapes and the problem document."""

from __future__ import annotations

from typing import Any

from chat_core.temperature import TEMPERATURE_CEILING, TEMPERATURE_FLOOR
from transports.http.chat_views import (
    MAX_CONTENT,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_MODEL,
    MAX_TOOL_FIELD,
)

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
_REASONS = ["stop", "length", "tool_calls", "content_filter"]
_FINISH_REASON: Schema = {"type": "string", "enum": _REASONS}

SCHEMAS: dict[str, Schema] = {
    "Env": {"type": "string", "enum": ["dev", "staging", "prod"]},
    "Metadata": _METADATA,
    "CreateThread": _object(
        {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": ref("Metadata"),
            "visibility": {
                "type": "string",
                "enum": ["tenant", "private"],
                "description": "tenant when absent: every member of the tenant and env sees"
                " it; private: only its creator, its participants and agents.",
            },
        },
        required=(),
    ),
    "UpdateThread": {
        **_object(
            {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "metadata": {**ref("Metadata"), "description": "Replaces the metadata whole."},
                "archived": {"type": "boolean"},
                "participants": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 255},
                    "maxItems": 100,
                    "description": "Replaces the participants whole; a private thread's, by"
                    " its creator only.",
                },
            },
            required=(),
        ),
        "minProperties": 1,
    },
    "PostMessage": _object(
        {
            # No "default" keyword in a request body: generators (openapi-typescript) then make
            # the field required in the body's type. Say the default in words instead.
            "role": {
                "type": "string",
                "enum": ["user", "assistant", "tool", "system"],
                "description": "Who speaks; user when absent.",
            },
            "content": {
                "type": "string",
                "maxLength": MAX_CONTENT,
                "description": "Required, 1 or more characters, except that it may be empty"
                " or absent when status is in_progress, and empty beside an assistant's"
                " tool_calls.",
            },
            "metadata": ref("Metadata"),
            "parent_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TOOL_FIELD,
                "description": "A message of this thread; the thread's head when absent.",
            },
            "status": {
                "type": "string",
                "enum": ["complete", "in_progress"],
                "description": "complete when absent; in_progress (agents only) starts a"
                " generation.",
            },
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_MODEL},
            "temperature": {
                "type": "number",
                "description": "Must lie within the tenant's config [min, max] (else 422);"
                " absent on an assistant message with a model, the config's value applies.",
            },
            "finish_reason": _FINISH_REASON,
            "usage": ref("Usage"),
            "tool_calls": {
                "type": "array",
                "items": ref("ToolCall"),
                "description": "Assistant messages only.",
            },
            "tool_call_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TOOL_FIELD,
                "description": "Tool messages only, and required there.",
            },
        },
        required=(),
    ),
    "Usage": _object(
        {
            "input_tokens": {"type": "integer", "minimum": 0},
            "output_tokens": {"type": "integer", "minimum": 0},
        }
    ),
    "ToolCall": _object(
        {
            "id": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_FIELD},
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_TOOL_FIELD},
            "arguments": {"type": "string", "maxLength": MAX_CONTENT},
        }
    ),
    "Feedback": _object(
        {"up": {"type": "integer", "minimum": 0}, "down": {"type": "integer", "minimum": 0}}
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
            "head": {"type": ["string", "null"], "description": "The newest message's id."},
            "visibility": {"type": "string", "enum": ["tenant", "private"]},
            "participants": {"type": "array", "items": {"type": "string"}},
            "archived": {"type": "boolean"},
            "updated_at": _STAMP,
            "forked_from": {
                "oneOf": [
                    _object(
                        {
                            "thread_id": {"type": "string", "pattern": THREAD_ID},
                            "message_id": {"type": "string", "pattern": MESSAGE_ID},
                        }
                    ),
                    {"type": "null"},
                ],
                "description": "The thread and message a fork copied up to; null for none.",
            },
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
            "parent_id": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "enum": ["complete", "in_progress", "cancelled", "failed"],
            },
            "model": {"type": ["string", "null"]},
            "temperature": {"type": ["number", "null"]},
            "finish_reason": {
                **_FINISH_REASON,
                "type": ["string", "null"],
                "enum": [*_REASONS, None],
            },
            "usage": {"oneOf": [ref("Usage"), {"type": "null"}]},
            "tool_calls": {"type": "array", "items": ref("ToolCall")},
            "tool_call_id": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]},
            "feedback": ref("Feedback"),
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
                "expected_index": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "A chunk refused with 409: the index the next one must take.",
                },
            },
            required=("type", "title", "status", "detail", "request_id"),
        ),
        "description": "An RFC 9457 problem document; errors lists each failed field.",
    },
}
