"""RFC 9457 problem+json responses, the one shape of every 4xx and 5xx answer.

HTTPProblem covers every refusal made
in the transport; chat_core errors are translated to it by the error middleware.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

__all__ = ["PROBLEM_JSON", "HTTPProblem", "problem_response"]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://chat-core.dev/problems/"

_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    request_id: str | None,
    errors: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Build a problem+json response with the request id in body and header."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + _SLUGS.get(status, str(status)),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [{"field": name, "message": message} for name, message in errors]
    response = web.Response(
        status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
    return response


class HTTPProblem(Exception):
    """A refusal raised anywhere in the transport, rendered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.problem_headers = dict(headers or {})
