"""Webhook deliveries outlive the server, obey the policy at each delivery, and are shared
by several servers on one PostgreSQL database without two delivering one webhook at once."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest

from tests.http.helpers import create_thread, post_message
from tests.webhooks.conftest import MASTER, serve
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import (
    ADMIN,
    deliveries,
    expected_signature,
    register,
    until,
)
from transports.cli.main import main


async def test_pending_deliveries_survive_a_restart(
    aiohttp_client: Any, sqlite_url: str, receiver: Receiver
) -> None:
    first = await serve(aiohttp_client, sqlite_url, retries=(0.05,) * 50)
    await register(first, receiver.url, types=["chat.message.posted"])
    receiver.mode = "fail"
    thread = await create_thread(first, ADMIN)
    for n in range(3):
        await post_message(first, ADMIN, thread["id"], f"m{n}")
    await receiver.wait_for_attempts(1)
    await first.close()
    assert receiver.delivered() == []
    receiver.mode = "ok"
    await serve(aiohttp_client, sqlite_url, retries=(0.05,) * 50)
    events = await receiver.wait_for(3)
    assert [e["data"]["content"] for e in events] == ["m0", "m1", "m2"]


async def test_an_address_is_vetted_again_at_each_delivery(
    aiohttp_client: Any, sqlite_url: str, receiver: Receiver
) -> None:
    lenient = await serve(aiohttp_client, sqlite_url)
    hook = await register(lenient, receiver.url, types=["chat.message.posted"])
    await lenient.close()
    strict = await serve(aiohttp_client, sqlite_url, allow=())
    thread = await create_thread(strict, ADMIN)
    await post_message(strict, ADMIN, thread["id"], "never sent")

    async def parked() -> bool:
        return len(await deliveries(strict, hook["id"], "?status=parked")) == 1

    await until(parked)
    (delivery,) = await deliveries(strict, hook["id"], "?status=parked")
    assert "not a public address" in delivery["last_error"]
    assert receiver.receipts == []


@pytest.mark.postgres
async def test_two_servers_deliver_each_event_once_in_order(
    aiohttp_client: Any, postgres_url: str, receiver: Receiver
) -> None:
    one = await serve(aiohttp_client, postgres_url)
    other = await serve(aiohttp_client, postgres_url)
    await register(one, receiver.url, types=["chat.message.posted"])
    thread = await create_thread(one, ADMIN)
    for n in range(30):
        await post_message(one if n % 2 else other, ADMIN, thread["id"], f"m{n}")
    events = await receiver.wait_for(30)
    await asyncio.sleep(1.5)  # a second instance delivering too would show by now
    assert [e["data"]["content"] for e in receiver.delivered()] == [f"m{n}" for n in range(30)]
    assert len(receiver.receipts) == len(events) == 30


@pytest.mark.postgres
async def test_when_the_delivering_server_stops_the_other_goes_on(
    aiohttp_client: Any, postgres_url: str, receiver: Receiver
) -> None:
    one = await serve(aiohttp_client, postgres_url)
    await register(one, receiver.url, types=["chat.message.posted"])
    thread = await create_thread(one, ADMIN)
    await post_message(one, ADMIN, thread["id"], "first")
    await receiver.wait_for(1)  # delivered by one, which holds the lease
    other = await serve(aiohttp_client, postgres_url)
    await one.close()
    await post_message(other, ADMIN, thread["id"], "second")
    events = await receiver.wait_for(2)
    assert [e["data"]["content"] for e in events] == ["first", "second"]


async def test_a_master_key_rotation_rewraps_the_secrets_and_delivery_goes_on(
    aiohttp_client: Any, sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await serve(aiohttp_client, sqlite_url)
    hook = await register(before, receiver.url, types=["chat.message.posted"])
    await before.close()
    new = os.urandom(32)
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(MASTER).decode())
    monkeypatch.setenv("CHAT_CORE_NEW_MASTER_KEY", base64.b64encode(new).decode())
    assert await asyncio.to_thread(main, ["rotate-master-key", "--store", sqlite_url]) == 0
    after = await serve(aiohttp_client, sqlite_url, master=new)
    thread = await create_thread(after, ADMIN)
    await post_message(after, ADMIN, thread["id"], "after the rotation")
    (event,) = await receiver.wait_for(1)
    assert event["data"]["content"] == "after the rotation"
    (receipt,) = receiver.receipts
    assert receipt.headers["webhook-signature"] == expected_signature(
        hook["secret"], receipt.headers, receipt.body
    )
