"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from chat_core.bootstrap import ChatCore
from chat_core.context import AuthContext, RequestContext

__all__ = ["AUTH", "CONTEXT", "CORE", "REQUEST_ID"]

CORE = web.AppKey("core", ChatCore)
REQUEST_ID = web.RequestKey("request_id", str)
AUTH = web.RequestKey("auth", AuthContext)
CONTEXT = web.RequestKey("context", RequestContext)
