"""Real servers on a loopback port, SSE parsing and WebSocket helpers for the stream tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.http.helpers import build_core
from transports.http.app import create_app
from transports.http.stream_settings import StreamSettings

__all__ = ["SseEvent", "build_stream_app", "read_sse", "ticket_for", "ws_reply"]

Client = TestClient[Any, Any]


class SseEvent:
    """One parsed Server-Sent Event."""

    __slots__ = ("data", "id", "type")

    def __init__(self, id: str, type: str, data: dict[str, Any]) -> None:
        self.id = id
        self.type = type
        self.data = data


async def build_stream_app(
    *, store_url: str = "memory://", **stream_options: Any
) -> web.Application:
    """Bootstrap a core and wrap it in the app with the given stream settings."""
    core = await build_core(store_url=store_url)
    return create_app(core, streams=StreamSettings(**stream_options))


async def read_sse(
    response: ClientResponse, count: int, *, within: float = 5.0, comments: list[str] | None = None
) -> list[SseEvent]:
    """Read count events from an open SSE response; collect comment lines when asked."""
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(within):
        while len(events) < count:
            raw = await response.content.readline()
            if not raw:
                break
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    data = orjson.loads(fields["data"])
                    events.append(SseEvent(fields.get("id", ""), fields.get("event", ""), data))
                fields = {}
            elif line.startswith(":"):
                if comments is not None:
                    comments.append(line)
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
    return events


async def ticket_for(
    client: Client, headers: Mapping[str, str], thread_id: str | None = None
) -> str:
    """Issue a stream ticket."""
    body = {} if thread_id is None else {"thread_id": thread_id}
    response = await client.post("/chat/stream-tickets", json=body, headers=headers)
    assert response.status == 201, await response.text()
    ticket: str = (await response.json())["ticket"]
    return ticket


async def ws_reply(socket: Any, *, op: str | None = None, within: float = 5.0) -> dict[str, Any]:
    """Return the next JSON frame (of op, skipping others, when given)."""
    async with asyncio.timeout(within):
        while True:
            frame: dict[str, Any] = await socket.receive_json()
            if op is None or frame["op"] == op:
                return frame
