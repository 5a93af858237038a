"""Metrics wiring and the outermost middleware: time each request, count it, log it once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from transports.http.access_log import log_access, route_of
from transports.http.keys import CONTEXT, CORE, METRICS
from transports.http.metrics import STREAM_ROUTES, AppMetrics, writer_stats

__all__ = ["CLIENT_CLOSED", "add_metrics", "observe_requests"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Not an HTTP status sent to anyone: the label of a request whose client went away first.
CLIENT_CLOSED = 499


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Measure the request from arrival to answer (streams: to their end), whatever it ends in."""
    started = time.perf_counter()
    route = route_of(request)
    stream_kind = STREAM_ROUTES.get(route)
    metrics = request.app[METRICS]
    if stream_kind is not None:
        metrics.stream_opened(stream_kind)
    status = 500
    try:
        response = await handler(request)
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
        seconds = time.perf_counter() - started
        context = request.get(CONTEXT)
        tenant = None if context is None else context.tenant
        metrics.observe_request(
            method=request.method, route=route, status=status, seconds=seconds, tenant=tenant
        )
        log_access(request, status, seconds)


def add_metrics(app: web.Application) -> None:
    """Give the app its metrics and hook them to the store's writer while the app runs."""
    core = app[CORE]
    metrics = AppMetrics(core, tenant_labels=core.settings.metrics_tenant_labels)
    app[METRICS] = metrics
    stats = writer_stats(core)
    if stats is not None:
        stats.observers.append(metrics)
        app.on_cleanup.append(_unhook)


async def _unhook(app: web.Application) -> None:
    stats = writer_stats(app[CORE])
    if stats is not None and app[METRICS] in stats.observers:
        stats.observers.remove(app[METRICS])
