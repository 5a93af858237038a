"""Ids of another tenant or env, named in a thread's own requests: refused, nothing appended.

A message of another partition is, to this thread, a message it does not hold: named in
a body field (a parent, a fork's message) it is a 422 on that field; named in the URL (a
path, children, feedback, a redaction) it is a 404. Over a real server on each backend.
"""

from __future__ import annotations

from tests.branches.helpers import AGENT, MEMBER, Client, headers_of, post
from tests.http.helpers import create_thread, expect_refusal


async def test_another_partition_s_message_is_not_this_thread_s(client: Client) -> None:
    thread = (await create_thread(client, MEMBER))["id"]
    await post(client, thread, "here")
    await post(client, thread, "an answer here", role="assistant")
    for tenant, env in (("t_globex", "dev"), ("t_acme", "prod"), ("t_globex", "prod")):
        member, agent = headers_of("member", tenant, env), headers_of("agent", tenant, env)
        theirs = (await create_thread(client, member))["id"]
        asked = await post(client, theirs, "their question", headers=member)
        answered = await post(client, theirs, "their answer", role="assistant", headers=agent)
        base = f"/chat/threads/{thread}"
        for foreign in (asked["id"], answered["id"]):
            body = {"content": "x", "parent_id": foreign}
            _, problem = await expect_refusal(
                client, "POST", f"{base}/messages", 422, json=body, headers=MEMBER
            )
            assert problem["errors"][0]["field"] == "parent_id"
            body = {"role": "assistant", "content": "x", "parent_id": foreign}
            await expect_refusal(client, "POST", f"{base}/messages", 422, json=body, headers=AGENT)
            _, problem = await expect_refusal(
                client, "POST", f"{base}/forks", 422, json={"message_id": foreign}, headers=MEMBER
            )
            assert problem["errors"][0]["field"] == "message_id"
            for method, route, json in (
                ("GET", f"{base}/messages/{foreign}/path", None),
                ("GET", f"{base}/messages?parent_id={foreign}", None),
                ("PUT", f"{base}/messages/{foreign}/feedback", {"rating": 1}),
                ("DELETE", f"{base}/messages/{foreign}/feedback", None),
                ("DELETE", f"{base}/messages/{foreign}", None),
            ):
                _, problem = await expect_refusal(
                    client, method, route, 404, json=json, headers=MEMBER
                )
                assert "their" not in str(problem)
        # And the other way round: this thread's ids from their partition.
        mine = await post(client, thread, "mine")
        for method, route, json in (
            ("GET", f"{base}/messages/{mine['id']}/path", None),
            ("POST", f"{base}/forks", {"message_id": mine["id"]}),
            ("PUT", f"{base}/messages/{mine['id']}/feedback", {"rating": -1}),
        ):
            await expect_refusal(client, method, route, 404, json=json, headers=member)
        body = {"content": "x", "parent_id": mine["id"]}
        await expect_refusal(
            client, "POST", f"/chat/threads/{theirs}/messages", 422, json=body, headers=member
        )
        await expect_refusal(
            client,
            "POST",
            f"/chat/threads/{theirs}/forks",
            422,
            json={"message_id": mine["id"]},
            headers=member,
        )
