"""Per-tenant rate limiting: 429 with Retry-After past the budget, other tenants unaffected."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient

from chat_core.ratelimit import RateLimiter
from chat_core.settings import SettingsError, load_settings
from tests.http.helpers import auth_headers, build_core, problem_of
from transports.http.app import create_app
from transports.http.openapi import openapi_document


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.acquire("t_a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("t_a") == pytest.approx(0.5)
    clock.now = 0.5
    assert limiter.acquire("t_a") == 0.0
    assert limiter.acquire("t_a") > 0


def test_one_key_spending_its_bucket_leaves_the_others_whole() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, clock=FakeClock())
    for _ in range(50):
        limiter.acquire("t_noisy")
    assert limiter.acquire("t_quiet") == 0.0
    assert limiter.acquire("t_quiet") == 0.0


def test_bucket_table_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, capacity=3, clock=FakeClock())
    for number in range(10):
        limiter.acquire(f"t_{number}")
    assert len(limiter._buckets) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, (1000.0, 2000)), ("off", None), ("5", (5.0, 10)), ("2.5:7", (2.5, 7))],
)
def test_rate_limit_setting_parses(text: str | None, expected: object) -> None:
    environ = {} if text is None else {"CHAT_CORE_RATE_LIMIT": text}
    assert load_settings(environ).rate_limit == expected


@pytest.mark.parametrize("text", ["fast", "0", "-1", "5:0", "nan", "5:x"])
def test_malformed_rate_limit_is_refused(text: str) -> None:
    with pytest.raises(SettingsError):
        load_settings({"CHAT_CORE_RATE_LIMIT": text})


async def _limited_client(aiohttp_client: Any, rate: float, burst: int) -> TestClient[Any, Any]:
    core = await build_core()
    limited = attrs.evolve(core, settings=attrs.evolve(core.settings, rate_limit=(rate, burst)))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(limited))
    return client


async def test_over_budget_tenant_gets_429_with_retry_after(aiohttp_client: Any) -> None:
    client = await _limited_client(aiohttp_client, rate=0.5, burst=3)
    headers = auth_headers("u_ada", "t_acme")
    for _ in range(3):
        assert (await client.get("/temperature/config", headers=headers)).status == 200
    refused = await client.get("/temperature/config", headers=headers)
    body = await problem_of(refused, 429)
    assert "t_acme" in body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1


async def test_a_noisy_tenant_does_not_starve_another(aiohttp_client: Any) -> None:
    client = await _limited_client(aiohttp_client, rate=0.5, burst=5)
    noisy = auth_headers("u_ada", "t_acme")
    quiet = auth_headers("u_ada", "t_globex")
    statuses = [(await client.get("/chat/threads", headers=noisy)).status for _ in range(40)]
    assert statuses.count(429) == 35
    for _ in range(5):
        assert (await client.get("/chat/threads", headers=quiet)).status == 200


async def test_refused_callers_do_not_spend_a_tenants_budget(aiohttp_client: Any) -> None:
    client = await _limited_client(aiohttp_client, rate=0.5, burst=2)
    stranger = auth_headers("u_eve", "t_acme")
    for _ in range(10):
        assert (await client.get("/chat/threads", headers=stranger)).status == 403
        anonymous = {"X-Tenant-Id": "t_acme", "X-Env": "dev"}
        assert (await client.get("/chat/threads", headers=anonymous)).status == 401
    member = auth_headers("u_ada", "t_acme")
    assert (await client.get("/chat/threads", headers=member)).status == 200


async def test_public_routes_are_not_limited(aiohttp_client: Any) -> None:
    client = await _limited_client(aiohttp_client, rate=0.5, burst=1)
    for _ in range(10):
        assert (await client.get("/healthz")).status == 200


def test_openapi_documents_429_with_retry_after_on_private_routes() -> None:
    document = openapi_document()
    for path, method in [("/chat/threads", "post"), ("/temperature/config", "get")]:
        answer = document["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in answer["headers"]
    assert "429" not in document["paths"]["/healthz"]["get"]["responses"]
