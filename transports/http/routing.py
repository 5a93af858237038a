"""Register every route wrapped in the one pipeline, and refuse what no route takes through it.

The pipeline (pipeline.every_request) wraps each handler where it is registered rather
than running as an aiohttp middleware: with any middleware at all, aiohttp builds a
chain around the matched handler on every request (a cached lookup, a partial, and a
frame of its own that sets the current app), about 3% of an authenticated POST on one
core. A request that no route takes (404, 405, or a target with no path at all, such as
`OPTIONS *` or `CONNECT host:443`) gets aiohttp's refusal from the router; PipelineRouter
hands it to the same pipeline, so it is still answered 401 first, then as problem+json.

aiohttp 3 takes a router only through Application's `router` argument, which it marks
deprecated: create_app passes it with that one warning silenced. Should a release drop
the argument, create_app fails at once and every test with it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError, UrlMappingMatchInfo

from transports.http.access_log import route_of
from transports.http.pipeline import every_request

__all__ = ["PipelineRouter", "add_route_table", "admitted", "new_application"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def admitted(handler: Handler) -> Handler:
    """Return the handler run inside every_request, as every route is registered."""
    # The template of the one route this wrapper serves, learnt from its first request.
    route: str | None = None

    async def run(request: web.Request) -> web.StreamResponse:
        nonlocal route
        if route is None:
            route = route_of(request)
        return await every_request(request, handler, route)

    return functools.wraps(handler)(run)


def add_route_table(app: web.Application, table: web.RouteTableDef) -> None:
    """Register a table's routes, each handler admitted."""
    wrapped = []
    for definition in table:
        assert isinstance(definition, web.RouteDef), "route tables here hold plain routes"
        handler = admitted(definition.handler)
        wrapped.append(web.RouteDef(definition.method, definition.path, handler, definition.kwargs))
    app.add_routes(wrapped)


async def _refuse(request: web.Request) -> web.StreamResponse:
    """Raise the router's own refusal of the request (404, or 405 with Allow)."""
    refusal = request.match_info.http_exception
    assert refusal is not None, "only the router's refusals are handled here"
    raise refusal


_REFUSE = admitted(_refuse)


class _Unrouted(MatchInfoError):
    """The router's refusal, handled by the pipeline instead of raised bare."""

    __slots__ = ()

    @property
    def handler(self) -> Handler:
        """Return the admitted refusal."""
        return _REFUSE


class PipelineRouter(web.UrlDispatcher):
    """Resolve as aiohttp does; a request no route takes is refused through the pipeline."""

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        """Return the route's match, or the router's refusal wrapped for the pipeline."""
        match = await super().resolve(request)
        if isinstance(match, MatchInfoError):
            return _Unrouted(match.http_exception)
        return match


def new_application(**options: Any) -> web.Application:
    """Return an Application whose router is a PipelineRouter."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "router argument is deprecated", DeprecationWarning)
        return web.Application(router=PipelineRouter(), **options)
