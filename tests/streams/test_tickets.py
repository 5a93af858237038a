"""Stream tickets: single use, short-lived, bound to caller, tenant, env, thread; unlogged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request

from tests.http.helpers import auth_headers, create_thread, problem_of
from tests.streams.conftest import ClientFactory
from tests.streams.helpers import read_sse, ticket_for
from transports.http.access_log import ACCESS_LOGGER, log_access

Client = TestClient[Any, Any]


async def test_a_ticket_opens_a_stream_once(client: Client) -> None:
    headers = auth_headers()
    thread = await create_thread(client, headers)
    ticket = await ticket_for(client, headers, thread["id"])
    path = f"/chat/threads/{thread['id']}/events"
    async with client.get(path, params={"ticket": ticket}) as response:
        assert response.status == 200
        [event] = await read_sse(response, 1)
        assert event.data["tenant"] == "t_acme"
    again = await client.get(path, params={"ticket": ticket})
    await problem_of(again, 401)
    assert again.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_the_ticket_answer_is_201_with_an_expiry(client: Client) -> None:
    response = await client.post("/chat/stream-tickets", headers=auth_headers())
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"ticket", "expires_at"} and body["expires_at"].endswith("Z")
    assert response.headers["Cache-Control"] == "no-store"


async def test_an_expired_ticket_is_401(make_client: ClientFactory) -> None:
    client = await make_client(ticket_seconds=0.05)
    headers = auth_headers()
    thread = await create_thread(client, headers)
    ticket = await ticket_for(client, headers)
    await asyncio.sleep(0.1)
    response = await client.get(f"/chat/threads/{thread['id']}/events", params={"ticket": ticket})
    await problem_of(response, 401)


async def test_a_ticket_bound_to_another_thread_is_403(client: Client) -> None:
    headers = auth_headers()
    first = await create_thread(client, headers)
    second = await create_thread(client, headers)
    ticket = await ticket_for(client, headers, first["id"])
    response = await client.get(f"/chat/threads/{second['id']}/events", params={"ticket": ticket})
    await problem_of(response, 403)


async def test_a_ticket_keeps_its_tenant_and_env(client: Client) -> None:
    thread = await create_thread(client, auth_headers())
    ticket = await ticket_for(client, auth_headers(tenant="t_globex"))
    response = await client.get(f"/chat/threads/{thread['id']}/events", params={"ticket": ticket})
    await problem_of(response, 404)


async def test_a_ticket_for_an_unknown_thread_is_404(client: Client) -> None:
    response = await client.post(
        "/chat/stream-tickets", json={"thread_id": "th_nope"}, headers=auth_headers()
    )
    await problem_of(response, 404)


async def test_tickets_ignore_idempotency_keys(client: Client) -> None:
    headers = auth_headers(Idempotency_Key="same")
    first = await ticket_for(client, headers)
    second = await ticket_for(client, headers)
    assert first != second


async def test_a_ticket_is_no_token_elsewhere(client: Client) -> None:
    ticket = await ticket_for(client, auth_headers())
    response = await client.get("/chat/threads", params={"ticket": ticket})
    await problem_of(response, 401)


@pytest.mark.parametrize("body", [{"thread_id": 5}, {"other": "x"}, []])
async def test_a_malformed_ticket_body_is_422(client: Client, body: Any) -> None:
    response = await client.post("/chat/stream-tickets", json=body, headers=auth_headers())
    await problem_of(response, 422)


def test_the_access_log_never_prints_the_query(caplog: pytest.LogCaptureFixture) -> None:
    request = make_mocked_request("GET", "/chat/ws?ticket=SECRET-TICKET")
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER.name):
        log_access(request, 101, 0.1)
    assert "/chat/ws" in caplog.text and "SECRET" not in caplog.text
    assert "SECRET" not in repr([record.__dict__ for record in caplog.records])
