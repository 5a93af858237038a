"""The WebSocket frames of GET /chat/ws as OpenAPI schemas: ClientFrame and ServerFrame.

OpenAPI has no words for a socket's messages, so the frames are component schemas (which
generators turn into types) named by the route's description. A client op adds one entry
to CLIENT_FRAMES; every client frame is answered by one AckFrame or one ErrorFrame.
"""

from __future__ import annotations

from typing import Any

from transports.http.openapi_generation import (
    CHUNK_ANSWER,
    CHUNK_BODY,
    COMPLETE_BODY,
)
from transports.http.openapi_parts import IDEMPOTENCY_KEY
from transports.http.openapi_schemas import MESSAGE_ID, SCHEMAS, THREAD_ID, ref
from transports.http.stream_common import MAX_VERSION

__all__ = ["CLIENT_FRAMES", "FRAME_SCHEMAS", "SERVER_FRAMES"]

Schema = dict[str, Any]

_FRAME_ID: Schema = {
    "type": ["string", "integer", "null"],
    "description": "The caller's id for the frame, echoed by its reply.",
}
_THREAD: Schema = {"type": "string", "pattern": THREAD_ID}
_POST: Schema = SCHEMAS["PostMessage"]
_MESSAGE: Schema = {"type": "string", "pattern": MESSAGE_ID}


def _frame(op: str, properties: dict[str, Schema], *, required: tuple[str, ...]) -> Schema:
    return {
        "type": "object",
        "properties": {"op": {"type": "string", "const": op}, **properties},
        "required": ["op", *required],
        "additionalProperties": False,
    }


CLIENT_FRAMES: dict[str, Schema] = {
    "SubscribeFrame": _frame(
        "subscribe",
        {
            "id": _FRAME_ID,
            "thread_id": _THREAD,
            "after": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_VERSION,
                "description": "Send the events after this version, then live ones (0: all).",
            },
        },
        required=("thread_id",),
    ),
    "UnsubscribeFrame": _frame(
        "unsubscribe", {"id": _FRAME_ID, "thread_id": _THREAD}, required=("thread_id",)
    ),
    "PostFrame": _frame(
        "post",
        {
            "id": _FRAME_ID,
            "thread_id": _THREAD,
            # The body of POST /chat/threads/{thread_id}/messages, whatever it grows to hold.
            **_POST["properties"],
            "idempotency_key": {
                "type": "string",
                "pattern": IDEMPOTENCY_KEY,
                "description": "As the Idempotency-Key header of the HTTP route.",
            },
        },
        required=("thread_id", *_POST["required"]),
    ),
    # A generation's steps, with the bodies of their HTTP routes.
    "ChunkFrame": _frame(
        "chunk",
        {"id": _FRAME_ID, "thread_id": _THREAD, "message_id": _MESSAGE, **CHUNK_BODY["properties"]},
        required=("thread_id", "message_id", *CHUNK_BODY["required"]),
    ),
    "CompleteFrame": _frame(
        "complete",
        {
            "id": _FRAME_ID,
            "thread_id": _THREAD,
            "message_id": _MESSAGE,
            **COMPLETE_BODY["properties"],
        },
        required=("thread_id", "message_id"),
    ),
    "CancelFrame": _frame(
        "cancel",
        {"id": _FRAME_ID, "thread_id": _THREAD, "message_id": _MESSAGE},
        required=("thread_id", "message_id"),
    ),
}

SERVER_FRAMES: dict[str, Schema] = {
    "AckFrame": {
        **_frame(
            "ack",
            {
                "id": _FRAME_ID,
                "thread_id": _THREAD,
                "after": {"type": "integer", "minimum": 0},
                "message": ref("Message"),
                "chunk": CHUNK_ANSWER,
                "replayed": {"type": "boolean", "const": True},
            },
            required=("id",),
        ),
        "description": "A frame's success: subscribe and unsubscribe echo thread_id (subscribe"
        " also after); post carries the message as the HTTP route returns it, and replayed"
        " when the idempotency key was seen before; chunk carries where the generation's text"
        " stands, complete and cancel the message.",
    },
    "ErrorFrame": {
        **_frame(
            "error",
            {
                "id": _FRAME_ID,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "retry_after": {"type": "integer", "minimum": 0},
                "expected_index": {"type": "integer", "minimum": 0},
                "thread_id": _THREAD,
            },
            required=("id", "status", "detail"),
        ),
        "description": "A frame's refusal, with the status the HTTP route would give; the"
        " socket stays open. A 429 carries retry_after (whole seconds). Unasked (id null,"
        " status 404, with thread_id): a subscription ended because a change of a private"
        " thread's participants left the caller out.",
    },
    "EventFrame": _frame(
        "event",
        {"thread_id": _THREAD, "event": ref("StreamEvent")},
        required=("thread_id", "event"),
    ),
}


def _union(description: str, frames: dict[str, Schema]) -> Schema:
    return {
        "description": description,
        "oneOf": [ref(name) for name in frames],
        "discriminator": {
            "propertyName": "op",
            "mapping": {
                frame["properties"]["op"]["const"]: ref(name)["$ref"]
                for name, frame in frames.items()
            },
        },
    }


FRAME_SCHEMAS: dict[str, Schema] = {
    **CLIENT_FRAMES,
    **SERVER_FRAMES,
    "ClientFrame": _union("A text frame a client sends on /chat/ws.", CLIENT_FRAMES),
    "ServerFrame": _union("A text frame the server sends on /chat/ws.", SERVER_FRAMES),
}
