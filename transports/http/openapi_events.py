"""The stream events' OpenAPI schemas: one per event type, told apart by `type`.

EVENT_DATA maps each event type to the schema of its `data`; a new event type adds one
entry there and nothing else, and a test proves every registered payload type has one.
"""

from __future__ import annotations

from typing import Any

from transports.http.openapi_schemas import MESSAGE_ID, SCHEMAS, THREAD_ID, ref

__all__ = ["EVENT_DATA", "EVENT_SCHEMAS", "event_schema_name"]

Schema = dict[str, Any]

MESSAGE_SCHEMA: Schema = SCHEMAS["Message"]
_ENV: Schema = {"type": "string", "enum": ["dev", "staging", "prod"]}
_STRINGS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}


def _object(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


EVENT_DATA: dict[str, Schema] = {
    "chat.thread.created": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "title": {"type": ["string", "null"]},
            "metadata": _STRINGS,
            "visibility": {"type": "string", "enum": ["tenant", "private"]},
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
    "chat.thread.updated": {
        **_object(
            {
                "thread_id": {"type": "string", "pattern": THREAD_ID},
                "title": {"type": ["string", "null"]},
                "metadata": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": "string"},
                },
                "archived": {"type": ["boolean", "null"]},
                "participants": {"type": ["array", "null"], "items": {"type": "string"}},
                "erased": {"type": "boolean"},
            }
        ),
        "description": "What the update changed; null where it left a field as it was. The"
        " title and metadata it set read as null once its updater is erased (erased true).",
    },
    "chat.message.posted": {
        **_object(
            {
                "thread_id": {"type": "string", "pattern": THREAD_ID},
                "message_id": {"type": "string", "pattern": MESSAGE_ID},
                "seq": {"type": "integer", "minimum": 1},
                "role": {"type": "string"},
                "content": {"type": ["string", "null"]},
                "metadata": _STRINGS,
                "redacted": {"type": "boolean"},
                "erased": {"type": "boolean"},
                "parent_id": {"type": ["string", "null"]},
                "status": MESSAGE_SCHEMA["properties"]["status"],
                **{
                    name: MESSAGE_SCHEMA["properties"][name]
                    for name in (
                        "model",
                        "temperature",
                        "finish_reason",
                        "usage",
                        "tool_calls",
                        "tool_call_id",
                    )
                },
            }
        ),
        "description": "The message as it reads now: withdrawn (content null) once redacted or"
        " erased, even when the event is replayed; its status the one it has now (the start"
        " of a generation is a posted event whose status was in_progress).",
    },
    "chat.message.chunk": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "message_id": {"type": "string", "pattern": MESSAGE_ID},
            "index": {"type": "integer", "minimum": 0},
            "length": {"type": "integer", "minimum": 0},
            "content": {
                "type": ["string", "null"],
                "description": "null once its reply is redacted or its author erased.",
            },
            "redacted": {"type": "boolean"},
            "erased": {"type": "boolean"},
        }
    ),
    "chat.message.completed": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "message_id": {"type": "string", "pattern": MESSAGE_ID},
            "finish_reason": MESSAGE_SCHEMA["properties"]["finish_reason"],
            "usage": MESSAGE_SCHEMA["properties"]["usage"],
            "tool_calls": MESSAGE_SCHEMA["properties"]["tool_calls"],
        }
    ),
    "chat.message.cancelled": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "message_id": {"type": "string", "pattern": MESSAGE_ID},
        }
    ),
    "chat.message.failed": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "message_id": {"type": "string", "pattern": MESSAGE_ID},
            "error": {"type": "string"},
        }
    ),
    "chat.message.rated": {
        **_object(
            {
                "thread_id": {"type": "string", "pattern": THREAD_ID},
                "message_id": {"type": "string", "pattern": MESSAGE_ID},
                "rating": {"type": ["integer", "null"], "enum": [1, -1, None]},
                "by": {"type": "string"},
                "comment": {"type": ["string", "null"], "description": "null once erased."},
                "erased": {"type": "boolean"},
            }
        ),
        "description": "A reader (by) rated an assistant message, replacing their earlier"
        " rating; rating null withdraws it.",
    },
    "chat.message.redacted": _object(
        {
            "thread_id": {"type": "string", "pattern": THREAD_ID},
            "message_id": {"type": "string", "pattern": MESSAGE_ID},
            "seq": {"type": "integer", "minimum": 1},
        }
    ),
    "chat.erasure.recorded": _object(
        {
            "erasure_id": {"type": "string"},
            "subject": {"type": "string"},
            "keys_destroyed": {"type": "integer", "minimum": 0},
            "through_key_id": {"type": "integer"},
        }
    ),
    "temperature.config.changed": _object(
        {
            "default": {"type": "number"},
            "min": {"type": "number"},
            "max": {"type": "number"},
            "overrides": {"type": "object", "additionalProperties": {"type": "number"}},
        }
    ),
}


def event_schema_name(event_type: str) -> str:
    """Name an event type's component schema: chat.message.posted, ChatMessagePostedEvent."""
    return "".join(part.capitalize() for part in event_type.split(".")) + "Event"


def _event(event_type: str, data: Schema) -> Schema:
    return _object(
        {
            "type": {"type": "string", "const": event_type},
            "version": {"type": "integer", "minimum": 1},
            "position": {"type": "integer", "minimum": 0},
            "event_id": {"type": "string"},
            "tenant": {"type": "string"},
            "env": _ENV,
            "request_id": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "data": data,
        }
    )


def _schemas() -> dict[str, Schema]:
    schemas = {event_schema_name(name): _event(name, data) for name, data in EVENT_DATA.items()}
    schemas["StreamEvent"] = {
        "description": "One event of a thread's stream, as SSE data and in WebSocket event"
        " frames; `type` tells which. New types may be added: skip a type you do not know.",
        "oneOf": [ref(name) for name in schemas],
        "discriminator": {
            "propertyName": "type",
            "mapping": {name: ref(event_schema_name(name))["$ref"] for name in EVENT_DATA},
        },
    }
    return schemas


EVENT_SCHEMAS: dict[str, Schema] = _schemas()
