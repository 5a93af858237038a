"""Access logs: one JSON line per request with its context, and never a secret or content."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType

from tests.http.helpers import SECRET, auth_headers, create_thread, post_message, token
from tests.ops.conftest import OpsClientFactory
from transports.cli.logs import JsonFormatter, configure_logging

CONTENT = "meet me by the old mill at nine"
WS_CONTENT = "the vault code is in the blue binder"


class _Sink(io.StringIO):
    """What the handler wrote; reading it first writes the lines still batched."""

    handler: logging.Handler | None = None

    def getvalue(self) -> str:
        if self.handler is not None:
            self.handler.flush()
        return super().getvalue()


@pytest.fixture(params=["standard", "batched"])
def json_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Capture every record of every logger as the JSON lines serve would write.

    standard: a plain StreamHandler, every line a record through `logging`; batched: as
    `chat-core serve` sets it up (configure_logging), access lines in batches.
    """
    sink = _Sink()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    if request.param == "batched":
        configure_logging(log_format="json", level="DEBUG", stream=sink)
        sink.handler = root.handlers[0]
    else:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(JsonFormatter())
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG)
    try:
        yield sink
    finally:
        if sink.handler is not None:
            sink.handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(sink: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in sink.getvalue().splitlines() if line]


async def _full_run(client: Any) -> tuple[int, list[str]]:
    """Make requests of every kind; return how many, and the secrets they carried."""
    bearer = token("u_ada")
    headers = auth_headers(bearer=bearer, request_id="req-log-1")
    thread = await create_thread(client, headers, title="plans")
    await post_message(client, headers, thread["id"], CONTENT)
    async with client.get(f"/chat/threads/{thread['id']}/messages", headers=headers) as response:
        assert response.status == 200
    async with client.post(
        "/chat/stream-tickets", json={"thread_id": thread["id"]}, headers=headers
    ) as response:
        ticket = (await response.json())["ticket"]
    path = f"/chat/threads/{thread['id']}/events"
    async with client.get(path, params={"ticket": ticket}) as response:
        assert response.status == 200
        await response.content.readline()
    async with client.get(path, params={"ticket": ticket}) as response:
        assert response.status == 401
    bad = auth_headers(bearer=bearer + "x")
    async with client.get("/chat/threads", headers=bad) as response:
        assert response.status == 401
    async with client.ws_connect("/chat/ws", headers=headers) as socket:
        await socket.send_json(
            {"op": "post", "id": "1", "thread_id": thread["id"], "content": WS_CONTENT}
        )
        reply = await socket.receive()
        assert reply.type is WSMsgType.TEXT
    async with client.get("/healthz") as response:
        assert response.status == 200
    return 9, [bearer, SECRET.decode(), ticket, CONTENT, WS_CONTENT]


async def test_each_request_logs_one_json_line_with_its_context(
    ops_client: OpsClientFactory, json_log: io.StringIO
) -> None:
    client = await ops_client(sqlite=True)
    count, _secrets = await _full_run(client)
    await client.close()
    access = [line for line in _lines(json_log) if line["logger"] == "chat_core.access"]
    assert len(access) == count
    first = access[0]
    assert first["request_id"] == "req-log-1"
    assert (first["method"], first["route"], first["status"]) == ("POST", "/chat/threads", 201)
    assert (first["tenant"], first["env"]) == ("t_acme", "dev")
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0
    assert {line["route"] for line in access} >= {
        "/chat/threads/{thread_id}/events",
        "/chat/ws",
        "/healthz",
    }
    assert [line["status"] for line in access if line["route"] == "/chat/ws"] == [101]


async def test_no_log_line_holds_a_token_secret_ticket_or_content(
    ops_client: OpsClientFactory, json_log: io.StringIO
) -> None:
    client = await ops_client(sqlite=True)
    _count, secrets = await _full_run(client)
    await client.close()
    text = json_log.getvalue()
    assert text
    for line in text.splitlines():
        orjson.loads(line)
    for secret in secrets:
        assert secret not in text


def test_text_is_the_default_and_reads_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(log_format="text", level="INFO")
        logging.getLogger("chat_core.access").info(
            "GET /healthz 200 0.1ms", extra={"fields": {"route": "/healthz"}}
        )
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    [line] = capsys.readouterr().err.splitlines()
    assert "GET /healthz 200" in line and not line.startswith("{")
