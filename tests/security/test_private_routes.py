"""Walk the router: no route tells an outsider more about a private thread than an unknown one.

Every route whose path names a thread is asked, by an outsider of a private thread (an
admin of its tenant, and a plain member), the same request about the private thread and
about a thread that does not exist: the answers must be the same (status and problem,
request id aside), and nothing may be appended. The thread's own people get past the gate
on every one of those routes. A route added later is walked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.visibility import UNKNOWN_THREAD
from tests.http.helpers import auth_headers, build_app, token
from tests.security.strategies import RouteShape, route_shapes
from transports.http.app_keys import CORE

Client = TestClient[Any, Any]

CREATOR = auth_headers("u_ada")
AGENT = auth_headers("svc_assistant", bearer=token("svc_assistant", {"t_acme": ["agent"]}))
OUTSIDERS = {
    "admin": auth_headers("u_cyd"),
    "member": auth_headers("u_dan", bearer=token("u_dan", {"t_acme": ["member"]})),
}
UNKNOWN = "th_nosuchthreadhere0000"


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    made: Client = await aiohttp_client(await build_app())
    return made


async def _private_thread(client: Client) -> tuple[str, str]:
    """Open a private thread with an assistant reply in progress; return both ids."""
    created = await client.post(
        "/chat/threads", json={"title": "hidden", "visibility": "private"}, headers=CREATOR
    )
    thread_id = (await created.json())["id"]
    await client.post(
        f"/chat/threads/{thread_id}/messages", json={"content": "question"}, headers=CREATOR
    )
    started = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "content": "thinking"},
        headers=AGENT,
    )
    assert started.status == 201, await started.text()
    return thread_id, (await started.json())["id"]


def _thread_routes(client: Client) -> list[RouteShape]:
    return [shape for shape in route_shapes(client.app) if "{thread_id}" in shape.template]


def _body(shape: RouteShape, message_id: str) -> Any:
    """A body the route would take, so a request gets as far as the thread."""
    if shape.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return None
    last = shape.template.rstrip("/").rsplit("/", 1)[-1]
    return {
        "messages": {"content": "let me in"},
        "chunks": {"index": 0, "content": "more"},
        "fail": {"error": "stopped"},
        "feedback": {"rating": 1},
        "forks": {"message_id": message_id},
        "{thread_id}": {"title": "renamed"},
    }.get(last, {})


def _path(shape: RouteShape, thread_id: str, message_id: str) -> str:
    path = shape.template.replace("{thread_id}", thread_id).replace("{message_id}", message_id)
    return path.replace("{", "").replace("}", "")


async def _ask(
    client: Client, shape: RouteShape, path: str, body: Any, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any] | None]:
    async with client.request(shape.method, path, json=body, headers=headers) as response:
        if response.content_type != "application/problem+json" or shape.method == "HEAD":
            return response.status, None
        problem = await response.json(content_type=None)
        return response.status, {
            name: value for name, value in problem.items() if name != "request_id"
        }


async def test_the_walk_finds_the_thread_routes(client: Client) -> None:
    # The routes the contract says a private thread hides behind, at the least.
    found = {repr(shape) for shape in _thread_routes(client)}
    for route in (
        "GET /chat/threads/{thread_id}",
        "PATCH /chat/threads/{thread_id}",
        "GET /chat/threads/{thread_id}/messages",
        "POST /chat/threads/{thread_id}/messages",
        "GET /chat/threads/{thread_id}/events",
        "DELETE /chat/threads/{thread_id}/messages/{message_id}",
        "POST /chat/threads/{thread_id}/messages/{message_id}/chunks",
        "POST /chat/threads/{thread_id}/messages/{message_id}/cancel",
    ):
        assert route in found


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_no_route_tells_an_outsider_a_private_thread_from_an_unknown_one(
    client: Client, who: str
) -> None:
    outsider = OUTSIDERS[who]
    thread_id, message_id = await _private_thread(client)
    store = client.app[CORE].store
    head = await store.head_position()
    answers: dict[str, tuple[int, Any]] = {}
    for shape in _thread_routes(client):
        body = _body(shape, message_id)
        hidden = await _ask(client, shape, _path(shape, thread_id, message_id), body, outsider)
        unknown = await _ask(client, shape, _path(shape, UNKNOWN, message_id), body, outsider)
        assert hidden == unknown, (repr(shape), hidden, unknown)
        answers[repr(shape)] = hidden
    assert await store.head_position() == head, "an outsider's request appended an event"
    # Each route the outsider could name the thread on answered as for no such thread.
    assert {status for status, _ in answers.values()} == {404}, answers
    tickets = []
    for body in ({"thread_id": thread_id}, {"thread_id": UNKNOWN}):
        async with client.post("/chat/stream-tickets", json=body, headers=outsider) as ticket:
            problem = await ticket.json(content_type=None)
            tickets.append((ticket.status, {k: v for k, v in problem.items() if k != "request_id"}))
    assert tickets[0] == tickets[1] and tickets[0][0] == 404
    listed = await (await client.get("/chat/threads?archived=all", headers=outsider)).json()
    assert thread_id not in {thread["id"] for thread in listed["data"]}


async def test_every_thread_route_lets_the_threads_own_people_through(client: Client) -> None:
    thread_id, message_id = await _private_thread(client)
    for headers in (AGENT, CREATOR):
        for shape in _thread_routes(client):
            status, problem = await _ask(
                client,
                shape,
                _path(shape, thread_id, message_id),
                _body(shape, message_id),
                headers,
            )
            assert problem is None or problem["detail"] != UNKNOWN_THREAD, (
                repr(shape),
                status,
                problem,
            )


UNKNOWN_MESSAGE = "msg_2-nosuchmessagehere00"


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_a_private_threads_message_id_named_on_a_shared_thread_is_unknown_there(
    client: Client, who: str
) -> None:
    """A private message's id, on a thread the outsider sees, answers as an unknown id."""
    outsider = OUTSIDERS[who]
    _, message_id = await _private_thread(client)
    created = await client.post("/chat/threads", json={"title": "open"}, headers=CREATOR)
    shared = (await created.json())["id"]
    await client.post(f"/chat/threads/{shared}/messages", json={"content": "hi"}, headers=CREATOR)
    store = client.app[CORE].store
    head = await store.head_position()
    asked = 0
    for shape in _thread_routes(client):
        if "{message_id}" not in shape.template:
            continue
        hidden = await _ask(
            client,
            shape,
            _path(shape, shared, message_id),
            _body(shape, message_id),
            outsider,
        )
        unknown = await _ask(
            client,
            shape,
            _path(shape, shared, UNKNOWN_MESSAGE),
            _body(shape, UNKNOWN_MESSAGE),
            outsider,
        )
        assert hidden == unknown, (repr(shape), hidden, unknown)
        asked += 1
    # And where a body or the query names the message.
    for method, path, hidden_request, unknown_request in (
        (
            "POST",
            f"/chat/threads/{shared}/forks",
            {"json": {"message_id": message_id}},
            {"json": {"message_id": UNKNOWN_MESSAGE}},
        ),
        (
            "POST",
            f"/chat/threads/{shared}/messages",
            {"json": {"content": "reply", "parent_id": message_id}},
            {"json": {"content": "reply", "parent_id": UNKNOWN_MESSAGE}},
        ),
        (
            "GET",
            f"/chat/threads/{shared}/messages",
            {"params": {"parent_id": message_id}},
            {"params": {"parent_id": UNKNOWN_MESSAGE}},
        ),
    ):
        answers = []
        for request in (hidden_request, unknown_request):
            async with client.request(method, path, headers=outsider, **request) as response:
                body = await response.json(content_type=None)
                answers.append(
                    (response.status, {k: v for k, v in body.items() if k != "request_id"})
                )
        assert answers[0] == answers[1] and answers[0][0] in (404, 422), (path, answers)
        asked += 1
    assert asked >= 10
    assert await store.head_position() == head, "an outsider's request appended an event"


async def _query_thread_routes(client: Client) -> list[tuple[str, str, dict[str, str]]]:
    """Every documented operation that names a thread in its query: method, path and the
    other required query parameters, each given a plain value."""
    document = await (await client.get("/openapi.json")).json()
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            query = [
                parameter
                for parameter in operation.get("parameters", [])
                if parameter.get("in") == "query"
            ]
            if any(parameter["name"] == "thread_id" for parameter in query):
                required = {
                    parameter["name"]: "x"
                    for parameter in query
                    if parameter.get("required") and parameter["name"] != "thread_id"
                }
                found.append((method.upper(), path, required))
    return found


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_no_route_that_takes_a_thread_in_its_query_tells_a_private_one_apart(
    client: Client, who: str
) -> None:
    outsider = OUTSIDERS[who]
    thread_id, _ = await _private_thread(client)
    routes = await _query_thread_routes(client)
    assert ("GET", "/chat/search", {"q": "x"}) in routes
    served = {repr(shape) for shape in route_shapes(client.app)}
    store = client.app[CORE].store
    head = await store.head_position()
    for method, path, query in routes:
        answers = []
        for target in (thread_id, UNKNOWN):
            params = {**query, "thread_id": target}
            async with client.request(method, path, params=params, headers=outsider) as response:
                problem = await response.json(content_type=None)
                problem.pop("request_id", None)
                answers.append((response.status, problem))
        assert answers[0] == answers[1], (method, path, answers)
        assert answers[0][0] == 404, (method, path, answers)
        if f"{method} {path}" in served:
            assert answers[0][1]["detail"] == UNKNOWN_THREAD, (method, path, answers)
            # The thread's creator gets past the gate.
            params = {**query, "thread_id": thread_id}
            async with client.request(method, path, params=params, headers=CREATOR) as response:
                assert response.status == 200, await response.text()
    assert await store.head_position() == head
