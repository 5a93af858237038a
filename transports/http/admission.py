"""The request gate: what every request passes around its handler, in the contract's order.

Each route's handler is registered wrapped (add_route_table), and the router hands a
request no route takes (404, 405, or a target with no path at all, such as `OPTIONS *` or
`CONNECT host:443`) to the same wrapper. So every request, routed or not, is timed, counted
and logged once; gets a request id; is admitted (401 token or ticket, 400 context, 403
membership, 429 the tenant's budget); and has any error answered as problem+json.

Not an aiohttp middleware: with any middleware at all, aiohttp builds a chain around the
matched handler on every request (a cached lookup, a partial and a frame of its own that
sets the current app), about 3% of an authenticated POST on one core, and each resumption
of a waiting handler passes every frame. aiohttp 3 takes a router only through
Application's `router` argument, which it marks deprecated: new_application passes it with
that one warning silenced. Should a release drop the argument, create_app fails at once and
every test with it.

A little over 300 lines for one concept, the gate in the contract's order: the router
that hands every request to it, the run around the handler, and the admission steps it
runs, each a function of its own. Split, the order would have to be read across modules.
"""

from __future__ import annotations

import asyncio
import functools
import re
import warnings
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError, UrlMappingMatchInfo

from chat_core.bootstrap import ChatCore
from chat_core.context import (
    AuthContext,
    RequestContext,
    Role,
    has_role,
    new_request_id,
    trace_id_of,
)
from chat_core.ratelimit import OverRate
from chat_core.tickets import StreamTicket, TicketRefused
from chat_core.tokens import InvalidToken, KeysOutdated
from events.envelope import Env, InvalidContext, check_tenant
from transports.http.access_log import UNMATCHED, log_access, route_of
from transports.http.app_keys import (
    AUTH,
    CONTEXT,
    CORE,
    LIMITER,
    METRICS,
    REQUEST_ID,
    TICKET,
    TICKETS,
)
from transports.http.compression import GZIP_MIN_BYTES, offer_gzip
from transports.http.console_views import CONSOLE_ROUTES, console_enabled
from transports.http.cors import preflight as cors_preflight
from transports.http.metrics import STREAM_ROUTES
from transports.http.problems import HTTPProblem
from transports.http.routing import DepthRouter
from transports.http.websocket import refusal

__all__ = [
    "CLIENT_CLOSED",
    "PUBLIC_PATHS",
    "TICKET_ROUTES",
    "AdmissionRouter",
    "add_route_table",
    "admit",
    "admitted",
    "new_application",
    "run_request",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Not an HTTP status sent to anyone: the label of a request whose client went away first.
CLIENT_CLOSED = 499
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})
# Only these routes take `?ticket=` (browsers cannot set headers there), and only by GET.
TICKET_ROUTES = frozenset({"/chat/threads/{thread_id}/events", "/chat/ws"})
INVALID_TICKET = 'Bearer error="invalid_token"'
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_ENVS = {env.value: env for env in Env}
_NONE: list[str] = []
_TWICE = "the {} header is sent more than once; send it once"
_NO_TENANT = "the X-Tenant-Id header is required"


def new_application(**options: Any) -> web.Application:
    """Return an Application whose router is an AdmissionRouter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "router argument is deprecated", DeprecationWarning)
        return web.Application(router=AdmissionRouter(), **options)


def add_route_table(app: web.Application, table: web.RouteTableDef) -> None:
    """Register a table's routes, each handler admitted."""
    wrapped = []
    for definition in table:
        assert isinstance(definition, web.RouteDef), "route tables here hold plain routes"
        handler = admitted(definition.handler)
        wrapped.append(web.RouteDef(definition.method, definition.path, handler, definition.kwargs))
    app.add_routes(wrapped)


def admitted(handler: Handler) -> Handler:
    """Return the handler run inside run_request, as every route is registered."""
    # The template of the one route this wrapper serves, learnt from its first request.
    route: str | None = None

    async def run(request: web.Request) -> web.StreamResponse:
        nonlocal route
        if route is None:
            route = route_of(request)
        return await run_request(request, handler, route)

    return functools.wraps(handler)(run)


async def _refuse(request: web.Request) -> web.StreamResponse:
    """Raise the router's own refusal of the request (404, or 405 with Allow)."""
    refused = request.match_info.http_exception
    assert refused is not None, "only the router's refusals are handled here"
    raise refused


_REFUSE = admitted(_refuse)


class _Unrouted(MatchInfoError):
    """The router's refusal, answered through the gate instead of raised bare."""

    __slots__ = ()

    @property
    def handler(self) -> Handler:
        """Return the admitted refusal."""
        return _REFUSE


class AdmissionRouter(DepthRouter):
    """Resolve as aiohttp does (by depth); a request no route takes is refused through the gate."""

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        """Return the route's match, or the router's refusal wrapped for the gate."""
        match = await super().resolve(request)
        if isinstance(match, MatchInfoError):
            return _Unrouted(match.http_exception)
        return match


async def run_request(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
    """Time, identify, admit and answer one request; count it and log it, whatever it ends in.

    Streams are timed to their end. One frame, not four: every resumption of a waiting
    handler passes each frame around it. route is the template of the route that took it.
    """
    started = perf_counter()
    stream_kind = STREAM_ROUTES.get(route)
    # Looked up once: request.app is a property chain, and admission reads the app thrice.
    app = request.app
    metrics = app[METRICS]
    if stream_kind is not None:
        metrics.stream_opened(stream_kind)
    status = 500
    context = None
    response: web.StreamResponse | None
    try:
        request_id = request_id_of(request)
        request[REQUEST_ID] = request_id
        try:
            # A listed origin's CORS preflight is answered here, without a token.
            response = cors_preflight(request) if route == UNMATCHED else None
            if response is None:
                # A ticket is redeemed from the store first: admit() itself never waits.
                ticket = await redeem_ticket(request) if _sends_ticket(request, route) else None
                try:
                    context = admit(request, route, ticket, app=app)
                except KeysOutdated as outdated:  # a kid no key has: fetch the JWKS, then again
                    await outdated.refetch()
                    context = admit(request, route, ticket, app=app)
                response = await handler(request)
        except Exception as error:  # every error gets its answer
            response = await refusal(request, request_id, error)
        else:
            if not response.prepared:
                response.headers["X-Request-Id"] = request_id
                # Streams are prepared by now: only whole answers in memory get here.
                if type(response) is web.Response:
                    body = response.body
                    if type(body) is bytes and len(body) >= GZIP_MIN_BYTES:
                        offer_gzip(request, response)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        if stream_kind is not None:
            metrics.stream_closed(stream_kind)
        seconds = perf_counter() - started
        if context is None:  # refused after the context was built (429), or before
            context = request.get(CONTEXT)
        tenant = None if context is None else context.tenant
        metrics.observe_request(
            method=request.method, route=route, status=status, seconds=seconds, tenant=tenant
        )
        log_access(request, status, seconds, route)


def request_id_of(request: web.Request) -> str:
    """Return the request's own X-Request-Id when sent once and well formed, else a new id."""
    sent = request.headers.getall("X-Request-Id", _NONE)
    if len(sent) == 1 and REQUEST_ID_PATTERN.fullmatch(sent[0]):
        return sent[0]
    return new_request_id()


def _sends_ticket(request: web.Request, route: str) -> bool:
    """Tell whether an HTTP/1 request opens a stream with `?ticket=` instead of a token."""
    return (
        route in TICKET_ROUTES
        and request.method == "GET"
        and "ticket" in request.query
        and request.version[0] == 1
    )


def admit(
    request: web.Request,
    route: str,
    ticket: StreamTicket | None = None,
    *,
    app: web.Application | None = None,
) -> RequestContext | None:
    """Let a request reach its handler only past every check, in the contract's order.

    505 (an HTTP version other than 1.x), 401 (token or ticket), then 400 and 403 (context,
    membership), then 429: only a verified member's requests spend a tenant's budget, so a
    stranger cannot spend another's. Return the context; None where none is needed (public
    routes, and a path no route takes: a 404 or 405 is about the path, needing only the token).
    A ticket the request sent has been redeemed already (redeem_ticket) and stands for the token.
    app is request.app, when the caller has it at hand.
    """
    if request.version[0] != 1:
        raise _unsupported_version(request)
    if app is None:
        app = request.app
    core = app[CORE]
    if route in PUBLIC_PATHS or (route in CONSOLE_ROUTES and console_enabled(core.settings.mode)):
        return None
    if ticket is not None:
        request[TICKET] = ticket
        auth = request[AUTH] = ticket.auth
    else:
        auth = request[AUTH] = verify_request(request, core=core)
    if route == UNMATCHED:
        return None
    if ticket is None:
        context = context_from_headers(request, core=core)
    else:
        context = ticket.context(request[REQUEST_ID])
    if not has_role(auth, context.tenant, Role.MEMBER):
        raise HTTPProblem(403, f"the caller is not a member of tenant {context.tenant}")
    request[CONTEXT] = context
    limiter = app.get(LIMITER)
    if limiter is not None:
        try:
            limiter.spend(context.tenant)
        except OverRate as over:
            headers = {"Retry-After": str(over.retry_after)}
            raise HTTPProblem(429, str(over), headers=headers) from None
    return context


def _unsupported_version(request: web.Request) -> HTTPProblem:
    """Refuse a request line of another major version (the parser passes `HTTP/2.0` and
    `HTTP/0.9` through), and close the connection: what follows is not HTTP/1.1."""
    sent = request.version
    detail = f"HTTP/{sent.major}.{sent.minor} is not supported; use HTTP/1.1"
    return HTTPProblem(505, detail, headers={"Connection": "close"})


async def redeem_ticket(request: web.Request) -> StreamTicket:
    """Use up the request's `?ticket=`, which stands for a token, tenant and env; else 401."""
    values = request.query.getall("ticket")
    if len(values) != 1:
        raise HTTPProblem(400, "query parameter ticket is given more than once")
    try:
        return await request.app[TICKETS].redeem(values[0])
    except TicketRefused as exc:
        raise HTTPProblem(401, str(exc), headers={"WWW-Authenticate": INVALID_TICKET}) from None


def verify_request(request: web.Request, *, core: ChatCore | None = None) -> AuthContext:
    """Verify the request's bearer token, or raise a 401 problem with its challenge."""
    verifier = (request.app[CORE] if core is None else core).verifier
    sent = request.headers.getall("Authorization", _NONE)
    if len(sent) > 1:
        raise HTTPProblem(400, _TWICE.format("Authorization"))
    try:
        return verifier.verify_authorization(sent[0] if sent else None)
    except KeysOutdated:
        raise  # run_request fetches the keys again and admits the request once more
    except InvalidToken as exc:
        raise HTTPProblem(401, exc.detail, headers={"WWW-Authenticate": exc.challenge}) from None


def context_from_headers(request: web.Request, *, core: ChatCore | None = None) -> RequestContext:
    """Read X-Tenant-Id, X-Env and X-Request-Id into a RequestContext, else a 400 problem.

    Each is taken only when sent once: a proxy that kept the last of two could disagree.
    """
    headers = request.headers
    tenants = headers.getall("X-Tenant-Id", _NONE)
    if len(tenants) != 1:
        raise HTTPProblem(400, _TWICE.format("X-Tenant-Id") if tenants else _NO_TENANT)
    tenant = tenants[0]
    try:
        check_tenant(tenant)
    except InvalidContext:
        raise HTTPProblem(400, "X-Tenant-Id must match ^t_[a-z0-9][a-z0-9_-]{0,62}$") from None
    envs = headers.getall("X-Env", _NONE)
    if len(envs) != 1:
        raise HTTPProblem(400, _TWICE.format("X-Env") if envs else "the X-Env header is required")
    env = _ENVS.get(envs[0])
    allowed = (request.app[CORE] if core is None else core).settings.envs
    if env is None or env not in allowed:
        names = ", ".join(sorted(env.value for env in allowed))
        raise HTTPProblem(400, f"X-Env must be one of: {names}")
    request_id = request[REQUEST_ID]
    sent_ids = headers.getall("X-Request-Id", _NONE)
    if len(sent_ids) > 1:
        raise HTTPProblem(400, _TWICE.format("X-Request-Id"))
    # request_id_of kept a well-formed id and replaced any other: no need to match it again.
    if sent_ids and sent_ids[0] != request_id:
        raise HTTPProblem(400, "X-Request-Id must match ^[A-Za-z0-9._:-]{1,128}$")
    trace_id = request_id
    if "traceparent" in headers:  # one well-formed traceparent names the trace; two name none
        sent = headers.getall("traceparent")
        trace_id = (trace_id_of(sent[0]) if len(sent) == 1 else None) or request_id
    return RequestContext(tenant=tenant, env=env, request_id=request_id, trace_id=trace_id)
