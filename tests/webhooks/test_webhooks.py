"""Webhooks: registration, signed in-order delivery to a real receiver, retries and parking."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, expect_refusal, post_message, problem_of
from tests.webhooks.conftest import serve
from tests.webhooks.receiver import Receiver

Client = TestClient[Any, Any]
ADMIN = auth_headers("u_cyd", "t_acme")  # admin of t_acme
MEMBER = auth_headers("u_ada", "t_acme")
GLOBEX = auth_headers("u_ada", "t_globex")  # admin of t_globex


async def register(client: Client, url: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/admin/webhooks", json={"url": url, **body}, headers=ADMIN)
    assert response.status == 201, await response.text()
    hook: dict[str, Any] = await response.json()
    return hook


async def deliveries(client: Client, hook_id: str, query: str = "") -> list[dict[str, Any]]:
    response = await client.get(f"/admin/webhooks/{hook_id}/deliveries{query}", headers=ADMIN)
    assert response.status == 200, await response.text()
    page: dict[str, Any] = await response.json()
    return list(page["data"])


async def until(check: Any, seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 -- polls an HTTP listing, no event to wait on
            await asyncio.sleep(0.02)


def expected_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def test_a_registration_shows_its_secret_once(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"], description="ci")
    assert hook["id"].startswith("wh_")
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) >= 24
    assert (hook["status"], hook["types"], hook["description"]) == (
        "active",
        ["chat.message.posted"],
        "ci",
    )
    shown = await (await client.get(f"/admin/webhooks/{hook['id']}", headers=ADMIN)).json()
    listed = await (await client.get("/admin/webhooks", headers=ADMIN)).json()
    assert "secret" not in shown
    assert [h["id"] for h in listed["data"]] == [hook["id"]]
    assert all("secret" not in h for h in listed["data"])


async def test_another_tenants_webhook_is_not_found(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url)
    await problem_of(await client.get(f"/admin/webhooks/{hook['id']}", headers=GLOBEX), 404)
    await problem_of(await client.delete(f"/admin/webhooks/{hook['id']}", headers=GLOBEX), 404)
    listed = await (await client.get("/admin/webhooks", headers=GLOBEX)).json()
    assert listed["data"] == []


async def test_members_may_not_touch_webhooks(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url)
    await expect_refusal(
        client, "POST", "/admin/webhooks", 403, json={"url": receiver.url}, headers=MEMBER
    )
    for method, path in (
        ("GET", "/admin/webhooks"),
        ("GET", f"/admin/webhooks/{hook['id']}"),
        ("GET", f"/admin/webhooks/{hook['id']}/deliveries"),
        ("DELETE", f"/admin/webhooks/{hook['id']}"),
    ):
        await expect_refusal(client, method, path, 403, headers=MEMBER)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://user:pw@example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://example.com/" + "a" * 2000}, "url"),
        ({"url": "https://93.184.216.34/hook", "types": ["chat.nothing"]}, "types"),
        ({"url": "https://93.184.216.34/hook", "description": ""}, "description"),
        ({"url": "https://93.184.216.34/hook", "secret": "mine"}, "secret"),
        ({"types": []}, "url"),
        ({"url": 5}, "url"),
    ],
)
async def test_a_bad_registration_is_422_and_registers_nothing(
    client: Client, body: dict[str, Any], field: str
) -> None:
    _, problem = await expect_refusal(
        client, "POST", "/admin/webhooks", 422, json=body, headers=ADMIN
    )
    assert field in [error["field"] for error in problem["errors"]]
    assert (await (await client.get("/admin/webhooks", headers=ADMIN)).json())["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.5.5.5/hook",
        "https://[::1]/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://100.100.100.200/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
    ],
)
async def test_a_url_that_leads_to_a_private_address_is_422(aiohttp_client: Any, url: str) -> None:
    client = await serve(aiohttp_client, allow=())
    _, problem = await expect_refusal(
        client, "POST", "/admin/webhooks", 422, json={"url": url}, headers=ADMIN
    )
    assert problem["errors"][0]["field"] == "url"


async def test_plain_http_is_refused_unless_the_host_is_listed(aiohttp_client: Any) -> None:
    strict = await serve(aiohttp_client, allow=())
    await expect_refusal(
        strict, "POST", "/admin/webhooks", 422, json={"url": "http://93.184.216.34/"}, headers=ADMIN
    )
    listed = await serve(aiohttp_client, allow=("93.184.216.0/24",))
    response = await listed.post(
        "/admin/webhooks", json={"url": "http://93.184.216.34/"}, headers=ADMIN
    )
    assert response.status == 201
    public = await strict.post(
        "/admin/webhooks", json={"url": "https://93.184.216.34/"}, headers=ADMIN
    )
    assert public.status == 201


async def test_events_arrive_signed_in_order_in_the_stream_shape(
    client: Client, receiver: Receiver
) -> None:
    hook = await register(client, receiver.url)
    thread = await create_thread(client, ADMIN)
    for n in range(5):
        await post_message(client, ADMIN, thread["id"], f"m{n}")
    await create_thread(client, GLOBEX)  # another tenant's: never sent here
    events = await receiver.wait_for(6)
    assert [e["type"] for e in events] == ["chat.thread.created"] + ["chat.message.posted"] * 5
    assert [e["data"].get("content") for e in events[1:]] == [f"m{n}" for n in range(5)]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    for receipt in receiver.receipts:
        headers = receipt.headers
        assert headers["webhook-id"] == receipt.event["event_id"]
        assert headers["webhook-timestamp"].isdigit()
        assert headers["webhook-signature"] == expected_signature(
            hook["secret"], headers, receipt.body
        )
        assert headers["Content-Type"] == "application/json"
    await asyncio.sleep(0.3)
    assert len(receiver.receipts) == 6


async def test_a_private_thread_s_events_reach_no_webhook(
    client: Client, receiver: Receiver
) -> None:
    # Its admin is outside the thread: to them it is a 404, and so to their webhook.
    await register(client, receiver.url)
    hidden = await create_thread(client, MEMBER, title="hidden plans", visibility="private")
    await post_message(client, MEMBER, hidden["id"], "private words")
    shared = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, shared["id"], "shared words")
    events = await receiver.wait_for(2)
    assert [e["data"]["thread_id"] for e in events] == [shared["id"]] * 2
    await asyncio.sleep(0.3)
    assert len(receiver.receipts) == 2
    assert b"private words" not in b"".join(r.body for r in receiver.receipts)


async def test_types_limit_what_a_webhook_receives(client: Client, receiver: Receiver) -> None:
    await register(client, receiver.url, types=["chat.message.posted"])
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "only this")
    events = await receiver.wait_for(1)
    assert [e["data"]["content"] for e in events] == ["only this"]


async def test_a_failing_receiver_is_retried_and_order_holds(
    client: Client, receiver: Receiver
) -> None:
    await register(client, receiver.url, types=["chat.message.posted"])
    receiver.fail_first = 2  # the first event fails twice, then is taken
    thread = await create_thread(client, ADMIN)
    for n in range(3):
        await post_message(client, ADMIN, thread["id"], f"m{n}")
    events = await receiver.wait_for(3)
    assert [e["data"]["content"] for e in events] == ["m0", "m1", "m2"]
    attempts = [r.event["data"]["content"] for r in receiver.receipts]
    assert attempts == ["m0", "m0", "m0", "m1", "m2"]
    assert len({r.headers["webhook-id"] for r in receiver.receipts[:3]}) == 1


async def test_after_the_last_retry_a_delivery_is_parked_and_the_next_goes_on(
    client: Client, receiver: Receiver
) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.fail_first = 3  # the first try and both retries
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "parked")
    await post_message(client, ADMIN, thread["id"], "next")
    events = await receiver.wait_for(1)
    assert [e["data"]["content"] for e in events] == ["next"]
    (parked,) = await deliveries(client, hook["id"], "?status=parked")
    assert (parked["attempts"], parked["last_status"], parked["status"]) == (3, 500, "parked")
    assert parked["next_attempt_at"] is None
    assert parked["event_id"] == receiver.receipts[0].event["event_id"]
    assert await deliveries(client, hook["id"], "?status=pending") == []


async def test_a_replay_delivers_the_parked_ones_again(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.mode = "fail"
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "a")
    await post_message(client, ADMIN, thread["id"], "b")

    async def both_parked() -> bool:
        return len(await deliveries(client, hook["id"], "?status=parked")) == 2

    await until(both_parked)
    receiver.mode = "ok"
    response = await client.post(f"/admin/webhooks/{hook['id']}/replay", json={}, headers=ADMIN)
    assert response.status == 202
    assert (await response.json())["replayed"] == 2
    events = await receiver.wait_for(2)
    assert [e["data"]["content"] for e in events] == ["a", "b"]

    async def none_left() -> bool:
        return await deliveries(client, hook["id"]) == []

    await until(none_left)


async def test_a_failed_head_shows_as_failed_with_its_next_attempt(
    aiohttp_client: Any, receiver: Receiver
) -> None:
    client = await serve(aiohttp_client, retries=(60.0,))
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.mode = "fail"
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "head")
    await post_message(client, ADMIN, thread["id"], "behind")

    async def failed_once() -> bool:
        return len(await deliveries(client, hook["id"], "?status=failed")) == 1

    await until(failed_once)
    (failed,) = await deliveries(client, hook["id"], "?status=failed")
    assert (failed["attempts"], failed["last_status"]) == (1, 500)
    assert failed["next_attempt_at"] is not None
    (pending,) = await deliveries(client, hook["id"], "?status=pending")
    assert pending["attempts"] == 0 and pending["position"] > failed["position"]
    everything = await deliveries(client, hook["id"])
    assert [d["status"] for d in everything] == ["failed", "pending"]
    assert len(receiver.receipts) == 1  # the later one waits behind the head


async def test_a_redirect_is_not_followed(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.mode = "redirect"
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "moved")

    async def parked() -> bool:
        return len(await deliveries(client, hook["id"], "?status=parked")) == 1

    await until(parked)
    (delivery,) = await deliveries(client, hook["id"], "?status=parked")
    assert delivery["last_status"] == 307
    assert receiver.redirected_to == 0


async def test_a_reset_connection_is_a_failure_with_no_status(
    client: Client, receiver: Receiver
) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.mode = "reset"
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "cut")

    async def parked() -> bool:
        return len(await deliveries(client, hook["id"], "?status=parked")) == 1

    await until(parked)
    (delivery,) = await deliveries(client, hook["id"], "?status=parked")
    assert delivery["last_status"] is None
    assert delivery["last_error"]


@pytest.mark.slow
async def test_a_receiver_that_hangs_is_cut_off_after_ten_seconds(
    aiohttp_client: Any, receiver: Receiver
) -> None:
    client = await serve(aiohttp_client, retries=(60.0,))
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    receiver.mode = "hang"
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "slow")

    async def failed() -> bool:
        return len(await deliveries(client, hook["id"], "?status=failed")) == 1

    await until(failed, seconds=30)
    (delivery,) = await deliveries(client, hook["id"], "?status=failed")
    assert delivery["last_status"] is None
    assert "time" in delivery["last_error"]


async def test_a_deleted_webhook_receives_nothing_more(client: Client, receiver: Receiver) -> None:
    hook = await register(client, receiver.url, types=["chat.message.posted"])
    thread = await create_thread(client, ADMIN)
    await post_message(client, ADMIN, thread["id"], "before")
    await receiver.wait_for(1)
    response = await client.delete(f"/admin/webhooks/{hook['id']}", headers=ADMIN)
    assert response.status == 204
    await problem_of(await client.get(f"/admin/webhooks/{hook['id']}", headers=ADMIN), 404)
    await post_message(client, ADMIN, thread["id"], "after")
    await asyncio.sleep(0.5)
    assert [e["data"]["content"] for e in receiver.delivered()] == ["before"]


@pytest.mark.parametrize(
    "query",
    [
        "?status=done",
        "?limit=0",
        "?limit=101",
        "?after=x",
        "?colour=red",
        "?status=parked&status=failed",
    ],
)
async def test_a_bad_deliveries_query_is_400(
    client: Client, receiver: Receiver, query: str
) -> None:
    hook = await register(client, receiver.url)
    response = await client.get(f"/admin/webhooks/{hook['id']}/deliveries{query}", headers=ADMIN)
    await problem_of(response, 400)


async def test_unknown_webhooks_are_404(client: Client) -> None:
    for path in ("/admin/webhooks/wh_nothing", "/admin/webhooks/nonsense/deliveries"):
        await problem_of(await client.get(path, headers=ADMIN), 404)
    response = await client.post("/admin/webhooks/wh_nothing/replay", json={}, headers=ADMIN)
    await problem_of(response, 404)
