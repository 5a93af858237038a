"""The one middleware every request passes: measure it, give it an id, admit it, and
answer whatever it raises as problem+json."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter

from aiohttp import web

from transports.http.access_log import log_access
from transports.http.app_keys import CONTEXT, METRICS, REQUEST_ID
from transports.http.metrics import STREAM_ROUTES
from transports.http.middleware import admit, error_response, request_id_of
from transports.http.problems import HTTPProblem
from transports.http.websocket import refuse_by_close

__all__ = ["CLIENT_CLOSED", "every_request"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Not an HTTP status sent to anyone: the label of a request whose client went away first.
CLIENT_CLOSED = 499


async def every_request(request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
    """Run a request through every step around its handler, in this order.

    1. Time it from arrival to answer (streams: to their end), whatever it ends in; count
       it in the metrics and write its one access line.
    2. Give it a request id (its own X-Request-Id when well formed), echoed in the answer.
    3. Admit it: 401, then 400 and 403, then 429 (see middleware.admit).
    4. Answer an error as problem+json; a refused WebSocket upgrade as a closed socket.

    One step, not four, and not an aiohttp middleware (see routing): each would be a
    coroutine frame on every request, and every resumption of a waiting handler passes
    them all. route is the template of the route that took it (access_log.route_of).
    """
    started = perf_counter()
    stream_kind = STREAM_ROUTES.get(route)
    metrics = request.app[METRICS]
    if stream_kind is not None:
        metrics.stream_opened(stream_kind)
    status = 500
    context = None
    try:
        request_id = request_id_of(request)
        request[REQUEST_ID] = request_id
        try:
            context = admit(request, route)
            response = await handler(request)
        except Exception as error:  # every error gets its answer
            response = await _refusal(request, request_id, error)
        else:
            if not response.prepared:
                response.headers["X-Request-Id"] = request_id
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


async def _refusal(request: web.Request, request_id: str, error: Exception) -> web.StreamResponse:
    """Answer an error: a WebSocket upgrade refused by closing it, any other as problem+json."""
    if isinstance(error, HTTPProblem):
        try:
            closed = await refuse_by_close(request, error)
        except Exception as failure:  # the socket failed: answer in HTTP
            return error_response(request_id, failure)
        if closed is not None:
            return closed
    return error_response(request_id, error)
