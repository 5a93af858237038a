"""One access line per request: request id, tenant, env, route, status and latency.

Never the query string (stream tickets ride there), a header, or a body: nothing here can
carry a token, a secret, a ticket or message content.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from events.envelope import InvalidContext, check_tenant
from transports.http.app_keys import CONTEXT, REQUEST_ID

__all__ = ["ACCESS_LOGGER", "UNMATCHED", "access_fields", "log_access", "route_of"]

ACCESS_LOGGER = logging.getLogger("chat_core.access")
# The route label of a request no route matched (404, 405): never its raw path.
UNMATCHED = "<unmatched>"
_MAX_PATH = 256


def route_of(request: web.BaseRequest) -> str:
    """Return the template of the route that took the request, never the raw path."""
    match_info = getattr(request, "match_info", None)
    if match_info is None or match_info.http_exception is not None:
        return UNMATCHED
    resource = match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


def _tenant_and_env(request: web.BaseRequest) -> tuple[str | None, str | None]:
    context = request.get(CONTEXT)
    if context is not None:
        return context.tenant, context.env.value
    # Refused before the context was built: name the tenant only when it is well formed.
    tenant = request.headers.get("X-Tenant-Id")
    try:
        check_tenant(tenant or "")
    except InvalidContext:
        tenant = None
    env = request.headers.get("X-Env")
    return tenant, env if env in ("dev", "staging", "prod") else None


def access_fields(
    request: web.BaseRequest, status: int, seconds: float, route: str | None = None
) -> dict[str, Any]:
    """Return what the access line says about a finished request (route: when known)."""
    tenant, env = _tenant_and_env(request)
    return {
        "event": "request",
        "request_id": request.get(REQUEST_ID),
        "method": request.method,
        "route": route_of(request) if route is None else route,
        "path": request.rel_url.raw_path[:_MAX_PATH],
        "status": status,
        "latency_ms": round(seconds * 1000, 3),
        "tenant": tenant,
        "env": env,
    }


def log_access(
    request: web.BaseRequest, status: int, seconds: float, route: str | None = None
) -> None:
    """Write the access line; JSON log collectors get its fields as keys.

    route is the request's route template when the caller has it already (route_of).
    """
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    fields = access_fields(request, status, seconds, route)
    ACCESS_LOGGER.info(
        "%s %s %d %.1fms route=%s request_id=%s tenant=%s env=%s",
        fields["method"],
        fields["path"],
        status,
        fields["latency_ms"],
        fields["route"],
        fields["request_id"] or "-",
        fields["tenant"] or "-",
        fields["env"] or "-",
        extra={"fields": fields},
    )
