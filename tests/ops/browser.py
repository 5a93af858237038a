"""Headless Chromium for the browser tests: Debian's `chromium`, driven by playwright.

Never a downloaded browser. A test that needs it skips with a reason when it is missing,
except under CI=true, where missing it is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["CHROMIUM_ARGS", "chromium", "chromium_path", "page_server"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BLANK_PAGE = b"<!doctype html><html><head><meta charset='utf-8'><title>page</title></head></html>"


def chromium_path() -> str:
    """Return the chromium executable, or skip (fail under CI=true) when it cannot run."""
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    missing = None
    if path is None:
        missing = "no chromium on PATH (apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install -e '.[dev]')"
    if missing is None and path is not None:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the browser test cannot run: {missing}")
    pytest.skip(missing or "")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Yield a launched headless Chromium (a playwright Browser), closed afterwards."""
    executable = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def page_server(files: dict[str, tuple[bytes, str]] | None = None) -> AsyncIterator[str]:
    """Serve a blank page at / (and the given files) on a loopback port: another origin."""
    served = {"/": (BLANK_PAGE, "text/html"), **(files or {})}

    async def serve(request: web.Request) -> web.Response:
        found = served.get(request.path)
        if found is None:
            raise web.HTTPNotFound()
        body, media = found
        return web.Response(body=body, content_type=media)

    app = web.Application()
    app.router.add_get("/{path:.*}", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(access_log=None)
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
