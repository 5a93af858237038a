"""Reusable OpenAPI pieces: the context headers, query parameters and responses of the routes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from transports.http.openapi_schemas import MESSAGE_ID, THREAD_ID, ref
from transports.http.problems import PROBLEM_JSON

__all__ = [
    "HEADERS",
    "PARAMETERS",
    "context",
    "json_body",
    "problems",
    "response",
    "stream_context",
]

Spec = dict[str, Any]

REQUEST_ID = "^[A-Za-z0-9._:-]{1,128}$"
IDEMPOTENCY_KEY = "^[\\x21-\\x7e]([\\x20-\\x7e]{0,253}[\\x21-\\x7e])?$"
TENANT_ID: Spec = {
    "type": "string",
    "pattern": "^t_[a-z0-9][a-z0-9_-]{0,62}$",
    "not": {"const": "t_unknown"},
}


def _header(description: str, schema: Spec, *, required: bool = False) -> Spec:
    return {"description": description, "required": required, "schema": schema}


HEADERS: dict[str, Spec] = {
    "X-Request-Id": _header(
        "The request's id: the one sent, else one the server made.",
        {"type": "string", "pattern": REQUEST_ID},
        required=True,
    ),
    "ETag": _header(
        'The strong tag of the config\'s version: "<version>".',
        {"type": "string", "pattern": '^"[0-9]+"$'},
        required=True,
    ),
    "Idempotent-Replayed": _header(
        "true when this is the recorded first answer to the same Idempotency-Key.",
        {"type": "string", "enum": ["true"]},
    ),
    "WWW-Authenticate": _header("The bearer challenge.", {"type": "string"}, required=True),
    "Retry-After": _header(
        "Whole seconds to wait: until the tenant's request budget allows another request, or "
        "a place in the stream-ticket quota the refusal names frees.",
        {"type": "string", "pattern": "^[0-9]+$"},
        required=True,
    ),
}


def _in_header(name: str, schema: Spec, *, required: bool, description: str) -> Spec:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _in_query(name: str, schema: Spec, description: str) -> Spec:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _in_path(name: str, pattern: str) -> Spec:
    schema = {"type": "string", "pattern": pattern}
    return {"name": name, "in": "path", "required": True, "schema": schema}


PARAMETERS: dict[str, Spec] = {
    "TenantId": _in_header(
        "X-Tenant-Id",
        TENANT_ID,
        required=True,
        description="The tenant; the caller must be a member of it. t_unknown is reserved.",
    ),
    "Env": _in_header(
        "X-Env",
        ref("Env"),
        required=True,
        description="The environment; the server may allow fewer (CHAT_CORE_ENVS).",
    ),
    # A stream ticket names the tenant and env, so a browser (which cannot set headers on
    # EventSource or WebSocket) sends neither; with a bearer token both are required.
    "StreamTenantId": _in_header(
        "X-Tenant-Id",
        TENANT_ID,
        required=False,
        description="The tenant, required with a bearer token; ignored with ?ticket=.",
    ),
    "StreamEnv": _in_header(
        "X-Env",
        ref("Env"),
        required=False,
        description="The environment, required with a bearer token; ignored with ?ticket=.",
    ),
    "RequestId": _in_header(
        "X-Request-Id",
        {"type": "string", "pattern": REQUEST_ID},
        required=False,
        description="The caller's id for the request, echoed in the response.",
    ),
    # Not a pattern: a malformed traceparent is ignored (W3C Trace Context), never refused.
    "TraceParent": _in_header(
        "traceparent",
        {"type": "string"},
        required=False,
        description=(
            "W3C Trace Context. When well formed (version 00, lowercase hex, neither id all"
            " zeros) its trace id is the trace_id of the events the request writes (on the"
            " WebSocket upgrade: of every frame's events); otherwise it is ignored."
        ),
    ),
    "IdempotencyKey": _in_header(
        "Idempotency-Key",
        {"type": "string", "pattern": IDEMPOTENCY_KEY},
        required=False,
        description="1 to 255 printable ASCII characters; repeats replay the first answer.",
    ),
    "IfMatch": _in_header(
        "If-Match",
        {"type": "string"},
        required=False,
        description='"<version>" or *; any other value, empty included, is 412.',
    ),
    "Limit": _in_query(
        "limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Page size."
    ),
    "After": _in_query(
        "after",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
        "The next cursor of a previous page.",
    ),
    "Order": _in_query(
        "order",
        {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
        "The order of messages by seq.",
    ),
    "Archived": _in_query(
        "archived",
        {"type": "string", "enum": ["false", "true", "all"], "default": "false"},
        "Threads not archived (false), archived ones (true) or both (all).",
    ),
    "CreatedBy": _in_query(
        "created_by",
        {"type": "string", "minLength": 1, "maxLength": 255},
        "Only threads this subject created; me for the caller.",
    ),
    "ThreadId": _in_path("thread_id", THREAD_ID),
    "MessageId": _in_path("message_id", MESSAGE_ID),
}


def context(*names: str) -> list[Spec]:
    """List the context headers every private route takes, then the named parameters."""
    chosen = ("TenantId", "Env", "RequestId", "TraceParent", *names)
    return [{"$ref": f"#/components/parameters/{name}"} for name in chosen]


def stream_context(*names: str) -> list[Spec]:
    """List the context headers of a stream route, optional there for ?ticket=, then the rest."""
    chosen = ("StreamTenantId", "StreamEnv", "RequestId", "TraceParent", *names)
    return [{"$ref": f"#/components/parameters/{name}"} for name in chosen]


def response(
    status: int,
    schema: str | Spec | None,
    *,
    headers: tuple[str, ...] = (),
    media: str = "application/json",
) -> Spec:
    """Describe one response, with X-Request-Id and the named headers."""
    spec: Spec = {
        "description": HTTPStatus(status).phrase,
        "headers": {
            name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-Id", *headers)
        },
    }
    if schema is not None:
        spec["content"] = {media: {"schema": ref(schema) if isinstance(schema, str) else schema}}
    return spec


_PROBLEM_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",), 503: ("Retry-After",)}


def problems(*statuses: int) -> dict[str, Spec]:
    """Describe each status as a problem+json response; 401, 429 and 503 carry their headers."""
    return {
        str(status): response(
            status, "Problem", headers=_PROBLEM_HEADERS.get(status, ()), media=PROBLEM_JSON
        )
        for status in statuses
    }


def json_body(schema: str, *, required: bool) -> Spec:
    """Describe a JSON request body."""
    return {"required": required, "content": {"application/json": {"schema": ref(schema)}}}
