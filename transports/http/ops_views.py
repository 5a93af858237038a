"""Public operational routes: liveness, readiness, metrics and the API description."""

from __future__ import annotations

from aiohttp import web

from transports.http.app_keys import CORE, METRICS, READINESS
from transports.http.console_views import console_enabled
from transports.http.docs_page import docs_html
from transports.http.metrics import CONTENT_TYPE
from transports.http.openapi import openapi_document
from transports.http.requests import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """Say the process is alive."""
    return json_response(200, {"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Say whether the store can take a write (probed at most about once a second)."""
    if await request.app[READINESS].ready():
        return json_response(200, {"status": "ok"})
    return json_response(503, {"status": "unavailable"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Serve this app's metrics in the Prometheus text format."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """Serve the OpenAPI 3.1 description of every route this server has."""
    console = console_enabled(request.app[CORE].settings.mode)
    return json_response(200, openapi_document(console=console))


@routes.get("/docs")
async def docs(request: web.Request) -> web.Response:
    """Serve the document rendered as a self-contained HTML page."""
    console = console_enabled(request.app[CORE].settings.mode)
    return web.Response(text=docs_html(console=console), content_type="text/html")
