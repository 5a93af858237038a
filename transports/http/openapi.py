"""The OpenAPI 3.1 description of the HTTP contract, one operation per registered route.

OPERATIONS is keyed by (method, path) exactly as the router registers them in dev mode; a
test proves the two sets equal, so a route added without its description (or the reverse)
fails CI. A prod server has no console, so its document leaves out CONSOLE_OPERATIONS.

A little over 300 lines because it is one table, an entry a route, read top to bottom
beside the router; what the entries are made of (headers, parameters, problem answers,
stream event and WebSocket frame schemas) lives in openapi_parts, openapi_events and
openapi_frames.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from chat_core.erasure import ERASURE_ID_PATTERN
from transports.http.erasure_views import SUBJECT_PATTERN
from transports.http.openapi_branches import BRANCH_OPERATIONS, PARENT_ID
from transports.http.openapi_consumers import CONSUMER_OPERATIONS, CONSUMER_TAG
from transports.http.openapi_events import EVENT_SCHEMAS
from transports.http.openapi_frames import FRAME_SCHEMAS
from transports.http.openapi_generation import GENERATION_OPERATIONS
from transports.http.openapi_parts import (
    HEADERS,
    PARAMETERS,
    context,
    json_body,
    problems,
    response,
    stream_context,
)
from transports.http.openapi_schemas import SCHEMAS
from transports.http.openapi_search import SEARCH_OPERATIONS, SEARCH_SCHEMAS
from transports.http.openapi_webhooks import WEBHOOK_OPERATIONS, WEBHOOK_TAG
from transports.http.stream_common import MAX_VERSION

__all__ = ["CONSOLE_OPERATIONS", "OPERATIONS", "openapi_document"]

Spec = dict[str, Any]
PUBLIC: list[Spec] = []
_WRITE_HEADERS = ("Idempotent-Replayed",)
# 429: the tenant's request budget (CHAT_CORE_RATE_LIMIT) is spent; 408: a body too slow.
_READ_ERRORS = (400, 401, 403, 429, 500)
_WRITE_ERRORS = (400, 401, 403, 408, 409, 413, 415, 422, 429, 500)


# Streams: a ticket stands in for the bearer token where browsers cannot set headers.
_STREAM_AUTH: list[Spec] = [
    {
        "name": "ticket",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "A single-use stream ticket from POST /chat/stream-tickets.",
    },
]
_RESUME: list[Spec] = [
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": f"^[0-9]{{1,{len(str(MAX_VERSION))}}}$"},
        "description": f"Resume after this version (at most {MAX_VERSION}).",
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
        "description": "Resume after this version, for clients that cannot set headers.",
    },
]
_TICKET_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"thread_id": {"type": "string", "minLength": 1, "maxLength": 200}},
}
_ERASURE_BODY: Spec = {
    "type": "object",
    "additionalProperties": False,
    "required": ["subject"],
    "properties": {"subject": {"type": "string", "pattern": SUBJECT_PATTERN}},
}
_ERASURE: Spec = {
    "type": "object",
    "required": ["erasure_id", "subject", "status"],
    "properties": {
        "erasure_id": {"type": "string"},
        "subject": {"type": "string"},
        "status": {"type": "string", "enum": ["completed", "pending"]},
    },
}
_TICKET: Spec = {
    "type": "object",
    "required": ["ticket", "expires_at"],
    "properties": {
        "ticket": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


_WS_UPGRADE: Spec = {
    **response(101, None),
    "description": "Switching Protocols. Then JSON text frames: the client sends"
    " #/components/schemas/ClientFrame, the server answers each with one AckFrame or"
    " ErrorFrame and sends #/components/schemas/ServerFrame (EventFrame for each event of a"
    " subscribed thread).",
}


def _operation(
    summary: str,
    responses: dict[str, Spec],
    *,
    tag: str,
    parameters: list[Spec] | None = None,
    body: Spec | None = None,
    security: list[Spec] | None = None,
) -> Spec:
    spec: Spec = {"summary": summary, "tags": [tag], "responses": responses}
    if parameters is not None:
        spec["parameters"] = parameters
    if body is not None:
        spec["requestBody"] = body
    if security is not None:
        spec["security"] = security
    return spec


def _ok(
    status: int, schema: str | Spec | None, *headers: str, media: str = "application/json"
) -> dict[str, Spec]:
    return {str(status): response(status, schema, headers=headers, media=media)}


OPERATIONS: dict[tuple[str, str], Spec] = {
    ("POST", "/chat/threads"): _operation(
        "Open a thread.",
        {**_ok(201, "Thread", *_WRITE_HEADERS), **problems(*_WRITE_ERRORS)},
        tag="chat",
        parameters=context("IdempotencyKey"),
        body=json_body("CreateThread", required=False),
    ),
    ("GET", "/chat/threads"): {
        **_operation(
            "List this tenant and env's threads that the caller may see, newest first.",
            {**_ok(200, "ThreadPage"), **problems(*_READ_ERRORS)},
            tag="chat",
            parameters=context("Limit", "After", "Archived", "CreatedBy"),
        ),
        "description": "Private threads are listed only to their creator, their participants"
        " and agents. Besides the parameters below, `metadata.<key>=<value>` (repeatable)"
        " keeps the threads whose metadata holds every such pair; a key of 1 to 64"
        " characters and a value of at most 1024, else 400.",
    },
    ("GET", "/chat/threads/{thread_id}"): _operation(
        "Show one thread.",
        {**_ok(200, "Thread"), **problems(*_READ_ERRORS, 404)},
        tag="chat",
        parameters=context("ThreadId"),
    ),
    ("PATCH", "/chat/threads/{thread_id}"): {
        **_operation(
            "Change a thread's title, metadata, archived flag or participants.",
            {**_ok(200, "Thread"), **problems(*_WRITE_ERRORS, 404)},
            tag="chat",
            parameters=context("ThreadId"),
            body=json_body("UpdateThread", required=True),
        ),
        "description": "The thread's creator or an admin of the tenant (among those who may"
        " see it, else 404); participants only on a private thread (else 422) and only by its"
        " creator (else 403). A change that changes nothing appends no event.",
    },
    ("POST", "/chat/threads/{thread_id}/messages"): _operation(
        "Post a message to a thread.",
        {**_ok(201, "Message", *_WRITE_HEADERS), **problems(*_WRITE_ERRORS, 404)},
        tag="chat",
        parameters=context("ThreadId", "IdempotencyKey"),
        body=json_body("PostMessage", required=True),
    ),
    ("GET", "/chat/threads/{thread_id}/messages"): _operation(
        "Page through a thread's messages by seq, or the children of one (parent_id).",
        {**_ok(200, "MessagePage"), **problems(*_READ_ERRORS, 404)},
        tag="chat",
        parameters=[*context("ThreadId", "Limit", "After", "Order"), PARENT_ID],
    ),
    ("DELETE", "/chat/threads/{thread_id}/messages/{message_id}"): _operation(
        "Redact a message: its author or an admin; repeating it is harmless.",
        {**_ok(204, None), **problems(*_READ_ERRORS, 404, 409)},
        tag="chat",
        parameters=context("ThreadId", "MessageId"),
    ),
    ("GET", "/chat/threads/{thread_id}/events"): _operation(
        "Stream a thread's events as Server-Sent Events, resuming after Last-Event-ID.",
        {**_ok(200, "ServerSentEvent", media="text/event-stream"), **problems(*_READ_ERRORS, 404)},
        tag="chat",
        parameters=[*stream_context("ThreadId"), *_STREAM_AUTH, *_RESUME],
    ),
    ("GET", "/chat/ws"): _operation(
        "Open the chat WebSocket: subscribe, unsubscribe and post frames.",
        {"101": _WS_UPGRADE, **problems(*_READ_ERRORS)},
        tag="chat",
        parameters=[*stream_context(), *_STREAM_AUTH],
    ),
    ("POST", "/chat/stream-tickets"): _operation(
        "Issue a single-use, 60-second stream ticket; Idempotency-Key is ignored.",
        {**_ok(201, _TICKET), **problems(*_WRITE_ERRORS, 404, 503)},
        tag="chat",
        parameters=context(),
        body={
            "required": False,
            "content": {"application/json": {"schema": _TICKET_BODY}},
        },
    ),
    ("POST", "/admin/erasures"): _operation(
        "Erase a subject's messages in this tenant for good (their data key is destroyed): "
        "admins only.",
        {**_ok(202, _ERASURE, *_WRITE_HEADERS), **problems(*_WRITE_ERRORS)},
        tag="erasure",
        parameters=context("IdempotencyKey"),
        body={"required": True, "content": {"application/json": {"schema": _ERASURE_BODY}}},
    ),
    ("GET", "/admin/erasures/{erasure_id}"): _operation(
        "Tell whether an erasure is completed (its key bytes gone from every file) or pending.",
        {**_ok(200, _ERASURE), **problems(*_READ_ERRORS, 404)},
        tag="erasure",
        parameters=[
            *context(),
            {
                "name": "erasure_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": ERASURE_ID_PATTERN},
            },
        ],
    ),
    ("GET", "/temperature/config"): _operation(
        "Show the temperature config to a member.",
        {**_ok(200, "TemperatureConfig", "ETag"), **problems(*_READ_ERRORS)},
        tag="temperature",
        parameters=context(),
    ),
    ("PUT", "/temperature/config"): _operation(
        "Replace the temperature config: admins only, guarded by If-Match when given.",
        {
            **_ok(200, "TemperatureConfig", "ETag", *_WRITE_HEADERS),
            **problems(*_WRITE_ERRORS, 412),
        },
        tag="temperature",
        parameters=context("IfMatch", "IdempotencyKey"),
        body=json_body("SetTemperatureConfig", required=True),
    ),
    ("GET", "/healthz"): _operation(
        "Say the process is alive.",
        {**_ok(200, "Health"), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/readyz"): _operation(
        "Say whether the store can take a write (probed at most about once a second).",
        {**_ok(200, "Health"), **_ok(503, "Health"), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/"): _operation(
        "Serve the browser console (dev mode only; a prod server has no such route).",
        {**_ok(200, {"type": "string"}, media="text/html"), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/console/{asset}"): _operation(
        "Serve one of the console's static files (dev mode only).",
        {
            "200": {
                **response(200, None),
                "content": {
                    media: {"schema": {"type": "string"}}
                    for media in ("text/javascript", "text/css")
                },
            },
            **problems(404, 500),
        },
        tag="operations",
        parameters=[
            {
                "name": "asset",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The file's name: console.js or console.css.",
            }
        ],
        security=PUBLIC,
    ),
    ("GET", "/metrics"): _operation(
        "Serve the metrics in the Prometheus text format: requests by route template and"
        " status, latencies, events appended, store commits and batch sizes, open streams,"
        " token-cache hits. No tenant content; tenant ids only when"
        " CHAT_CORE_METRICS_TENANT_LABELS is on.",
        {**_ok(200, {"type": "string"}, media="text/plain"), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/openapi.json"): _operation(
        "Serve this document.",
        {**_ok(200, {"type": "object"}), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
    ("GET", "/docs"): _operation(
        "List the routes as a self-contained HTML page.",
        {**_ok(200, {"type": "string"}, media="text/html"), **problems(500)},
        tag="operations",
        security=PUBLIC,
    ),
}


OPERATIONS.update(CONSUMER_OPERATIONS)
OPERATIONS.update(WEBHOOK_OPERATIONS)
OPERATIONS.update(GENERATION_OPERATIONS)
OPERATIONS.update(BRANCH_OPERATIONS)
OPERATIONS.update(SEARCH_OPERATIONS)

CONSOLE_OPERATIONS = frozenset({("GET", "/"), ("GET", "/console/{asset}")})


def _paths(*, console: bool) -> dict[str, dict[str, Spec]]:
    paths: dict[str, dict[str, Spec]] = {}
    for (method, path), operation in OPERATIONS.items():
        if not console and (method, path) in CONSOLE_OPERATIONS:
            continue
        operation_id = f"{method.lower()}_{path.strip('/').replace('/', '_').replace('.', '_')}"
        operation_id = operation_id.replace("{", "").replace("}", "")
        paths.setdefault(path, {})[method.lower()] = {"operationId": operation_id, **operation}
    return paths


@cache
def openapi_document(*, console: bool = True) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document, built once; without the console for prod servers."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chat-core",
            "version": "0.1.0",
            "description": (
                "Event-sourced, multi-tenant chat and per-tenant temperature config."
                " Every route refuses a query parameter it does not list (400)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": name}
            for name in (
                "chat",
                "erasure",
                CONSUMER_TAG,
                WEBHOOK_TAG,
                "temperature",
                "operations",
            )
        ],
        "paths": _paths(console=console),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "schemas": {**SCHEMAS, **EVENT_SCHEMAS, **FRAME_SCHEMAS, **SEARCH_SCHEMAS},
        },
    }
