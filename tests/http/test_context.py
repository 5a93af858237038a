"""Authentication, context headers, membership, their order, and the echoed request id."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from events.envelope import Env
from tests.http.conftest import ClientFactory
from tests.http.helpers import (
    OTHER_SECRET,
    PUBLIC_PATHS,
    auth_headers,
    create_thread,
    expect_refusal,
    problem_of,
    token,
)
from transports.http.console_views import CONSOLE_ROUTES

Client = TestClient[Any, Any]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

BAD_TOKENS = {
    "garbage": "not-a-jwt",
    "parts-missing": token().rsplit(".", 1)[0],
    "wrong-key": token(secret=OTHER_SECRET),
    "expired": token(now=time.time() - 7200, ttl=60),
    "tampered": token()[:-4] + ("AAAA" if not token().endswith("AAAA") else "BBBB"),
}


async def test_missing_token_is_401_with_a_bare_challenge(memory_client: Client) -> None:
    headers = auth_headers()
    del headers["Authorization"]
    response, _ = await expect_refusal(
        memory_client, "POST", "/chat/threads", 401, headers=headers, json={}
    )
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_other_scheme_counts_as_no_token(memory_client: Client) -> None:
    headers = auth_headers(Authorization="Basic dXNlcjpwYXNz")
    response, _ = await expect_refusal(memory_client, "GET", "/chat/threads", 401, headers=headers)
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("bearer", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_bad_token_is_401_invalid_token(memory_client: Client, bearer: str) -> None:
    response, _ = await expect_refusal(
        memory_client, "POST", "/chat/threads", 401, headers=auth_headers(bearer=bearer), json={}
    )
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Tenant-Id", None),
        ("X-Tenant-Id", ""),
        ("X-Tenant-Id", "acme"),
        ("X-Tenant-Id", "T_ACME"),
        ("X-Tenant-Id", "t_ac me"),
        ("X-Tenant-Id", "t_" + "a" * 64),
        ("X-Tenant-Id", "t_unknown"),
        ("X-Env", None),
        ("X-Env", ""),
        ("X-Env", "qa"),
        ("X-Env", "DEV"),
        ("X-Request-Id", ""),
        ("X-Request-Id", "has space"),
        ("X-Request-Id", "x" * 129),
        ("X-Request-Id", "semi;colon"),
    ],
)
async def test_missing_or_malformed_context_header_is_400(
    client: Client, header: str, value: str | None
) -> None:
    headers = auth_headers()
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    _, body = await expect_refusal(client, "POST", "/chat/threads", 400, headers=headers, json={})
    assert "t_unknown" not in body["detail"]


async def test_env_the_server_does_not_allow_is_400(make_client: ClientFactory) -> None:
    client = await make_client(envs=frozenset({Env.DEV, Env.PROD}))
    await expect_refusal(
        client, "POST", "/chat/threads", 400, headers=auth_headers(env="staging"), json={}
    )
    await create_thread(client, auth_headers(env="prod"))


async def test_token_for_another_tenant_is_403(client: Client) -> None:
    headers = auth_headers("u_eve", "t_acme")
    await expect_refusal(client, "POST", "/chat/threads", 403, headers=headers, json={})
    await expect_refusal(client, "GET", "/chat/threads", 403, headers=headers)


async def test_empty_role_list_is_no_membership(memory_client: Client) -> None:
    bearer = token("u_zed", {"t_initech": ["member"]})
    headers = auth_headers("u_zed", "t_acme", bearer=bearer)
    await expect_refusal(memory_client, "GET", "/temperature/config", 403, headers=headers)


async def test_authentication_comes_before_context_headers(memory_client: Client) -> None:
    headers = {"X-Tenant-Id": "not a tenant", "X-Env": "nowhere", "X-Request-Id": "bad id"}
    await expect_refusal(memory_client, "POST", "/chat/threads", 401, headers=headers, json={})
    headers["Authorization"] = "Bearer nonsense"
    await expect_refusal(memory_client, "POST", "/chat/threads", 401, headers=headers, json={})


async def test_context_headers_come_before_membership(memory_client: Client) -> None:
    headers = auth_headers("u_eve", "t_acme", env="qa")
    await expect_refusal(memory_client, "GET", "/chat/threads", 400, headers=headers)


async def test_membership_comes_before_the_route(memory_client: Client) -> None:
    headers = auth_headers("u_eve", "t_acme")
    for method, path, request in [
        ("GET", "/chat/threads/th_missing", {}),
        ("POST", "/chat/threads/th_missing/messages", {"json": {"content": 1}}),
        ("POST", "/chat/threads", {"data": b"not json", "headers": {}}),
        ("PUT", "/temperature/config", {"json": {"min": "high"}}),
        ("GET", "/chat/threads?limit=0", {}),
    ]:
        merged = {**headers, **request.pop("headers", {})}
        await expect_refusal(memory_client, method, path, 403, headers=merged, **request)


async def test_sent_request_id_is_echoed_on_success_and_error(memory_client: Client) -> None:
    ok = await memory_client.get("/chat/threads", headers=auth_headers(request_id="req-1"))
    assert ok.status == 200
    assert ok.headers["X-Request-Id"] == "req-1"
    missing = await memory_client.get(
        "/chat/threads/th_nope", headers=auth_headers(request_id="req-2")
    )
    assert (await problem_of(missing, 404))["request_id"] == "req-2"
    anonymous = await memory_client.get("/chat/threads", headers={"X-Request-Id": "req-3"})
    assert (await problem_of(anonymous, 401))["request_id"] == "req-3"


async def test_request_id_is_made_when_absent_or_malformed(memory_client: Client) -> None:
    ok = await memory_client.get("/chat/threads", headers=auth_headers())
    assert UUID.fullmatch(ok.headers["X-Request-Id"])
    bad = await memory_client.get("/chat/threads", headers=auth_headers(request_id="bad id"))
    body = await problem_of(bad, 400)
    assert UUID.fullmatch(body["request_id"])


async def test_public_routes_need_no_token(memory_client: Client) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json"):
        response = await memory_client.get(path)
        assert response.status == 200, path
        assert "X-Request-Id" in response.headers


async def test_unknown_route_is_401_without_a_token_and_404_with_one(
    memory_client: Client,
) -> None:
    await expect_refusal(memory_client, "GET", "/no/such/route", 401)
    await expect_refusal(memory_client, "GET", "/no/such/route", 404, headers=auth_headers())


def _concrete(path: str) -> str:
    return re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda match: f"{match.group(1)[:3]}_dummy", path)


async def test_every_route_but_the_public_ones_needs_a_token(memory_client: Client) -> None:
    checked = []
    for route in memory_client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        assert path is not None, f"cannot name a path for {route}"
        # The dev console is public in dev mode only (tests/ops proves prod has none).
        if path in PUBLIC_PATHS or path in CONSOLE_ROUTES:
            continue
        method = "GET" if route.method == "*" else route.method
        target = _concrete(path)
        response, _ = await expect_refusal(memory_client, method, target, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer", (method, target)
        checked.append((method, path))
    assert ("POST", "/chat/threads") in checked
    assert ("PUT", "/temperature/config") in checked
    assert ("DELETE", "/chat/threads/{thread_id}/messages/{message_id}") in checked
