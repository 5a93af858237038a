"""A log written before parents existed reads as one linear branch, on every branch route.

Its posts (schema 1: no parent, no status, words in clear) are each the reply to the one
before; the thread's head is its last message, so a new post continues from there; the
path, children, a fork and feedback work on it as on a thread of today.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.branches.helpers import AGENT, MEMBER, children, path_of, post
from tests.http.helpers import expect_refusal
from tests.streams.helpers import read_sse
from tests.tooling.logs import log_file, open_core, sql

OLD = (
    (1, "user", "an old question"),
    (2, "assistant", "an old answer"),
    (3, "user", "thanks"),
)


def _write_old_thread(url: str) -> None:
    """Append a thread as code before parents and sealing wrote it."""
    payloads: list[tuple[str, dict[str, Any]]] = [
        ("chat.thread.created", {"thread_id": "th_old", "title": "old", "metadata": {}}),
    ]
    for seq, role, content in OLD:
        message = {"thread_id": "th_old", "message_id": f"msg_old{seq}", "seq": seq}
        payloads.append(
            ("chat.message.posted", {**message, "role": role, "content": content, "metadata": {}})
        )
    for version, (event_type, payload) in enumerate(payloads, start=1):
        sql(
            url,
            "INSERT INTO events (event_id, stream, version, type, schema_version, tenant, env,"
            " request_id, trace_id, actor, occurred_at, payload) VALUES"
            " (randomblob(16), 'chat/t_acme/dev/th_old', ?, ?, 1, 't_acme', 'dev', ?, ?,"
            " 'u_old', ?, ?)",
            (
                version,
                event_type,
                f"old-{version}",
                f"old-{version}",
                f"2024-01-01T00:00:0{version}.000000+00:00",
                orjson.dumps(payload),
            ),
        )


async def test_an_old_thread_reads_as_one_branch(make_client: Any, tmp_path: Path) -> None:
    url = log_file(tmp_path)
    # The schema and the key store, as a server of today leaves them, then the old rows.
    await (await open_core(url)).close()
    _write_old_thread(url)
    client = await make_client(store_url=url)
    thread = await client.get("/chat/threads/th_old", headers=MEMBER)
    assert thread.status == 200
    assert (await thread.json())["head"] == "msg_old3"
    path = await path_of(client, "th_old", "msg_old3", limit="2")
    assert [(m["id"], m["parent_id"], m["status"]) for m in path] == [
        ("msg_old1", None, "complete"),
        ("msg_old2", "msg_old1", "complete"),
        ("msg_old3", "msg_old2", "complete"),
    ]
    assert [m["content"] for m in path] == [content for _, _, content in OLD]
    assert [m["id"] for m in await children(client, "th_old", "msg_old1")] == ["msg_old2"]
    assert await children(client, "th_old", "msg_old3") == []
    # A regeneration of the old answer is its sibling; a plain post continues from the head.
    again = await post(client, "th_old", "a new answer", role="assistant", parent_id="msg_old1")
    assert again["seq"] == 4
    siblings = await children(client, "th_old", "msg_old1")
    assert [m["id"] for m in siblings] == ["msg_old2", again["id"]]
    following = await post(client, "th_old", "and now")
    assert following["parent_id"] == again["id"]
    rated = await client.put(
        "/chat/threads/th_old/messages/msg_old2/feedback", json={"rating": 1}, headers=AGENT
    )
    assert rated.status == 200, await rated.text()
    await expect_refusal(
        client,
        "PUT",
        "/chat/threads/th_old/messages/msg_old1/feedback",
        422,
        json={"rating": 1},
        headers=MEMBER,
    )
    fork = await client.post(
        "/chat/threads/th_old/forks", json={"message_id": "msg_old2"}, headers=MEMBER
    )
    assert fork.status == 201, await fork.text()
    copied = await fork.json()
    assert copied["forked_from"] == {"thread_id": "th_old", "message_id": "msg_old2"}
    copies = await path_of(client, copied["id"], copied["head"])
    assert [(m["role"], m["content"], m["author"]) for m in copies] == [
        ("user", "an old question", "u_old"),
        ("assistant", "an old answer", "u_old"),
    ]
    async with client.get("/chat/threads/th_old/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 4)
    assert [(e.data["data"]["message_id"], e.data["data"]["parent_id"]) for e in seen[1:]] == [
        ("msg_old1", None),
        ("msg_old2", "msg_old1"),
        ("msg_old3", "msg_old2"),
    ]
