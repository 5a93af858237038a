"""Token keys that change while the server runs: refreshed on their schedule, reloaded on SIGHUP.

add_key_refresh gives every app a task that fetches a JWKS URL again whenever its cached
keys' time is up (for HS256 or a fixed JWKS it ends at once). reload_keys_on_hangup is for
the one server a process runs (`chat-core serve`): SIGHUP reads a JWKS file, or fetches a
JWKS URL, again, and the process lives on; a reload that fails keeps the last good keys.
A token whose kid no key has is handled in the request gate (admission.run_request).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from transports.http.app_keys import CORE

__all__ = ["add_key_refresh", "reload_keys_on_hangup"]

log = logging.getLogger("transports.http")


def add_key_refresh(app: web.Application) -> None:
    """Refresh the verifier's JWKS while the app runs."""
    app.cleanup_ctx.append(_keep_keys_fresh)


def reload_keys_on_hangup(app: web.Application) -> None:
    """Reload the verifier's JWKS on SIGHUP while the app runs, instead of exiting."""
    app.cleanup_ctx.append(_reload_on_hangup)


async def _keep_keys_fresh(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(
        app[CORE].verifier.keep_keys_fresh(), name="chat-core token keys refresh"
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _reload_on_hangup(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    verifier = app[CORE].verifier
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        if verifier.key_source is None:
            log.info("SIGHUP: no JWKS file or URL is configured, nothing to reload")
            return
        log.info("SIGHUP: reloading the JWKS")
        await verifier.reload_keys()

    def hang_up() -> None:
        task = loop.create_task(reload(), name="chat-core token keys reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, hang_up)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in list(reloads):
            task.cancel()
