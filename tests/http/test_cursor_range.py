"""A cursor whose position no listing could have made is 400 on every backend, never a 500."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, create_thread, post_message, problem_of

Client = TestClient[Any, Any]
ADA = auth_headers("u_ada", "t_acme")
# Past SQLite's and PostgreSQL's 64-bit integers, at their edge, and past any JSON-safe
# integer (positions and versions reach clients as JSON numbers).
POSITIONS = [2**63, 2**64 + 5, 2**63 - 1, 2**53 + 1, 10**30]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("position", POSITIONS)
async def test_an_out_of_range_thread_cursor_is_400(
    client: Client, position: int, caplog: pytest.LogCaptureFixture
) -> None:
    await create_thread(client, ADA)
    with caplog.at_level(logging.WARNING):
        response = await client.get(
            "/chat/threads", headers=ADA, params={"after": _cursor(f"threads:desc:{position}")}
        )
        problem = await problem_of(response, 400)
    assert "cursor" in problem["detail"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("position", POSITIONS)
async def test_an_out_of_range_message_cursor_is_400(
    client: Client, order: str, position: int, caplog: pytest.LogCaptureFixture
) -> None:
    thread = await create_thread(client, ADA)
    await post_message(client, ADA, thread["id"], "hi")
    path = f"/chat/threads/{thread['id']}/messages"
    params = {"order": order, "after": _cursor(f"messages:{order}:{position}")}
    with caplog.at_level(logging.WARNING):
        response = await client.get(path, headers=ADA, params=params)
        problem = await problem_of(response, 400)
    assert "cursor" in problem["detail"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "text", ["threads:desc:+5", "threads:desc: 5", "threads:desc:5_0", "threads:desc:0x5"]
)
async def test_a_position_that_is_not_plain_digits_is_400(client: Client, text: str) -> None:
    response = await client.get("/chat/threads", headers=ADA, params={"after": _cursor(text)})
    await problem_of(response, 400)


async def test_the_largest_position_a_listing_makes_still_pages(client: Client) -> None:
    # A cursor at 2^53 is in range: past every thread, so the page is simply empty.
    await create_thread(client, ADA)
    after = _cursor(f"messages:asc:{2**53}")
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    response = await client.get(path, headers=ADA, params={"after": after})
    assert response.status == 200
    assert (await response.json())["data"] == []
