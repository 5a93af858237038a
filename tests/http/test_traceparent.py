"""W3C Trace Context: a well-formed traceparent names the trace id of the events it writes."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from chat_core.context import trace_id_of
from events.store.base import EventStore
from tests.http.helpers import all_events, auth_headers, create_thread
from transports.http.app_keys import CORE

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
WELL_FORMED = f"00-{TRACE}-{PARENT}-01"
MALFORMED = [
    "",
    "garbage",
    f"01-{TRACE}-{PARENT}-01",  # a version other than 00
    f"ff-{TRACE}-{PARENT}-01",
    f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase hex
    f"00-{'0' * 32}-{PARENT}-01",  # an all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",  # an all-zero parent id
    f"00-{TRACE[:-1]}-{PARENT}-01",  # a short trace id
    f"00-{TRACE}-{PARENT}-1",  # short flags
    f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four fields
    f"00_{TRACE}_{PARENT}_01",
    f"00-{TRACE}-{PARENT}-0g",
]


async def test_a_well_formed_traceparent_is_the_events_trace_id(
    client: TestClient[Any, Any], store: EventStore
) -> None:
    headers = auth_headers(request_id="r-traced", traceparent=WELL_FORMED)
    thread = await create_thread(client, headers)
    posted = await client.post(
        f"/chat/threads/{thread['id']}/messages", json={"content": "hi"}, headers=headers
    )
    assert posted.status == 201
    events = [item.event for item in await all_events(store)]
    assert [event.trace_id for event in events] == [TRACE, TRACE]
    assert [event.request_id for event in events] == ["r-traced", "r-traced"]


@pytest.mark.parametrize("traceparent", MALFORMED)
async def test_a_malformed_traceparent_is_ignored(
    memory_client: TestClient[Any, Any], traceparent: str
) -> None:
    headers = auth_headers(request_id="r-untraced", traceparent=traceparent)
    response = await memory_client.post("/chat/threads", json={}, headers=headers)
    assert response.status == 201
    [item] = await all_events(memory_client.app[CORE].store)
    assert item.event.trace_id == "r-untraced"


async def test_two_traceparent_headers_name_no_trace(memory_client: TestClient[Any, Any]) -> None:
    headers = CIMultiDict(auth_headers(request_id="r-twice"))
    headers.add("traceparent", WELL_FORMED)
    headers.add("traceparent", f"00-{'1' * 32}-{PARENT}-01")
    response = await memory_client.post("/chat/threads", json={}, headers=headers)
    assert response.status == 201
    [item] = await all_events(memory_client.app[CORE].store)
    assert item.event.trace_id == "r-twice"


def test_trace_id_of_reads_version_00_only() -> None:
    assert trace_id_of(WELL_FORMED) == TRACE
    assert trace_id_of(f"00-{TRACE}-{PARENT}-00") == TRACE
    assert trace_id_of(None) is None
    assert [trace_id_of(text) for text in MALFORMED] == [None] * len(MALFORMED)


@pytest.mark.parametrize("traced", [True, False])
async def test_a_traceparent_on_the_websocket_upgrade_names_the_trace_of_its_frames(
    memory_client: TestClient[Any, Any], traced: bool
) -> None:
    # Each frame is a request of its own (its own request id); the socket's traceparent,
    # when it names one, is the trace of everything the socket writes.
    plain = auth_headers(request_id="r-thread")
    thread = await create_thread(memory_client, plain)
    upgrade = auth_headers(
        request_id="r-socket", **({"traceparent": WELL_FORMED} if traced else {})
    )
    async with memory_client.ws_connect("/chat/ws", headers=upgrade) as socket:
        for n in range(2):
            frame = {"op": "post", "id": n, "thread_id": thread["id"], "content": f"m{n}"}
            await socket.send_json(frame)
            assert (await socket.receive_json())["op"] == "ack"
    events = [item.event for item in await all_events(memory_client.app[CORE].store)][1:]
    assert len(events) == 2 and len({event.request_id for event in events}) == 2
    if traced:
        assert [event.trace_id for event in events] == [TRACE, TRACE]
    else:
        assert [event.trace_id for event in events] == [event.request_id for event in events]
