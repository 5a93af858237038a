"""Refuse with 429 a tenant that spends its request budget, keyed by the verified context."""

from __future__ import annotations

import math

from aiohttp import web

from chat_core.context import RequestContext
from chat_core.ratelimit import RateLimiter
from transports.http.app_keys import CORE
from transports.http.problems import HTTPProblem

__all__ = ["LIMITER", "add_rate_limit", "spend_rate_budget"]

LIMITER = web.AppKey("rate_limiter", RateLimiter)


def add_rate_limit(app: web.Application) -> None:
    """Give the app a per-tenant limiter when the settings ask for one."""
    limit = app[CORE].settings.rate_limit
    if limit is not None:
        rate, burst = limit
        app[LIMITER] = RateLimiter(rate=rate, burst=burst)


def spend_rate_budget(request: web.Request, context: RequestContext) -> None:
    """Spend one token of the caller's tenant; an empty bucket is a 429 with Retry-After.

    It runs after authentication and the context check, so only a verified member's
    requests count against a tenant, and a stranger cannot spend another tenant's budget.
    """
    limiter = request.app.get(LIMITER)
    if limiter is not None:
        wait = limiter.acquire(context.tenant)
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            raise HTTPProblem(
                429,
                f"tenant {context.tenant} is over its request rate; retry after {retry_after} s",
                headers={"Retry-After": retry_after},
            )
