"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web, web_response

from chat_core.bootstrap import ChatCore
from chat_core.idempotency import keep_purging
from chat_core.ratelimit import RateLimiter
from transports.http import (
    admin_consumers,
    admin_webhooks,
    branch_views,
    chat_views,
    erasure_views,
    generation_views,
    ops_views,
    search_views,
    temperature_views,
    thread_views,
)
from transports.http.admission import add_route_table, new_application
from transports.http.app_keys import CORE, LIMITER, READINESS
from transports.http.console_views import console_enabled, console_routes
from transports.http.cors import add_cors
from transports.http.key_refresh import add_key_refresh
from transports.http.observe import add_metrics
from transports.http.readiness import Readiness
from transports.http.stream_settings import StreamSettings
from transports.http.streaming import add_streams
from transports.http.webhook_sender import deliver_webhooks

__all__ = ["SERVER", "create_app"]

# What the Server header of every answer says: no software version to look vulnerabilities up by.
SERVER = "chat-core"


def create_app(core: ChatCore, *, streams: StreamSettings | None = None) -> web.Application:
    """Build the HTTP app around a bootstrapped chat core; closing the app closes the core."""
    _name_no_version()
    app = new_application(client_max_size=core.settings.max_body)
    app[CORE] = core
    app[READINESS] = Readiness(core.store.probe_write)
    add_metrics(app)
    add_cors(app, core.settings.cors_origins)
    add_rate_limit(app)
    for table in (
        ops_views.routes,
        chat_views.routes,
        thread_views.routes,
        generation_views.routes,
        branch_views.routes,
        search_views.routes,
        temperature_views.routes,
        erasure_views.routes,
        admin_consumers.routes,
        admin_webhooks.routes,
    ):
        add_route_table(app, table)
    add_streams(app, streams or StreamSettings())
    if console_enabled(core.settings.mode):
        add_route_table(app, console_routes())
    app.cleanup_ctx.append(_purge_idempotency)
    app.cleanup_ctx.append(deliver_webhooks)
    add_key_refresh(app)
    app.on_cleanup.append(_close_core)
    return app


def _name_no_version() -> None:
    """Make the Server header of every answer SERVER, aiohttp's own refusals included.

    aiohttp fills the header of any response without one from a module global that names
    Python's version and its own, and takes no option for it: replace the global.
    """
    web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]  # read at each use


def add_rate_limit(app: web.Application) -> None:
    """Give the app a per-tenant limiter when the settings ask for one."""
    limit = app[CORE].settings.rate_limit
    if limit is not None:
        rate, burst = limit
        app[LIMITER] = RateLimiter(rate=rate, burst=burst)


async def _purge_idempotency(app: web.Application) -> AsyncIterator[None]:
    """Purge idempotency records past the retention while the app runs."""
    core = app[CORE]
    ttl = timedelta(seconds=core.settings.idempotency_ttl)
    task = asyncio.create_task(
        keep_purging(core.store, clock=core.clock, ttl=ttl), name="chat-core idempotency purge"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_core(app: web.Application) -> None:
    await app[CORE].close()
