"""What every request passes before its handler: request id, authentication, context; errors."""

from __future__ import annotations

import logging
import os
import random
import re

from aiohttp import web

from chat_core.context import AuthContext, RequestContext, Role, has_role
from chat_core.errors import (
    BadRequest,
    ChatError,
    Conflict,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyMismatch,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from chat_core.tickets import StreamTicket
from chat_core.tokens import InvalidToken
from events.envelope import Env, InvalidContext, check_tenant
from transports.http.access_log import UNMATCHED
from transports.http.app_keys import AUTH, CONTEXT, CORE, REQUEST_ID, TICKET
from transports.http.console_views import CONSOLE_ROUTES, console_enabled
from transports.http.problems import HTTPProblem, problem_response
from transports.http.ratelimit import spend_rate_budget
from transports.http.tickets import redeem_ticket, takes_ticket

__all__ = [
    "PUBLIC_PATHS",
    "admit",
    "authenticate",
    "build_context",
    "chat_error_status",
    "error_response",
    "is_public",
    "request_id_of",
]

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})

log = logging.getLogger("transports.http")
_ENVS = {env.value: env for env in Env}
_IDS = random.Random()
# A forked child starts from its parent's generator state: seed it afresh there, or both
# would hand out the same request ids (random reseeds only its own module-level instance).
os.register_at_fork(after_in_child=_IDS.seed)
# The version (4) and variant (RFC 4122) bits of a random UUID.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)

_CHAT_STATUS: dict[type[ChatError], int] = {
    BadRequest: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    IdempotencyInFlight: 409,
    PreconditionFailed: 412,
    ValidationFailed: 422,
    IdempotencyMismatch: 422,
}


def chat_error_status(error: ChatError) -> int:
    """Return the HTTP status a chat error answers with."""
    return _CHAT_STATUS.get(type(error), 400)


def is_public(request: web.Request, route: str) -> bool:
    """Tell whether a request goes to a route that needs no token (the console: dev only).

    route is the template of the route that took it (access_log.route_of), UNMATCHED when
    none did: a 404 or 405 is never public.
    """
    if route in PUBLIC_PATHS:
        return True
    return route in CONSOLE_ROUTES and console_enabled(request.app[CORE].settings.mode)


def request_id_of(request: web.Request) -> str:
    """Return the request's own X-Request-Id when well formed, else a new id."""
    sent = request.headers.get("X-Request-Id")
    if sent is not None and REQUEST_ID_PATTERN.fullmatch(sent):
        return sent
    return new_request_id()


def new_request_id() -> str:
    """Make a random (version 4) UUID for a request that sent no id of its own.

    A request id must be unique, not secret, so it is drawn from a seeded PRNG rather than
    uuid4's os.urandom, a system call on every request; a forked child reseeds it.
    """
    text = (_IDS.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET).to_bytes(16).hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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
        return problem_response(status, str(error), request_id=request_id, errors=errors)
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


def admit(request: web.Request, route: str) -> RequestContext | None:
    """Let a request reach its handler only past every check, in the contract's order.

    401 (token), then 400 and 403 (context, membership), then 429 (the tenant's budget).
    route is the template of the route that took it (access_log.route_of). Return the
    request's context, None where it needs none (public routes, a path no route takes).
    """
    if is_public(request, route):
        return None
    ticket = authenticate(request, route)
    if route == UNMATCHED:
        return None
    context = build_context(request, ticket)
    spend_rate_budget(request, context)
    return context


def authenticate(request: web.Request, route: str) -> StreamTicket | None:
    """Refuse with 401 a non-public request without a valid bearer token.

    The stream routes alone may present a single-use `?ticket=` instead (browsers cannot
    set headers there); it stands for the token, tenant and env it was issued to, and is
    returned for build_context.
    """
    if takes_ticket(request, route):
        ticket = redeem_ticket(request)
        request[TICKET] = ticket
        request[AUTH] = ticket.auth
        return ticket
    request[AUTH] = verify_request(request)
    return None


def verify_request(request: web.Request) -> AuthContext:
    """Verify the request's bearer token, or raise a 401 problem with its challenge."""
    verifier = request.app[CORE].verifier
    try:
        return verifier.verify_authorization(request.headers.get("Authorization"))
    except InvalidToken as exc:
        challenge = exc.challenge
        detail = "a valid bearer token is required" if exc.token_sent else "no bearer token sent"
        raise HTTPProblem(401, detail, headers={"WWW-Authenticate": challenge}) from None


def build_context(request: web.Request, ticket: StreamTicket | None) -> RequestContext:
    """Build the RequestContext of an authenticated request (400); check membership (403).

    Only for a request some route matched: a 404 or 405 is about the path and method, not
    the tenant, so it needs only the token (checked before) to learn that.
    """
    if ticket is None:
        context = context_from_headers(request)
    else:
        context = ticket.context(request[REQUEST_ID])
    if not has_role(request[AUTH], context.tenant, Role.MEMBER):
        raise HTTPProblem(403, f"the caller is not a member of tenant {context.tenant}")
    request[CONTEXT] = context
    return context


def context_from_headers(request: web.Request) -> RequestContext:
    """Read X-Tenant-Id, X-Env and X-Request-Id into a RequestContext, else a 400 problem."""
    headers = request.headers
    tenant = headers.get("X-Tenant-Id")
    if tenant is None:
        raise HTTPProblem(400, "the X-Tenant-Id header is required")
    try:
        check_tenant(tenant)
    except InvalidContext:
        raise HTTPProblem(400, "X-Tenant-Id must match ^t_[a-z0-9][a-z0-9_-]{0,62}$") from None
    env_name = headers.get("X-Env")
    if env_name is None:
        raise HTTPProblem(400, "the X-Env header is required")
    env = _ENVS.get(env_name)
    allowed = request.app[CORE].settings.envs
    if env is None or env not in allowed:
        names = ", ".join(sorted(env.value for env in allowed))
        raise HTTPProblem(400, f"X-Env must be one of: {names}")
    request_id = request[REQUEST_ID]
    sent_id = headers.get("X-Request-Id")
    # request_id_of kept a well-formed id and replaced any other: no need to match it again.
    if sent_id is not None and sent_id != request_id:
        raise HTTPProblem(400, "X-Request-Id must match ^[A-Za-z0-9._:-]{1,128}$")
    return RequestContext(tenant=tenant, env=env, request_id=request_id)
