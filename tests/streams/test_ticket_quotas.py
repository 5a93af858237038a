"""Live stream tickets are bounded per caller, per tenant and per process; one tenant's use
never refuses another's, and a refusal says which quota and when to retry."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.context import AuthContext, RequestContext, Role
from chat_core.tickets import Quota, TicketBook, TicketsExhausted
from events.envelope import Env
from tests.http.helpers import auth_headers, problem_of
from tests.streams.conftest import ClientFactory
from tests.streams.helpers import ticket_for

Client = TestClient[Any, Any]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _caller(sub: str, *tenants: str) -> AuthContext:
    return AuthContext(sub=sub, memberships={t: frozenset({Role.MEMBER}) for t in tenants})


def _context(tenant: str) -> RequestContext:
    return RequestContext(tenant=tenant, env=Env.DEV, request_id="r")


def _book(clock: FakeClock, **quotas: int) -> TicketBook:
    return TicketBook(ttl=60.0, clock=clock, **quotas)


async def test_a_caller_past_its_quota_is_refused_with_the_wait_for_its_oldest_ticket() -> None:
    clock = FakeClock()
    book = _book(clock, per_caller=2, per_tenant=10, capacity=100)
    ada = _caller("u_ada", "t_acme")
    await book.issue(ada, _context("t_acme"), None)
    clock.now += 20
    await book.issue(ada, _context("t_acme"), None)
    with pytest.raises(TicketsExhausted) as refused:
        await book.issue(ada, _context("t_acme"), None)
    assert refused.value.quota is Quota.CALLER
    assert refused.value.retry_after == 40
    assert "u_ada" in str(refused.value) and "t_acme" in str(refused.value)
    # Another caller of the same tenant is not refused by ada's use.
    await book.issue(_caller("u_bob", "t_acme"), _context("t_acme"), None)
    clock.now += 40
    await book.issue(ada, _context("t_acme"), None)


async def test_a_redeemed_ticket_frees_its_place_at_once() -> None:
    clock = FakeClock()
    book = _book(clock, per_caller=1, per_tenant=10, capacity=100)
    ada = _caller("u_ada", "t_acme")
    ticket, _ = await book.issue(ada, _context("t_acme"), None)
    await book.redeem(ticket)
    await book.issue(ada, _context("t_acme"), None)


async def test_a_tenant_past_its_quota_is_refused_and_other_tenants_are_not() -> None:
    clock = FakeClock()
    book = _book(clock, per_caller=2, per_tenant=3, capacity=100)
    for sub in ("u_a", "u_b"):
        for _ in range(2 if sub == "u_a" else 1):
            await book.issue(_caller(sub, "t_acme"), _context("t_acme"), None)
    with pytest.raises(TicketsExhausted) as refused:
        await book.issue(_caller("u_c", "t_acme"), _context("t_acme"), None)
    assert refused.value.quota is Quota.TENANT
    assert "t_acme" in str(refused.value)
    # The same user in another tenant still gets tickets there.
    await book.issue(_caller("u_a", "t_acme", "t_globex"), _context("t_globex"), None)


async def test_one_user_in_many_tenants_cannot_fill_the_book_for_everyone() -> None:
    # The attack: one user, a member of 8 tenants, asks for tickets as fast as it may.
    clock = FakeClock()
    book = _book(clock, per_caller=100, per_tenant=1000, capacity=100_000)
    tenants = [f"t_tenant{number}" for number in range(8)]
    mallory = _caller("u_mallory", *tenants)
    for tenant in tenants:
        with pytest.raises(TicketsExhausted):
            for _ in range(1000):
                await book.issue(mallory, _context(tenant), None)
    assert len(book) == 800
    await book.issue(_caller("u_ada", "t_acme"), _context("t_acme"), None)


async def test_a_full_book_refuses_with_the_wait_for_its_oldest_ticket() -> None:
    clock = FakeClock()
    book = _book(clock, per_caller=10, per_tenant=10, capacity=3)
    for number in range(3):
        await book.issue(_caller(f"u_{number}", f"t_{number}"), _context(f"t_{number}"), None)
        clock.now += 1
    with pytest.raises(TicketsExhausted) as refused:
        await book.issue(_caller("u_x", "t_x"), _context("t_x"), None)
    assert refused.value.quota is Quota.BOOK
    assert refused.value.retry_after == 57


async def test_the_caller_quota_is_429_with_retry_after_over_http(
    make_client: ClientFactory,
) -> None:
    client = await make_client(tickets_per_caller=2, tickets_per_tenant=3)
    ada = auth_headers("u_ada", "t_acme")
    for _ in range(2):
        await ticket_for(client, ada)
    refused = await client.post("/chat/stream-tickets", headers=ada)
    body = await problem_of(refused, 429)
    assert "per-caller" in body["detail"] and "u_ada" in body["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Bob fills the tenant's quota; then the tenant is refused, and another tenant is not.
    bob = auth_headers("u_bob", "t_acme")
    await ticket_for(client, bob)
    refused = await client.post("/chat/stream-tickets", headers=bob)
    body = await problem_of(refused, 429)
    assert "per-tenant" in body["detail"] and "t_acme" in body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    await ticket_for(client, auth_headers("u_bob", "t_globex"))


async def test_a_full_book_is_503_with_retry_after_over_http(make_client: ClientFactory) -> None:
    client = await make_client(max_tickets=2)
    await ticket_for(client, auth_headers("u_ada", "t_acme"))
    await ticket_for(client, auth_headers("u_bob", "t_globex"))
    refused = await client.post("/chat/stream-tickets", headers=auth_headers("u_eve", "t_initech"))
    body = await problem_of(refused, 503)
    assert "capacity" in body["detail"]
    assert int(refused.headers["Retry-After"]) >= 1


async def test_a_user_in_two_tenants_cannot_take_every_ticket(make_client: ClientFactory) -> None:
    client = await make_client(max_tickets=20)
    refused = 0
    for tenant in ("t_acme", "t_globex"):
        for _ in range(20):
            response = await client.post(
                "/chat/stream-tickets", headers=auth_headers("u_ada", tenant)
            )
            refused += response.status != 201
    assert refused
    other = await client.post("/chat/stream-tickets", headers=auth_headers("u_eve", "t_initech"))
    assert other.status == 201, await other.text()
