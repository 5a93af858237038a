"""Access lines in batches: the same lines as the standard formatters, all of them, in order."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from chat_core.context import RequestContext
from events.envelope import Env
from tests.http.helpers import auth_headers, create_thread
from tests.ops.conftest import OpsClientFactory
from transports.cli.logs import TEXT_FORMAT, BatchedStreamHandler, JsonFormatter, configure_logging
from transports.http.access_log import ACCESS_LOGGER, UNMATCHED, access_line, log_access
from transports.http.app_keys import CONTEXT, REQUEST_ID

KEYS = [
    "time",
    "level",
    "logger",
    "message",
    "event",
    "request_id",
    "method",
    "route",
    "path",
    "status",
    "latency_ms",
    "tenant",
    "env",
]
# 2026-12-07 01:00:00 UTC and fractions of a second that round each way.
NOON = 1_796_605_200.0
TIMES = [NOON, NOON + 0.25, NOON + 0.9999996, NOON + 0.0000004, NOON + 0.123456789]


class Writes(io.StringIO):
    """A text stream that counts the writes it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def root_saved() -> Iterator[None]:
    """Put the root logger's handlers and level back as they were."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        yield
    finally:
        added = [handler for handler in root.handlers if handler not in saved[0]]
        root.handlers[:], level = saved
        root.setLevel(level)
        for handler in added:
            handler.close()


def _request(kind: str) -> Any:
    """A finished request of one kind, as the access line sees it."""
    if kind == "member":
        request = make_mocked_request("POST", "/chat/threads/th_1/messages")
        request[CONTEXT] = RequestContext(tenant="t_acme", env=Env("prod"), request_id="req-7")
        request[REQUEST_ID] = "req-7"
    elif kind == "ticket":
        request = make_mocked_request("GET", "/chat/threads/th_1/events?ticket=SECRET-TICKET")
        request[REQUEST_ID] = "0f3c"
    elif kind == "refused":  # before the context: the tenant only when well formed
        headers = {"X-Tenant-Id": "t_globex", "X-Env": "staging"}
        request = make_mocked_request("GET", "/chat/threads", headers=headers)
    elif kind == "malformed":
        headers = {"X-Tenant-Id": "not a tenant!", "X-Env": "moon"}
        request = make_mocked_request("DELETE", "/x/%E2%9C%93/" + "p" * 300, headers=headers)
    else:
        raise AssertionError(kind)
    return request


CASES = [
    ("member", 201, 0.00104996, "/chat/threads/{thread_id}/messages"),
    ("ticket", 200, 12.5, "/chat/threads/{thread_id}/events"),
    ("refused", 401, 0.0, "/chat/threads"),
    ("malformed", 404, 0.0000004, UNMATCHED),
    ("member", 499, 3.14159, "/chat/threads/{thread_id}/messages"),
]


def _standard_line(
    request: Any, status: int, seconds: float, route: str, created: float, log_format: str
) -> str:
    """The line today's path prints: a record through `logging`, at the time created."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        with _clock_at(created):
            log_access(request, status, seconds, route)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    return sink.getvalue()


@contextmanager
def _clock_at(created: float) -> Iterator[None]:
    """Make `logging` stamp its records with created (it reads time.time, or time_ns)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(time, "time", lambda: created)
    patch.setattr(time, "time_ns", lambda: int(created * 1e9))
    try:
        yield
    finally:
        patch.undo()


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("created", TIMES)
@pytest.mark.parametrize(("kind", "status", "seconds", "route"), CASES)
def test_a_batched_line_is_the_line_the_standard_formatter_prints(
    log_format: str, created: float, kind: str, status: int, seconds: float, route: str
) -> None:
    request = _request(kind)
    expected = _standard_line(request, status, seconds, route, created, log_format)
    line = access_line(request, status, seconds, route, created, json=log_format == "json")
    assert line == expected
    assert line.endswith("\n") and line.count("\n") == 1
    assert "SECRET" not in line and "ticket" not in line


def test_the_lines_read_field_for_field_as_before() -> None:
    request = _request("member")
    route = "/chat/threads/{thread_id}/messages"
    text = access_line(request, 201, 0.00104996, route, NOON + 0.25, json=False)
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOON))
    assert text == (
        f"{local},250 INFO chat_core.access: POST /chat/threads/th_1/messages 201 1.1ms"
        f" route={route} request_id=req-7 tenant=t_acme env=prod\n"
    )
    entry = orjson.loads(access_line(request, 201, 0.00104996, route, NOON + 0.25, json=True))
    assert list(entry) == KEYS
    assert entry == {
        "time": "2026-12-07T01:00:00.250000+00:00",
        "level": "INFO",
        "logger": "chat_core.access",
        "message": text.split(": ", 1)[1].rstrip("\n"),
        "event": "request",
        "request_id": "req-7",
        "method": "POST",
        "route": route,
        "path": "/chat/threads/th_1/messages",
        "status": 201,
        "latency_ms": 1.05,
        "tenant": "t_acme",
        "env": "prod",
    }


@given(
    created=st.floats(min_value=0, max_value=4_102_444_800),
    seconds=st.floats(min_value=0, max_value=3600),
)
def test_times_and_latencies_print_as_the_standard_formatters_print_them(
    created: float, seconds: float
) -> None:
    request = _request("member")
    route = "/chat/threads/{thread_id}/messages"
    entry = orjson.loads(access_line(request, 201, seconds, route, created, json=True))
    assert entry["time"] == datetime.fromtimestamp(created, UTC).isoformat()
    assert entry["latency_ms"] == round(seconds * 1000, 3)
    text = access_line(request, 201, seconds, route, created, json=False)
    with _clock_at(created):
        record = ACCESS_LOGGER.makeRecord(ACCESS_LOGGER.name, logging.INFO, "", 0, "", (), None)
    assert text.startswith(logging.Formatter(TEXT_FORMAT).formatTime(record) + " INFO ")
    assert f" 201 {round(seconds * 1000, 3):.1f}ms " in text


def _near_ties(micros: int) -> list[float]:
    """Latencies in seconds at and beside the halves that round() and .1f decide."""
    exact = [micros / 1e6, (micros + 0.5) / 1e6, (micros - micros % 100 + 50) / 1e6]
    return [near for value in exact for near in (value, *_beside(value))]


def _beside(value: float) -> tuple[float, float]:
    return math.nextafter(value, 0), math.nextafter(value, math.inf)


@given(micros=st.integers(min_value=0, max_value=2**45))
def test_latencies_at_the_halves_print_as_round_and_format_print_them(micros: int) -> None:
    request = _request("member")
    route = "/chat/threads/{thread_id}/messages"
    for seconds in _near_ties(micros):
        expected = round(seconds * 1000, 3)
        entry = orjson.loads(access_line(request, 201, seconds, route, NOON, json=True))
        assert entry["latency_ms"] == expected, seconds
        assert f" 201 {expected:.1f}ms " in entry["message"], seconds


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_real_requests_are_batched_as_exact_lines(
    ops_client: OpsClientFactory, root_saved: None, log_format: str
) -> None:
    sink = Writes()
    configure_logging(log_format=log_format, level="INFO", stream=sink)
    client = await ops_client()
    headers = auth_headers(request_id="req-exact")
    thread = await create_thread(client, headers, title="t")
    async with client.get("/healthz") as response:
        assert response.status == 200
    await client.close()
    logging.getLogger().handlers[0].flush()
    lines = sink.getvalue().splitlines()
    access = [line for line in lines if "chat_core.access" in line]
    assert len(access) == 2, lines
    if log_format == "text":
        head = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO chat_core\.access: "
        assert re.fullmatch(
            head + r"POST /chat/threads 201 \d+\.\dms route=/chat/threads"
            r" request_id=req-exact tenant=t_acme env=dev",
            access[0],
        ), access[0]
        assert re.fullmatch(
            head + r"GET /healthz 200 \d+\.\dms route=/healthz request_id=[0-9a-f-]+"
            r" tenant=- env=-",
            access[1],
        ), access[1]
        return
    first, second = (orjson.loads(line) for line in access)
    assert list(first) == KEYS and list(second) == KEYS
    assert (first["method"], first["route"], first["path"], first["status"]) == (
        "POST",
        "/chat/threads",
        "/chat/threads",
        201,
    )
    assert (first["request_id"], first["tenant"], first["env"]) == ("req-exact", "t_acme", "dev")
    assert first["message"].startswith("POST /chat/threads 201 ")
    assert (second["route"], second["status"], second["tenant"]) == ("/healthz", 200, None)
    assert thread["title"] == "t" and "title" not in sink.getvalue()


async def test_many_requests_write_every_line_in_order_in_few_writes(
    ops_client: OpsClientFactory, root_saved: None
) -> None:
    sink = Writes()
    configure_logging(log_format="text", level="INFO", stream=sink)
    client = await ops_client()
    count = 400
    for index in range(count):
        async with client.get("/healthz", headers={"X-Request-Id": f"req-{index:04d}"}) as answer:
            assert answer.status == 200
    await client.close()
    logging.getLogger().handlers[0].flush()
    ids = re.findall(r"request_id=(req-\d{4})", sink.getvalue())
    assert ids == [f"req-{index:04d}" for index in range(count)]
    assert sink.writes < count / 10, f"{sink.writes} writes for {count} lines"


def test_a_full_batch_is_written_without_waiting_for_the_timer() -> None:
    sink = Writes()
    handler = BatchedStreamHandler(sink, flush_seconds=3600, batch_lines=10)
    lines = [f"line {index:05d} {'x' * 80}\n" for index in range(1005)]
    try:
        for line in lines:
            handler.add_line(line)
        assert sink.getvalue() == "".join(lines[:1000])
        assert sink.writes == 100
    finally:
        handler.close()
    assert sink.getvalue() == "".join(lines)
    assert sink.writes == 101


async def test_a_line_reaches_the_file_within_a_second_without_more_traffic(
    ops_client: OpsClientFactory, root_saved: None, tmp_path: Path
) -> None:
    path = tmp_path / "access.log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(log_format="text", level="INFO", stream=stream)
        client = await ops_client()
        async with client.get("/healthz", headers={"X-Request-Id": "req-quiet"}) as answer:
            assert answer.status == 200
        # No flush, no close, no other request: the handler's timer writes it.
        text = await _read_until(path, "req-quiet", polls=300)
        await client.close()
        logging.getLogger().handlers[0].close()
    assert "GET /healthz 200" in text and "request_id=req-quiet" in text


async def _read_until(path: Path, needle: str, polls: int) -> str:
    """Read the file until it holds needle, at most polls times 50 ms apart."""
    text = await asyncio.to_thread(path.read_text)
    for _ in range(polls):
        if needle in text:
            break
        await asyncio.sleep(0.05)
        text = await asyncio.to_thread(path.read_text)
    return text


def test_another_record_follows_the_lines_batched_before_it(root_saved: None) -> None:
    sink = Writes()
    configure_logging(log_format="text", level="INFO", stream=sink)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, BatchedStreamHandler)
    handler.add_line("batched line one\n")
    handler.add_line("batched line two\n")
    logging.getLogger("chat_core.other").warning("a record through logging")
    lines = sink.getvalue().splitlines()
    assert lines[:2] == ["batched line one", "batched line two"]
    assert re.fullmatch(r".+ WARNING chat_core\.other: a record through logging", lines[2])


def test_lines_go_through_logging_once_another_handler_is_added(root_saved: None) -> None:
    sink, other = Writes(), io.StringIO()
    configure_logging(log_format="text", level="INFO", stream=sink)
    logging.getLogger().addHandler(logging.StreamHandler(other))
    log_access(_request("ticket"), 200, 0.1, "/chat/threads/{thread_id}/events")
    assert other.getvalue() == (
        "GET /chat/threads/th_1/events 200 100.0ms route=/chat/threads/{thread_id}/events"
        " request_id=0f3c tenant=- env=-\n"
    )
    # The batching handler got the record too, and wrote it at once, as any record.
    assert sink.getvalue().endswith(" INFO chat_core.access: " + other.getvalue())
    assert "SECRET" not in sink.getvalue()


def test_configuring_again_writes_what_the_previous_handler_held(root_saved: None) -> None:
    first, second = Writes(), Writes()
    configure_logging(log_format="text", level="INFO", stream=first)
    log_access(_request("member"), 201, 0.001, "/chat/threads/{thread_id}/messages")
    configure_logging(log_format="json", level="INFO", stream=second)
    assert "request_id=req-7" in first.getvalue()
    log_access(_request("member"), 201, 0.001, "/chat/threads/{thread_id}/messages")
    logging.getLogger().handlers[0].flush()
    assert orjson.loads(second.getvalue())["request_id"] == "req-7"
