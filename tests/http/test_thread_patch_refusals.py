"""A PATCH of a thread that is malformed, or asked by someone who may not: refused, nothing kept.

Each refusal is a problem+json of the contract's status; the store's head does not move
and the thread reads as it did before.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, expect_refusal, token
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]

ADA = auth_headers("u_ada")  # member of t_acme: the creator
BOB = auth_headers("u_bob")  # member of t_acme: a participant
CYD = auth_headers("u_cyd")  # admin of t_acme: an outsider
DAN = auth_headers("u_dan", bearer=token("u_dan", {"t_acme": ["member"]}))  # an outsider
AGENT = auth_headers("svc_assistant", bearer=token("svc_assistant", {"t_acme": ["agent"]}))
UNKNOWN = "th_nosuchthreadhere0000"


async def _private(client: Client) -> dict[str, Any]:
    thread = await create_thread(
        client, ADA, visibility="private", title="secret", metadata={"k": "v"}
    )
    response = await client.patch(
        f"/chat/threads/{thread['id']}", json={"participants": ["u_bob"]}, headers=ADA
    )
    assert response.status == 200, await response.text()
    patched: dict[str, Any] = await response.json()
    return patched


async def _shown(client: Client, thread_id: str) -> Any:
    response = await client.get(f"/chat/threads/{thread_id}", headers=ADA)
    assert response.status == 200
    return await response.json()


def _without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in problem.items() if name != "request_id"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"participants": [""]}, "participants[0]"),
        ({"participants": ["u_bob", " u_dan"]}, "participants[1]"),
        ({"participants": ["u_bob\n"]}, "participants[0]"),
        ({"participants": ["u_\x00bob"]}, "participants[0]"),
        # A zero-width space: it reads as u_bob and is no token's sub.
        ({"participants": ["u_\u200bbob"]}, "participants[0]"),
        ({"participants": ["u_\u2028bob"]}, "participants[0]"),
        ({"participants": ["u" * 256]}, "participants[0]"),
        ({"participants": [1]}, "participants[0]"),
        ({"participants": [None]}, "participants[0]"),
        ({"participants": [["u_bob"]]}, "participants[0]"),
        ({"participants": {"u_bob": True}}, "participants"),
        ({"participants": "u_bob"}, "participants"),
        ({"participants": None}, "participants"),
        ({"participants": [f"u_{n}" for n in range(101)]}, "participants"),
        ({"title": 7}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"metadata": []}, "metadata"),
        ({"metadata": {"k": None}}, "metadata['k']"),
        ({"metadata": {f"k{n}": "v" for n in range(17)}}, "metadata"),
        ({"archived": "false"}, "archived"),
        ({"archived": None}, "archived"),
        ({"title": "ok", "visibility": "tenant"}, "visibility"),
        ({"created_by": "u_bob"}, "created_by"),
        ({"forked_from": None}, "forked_from"),
    ],
)
async def test_a_malformed_patch_of_a_private_thread_is_a_422_naming_the_field(
    memory_client: Client, body: dict[str, Any], field: str
) -> None:
    thread = await _private(memory_client)
    before = await _shown(memory_client, thread["id"])
    _, problem = await expect_refusal(
        memory_client, "PATCH", f"/chat/threads/{thread['id']}", 422, json=body, headers=ADA
    )
    assert field in {error["field"] for error in problem["errors"]}, problem
    assert await _shown(memory_client, thread["id"]) == before


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": b'{"title": "x"}', "headers": {"Content-Type": "text/plain"}}, 415),
        ({"json": ["title", "x"]}, 422),
        ({"json": "title"}, 422),
        ({"json": None}, 422),
        ({"json": {}}, 422),
    ],
    ids=["not-json", "not-a-json-type", "array", "string", "null", "nothing-to-change"],
)
async def test_a_patch_body_that_is_no_object_is_refused(
    memory_client: Client, request_: dict[str, Any], status: int
) -> None:
    thread = await _private(memory_client)
    headers = {**ADA, **request_.pop("headers", {})}
    await expect_refusal(
        memory_client,
        "PATCH",
        f"/chat/threads/{thread['id']}",
        status,
        headers=headers,
        **request_,
    )


async def test_a_patch_with_a_query_is_a_400(memory_client: Client) -> None:
    thread = await _private(memory_client)
    await expect_refusal(
        memory_client,
        "PATCH",
        f"/chat/threads/{thread['id']}?archived=true",
        400,
        json={"title": "x"},
        headers=ADA,
    )


@pytest.mark.parametrize("outsider", [CYD, DAN], ids=["admin", "member"])
@pytest.mark.parametrize(
    "body",
    [
        {"title": "mine now"},
        {"metadata": {"k": "w"}},
        {"archived": True},
        {"participants": ["u_cyd", "u_dan"]},
        {"participants": []},
        {"title": "same", "archived": False, "metadata": {}, "participants": ["u_bob"]},
    ],
)
async def test_an_outsiders_patch_of_a_private_thread_is_a_404_like_an_unknown_threads(
    memory_client: Client, outsider: dict[str, str], body: dict[str, Any]
) -> None:
    thread = await _private(memory_client)
    before = await _shown(memory_client, thread["id"])
    _, hidden = await expect_refusal(
        memory_client, "PATCH", f"/chat/threads/{thread['id']}", 404, json=body, headers=outsider
    )
    _, unknown = await expect_refusal(
        memory_client, "PATCH", f"/chat/threads/{UNKNOWN}", 404, json=body, headers=outsider
    )
    assert _without_request_id(hidden) == _without_request_id(unknown)
    assert await _shown(memory_client, thread["id"]) == before


@pytest.mark.parametrize("outsider", [CYD, DAN], ids=["admin", "member"])
async def test_an_outsiders_malformed_patch_answers_as_for_an_unknown_thread(
    memory_client: Client, outsider: dict[str, str]
) -> None:
    thread = await _private(memory_client)
    for body in ({"participants": ["u_\x00"]}, {"owner": "u_cyd"}, {}):
        _, hidden = await expect_refusal(
            memory_client,
            "PATCH",
            f"/chat/threads/{thread['id']}",
            422,
            json=body,
            headers=outsider,
        )
        _, unknown = await expect_refusal(
            memory_client, "PATCH", f"/chat/threads/{UNKNOWN}", 422, json=body, headers=outsider
        )
        assert _without_request_id(hidden) == _without_request_id(unknown)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (BOB, {"title": "not mine"}),
        (BOB, {"archived": True}),
        (BOB, {"participants": ["u_bob", "u_dan"]}),
        (AGENT, {"metadata": {"k": "agent"}}),
        (AGENT, {"participants": []}),
    ],
    ids=["participant-title", "participant-archive", "participant-share", "agent", "agent-share"],
)
async def test_those_who_see_but_may_not_change_a_private_thread_get_403(
    memory_client: Client, headers: dict[str, str], body: dict[str, Any]
) -> None:
    thread = await _private(memory_client)
    before = await _shown(memory_client, thread["id"])
    _, problem = await expect_refusal(
        memory_client, "PATCH", f"/chat/threads/{thread['id']}", 403, json=body, headers=headers
    )
    assert problem["detail"]
    assert await _shown(memory_client, thread["id"]) == before


async def test_a_patch_from_another_tenant_or_env_changes_nothing(memory_client: Client) -> None:
    thread = await _private(memory_client)
    store = memory_client.app[CORE].store
    head = await store.head_position()
    elsewhere = [
        (auth_headers("u_ada", "t_globex"), 404),
        (auth_headers("u_ada", "t_acme", "prod"), 404),
        (auth_headers("u_eve", "t_acme"), 403),
    ]
    for headers, status in elsewhere:
        await expect_refusal(
            memory_client,
            "PATCH",
            f"/chat/threads/{thread['id']}",
            status,
            json={"title": "moved"},
            headers=headers,
        )
    assert await store.head_position() == head


@pytest.mark.parametrize(
    "value", ["u_\x00bob", "u_\u200bbob", "u_bob\u2029"], ids=["nul", "zero-width", "para"]
)
async def test_a_created_by_filter_that_is_no_subject_is_a_400(
    memory_client: Client, value: str
) -> None:
    await expect_refusal(
        memory_client, "GET", "/chat/threads", 400, params={"created_by": value}, headers=ADA
    )
