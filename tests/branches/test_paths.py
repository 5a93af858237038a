"""Children and paths: siblings are alternatives, and a path runs from the root to a message.

Over a real server on each backend; an unknown or foreign message is a 404 that appends
nothing, as an unknown message in a thread's URL is.
"""

from __future__ import annotations

from typing import Any

from tests.branches.helpers import ADMIN, MEMBER, Client, children, headers_of, path_of, post
from tests.http.helpers import create_thread, expect_refusal


def _ids(messages: list[dict[str, Any]]) -> list[str]:
    return [message["id"] for message in messages]


async def test_an_edit_and_a_regeneration_are_siblings(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    question = await post(client, thread, "question")
    answer = await post(client, thread, "answer", role="assistant")
    again = await post(client, thread, "answer again", role="assistant", parent_id=question["id"])
    edited = await post(client, thread, "edited question")
    assert edited["parent_id"] == again["id"]
    retry = await post(client, thread, "other question", parent_id=answer["id"])
    assert _ids(await children(client, thread, question["id"])) == [answer["id"], again["id"]]
    assert _ids(await children(client, thread, answer["id"])) == [retry["id"]]
    assert await children(client, thread, retry["id"]) == []
    assert _ids(await children(client, thread, question["id"], order="desc", limit="1")) == [
        again["id"],
        answer["id"],
    ]
    path = await path_of(client, thread, edited["id"])
    assert _ids(path) == [question["id"], again["id"], edited["id"]]
    assert [m["seq"] for m in path] == [1, 3, 4]
    assert _ids(await path_of(client, thread, retry["id"])) == [
        question["id"],
        answer["id"],
        retry["id"],
    ]
    assert _ids(await path_of(client, thread, question["id"])) == [question["id"]]


async def test_a_path_pages_root_first(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    root = await post(client, thread, "root")
    branch, other = [root], [root]
    for index in range(7):
        branch.append(await post(client, thread, f"b{index}", parent_id=branch[-1]["id"]))
        other.append(await post(client, thread, f"o{index}", parent_id=other[-1]["id"]))
    for limit in ("1", "3", "100"):
        path = await path_of(client, thread, branch[-1]["id"], limit=limit)
        assert path == branch


async def test_a_path_through_messages_not_kept_in_memory_reads_them_back(
    memory_client: Client,
) -> None:
    client = memory_client
    thread = (await create_thread(client, MEMBER))["id"]
    root = await post(client, thread, "root")
    branch, other = [root], [root]
    # Two branches interleaved past what a thread keeps (its first and newest 256).
    for index in range(350):
        branch.append(await post(client, thread, f"b{index}", parent_id=branch[-1]["id"]))
        other.append(await post(client, thread, f"o{index}", parent_id=other[-1]["id"]))
    path = await path_of(client, thread, branch[-1]["id"], limit="100")
    assert _ids(path) == _ids(branch)
    assert [m["content"] for m in path] == [m["content"] for m in branch]
    middle = branch[200]
    assert _ids(await children(client, thread, middle["id"])) == [branch[201]["id"]]
    assert _ids(await path_of(client, thread, middle["id"])) == _ids(branch[:201])


async def test_an_unknown_or_foreign_message_is_a_404(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    await post(client, thread, "here")
    other = (await create_thread(client, MEMBER))["id"]
    foreign = await post(client, other, "elsewhere")
    elsewhere = headers_of("member", tenant="t_globex")
    for message_id in (foreign["id"], "msg_1-nosuchmessage", "m"):
        await expect_refusal(
            client,
            "GET",
            f"/chat/threads/{thread}/messages",
            404,
            params={"parent_id": message_id},
            headers=MEMBER,
        )
        await expect_refusal(
            client, "GET", f"/chat/threads/{thread}/messages/{message_id}/path", 404, headers=MEMBER
        )
    for headers in (elsewhere, headers_of("member", env="prod")):
        await expect_refusal(
            client,
            "GET",
            f"/chat/threads/{other}/messages/{foreign['id']}/path",
            404,
            headers=headers,
        )


async def test_a_malformed_children_or_path_query_is_a_400(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    message = await post(client, thread, "here")
    base = f"/chat/threads/{thread}/messages"
    for query in (
        {"parent_id": ""},
        {"parent_id": "x" * 201},
        {"parent_id": message["id"], "limit": "0"},
        {"parent_id": message["id"], "after": "!"},
    ):
        await expect_refusal(client, "GET", base, 400, params=query, headers=MEMBER)
    path = f"{base}/{message['id']}/path"
    for query in ({"order": "asc"}, {"limit": "101"}, {"after": "bm90LWEtY3Vyc29y"}, {"x": "1"}):
        await expect_refusal(client, "GET", path, 400, params=query, headers=MEMBER)
    repeated = f"{base}?parent_id={message['id']}&parent_id={message['id']}"
    await expect_refusal(client, "GET", repeated, 400, headers=MEMBER)


async def test_a_path_read_back_shows_later_redactions_and_erasures(memory_client: Client) -> None:
    client = memory_client
    thread = (await create_thread(client, MEMBER))["id"]
    writer = headers_of("member2")
    branch = [await post(client, thread, "root")]
    for index in range(300):
        who = writer if index == 150 else MEMBER
        parent = branch[-1]["id"]
        branch.append(await post(client, thread, f"b{index}", parent_id=parent, headers=who))
        await post(client, thread, f"o{index}", parent_id=branch[-2]["id"])
    tip = branch[-1]["id"]
    before = await path_of(client, thread, tip, limit="100")
    assert before[140]["content"] == "b139" and before[151]["content"] == "b150"
    response = await client.delete(
        f"/chat/threads/{thread}/messages/{branch[140]['id']}", headers=MEMBER
    )
    assert response.status == 204
    erased = await client.post("/admin/erasures", json={"subject": "u_member2"}, headers=ADMIN)
    assert erased.status == 202, await erased.text()
    after = await path_of(client, thread, tip, limit="100")
    assert after[140]["redacted"] and after[140]["content"] is None
    assert after[151]["erased"] and after[151]["content"] is None
    assert [m["content"] for m in after if m["content"] is not None] == [
        m["content"] for i, m in enumerate(before) if i not in (140, 151)
    ]
