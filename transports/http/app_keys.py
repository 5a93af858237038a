"""Typed keys for what the app and each request carry (aiohttp AppKeys and RequestKeys)."""

from __future__ import annotations

from aiohttp import web

from chat_core.bootstrap import ChatCore
from chat_core.context import AuthContext, RequestContext
from chat_core.hub import StreamHub
from chat_core.ratelimit import RateLimiter
from chat_core.tickets import StreamTicket, TicketBook
from transports.http.metrics import AppMetrics
from transports.http.readiness import Readiness
from transports.http.render import EventRenderer
from transports.http.stream_settings import StreamSettings

__all__ = [
    "AUTH",
    "CONTEXT",
    "CORE",
    "HUB",
    "LIMITER",
    "METRICS",
    "READINESS",
    "RENDERER",
    "REQUEST_ID",
    "SOCKETS",
    "STREAMS",
    "TICKET",
    "TICKETS",
]

CORE = web.AppKey("core", ChatCore)
REQUEST_ID = web.RequestKey("request_id", str)
AUTH = web.RequestKey("auth", AuthContext)
CONTEXT = web.RequestKey("context", RequestContext)
METRICS = web.AppKey("metrics", AppMetrics)
READINESS = web.AppKey("readiness", Readiness)
# Present only when the settings ask for a per-tenant rate limit.
LIMITER = web.AppKey("rate_limiter", RateLimiter)

# Live streams: one hub per process, the ticket book, and the open WebSockets to close.
HUB = web.AppKey("hub", StreamHub)
TICKETS = web.AppKey("tickets", TicketBook)
STREAMS = web.AppKey("streams", StreamSettings)
RENDERER = web.AppKey("renderer", EventRenderer)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
TICKET = web.RequestKey("ticket", StreamTicket)
