"""Request bodies: size limit, content type, JSON syntax and field validation."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http.conftest import ClientFactory
from tests.http.helpers import auth_headers, create_thread, expect_refusal, token

Client = TestClient[Any, Any]
ADA = auth_headers("u_ada", "t_acme")
JSON = {**ADA, "Content-Type": "application/json"}


async def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body=1024)
    thread = await create_thread(client, ADA)
    big = b'{"content": "' + b"x" * 2048 + b'"}'
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(client, "POST", path, 413, headers=JSON, data=big)


async def test_default_limit_is_64_kib(client: Client) -> None:
    thread = await create_thread(client, ADA)
    big = b'{"content": "' + b"x" * 65536 + b'"}'
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(client, "POST", path, 413, headers=JSON, data=big)


async def test_chunked_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = await make_client(max_body=1024)

    async def chunks() -> Any:
        for _ in range(8):
            yield b" " * 512

    await expect_refusal(client, "POST", "/chat/threads", 413, headers=JSON, data=chunks())


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_content_type_is_415(memory_client: Client, content_type: str) -> None:
    headers = {**ADA, "Content-Type": content_type}
    await expect_refusal(
        memory_client, "POST", "/chat/threads", 415, headers=headers, data=b'{"title": "t"}'
    )


async def test_json_with_a_charset_parameter_is_accepted(memory_client: Client) -> None:
    headers = {**ADA, "Content-Type": "application/json; charset=utf-8"}
    response = await memory_client.post("/chat/threads", headers=headers, data=b'{"title": "t"}')
    assert response.status == 201


async def test_empty_body_on_an_all_optional_route_reads_as_an_object(client: Client) -> None:
    response = await client.post("/chat/threads", headers=ADA)
    assert response.status == 201
    assert (await response.json())["title"] is None


async def test_empty_body_where_a_field_is_required_is_refused(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(memory_client, "POST", path, 400, headers=JSON, data=b"")


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"title": "t",}', b"\xff\xfe"])
async def test_malformed_json_is_400(memory_client: Client, raw: bytes) -> None:
    await expect_refusal(memory_client, "POST", "/chat/threads", 400, headers=JSON, data=raw)


THREAD_BODIES = {
    "empty-title": {"title": ""},
    "long-title": {"title": "x" * 201},
    "title-number": {"title": 5},
    "title-null": {"title": None},
    "metadata-number": {"metadata": {"k": 1}},
    "metadata-list": {"metadata": ["k"]},
    "metadata-17-keys": {"metadata": {f"k{i}": "v" for i in range(17)}},
    "unknown-field": {"title": "t", "owner": "u_bob"},
    "array": [],
    "string": "title",
}


@pytest.mark.parametrize("body", THREAD_BODIES.values(), ids=THREAD_BODIES.keys())
async def test_invalid_thread_body_is_422_with_errors(memory_client: Client, body: Any) -> None:
    _, problem = await expect_refusal(
        memory_client, "POST", "/chat/threads", 422, headers=ADA, json=body
    )
    assert problem["errors"]


MESSAGE_BODIES = {
    "missing-content": {},
    "empty-content": {"content": ""},
    "long-content": {"content": "x" * 32001},
    "content-null": {"content": None},
    "content-number": {"content": 1},
    "bad-role": {"content": "hi", "role": "root"},
    "role-null": {"content": "hi", "role": None},
    "unknown-field": {"content": "hi", "seq": 1},
}


@pytest.mark.parametrize("body", MESSAGE_BODIES.values(), ids=MESSAGE_BODIES.keys())
async def test_invalid_message_body_is_422_with_errors(client: Client, body: Any) -> None:
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    _, problem = await expect_refusal(client, "POST", path, 422, headers=ADA, json=body)
    assert problem["errors"]
    assert all(set(error) == {"field", "message"} for error in problem["errors"])


async def test_bounds_are_inclusive(memory_client: Client) -> None:
    thread = await create_thread(
        memory_client, ADA, title="x" * 200, metadata={f"k{i}": "v" for i in range(16)}
    )
    path = f"/chat/threads/{thread['id']}/messages"
    agent = auth_headers("u_agent", bearer=token("u_agent", {"t_acme": ["agent"]}))
    for role in ("user", "assistant", "system"):
        response = await memory_client.post(
            path, headers=agent, json={"content": "x" * 32000, "role": role}
        )
        assert response.status == 201


async def test_empty_body_without_a_content_type_is_not_415(memory_client: Client) -> None:
    thread = await create_thread(memory_client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    await expect_refusal(memory_client, "POST", path, 400, headers=ADA, data=b"")


async def test_a_gzip_encoded_body_is_read_whole(memory_client: Client) -> None:
    headers = auth_headers(Content_Type="application/json", Content_Encoding="gzip")
    title = "t" * 150
    body = gzip.compress(orjson.dumps({"title": title}))
    async with memory_client.post("/chat/threads", data=body, headers=headers) as response:
        assert response.status == 201
        assert (await response.json())["title"] == title


async def test_a_gzip_encoded_body_over_the_limit_once_inflated_is_413(
    memory_client: Client,
) -> None:
    headers = auth_headers(Content_Type="application/json", Content_Encoding="gzip")
    body = gzip.compress(orjson.dumps({"title": "t" * 100_000}))
    assert len(body) < 65_536
    await expect_refusal(memory_client, "POST", "/chat/threads", 413, data=body, headers=headers)
