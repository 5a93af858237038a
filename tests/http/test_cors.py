"""CORS by configuration: listed origins get preflights and exposed headers, others nothing."""

from __future__ import annotations

from typing import Any

import pytest

from chat_core.bootstrap import bootstrap
from chat_core.settings import SettingsError, load_settings
from events.store.memory import MemoryEventStore
from tests.http.helpers import auth_headers, create_thread, problem_of, settings
from transports.http.app import create_app

PAGE = "http://127.0.0.1:5173"
STRANGER = "https://evil.example"
CONTRACT_HEADERS = {
    "authorization",
    "content-type",
    "x-tenant-id",
    "x-env",
    "x-request-id",
    "idempotency-key",
    "if-match",
    "last-event-id",
    "traceparent",
}
EXPOSED = {"x-request-id", "etag", "idempotent-replayed", "retry-after"}


def _names(value: str) -> set[str]:
    return {name.strip().lower() for name in value.split(",")}


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    """A client of the real app that lists PAGE as a CORS origin."""
    core = await bootstrap(
        settings=settings(cors_origins=(PAGE, "https://app.example")), store=MemoryEventStore()
    )
    return await aiohttp_client(create_app(core))


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,x-tenant-id,x-env",
    }


async def test_preflight_from_a_listed_origin_is_204_without_a_token(client: Any) -> None:
    response = await client.options("/chat/threads", headers=_preflight(PAGE))
    assert response.status == 204
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == PAGE
    assert "origin" in _names(headers["Vary"])
    assert {"get", "post", "put", "delete"} <= _names(headers["Access-Control-Allow-Methods"])
    assert _names(headers["Access-Control-Allow-Headers"]) >= CONTRACT_HEADERS
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in headers
    assert headers["X-Request-Id"]


async def test_preflight_of_a_stream_route_is_204(client: Any) -> None:
    response = await client.options(
        "/chat/threads/th_0000000000000000000000000/events", headers=_preflight(PAGE, "GET")
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == PAGE


async def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(client: Any) -> None:
    response = await client.options("/chat/threads", headers=_preflight(STRANGER))
    await problem_of(response, 401)
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


async def test_answers_to_a_listed_origin_name_it_and_expose_the_contract_headers(
    client: Any,
) -> None:
    headers = {**auth_headers(), "Origin": PAGE}
    response = await client.post("/chat/threads", json={"title": "CORS"}, headers=headers)
    assert response.status == 201
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert _names(response.headers["Access-Control-Expose-Headers"]) >= EXPOSED
    assert "origin" in _names(response.headers["Vary"])
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_errors_to_a_listed_origin_carry_cors_headers(client: Any) -> None:
    response = await client.get("/chat/threads", headers={"Origin": PAGE})
    await problem_of(response, 401)
    assert response.headers["Access-Control-Allow-Origin"] == PAGE
    assert _names(response.headers["Access-Control-Expose-Headers"]) >= EXPOSED
    headers = {**auth_headers(), "Origin": PAGE, "X-Env": "nowhere"}
    response = await client.get("/chat/threads", headers=headers)
    await problem_of(response, 400)
    assert response.headers["Access-Control-Allow-Origin"] == PAGE


async def test_a_stream_to_a_listed_origin_carries_cors_headers(client: Any) -> None:
    thread = await create_thread(client, auth_headers(), title="streamed")
    headers = {**auth_headers(), "Origin": PAGE}
    async with client.get(f"/chat/threads/{thread['id']}/events", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == PAGE
        assert response.content_type == "text/event-stream"


async def test_answers_to_an_unlisted_origin_name_no_origin(client: Any) -> None:
    headers = {**auth_headers(), "Origin": STRANGER}
    response = await client.get("/chat/threads", headers=headers)
    assert response.status == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


async def test_without_listed_origins_a_preflight_is_refused_as_before(aiohttp_client: Any) -> None:
    core = await bootstrap(settings=settings(), store=MemoryEventStore())
    client = await aiohttp_client(create_app(core))
    response = await client.options("/chat/threads", headers=_preflight(PAGE))
    await problem_of(response, 401)
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    response = await client.get("/chat/threads", headers={**auth_headers(), "Origin": PAGE})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_origins_are_read_as_browsers_spell_them() -> None:
    loaded = load_settings(
        {"CHAT_CORE_CORS_ORIGINS": " https://App.Example:443/, http://127.0.0.1:5173,,"}
    )
    assert loaded.cors_origins == ("https://app.example", "http://127.0.0.1:5173")
    assert load_settings({}).cors_origins == ()
    flagged = load_settings({}, {"cors_origins": "http://[::1]:8000"})
    assert flagged.cors_origins == ("http://[::1]:8000",)


@pytest.mark.parametrize(
    "value", ["*", "null", "https://app.example/path", "app.example", "http://h:99999"]
)
def test_a_value_that_is_not_an_origin_stops_the_server(value: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_CORE_CORS_ORIGINS"):
        load_settings({"CHAT_CORE_CORS_ORIGINS": value})
