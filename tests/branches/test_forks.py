"""Forks: a new thread holding copies of a path, which never brings back withdrawn words.

Over a real server on each backend; refusals append nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from tests.branches.helpers import ADMIN, AGENT, MEMBER, Client, headers_of, path_of, post
from tests.http.helpers import create_thread, expect_refusal
from tests.streams.helpers import read_sse
from transports.http.app_keys import CORE

_SAME = ("role", "content", "metadata", "author", "redacted", "erased", "status", "model")


async def _fork(client: Client, thread: str, body: dict[str, Any], headers: Any = MEMBER) -> Any:
    response = await client.post(f"/chat/threads/{thread}/forks", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def _messages(client: Client, thread: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/chat/threads/{thread}/messages", params={"limit": "100"}, headers=MEMBER
    )
    assert response.status == 200
    data: list[dict[str, Any]] = (await response.json())["data"]
    return data


def _same(copy: dict[str, Any], source: dict[str, Any]) -> bool:
    return all(copy[name] == source[name] for name in _SAME)


async def test_a_fork_copies_the_path_with_new_ids(client: Client) -> None:
    thread = (await create_thread(client, MEMBER, title="source"))["id"]
    question = await post(client, thread, "question")
    await post(client, thread, "first answer", role="assistant")
    again = await post(client, thread, "second answer", role="assistant", parent_id=question["id"])
    follow = await post(client, thread, "thanks", headers=headers_of("member2"))
    fork = await _fork(client, thread, {"message_id": follow["id"], "title": "mine"})
    assert fork["id"] != thread and fork["title"] == "mine"
    assert fork["forked_from"] == {"thread_id": thread, "message_id": follow["id"]}
    assert fork["message_count"] == 3 and fork["created_by"] == "u_member"
    copies = await _messages(client, fork["id"])
    assert fork["head"] == copies[-1]["id"]
    source = await path_of(client, thread, follow["id"])
    assert [m["id"] for m in source] == [question["id"], again["id"], follow["id"]]
    assert [c["seq"] for c in copies] == [1, 2, 3]
    assert [c["parent_id"] for c in copies] == [None, copies[0]["id"], copies[1]["id"]]
    assert all(_same(c, s) for c, s in zip(copies, source, strict=True))
    assert not {c["id"] for c in copies} & {s["id"] for s in source}
    assert copies[2]["author"] == "u_member2"
    read = await client.get(f"/chat/threads/{fork['id']}", headers=MEMBER)
    assert await read.json() == fork
    original = await client.get(f"/chat/threads/{thread}", headers=MEMBER)
    assert (await original.json())["forked_from"] is None
    # The fork goes on by itself; its source does not move.
    await post(client, fork["id"], "more")
    assert len(await _messages(client, thread)) == 4


async def test_a_fork_never_brings_back_withdrawn_words(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    gone = headers_of("member4")
    first = await post(client, thread, "kept")
    erased = await post(client, thread, "erased words", headers=gone)
    redacted = await post(client, thread, "redacted words")
    tip = await post(client, thread, "tip", role="assistant")
    response = await client.delete(
        f"/chat/threads/{thread}/messages/{redacted['id']}", headers=MEMBER
    )
    assert response.status == 204
    response = await client.post("/admin/erasures", json={"subject": "u_member4"}, headers=ADMIN)
    assert response.status == 202
    fork = await _fork(client, thread, {"message_id": tip["id"]})
    copies = await _messages(client, fork["id"])
    assert [c["content"] for c in copies] == ["kept", None, None, "tip"]
    assert copies[1]["erased"] and copies[1]["author"] == "u_member4"
    assert copies[2]["redacted"] and not copies[2]["erased"]
    assert (first["id"], erased["id"]) != (copies[0]["id"], copies[1]["id"])
    store = client.app[CORE].store
    posted = [
        item.event.payload
        async for item in store.read_all()
        if item.event.stream.endswith(fork["id"]) and item.event.type == "chat.message.posted"
    ]
    assert [p.withdrawn for p in posted] == [None, "erased", "redacted", None]
    assert all(p.sealed is None and p.content is None for p in posted[1:3])


async def test_an_erasure_after_a_fork_covers_the_copies(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    later = headers_of("member5")
    await post(client, thread, "question")
    tip = await post(client, thread, "their words", headers=later)
    fork = await _fork(client, thread, {"message_id": tip["id"]})
    assert (await _messages(client, fork["id"]))[1]["content"] == "their words"
    response = await client.post("/admin/erasures", json={"subject": "u_member5"}, headers=ADMIN)
    assert response.status == 202
    copies = await _messages(client, fork["id"])
    assert copies[1]["erased"] and copies[1]["content"] is None
    assert copies[0]["content"] == "question"


async def test_a_path_in_progress_is_a_409(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    await post(client, thread, "question")
    response = await client.post(
        f"/chat/threads/{thread}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "m"},
        headers=AGENT,
    )
    started = await response.json()
    await expect_refusal(
        client,
        "POST",
        f"/chat/threads/{thread}/forks",
        409,
        json={"message_id": started["id"]},
        headers=MEMBER,
    )
    cancel = f"/chat/threads/{thread}/messages/{started['id']}/cancel"
    assert (await client.post(cancel, json={}, headers=MEMBER)).status == 200
    fork = await _fork(client, thread, {"message_id": started["id"]})
    assert [c["status"] for c in await _messages(client, fork["id"])] == ["complete", "cancelled"]


async def test_a_fork_of_what_is_not_this_thread_s_is_refused(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    await post(client, thread, "here")
    other = (await create_thread(client, MEMBER))["id"]
    foreign = await post(client, other, "elsewhere")
    path = f"/chat/threads/{thread}/forks"
    for message_id in (foreign["id"], "msg_1-nosuchmessage", "m"):
        _, problem = await expect_refusal(
            client, "POST", path, 422, json={"message_id": message_id}, headers=MEMBER
        )
        assert problem["errors"][0]["field"] == "message_id"
    for headers in (headers_of("member", tenant="t_globex"), headers_of("member", env="prod")):
        await expect_refusal(
            client,
            "POST",
            f"/chat/threads/{other}/forks",
            404,
            json={"message_id": foreign["id"]},
            headers=headers,
        )
    for bad in ({}, {"message_id": ""}, {"message_id": foreign["id"], "title": ""}, {"x": 1}):
        await expect_refusal(client, "POST", path, 422, json=bad, headers=MEMBER)
    await expect_refusal(
        client,
        "POST",
        "/chat/threads/th_nosuchthread/forks",
        404,
        json={"message_id": "m"},
        headers=MEMBER,
    )


async def test_a_repeated_fork_with_its_key_replays_and_the_tools_agree(
    make_client: Any, tmp_path: Path, cli: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    client = await make_client(store_url=url)
    thread = (await create_thread(client, MEMBER))["id"]
    await post(client, thread, "question")
    tip = await post(client, thread, "answer", role="assistant", headers=AGENT)
    headers = {**MEMBER, "Idempotency-Key": "fork-1"}
    body = {"message_id": tip["id"], "title": "copy"}
    first = await _fork(client, thread, body, headers=headers)
    store = client.app[CORE].store
    head = await store.head_position()
    again = await client.post(f"/chat/threads/{thread}/forks", json=body, headers=headers)
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == first and await store.head_position() == head
    await client.close()
    for argv in (("verify",), ("replay", "--check")):
        status, out, err = await asyncio.to_thread(cli, *argv, "--store", url)
        assert status == 0, out + err
    exported = tmp_path / "log.jsonl"
    status, out, err = await asyncio.to_thread(cli, "export", "--store", url, "-o", str(exported))
    assert status == 0, out + err
    lines = [orjson.loads(line) for line in exported.read_text().splitlines()]
    copies = [
        line["payload"]
        for line in lines
        if line["type"] == "chat.message.posted" and line["payload"]["thread_id"] == first["id"]
    ]
    assert [c["content"] for c in copies] == ["question", "answer"]
    assert copies[1]["author"] == "u_agent" and all("sealed" not in c for c in copies)


async def test_a_fork_of_a_private_thread_is_private_to_the_forker(client: Client) -> None:
    created = await client.post("/chat/threads", json={"visibility": "private"}, headers=MEMBER)
    thread = (await created.json())["id"]
    tip = await post(client, thread, "hidden words")
    fork = await _fork(client, thread, {"message_id": tip["id"]})
    assert fork["visibility"] == "private"
    outsider = headers_of("member6")
    for path in (f"/chat/threads/{fork['id']}", f"/chat/threads/{fork['id']}/messages"):
        await expect_refusal(client, "GET", path, 404, headers=outsider)
    await expect_refusal(
        client,
        "POST",
        f"/chat/threads/{thread}/forks",
        404,
        json={"message_id": tip["id"]},
        headers=outsider,
    )


async def test_a_fork_s_stream_shows_its_copies_as_they_read(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    question = await post(client, thread, "question")
    await post(client, thread, "first answer", role="assistant")
    again = await post(client, thread, "second answer", role="assistant", parent_id=question["id"])
    withdrawn = await post(client, thread, "withdrawn words")
    response = await client.delete(
        f"/chat/threads/{thread}/messages/{withdrawn['id']}", headers=MEMBER
    )
    assert response.status == 204
    fork = await _fork(client, thread, {"message_id": withdrawn["id"]})
    copies = await _messages(client, fork["id"])
    async with client.get(f"/chat/threads/{fork['id']}/events", headers=MEMBER) as sse:
        seen = await read_sse(sse, 4)
    assert [(e.id, e.type) for e in seen] == [
        ("1", "chat.thread.created"),
        ("2", "chat.message.posted"),
        ("3", "chat.message.posted"),
        ("4", "chat.message.posted"),
    ]
    assert {(e.data["tenant"], e.data["env"]) for e in seen} == {("t_acme", "dev")}
    assert seen[0].data["data"]["thread_id"] == fork["id"]
    source = {"thread_id": thread, "message_id": withdrawn["id"]}
    assert seen[0].data["data"]["forked_from"] == source
    # A consumer tells a fork from a new thread too.
    response = await client.post("/admin/consumers", json={"name": "forks"}, headers=ADMIN)
    assert response.status == 201, await response.text()
    batch = await (await client.get("/admin/consumers/forks/events", headers=ADMIN)).json()
    created = [e["data"] for e in batch["data"] if e["type"] == "chat.thread.created"]
    assert [c["forked_from"] for c in created] == [None, source]
    posted = [e.data["data"] for e in seen[1:]]
    assert [(p["message_id"], p["seq"], p["parent_id"]) for p in posted] == [
        (c["id"], c["seq"], c["parent_id"]) for c in copies
    ]
    assert [(p["role"], p["content"], p["redacted"]) for p in posted] == [
        ("user", "question", False),
        ("assistant", "second answer", False),
        ("user", None, True),
    ]
    assert again["id"] not in {p["message_id"] for p in posted}


async def test_a_copy_reads_redacted_and_erased_as_its_source_does(
    make_client: Any, tmp_path: Path, cli: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    client = await make_client(store_url=url)
    thread = (await create_thread(client, MEMBER))["id"]
    writer = headers_of("member7")
    first = await post(client, thread, "redacted, then its author erased", headers=writer)
    second = await post(client, thread, "its author erased, then redacted", headers=writer)

    async def redact(message: dict[str, Any]) -> None:
        route = f"/chat/threads/{thread}/messages/{message['id']}"
        assert (await client.delete(route, headers=writer)).status == 204

    await redact(first)
    before = await _fork(client, thread, {"message_id": second["id"]})
    response = await client.post("/admin/erasures", json={"subject": "u_member7"}, headers=ADMIN)
    assert response.status == 202
    await redact(second)
    after = await _fork(client, thread, {"message_id": second["id"]})

    async def flags(reader: Client) -> list[list[tuple[bool, bool]]]:
        shown = []
        for thread_id in (thread, before["id"], after["id"]):
            response = await reader.get(f"/chat/threads/{thread_id}/messages", headers=MEMBER)
            page = await response.json()
            shown.append([(m["redacted"], m["erased"]) for m in page["data"]])
        return shown

    expected = [[(True, True), (True, True)], [(True, True), (False, True)]]
    expected.append([(True, True), (True, True)])
    assert await flags(client) == expected
    await client.close()
    # Folded afresh from the file, as after a restart: the same.
    again = await make_client(store_url=url)
    assert await flags(again) == expected
    await again.close()
    for argv in (("verify",), ("replay", "--check")):
        status, out, err = await asyncio.to_thread(cli, *argv, "--store", url)
        assert status == 0, out + err
    exported = tmp_path / "log.jsonl"
    status, out, err = await asyncio.to_thread(cli, "export", "--store", url, "-o", str(exported))
    assert status == 0, out + err
    lines = [orjson.loads(line) for line in exported.read_text().splitlines()]
    copies = [
        line["payload"]
        for line in lines
        if line["type"] == "chat.message.posted"
        and line["payload"]["thread_id"] in (before["id"], after["id"])
    ]
    assert [c["content"] for c in copies] == [None, None, None, None]
    assert all("sealed" not in c for c in copies)
    # Flagged as reads flag them: a redacted copy of an author erased since, erased too.
    assert [(c["redacted"], c["erased"]) for c in copies] == expected[1] + expected[2]


async def test_a_reply_in_progress_above_the_message_is_a_409_and_beside_it_is_not(
    client: Client,
) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    question = await post(client, thread, "question")
    response = await client.post(
        f"/chat/threads/{thread}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "m"},
        headers=AGENT,
    )
    started = await response.json()
    # Posted under the reply still being written, and beside it under the question.
    below = await post(client, thread, "while it writes")
    assert below["parent_id"] == started["id"]
    beside = await post(client, thread, "done", role="assistant", parent_id=question["id"])
    await expect_refusal(
        client,
        "POST",
        f"/chat/threads/{thread}/forks",
        409,
        json={"message_id": below["id"]},
        headers=MEMBER,
    )
    fork = await _fork(client, thread, {"message_id": beside["id"]})
    assert [c["content"] for c in await _messages(client, fork["id"])] == ["question", "done"]
    complete = f"/chat/threads/{thread}/messages/{started['id']}/complete"
    assert (await client.post(complete, json={}, headers=AGENT)).status == 200
    fork = await _fork(client, thread, {"message_id": below["id"]})
    copies = await _messages(client, fork["id"])
    assert [(c["role"], c["status"]) for c in copies] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
    ]
