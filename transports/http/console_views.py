"""The dev-mode browser console: one page at `/` and its static files, shipped in the package.

Registered only when `settings.mode == "dev"`; there, and only there, these routes need no
token (API.md). In prod they do not exist, so `/` is a 401 without a token like any path.
"""

from __future__ import annotations

from importlib.resources import files

from aiohttp import web

from transports.http.problems import HTTPProblem

__all__ = ["CONSOLE_ROUTES", "console_enabled", "console_routes"]

CONSOLE_ROUTES = frozenset({"/", "/console/{asset}"})
_ASSETS = {
    "console.js": "text/javascript",
    "stream.js": "text/javascript",
    "console.css": "text/css",
}
# The page may load its own files and talk to this origin; nothing from anywhere else.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def console_enabled(mode: str) -> bool:
    """Tell whether a server in this mode serves the console."""
    return mode == "dev"


def _read(name: str) -> bytes:
    return files("transports.http").joinpath("console", name).read_bytes()


def console_routes() -> web.RouteTableDef:
    """Return the console's page and files, read once from the package."""
    routes = web.RouteTableDef()
    page = _read("index.html")
    assets = {name: (_read(name), media) for name, media in _ASSETS.items()}

    @routes.get("/")
    async def index(_request: web.Request) -> web.Response:
        """Serve the console page."""
        return web.Response(body=page, content_type="text/html", charset="utf-8", headers=_HEADERS)

    @routes.get("/console/{asset}")
    async def asset(request: web.Request) -> web.Response:
        """Serve one of the console's static files, or a 404."""
        found = assets.get(request.match_info["asset"])
        if found is None:
            raise HTTPProblem(404, "no such console file")
        body, media = found
        return web.Response(body=body, content_type=media, charset="utf-8", headers=_HEADERS)

    return routes
