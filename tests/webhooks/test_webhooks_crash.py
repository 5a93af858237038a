"""A server killed (SIGKILL) in the middle of a delivery: after a restart nothing is lost."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.reliability.server import ServerProcess, headers_for
from tests.webhooks.receiver import Receiver


@pytest.mark.slow
async def test_a_kill_mid_delivery_loses_nothing_and_keeps_the_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    env = {"CHAT_CORE_WEBHOOK_ALLOW": "127.0.0.1", "CHAT_CORE_WEBHOOK_RETRIES": "0.05,0.05,0.05"}
    server = ServerProcess(url, tmp_path / "server.log", **env).start()
    headers = headers_for("u_ops", "t_acme", ("member", "admin"))
    try:
        async with aiohttp.ClientSession(base_url=server.base_url, headers=headers) as session:
            body = {"url": receiver.url, "types": ["chat.message.posted"]}
            async with session.post("/admin/webhooks", json=body) as response:
                assert response.status == 201
            async with session.post("/chat/threads", json={}) as response:
                thread = (await response.json())["id"]
            receiver.mode = "hang"
            for n in range(3):
                async with session.post(
                    f"/chat/threads/{thread}/messages", json={"content": f"m{n}"}
                ) as response:
                    assert response.status == 201
            await receiver.wait_for_attempts(1)
    finally:
        server.kill()  # the first delivery is in flight
    receiver.mode = "ok"
    # The dead instance's lease must run out (30 s) before the new one takes the webhook.
    with ServerProcess(url, tmp_path / "server.log", port=server.port, **env):
        events = await receiver.wait_for(3, seconds=60)
    assert [e["data"]["content"] for e in events] == ["m0", "m1", "m2"]
    ok = [r for r in receiver.receipts if r.answered == "ok"]
    assert len({r.headers["webhook-id"] for r in ok}) == 3
    assert receiver.receipts[0].headers["webhook-id"] == ok[0].headers["webhook-id"]
