"""A live app on a memory store, an admin token for it, and the served OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from chat_core.bootstrap import bootstrap
from chat_core.settings import Settings
from chat_core.tokens import mint_token
from transports.http.app import create_app

SECRET = b"o" * 40
ISSUER = "https://idp.example"
AUDIENCE = "chat-core"
TENANT = "t_acme"

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def settings() -> Settings:
    return Settings(store_url="memory://", issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET)


@pytest.fixture
def headers() -> dict[str, str]:
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_ada",
        tenants={TENANT: ["member", "admin"]},
    )
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": TENANT, "X-Env": "dev"}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[web.Application]:
    yield create_app(await bootstrap(settings=settings))


@pytest.fixture
async def client(app: web.Application, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(app)
