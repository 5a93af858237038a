"""The app serves the document and the docs page, and its real answers fit the schemas."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from transports.http.openapi import openapi_document

Client = TestClient[Any, Any]
BASE = "urn:chat-core:openapi"


def _check(operation: tuple[str, str], status: int, content_type: str, body: Any) -> None:
    """Validate a body against the schema the document gives that route and status."""
    method, path = operation
    document = openapi_document()
    assert str(status) in document["paths"][path][method.lower()]["responses"]
    steps = ["paths", path, method.lower(), "responses", str(status), "content", content_type]
    pointer = "/".join(step.replace("~", "~0").replace("/", "~1") for step in steps)
    schema = {"$ref": f"{BASE}#/{pointer}/schema"}
    registry = Registry().with_resource(BASE, DRAFT202012.create_resource(document))
    Draft202012Validator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def _check_component(name: str, value: Any) -> None:
    """Validate a value against a component schema of the document."""
    registry = Registry().with_resource(BASE, DRAFT202012.create_resource(openapi_document()))
    Draft202012Validator(
        {"$ref": f"{BASE}#/components/schemas/{name}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).validate(value)


async def _answer(client: Client, method: str, url: str, **kwargs: Any) -> tuple[int, str, Any]:
    async with client.request(method, url, **kwargs) as response:
        body = await response.json(content_type=None) if response.status != 204 else None
        assert "X-Request-Id" in response.headers
        return response.status, response.content_type, body


async def test_openapi_json_is_served_publicly(client: Client) -> None:
    status, content_type, body = await _answer(client, "GET", "/openapi.json")
    assert (status, content_type) == (200, "application/json")
    assert body == openapi_document()


async def test_docs_page_lists_every_path(client: Client) -> None:
    async with client.get("/docs") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    for path in openapi_document()["paths"]:
        assert f"<code>{path}</code>" in page


async def test_chat_answers_fit_their_schemas(client: Client, headers: dict[str, str]) -> None:
    status, kind, thread = await _answer(
        client,
        "POST",
        "/chat/threads",
        json={"title": "t", "metadata": {"k": "v"}},
        headers=headers,
    )
    _check(("POST", "/chat/threads"), status, kind, thread)
    messages = f"/chat/threads/{thread['id']}/messages"
    status, kind, message = await _answer(
        client, "POST", messages, json={"content": "hi"}, headers=headers
    )
    _check(("POST", "/chat/threads/{thread_id}/messages"), status, kind, message)
    status, _, _ = await _answer(client, "DELETE", f"{messages}/{message['id']}", headers=headers)
    assert status == 204
    for operation, url in [
        (("GET", "/chat/threads"), "/chat/threads?limit=1"),
        (("GET", "/chat/threads/{thread_id}"), f"/chat/threads/{thread['id']}"),
        (("GET", "/chat/threads/{thread_id}/messages"), f"{messages}?order=desc"),
    ]:
        status, kind, body = await _answer(client, "GET", url, headers=headers)
        _check(operation, status, kind, body)


async def test_temperature_answers_fit_their_schemas(
    client: Client, headers: dict[str, str]
) -> None:
    operation = ("GET", "/temperature/config")
    _check(operation, *await _answer(client, "GET", "/temperature/config", headers=headers))
    config = {"default": 0.7, "min": 0.1, "max": 1.5, "overrides": {"m": 0.2}}
    answer = await _answer(client, "PUT", "/temperature/config", json=config, headers=headers)
    _check(("PUT", "/temperature/config"), *answer)


@pytest.mark.parametrize(
    ("method", "url", "extra", "status"),
    [
        ("GET", "/chat/threads", {"Authorization": ""}, 401),
        ("GET", "/chat/threads", {"X-Tenant-Id": "nope"}, 400),
        ("GET", "/chat/threads/th_missing", {}, 404),
        ("POST", "/chat/threads/th_missing/messages", {}, 422),
        ("PUT", "/temperature/config", {"If-Match": '"9"'}, 412),
    ],
)
async def test_problems_fit_the_problem_schema(
    client: Client,
    headers: dict[str, str],
    method: str,
    url: str,
    extra: dict[str, str],
    status: int,
) -> None:
    body = {"default": 1, "min": 0, "max": 2} if method == "PUT" else {"content": ""}
    answer = await _answer(client, method, url, json=body, headers={**headers, **extra})
    assert answer[:2] == (status, "application/problem+json")
    path = url if "th_missing" not in url else url.replace("th_missing", "{thread_id}")
    _check((method, path), *answer)


async def test_health_answers_fit_their_schemas(client: Client) -> None:
    for path in ("/healthz", "/readyz"):
        _check(("GET", path), *await _answer(client, "GET", path))


async def test_out_of_range_temperature_is_422_before_if_match(
    client: Client, headers: dict[str, str]
) -> None:
    body = {"default": 3, "min": 0, "max": 1}
    status, kind, problem = await _answer(
        client, "PUT", "/temperature/config", json=body, headers={**headers, "If-Match": '"9"'}
    )
    assert (status, kind) == (422, "application/problem+json")
    assert [error["field"] for error in problem["errors"]] == ["default"]


async def test_an_undeclared_method_is_405_with_allow_even_without_context(
    client: Client, headers: dict[str, str]
) -> None:
    token_only = {"Authorization": headers["Authorization"]}
    for path in ("/healthz", "/temperature/config", "/chat/threads/th_x"):
        async with client.request("TRACE", path, headers=token_only) as response:
            assert response.status == 405, path
            assert response.content_type == "application/problem+json"
            assert "GET" in response.headers["Allow"]


async def test_a_cursor_outside_the_documented_alphabet_is_400(
    client: Client, headers: dict[str, str]
) -> None:
    for _ in range(2):
        async with client.post("/chat/threads", json={}, headers=headers) as created:
            assert created.status == 201
    async with client.get("/chat/threads?limit=1", headers=headers) as page:
        cursor = (await page.json())["next"]
    assert cursor is not None
    async with client.get(f"/chat/threads?after={cursor}", headers=headers) as good:
        assert good.status == 200
    for bad in (cursor[:4] + "!" + cursor[4:], cursor + "="):
        async with client.get("/chat/threads", params={"after": bad}, headers=headers) as refused:
            assert refused.status == 400, bad


def _sse_events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields = [line.partition(": ") for line in block.splitlines() if line[:1] != ":"]
        if fields:
            events.append({name: value for name, _, value in fields})
    return events


async def test_sse_events_fit_their_schemas(client: Client, headers: dict[str, str]) -> None:
    async with client.post("/chat/threads", json={}, headers=headers) as created:
        thread = await created.json()
    url = f"/chat/threads/{thread['id']}/events?last_event_id=0"
    async with client.get(url, headers=headers) as stream:
        assert (stream.status, stream.content_type) == (200, "text/event-stream")
        text = ""
        async with asyncio.timeout(5):
            while "\nid: 1\n" not in text or not text.endswith("\n\n"):
                text += (await stream.content.readany()).decode()
    operation = ("GET", "/chat/threads/{thread_id}/events")
    for event in _sse_events(text):
        parsed: dict[str, Any] = {**event}
        if "retry" in parsed:
            parsed["retry"] = int(parsed["retry"])
        _check(operation, 200, "text/event-stream", parsed)
        if "data" in parsed:
            _check_component("StreamEvent", orjson.loads(parsed["data"]))


async def test_a_malformed_last_event_id_query_is_400_even_with_the_header(
    client: Client, headers: dict[str, str]
) -> None:
    async with client.post("/chat/threads", json={}, headers=headers) as created:
        thread = await created.json()
    url = f"/chat/threads/{thread['id']}/events?last_event_id=-1"
    async with client.get(url, headers={**headers, "Last-Event-ID": "0"}) as refused:
        assert refused.status == 400


async def test_websocket_frames_fit_their_schemas(client: Client, headers: dict[str, str]) -> None:
    async with client.post("/chat/threads", json={"title": "t"}, headers=headers) as created:
        thread = (await created.json())["id"]
    sent = [
        {"op": "subscribe", "id": 1, "thread_id": thread, "after": 0},
        {"op": "post", "id": "p", "thread_id": thread, "content": "hi", "idempotency_key": "k"},
        {"op": "post", "id": "r", "thread_id": thread, "content": "hi", "idempotency_key": "k"},
        {"op": "unsubscribe", "id": 2, "thread_id": "th_other"},
    ]
    received = []
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        for frame in sent:
            _check_component("ClientFrame", frame)
            await socket.send_json(frame)
        async with asyncio.timeout(5):
            while len(received) < 6:
                received.append(await socket.receive_json())
    for frame in received:
        _check_component("ServerFrame", frame)
        if frame["op"] == "event":
            _check_component("StreamEvent", frame["event"])
    ops = [(frame["op"], frame.get("id")) for frame in received if frame["op"] != "event"]
    assert ops == [("ack", 1), ("ack", "p"), ("ack", "r"), ("error", 2)]
    types = [frame["event"]["type"] for frame in received if frame["op"] == "event"]
    assert types == ["chat.thread.created", "chat.message.posted"]
