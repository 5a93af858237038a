"""Register every route wrapped in the one pipeline, and answer paths no route takes.

The pipeline (pipeline.every_request) wraps each handler where it is registered rather
than running as an aiohttp middleware: aiohttp builds a middleware chain around the
matched handler on every request, one more coroutine frame and a cache lookup each time,
and adds a frame of its own to set the current app (about 3% of an authenticated POST on
one core). A path that no route takes still passes the pipeline, through a catch-all
route registered last, which answers 405 with the methods the path allows, else 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from transports.http.access_log import CATCH_ALL, route_of
from transports.http.pipeline import every_request

__all__ = ["UNMATCHED_TEMPLATE", "add_catch_all", "add_route_table", "admitted", "served_routes"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The catch-all's template (canonically access_log.CATCH_ALL): the access log and metrics
# call a request it takes UNMATCHED.
UNMATCHED_TEMPLATE = "/{unmatched:.*}"


def admitted(handler: Handler) -> Handler:
    """Return the handler run inside every_request, as every route is registered."""
    # The template of the one route this wrapper serves, learnt from its first request.
    route: str | None = None

    async def run(request: web.Request) -> web.StreamResponse:
        nonlocal route
        if route is None:
            route = route_of(request)
        return await every_request(request, handler, route)

    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    run.__wrapped__ = handler  # type: ignore[attr-defined]
    return run


def add_route_table(app: web.Application, table: web.RouteTableDef) -> None:
    """Register a table's routes, each handler admitted."""
    wrapped = []
    for definition in table:
        assert isinstance(definition, web.RouteDef), "route tables here hold plain routes"
        handler = admitted(definition.handler)
        wrapped.append(web.RouteDef(definition.method, definition.path, handler, definition.kwargs))
    app.add_routes(wrapped)


def add_catch_all(app: web.Application) -> None:
    """Register, last, the route that takes whatever no other route took."""
    app.router.add_route("*", UNMATCHED_TEMPLATE, admitted(_no_route))


def served_routes(app: web.Application) -> list[web.AbstractRoute]:
    """Return the routes the app serves, less the catch-all."""
    return [
        route
        for route in app.router.routes()
        if route.resource is None or route.resource.canonical != CATCH_ALL
    ]


async def _no_route(request: web.Request) -> web.StreamResponse:
    """Answer 405 with the methods the path allows, else 404, as aiohttp's router would."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == CATCH_ALL:
            continue
        _match, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()
