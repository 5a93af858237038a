"""CORS for browser pages on other origins, as CHAT_CORE_CORS_ORIGINS lists them.

Only listed origins are answered as CORS: a preflight `OPTIONS` from one of them is 204
without a token (the gate answers it before admission), naming every request header of the
contract; every answer to one of them, errors and streams included, names the origin and
exposes the headers a client reads. An origin not listed gets no CORS header at all, and
its preflight goes through the gate like any request (401 without a token). Never the
credentials mode: callers send bearer tokens, not cookies, so no cookie ever rides along.

The answer headers are set in `on_response_prepare`, which every response passes through
just before its headers are sent, so a stream prepared inside its handler gets them too;
the signal is connected only when origins are listed, and costs nothing otherwise.
"""

from __future__ import annotations

from aiohttp import web

__all__ = [
    "ALLOW_HEADERS",
    "ALLOW_METHODS",
    "EXPOSE_HEADERS",
    "MAX_AGE",
    "CorsPolicy",
    "add_cors",
    "preflight",
]

# Every request header of the contract; tracestate travels with traceparent in W3C Trace
# Context, so a traced page would fail its preflight without it.
ALLOW_HEADERS = (
    "Authorization, Content-Type, X-Tenant-Id, X-Env, X-Request-Id, Idempotency-Key, "
    "If-Match, Last-Event-ID, traceparent, tracestate"
)
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
EXPOSE_HEADERS = "X-Request-Id, ETag, Idempotent-Replayed, Retry-After, WWW-Authenticate"
# Seconds a browser may reuse a preflight (Chromium keeps at most 7200).
MAX_AGE = "600"


class CorsPolicy:
    """Which origins may call, and the headers their answers carry."""

    __slots__ = ("_origins",)

    def __init__(self, origins: frozenset[str]) -> None:
        self._origins = origins

    def allows(self, origin: str | None) -> bool:
        """Tell whether a request's Origin header names a listed origin."""
        return origin is not None and origin in self._origins

    async def on_prepare(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Name a listed origin on every answer to it; say the answer varies by Origin."""
        headers = response.headers
        vary = headers.get("Vary")
        if vary is None:
            headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            headers["Vary"] = f"{vary}, Origin"
        origin = request.headers.get("Origin")
        if self.allows(origin):
            assert origin is not None, "allows() is false without an Origin"
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


CORS = web.AppKey("cors", CorsPolicy)


def add_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    """Answer browsers on the listed origins; with none listed, add nothing."""
    if not origins:
        return
    policy = CorsPolicy(frozenset(origins))
    app[CORS] = policy
    app.on_response_prepare.append(policy.on_prepare)


def preflight(request: web.Request) -> web.Response | None:
    """Return the 204 answer to a listed origin's preflight, else None (not a preflight)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    policy = request.app.get(CORS)
    if policy is None or not policy.allows(request.headers.get("Origin")):
        return None
    # Allow-Origin, Expose-Headers and Vary are added by on_prepare, as on every answer.
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        },
    )
