"""RFC 9457 problem+json responses, the one shape of every 4xx and 5xx answer.

HTTPProblem covers every refusal made in the transport; error_response answers it, a
chat_core error (by chat_error_status) and aiohttp's own refusals alike.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from chat_core.errors import (
    BadRequest,
    ChatError,
    Conflict,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyMismatch,
    NotFound,
    OutOfOrder,
    PreconditionFailed,
    ValidationFailed,
)

__all__ = ["PROBLEM_JSON", "HTTPProblem", "chat_error_status", "error_response", "problem_response"]

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
    505: "http-version-not-supported",
}


def problem_response(
    status: int,
    detail: str,
    *,
    request_id: str | None,
    errors: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> web.Response:
    """Build a problem+json response with the request id in body and header.

    With `Connection: close` among the headers, the server closes the connection too.
    """
    body: dict[str, Any] = {
        "type": TYPE_BASE + _SLUGS.get(status, str(status)),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors:
        body["errors"] = [{"field": name, "message": message} for name, message in errors]
    if extensions:
        body.update(extensions)
    response = web.Response(
        status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )
    if request_id is not None:
        response.headers["X-Request-Id"] = request_id
    if headers is not None and headers.get("Connection") == "close":
        response.force_close()
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


log = logging.getLogger("transports.http")

_CHAT_STATUS: dict[type[ChatError], int] = {
    BadRequest: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    OutOfOrder: 409,
    IdempotencyInFlight: 409,
    PreconditionFailed: 412,
    ValidationFailed: 422,
    IdempotencyMismatch: 422,
}


def chat_error_status(error: ChatError) -> int:
    """Return the HTTP status a chat error answers with."""
    return _CHAT_STATUS.get(type(error), 400)


def problem_extensions(error: ChatError) -> dict[str, Any] | None:
    """Return the members a chat error adds to its problem document (RFC 9457 extensions)."""
    if isinstance(error, OutOfOrder):
        return {"expected_index": error.expected_index}
    return None


def error_response(request_id: str, error: Exception) -> web.Response:
    """Answer what a handler (or the checks before it) raised as problem+json.

    An HTTPException below 400 (a redirect) is not an error: it is raised again.
    """
    if isinstance(error, HTTPProblem):
        return problem_response(
            error.status,
            error.detail,
            request_id=request_id,
            errors=error.errors,
            headers=error.problem_headers,
        )
    if isinstance(error, ChatError):
        status = chat_error_status(error)
        errors = error.errors if isinstance(error, ValidationFailed) else ()
        extensions = problem_extensions(error)
        return problem_response(
            status, str(error), request_id=request_id, errors=errors, extensions=extensions
        )
    if isinstance(error, web.HTTPException):
        if error.status < 400:
            raise error
        text = error.text
        detail = text if text and not text.startswith(str(error.status)) else error.reason
        return problem_response(
            error.status, detail, request_id=request_id, headers=_kept_headers(error)
        )
    log.error("unhandled error in request %s", request_id, exc_info=error)
    return problem_response(
        500, "the server failed to answer; the request id identifies it", request_id=request_id
    )


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}
