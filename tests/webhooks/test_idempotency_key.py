"""A malformed Idempotency-Key is 400 on the routes that have nothing to record, too.

Consumers and webhooks document the header and keep no answer for it; they still refuse a
key the contract's pattern refuses, and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from tests.http.helpers import auth_headers, problem_of
from tests.webhooks.conftest import serve
from tests.webhooks.receiver import Receiver

Client = TestClient[Any, Any]
ADMIN = auth_headers("u_cyd", "t_acme")  # admin of t_acme

BAD_KEYS = {
    "too long": ["k" * 256],
    "a character past ASCII": ["clé-1"],
    "sent twice": ["k-1", "k-2"],
}


def _with_keys(keys: list[str]) -> CIMultiDict[str]:
    headers = CIMultiDict(ADMIN)
    for key in keys:
        headers.add("Idempotency-Key", key)
    return headers


async def _state(client: Client) -> tuple[Any, Any]:
    consumers = await (await client.get("/admin/consumers", headers=ADMIN)).json()
    hooks = await (await client.get("/admin/webhooks", headers=ADMIN)).json()
    return consumers, hooks


@pytest.mark.parametrize("case", BAD_KEYS)
async def test_a_malformed_key_is_400_and_changes_nothing(
    aiohttp_client: Any, receiver: Receiver, case: str
) -> None:
    client = await serve(aiohttp_client)
    created = await client.post("/admin/consumers", json={"name": "c1"}, headers=ADMIN)
    assert created.status == 201, await created.text()
    hook = await client.post("/admin/webhooks", json={"url": receiver.url}, headers=ADMIN)
    assert hook.status == 201, await hook.text()
    hook_id = (await hook.json())["id"]
    before = await _state(client)
    headers = _with_keys(BAD_KEYS[case])
    for path, body in [
        ("/admin/consumers", {"name": "c2"}),
        ("/admin/consumers/c1/ack", {"position": 0}),
        ("/admin/webhooks", {"url": receiver.url}),
        (f"/admin/webhooks/{hook_id}/replay", {}),
    ]:
        problem = await problem_of(await client.post(path, json=body, headers=headers), 400)
        assert "Idempotency-Key" in problem["detail"], path
    assert await _state(client) == before


async def test_a_wellformed_key_is_accepted_there(aiohttp_client: Any, receiver: Receiver) -> None:
    client = await serve(aiohttp_client)
    headers = _with_keys(["key-1"])
    created = await client.post("/admin/consumers", json={"name": "c1"}, headers=headers)
    assert created.status == 201, await created.text()
    acked = await client.post("/admin/consumers/c1/ack", json={"position": 0}, headers=headers)
    assert acked.status == 200, await acked.text()
