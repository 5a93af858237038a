"""Private threads: seen by their creator, participants and agents; to anyone else unknown."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.payloads import ThreadCreated
from events.envelope import DatasetEvent, Env
from tests.http.helpers import (
    auth_headers,
    create_thread,
    expect_refusal,
    post_message,
    problem_of,
    token,
)
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]

ADA = auth_headers("u_ada")  # member of t_acme: the creator
BOB = auth_headers("u_bob")  # member of t_acme: a participant
CYD = auth_headers("u_cyd")  # admin of t_acme: an outsider
DAN = auth_headers("u_dan", bearer=token("u_dan", {"t_acme": ["member"]}))  # an outsider
AGENT = auth_headers("svc_assistant", bearer=token("svc_assistant", {"t_acme": ["agent"]}))
UNKNOWN = "th_nosuchthreadhere0000"


async def _private(client: Client, **body: Any) -> dict[str, Any]:
    thread = await create_thread(client, ADA, visibility="private", title="secret plans", **body)
    response = await client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": ["u_bob"]}, headers=ADA
    )
    assert response.status == 200, await response.text()
    patched: dict[str, Any] = await response.json()
    return patched


def _shape(problem: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in problem.items() if name != "request_id"}


async def _unknown_problem(client: Client, method: str, path: str, **request: Any) -> Any:
    response = await client.request(method, path.replace("{thread_id}", UNKNOWN), **request)
    return response.status, _shape(await response.json())


async def test_a_private_thread_reads_to_its_creator_participants_and_agents(
    memory_client: Client,
) -> None:
    thread = await _private(memory_client)
    assert thread["visibility"] == "private" and thread["participants"] == ["u_bob"]
    for headers in (ADA, BOB, AGENT):
        response = await memory_client.get(f"/chat/threads/{thread['id']}", headers=headers)
        assert response.status == 200
        assert (await response.json())["title"] == "secret plans"


@pytest.mark.parametrize("outsider", [CYD, DAN], ids=["admin", "member"])
async def test_a_private_thread_is_an_unknown_thread_to_an_outsider(
    memory_client: Client, outsider: dict[str, str]
) -> None:
    thread = await _private(memory_client)
    await post_message(memory_client, ADA, thread["id"], "for our eyes")
    for method, path, body in (
        ("GET", "/chat/threads/{thread_id}", None),
        ("GET", "/chat/threads/{thread_id}/messages", None),
        ("POST", "/chat/threads/{thread_id}/messages", {"content": "let me in"}),
        ("PATCH", "/chat/threads/{thread_id}", {"title": "mine now"}),
        ("PATCH", "/chat/threads/{thread_id}", {"archived": True}),
        ("GET", "/chat/threads/{thread_id}/events", None),
    ):
        _, problem = await expect_refusal(
            memory_client,
            method,
            path.replace("{thread_id}", thread["id"]),
            404,
            json=body,
            headers=outsider,
        )
        assert (404, _shape(problem)) == await _unknown_problem(
            memory_client, method, path, json=body, headers=outsider
        )
    response = await memory_client.post(
        "/chat/stream-tickets", json={"thread_id": thread["id"]}, headers=outsider
    )
    await problem_of(response, 404)


async def test_a_listing_shows_a_private_thread_only_to_those_who_may_see_it(
    memory_client: Client,
) -> None:
    private = await _private(memory_client)
    shared = await create_thread(memory_client, DAN, title="for all")
    for headers, expected in (
        (ADA, [shared["id"], private["id"]]),
        (BOB, [shared["id"], private["id"]]),
        (AGENT, [shared["id"], private["id"]]),
        (CYD, [shared["id"]]),
        (DAN, [shared["id"]]),
    ):
        response = await memory_client.get("/chat/threads", headers=headers)
        assert [thread["id"] for thread in (await response.json())["data"]] == expected


async def test_a_participant_posts_and_an_outsider_never_sees_the_post(
    memory_client: Client,
) -> None:
    thread = await _private(memory_client)
    await post_message(memory_client, BOB, thread["id"], "from bob")
    response = await memory_client.get(f"/chat/threads/{thread['id']}/messages", headers=AGENT)
    assert [message["content"] for message in (await response.json())["data"]] == ["from bob"]


async def test_a_participant_removed_sees_the_thread_no_more(memory_client: Client) -> None:
    thread = await _private(memory_client)
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": []}, headers=ADA
    )
    assert (await response.json())["participants"] == []
    response = await memory_client.get(f"/chat/threads/{thread['id']}", headers=BOB)
    await problem_of(response, 404)


async def test_a_patch_changes_title_metadata_and_archived(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA, title="draft", metadata={"k": "v"})
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}",
        json={"title": "final", "metadata": {"topic": "x"}, "archived": True},
        headers=ADA,
    )
    assert response.status == 200, await response.text()
    patched = await response.json()
    assert (patched["title"], patched["metadata"], patched["archived"]) == (
        "final",
        {"topic": "x"},
        True,
    )
    assert patched["updated_at"] >= thread["updated_at"] == thread["created_at"]
    shown = await (await memory_client.get(f"/chat/threads/{thread['id']}", headers=BOB)).json()
    assert shown == patched


async def test_an_admin_changes_a_thread_of_the_tenant(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA, title="draft")
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"title": "tidied"}, headers=CYD
    )
    assert response.status == 200 and (await response.json())["title"] == "tidied"


async def test_a_patch_that_changes_nothing_appends_nothing(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA, title="same")
    store = memory_client.app[CORE].store
    head = await store.head_position()
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"title": "same", "archived": False}, headers=ADA
    )
    assert response.status == 200
    assert await store.head_position() == head


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        (BOB, {"title": "not mine"}, 403),
        (AGENT, {"title": "not mine"}, 403),
        (ADA, {"participants": ["u_bob"]}, 422),
        (ADA, {}, 422),
        (ADA, {"title": None}, 422),
        (ADA, {"archived": "yes"}, 422),
        (ADA, {"archived": 1}, 422),
        (ADA, {"title": ""}, 422),
        (ADA, {"metadata": {"k": 1}}, 422),
        (ADA, {"participants": "u_bob"}, 422),
        (ADA, {"participants": ["u_" + str(n) for n in range(101)]}, 422),
        (ADA, {"participants": [" u_bob"]}, 422),
        (ADA, {"visibility": "private"}, 422),
        (ADA, {"owner": "u_bob"}, 422),
    ],
)
async def test_a_bad_patch_of_a_tenant_thread_is_refused_and_changes_nothing(
    memory_client: Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    thread = await create_thread(memory_client, ADA, title="kept")
    _, problem = await expect_refusal(
        memory_client, "PATCH", f"/chat/threads/{thread['id']}", status, json=body, headers=headers
    )
    assert problem["detail"]


async def test_only_the_creator_changes_a_private_threads_participants(
    memory_client: Client,
) -> None:
    thread = await _private(memory_client)
    await expect_refusal(
        memory_client,
        "PATCH",
        f"/chat/threads/{thread['id']}",
        403,
        json={"participants": ["u_bob", "u_dan"]},
        headers=BOB,
    )
    admin = auth_headers("u_cyd")
    await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": ["u_bob", "u_cyd"]}, headers=ADA
    )
    # An admin who may see it changes its title, not who sees it.
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"title": "by cyd"}, headers=admin
    )
    assert response.status == 200
    await expect_refusal(
        memory_client,
        "PATCH",
        f"/chat/threads/{thread['id']}",
        403,
        json={"participants": ["u_cyd"]},
        headers=admin,
    )


async def test_a_bad_create_visibility_is_refused(memory_client: Client) -> None:
    await expect_refusal(
        memory_client, "POST", "/chat/threads", 422, json={"visibility": "secret"}, headers=ADA
    )


async def test_the_list_filters_archived_creator_and_metadata(memory_client: Client) -> None:
    first = await create_thread(memory_client, ADA, metadata={"team": "red", "kind": "bug"})
    second = await create_thread(memory_client, BOB, metadata={"team": "red"})
    third = await create_thread(memory_client, ADA, metadata={"team": "blue"})
    await memory_client.patch(f"/chat/threads/{third['id']}", json={"archived": True}, headers=ADA)

    async def listed(query: str) -> list[str]:
        response = await memory_client.get(f"/chat/threads?{query}", headers=ADA)
        assert response.status == 200, await response.text()
        return [thread["id"] for thread in (await response.json())["data"]]

    assert await listed("") == [second["id"], first["id"]]
    assert await listed("archived=false") == [second["id"], first["id"]]
    assert await listed("archived=true") == [third["id"]]
    assert await listed("archived=all") == [third["id"], second["id"], first["id"]]
    assert await listed("created_by=me&archived=all") == [third["id"], first["id"]]
    assert await listed("created_by=u_bob") == [second["id"]]
    assert await listed("metadata.team=red") == [second["id"], first["id"]]
    assert await listed("metadata.team=red&metadata.kind=bug") == [first["id"]]
    assert await listed("metadata.team=red&metadata.team=blue") == []
    assert await listed("metadata.team=red&limit=1") == [second["id"]]


async def test_a_filtered_listing_pages_through_every_match(memory_client: Client) -> None:
    made = [await create_thread(memory_client, ADA, metadata={"n": str(n % 3)}) for n in range(12)]
    wanted = [thread["id"] for thread in reversed(made) if thread["metadata"]["n"] == "0"]
    seen: list[str] = []
    query = "metadata.n=0&limit=1"
    while True:
        page = await (await memory_client.get(f"/chat/threads?{query}", headers=ADA)).json()
        seen += [thread["id"] for thread in page["data"]]
        if not page["has_more"]:
            break
        query = f"metadata.n=0&limit=1&after={page['next']}"
    assert seen == wanted


@pytest.mark.parametrize(
    "query",
    [
        "archived=maybe",
        "archived=",
        "archived=true&archived=false",
        "created_by=",
        "created_by=%20u_bob",
        "created_by=u_ada&created_by=u_bob",
        "metadata.=x",
        "metadata." + "k" * 65 + "=x",
        "metadata.k=" + "v" * 1025,
        "owner=u_ada",
    ],
)
async def test_a_bad_list_filter_is_a_400_problem(memory_client: Client, query: str) -> None:
    response = await memory_client.get(f"/chat/threads?{query}", headers=ADA)
    assert (await problem_of(response, 400))["detail"]


async def test_a_participant_removed_gets_no_replay_of_their_post(memory_client: Client) -> None:
    thread = await _private(memory_client)
    path = f"/chat/threads/{thread['id']}/messages"
    keyed = {**BOB, "Idempotency-Key": "bob-1"}
    first = await memory_client.post(path, json={"content": "from bob"}, headers=keyed)
    assert first.status == 201
    replayed = await memory_client.post(path, json={"content": "from bob"}, headers=keyed)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    response = await memory_client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": []}, headers=ADA
    )
    assert response.status == 200
    _, hidden = await expect_refusal(
        memory_client, "POST", path, 404, json={"content": "from bob"}, headers=keyed
    )
    unknown = await _unknown_problem(
        memory_client,
        "POST",
        "/chat/threads/{thread_id}/messages",
        json={"content": "from bob"},
        headers={**BOB, "Idempotency-Key": "bob-2"},
    )
    assert (404, _shape(hidden)) == unknown


async def test_a_visibility_the_code_does_not_know_reads_as_private(
    memory_client: Client,
) -> None:
    # No body can write one; a log written elsewhere might hold one. It fails closed.
    thread_id = "th_oddvisibilitythread0"
    event = DatasetEvent(
        event_id=uuid.uuid4(),
        stream=f"chat/t_acme/dev/{thread_id}",
        version=1,
        tenant="t_acme",
        env=Env.DEV,
        request_id="req-odd-visibility",
        trace_id="req-odd-visibility",
        actor="u_ada",
        occurred_at=datetime.now(UTC),
        payload=ThreadCreated(thread_id=thread_id, title="odd", visibility="team"),
    )
    await memory_client.app[CORE].store.append(event.stream, [event], expected_version=0)
    assert (await memory_client.get(f"/chat/threads/{thread_id}", headers=ADA)).status == 200
    outsider = await memory_client.get(f"/chat/threads/{thread_id}", headers=DAN)
    await problem_of(outsider, 404)
    listed = await (await memory_client.get("/chat/threads", headers=DAN)).json()
    assert thread_id not in [thread["id"] for thread in listed["data"]]
