"""Who may post which message role: member, admin and agent against user, assistant, tool, system.

Over HTTP and over the WebSocket `post` op alike; a refusal is a 403 that appends nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.context import AuthContext, Role, has_role, may_post
from tests.http.helpers import auth_headers, create_thread, expect_refusal, token
from tests.streams.helpers import ws_reply
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]

TOKEN_ROLES = ("member", "admin", "agent")
MESSAGE_ROLES = ("user", "assistant", "tool", "system")
ALLOWED = {
    ("member", "user"),
    ("admin", "user"),
    ("admin", "system"),
    ("agent", "user"),
    ("agent", "assistant"),
    ("agent", "tool"),
    ("agent", "system"),
}
CASES = [(who, role) for who in TOKEN_ROLES for role in MESSAGE_ROLES]


def _headers(who: str) -> dict[str, str]:
    return auth_headers(f"u_{who}", bearer=token(f"u_{who}", {"t_acme": [who]}))


def _body(role: str) -> dict[str, Any]:
    # A tool message answers a tool call, so it names one (else it is a 422, not a 403).
    answers = {"tool_call_id": "call_1"} if role == "tool" else {}
    return {"role": role, "content": f"a {role} message", **answers}


def test_every_role_counts_as_a_member_and_only_admin_as_an_admin() -> None:
    for who in TOKEN_ROLES:
        auth = AuthContext(sub="u_x", memberships={"t_acme": frozenset({Role(who)})})
        assert has_role(auth, "t_acme")
        assert has_role(auth, "t_acme", Role.ADMIN) is (who == "admin")
        assert not has_role(auth, "t_other")


def test_an_unknown_message_role_is_nobody_s_to_post() -> None:
    auth = AuthContext(sub="u_x", memberships={"t_acme": frozenset(Role)})
    assert not may_post(auth, "t_acme", "developer")
    assert not may_post(auth, "t_other", "user")


@pytest.mark.parametrize(("who", "role"), CASES, ids=[f"{w}-{r}" for w, r in CASES])
async def test_posting_a_role_over_http(memory_client: Client, who: str, role: str) -> None:
    thread = await create_thread(memory_client, _headers("member"))
    path = f"/chat/threads/{thread['id']}/messages"
    if (who, role) in ALLOWED:
        response = await memory_client.post(path, headers=_headers(who), json=_body(role))
        assert response.status == 201, await response.text()
        message = await response.json()
        assert message["role"] == role and message["author"] == f"u_{who}"
    else:
        _, problem = await expect_refusal(
            memory_client, "POST", path, 403, headers=_headers(who), json=_body(role)
        )
        assert f"a {role} message needs the" in problem["detail"]


@pytest.mark.parametrize(("who", "role"), CASES, ids=[f"{w}-{r}" for w, r in CASES])
async def test_posting_a_role_over_the_websocket(
    memory_client: Client, who: str, role: str
) -> None:
    thread = await create_thread(memory_client, _headers("member"))
    store = memory_client.app[CORE].store
    async with memory_client.ws_connect("/chat/ws", headers=_headers(who)) as socket:
        head = await store.head_position()
        await socket.send_json({"op": "post", "id": 7, "thread_id": thread["id"], **_body(role)})
        reply = await ws_reply(socket)
        if (who, role) in ALLOWED:
            assert reply["op"] == "ack" and reply["message"]["role"] == role
            assert reply["message"]["author"] == f"u_{who}"
        else:
            assert reply == {"op": "error", "id": 7, "status": 403, "detail": reply["detail"]}
            assert await store.head_position() == head
        # The socket stays open after a refusal.
        await socket.send_json({"op": "post", "id": 8, "thread_id": thread["id"], "content": "x"})
        assert (await ws_reply(socket))["op"] == "ack"


async def test_an_agent_reads_and_lists_threads_a_member_opened(memory_client: Client) -> None:
    thread = await create_thread(memory_client, _headers("member"))
    listed = await memory_client.get("/chat/threads", headers=_headers("agent"))
    assert [item["id"] for item in (await listed.json())["data"]] == [thread["id"]]
    page = await memory_client.get(
        f"/chat/threads/{thread['id']}/messages", headers=_headers("agent")
    )
    assert page.status == 200
