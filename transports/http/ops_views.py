"""Public operational routes: liveness, readiness, metrics and the API description."""

from __future__ import annotations

import logging

from aiohttp import web

from transports.http.docs_page import docs_html
from transports.http.keys import CORE, METRICS
from transports.http.metrics import CONTENT_TYPE
from transports.http.openapi import openapi_document
from transports.http.requests import json_response

__all__ = ["routes"]

routes = web.RouteTableDef()
log = logging.getLogger("transports.http")


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """Say the process is alive."""
    return json_response(200, {"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Say whether the store answers."""
    try:
        await request.app[CORE].store.ping()
    except Exception:
        log.warning("readiness check failed: the store does not answer", exc_info=True)
        return json_response(503, {"status": "unavailable"})
    return json_response(200, {"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Serve this app's metrics in the Prometheus text format."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@routes.get("/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    """Serve the OpenAPI 3.1 description of every route."""
    return json_response(200, openapi_document())


@routes.get("/docs")
async def docs(_request: web.Request) -> web.Response:
    """Serve a self-contained HTML page that lists every route."""
    return web.Response(text=docs_html(), content_type="text/html")
