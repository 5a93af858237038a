"""Reading a request: body limits, content type, JSON, idempotency keys and query strings."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import orjson
from aiohttp import web

from chat_core.commands import Idempotency
from chat_core.views import Replay
from transports.http.app_keys import CORE
from transports.http.problems import HTTPProblem

__all__ = [
    "PageParams",
    "idempotency_of",
    "json_bytes_response",
    "json_response",
    "page_params",
    "read_json",
    "reject_query",
    "replay_response",
    "request_fingerprint",
    "send_command",
]

IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Cursors are unpadded base64url; base64 decoding would skip stray characters, so refuse them.
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


async def read_json(request: web.Request, *, empty_is_object: bool) -> tuple[Any, bytes]:
    """Return the parsed JSON body and its raw bytes, refusing with 413, 415 or 400."""
    settings = request.app[CORE].settings
    limit = settings.max_body
    if request.content_length is not None and request.content_length > limit:
        raise HTTPProblem(413, f"the body is over the {limit}-byte limit")
    seconds = settings.client_timeout
    try:
        content = request.content
        if content.is_eof():
            # All of it has arrived (a small body comes with its headers): take it from the
            # buffer, with no timer (a scheduled and cancelled handle) and no coroutine.
            raw = content.read_nowait()
        else:
            async with asyncio.timeout(seconds):
                raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise HTTPProblem(413, f"the body is over the {limit}-byte limit") from None
    except TimeoutError:
        # A body trickled in slowly holds a connection and a handler; cut it off.
        raise HTTPProblem(
            408, f"the body did not arrive within {seconds:g} s", headers={"Connection": "close"}
        ) from None
    if len(raw) > limit:
        raise HTTPProblem(413, f"the body is over the {limit}-byte limit")
    if not raw and empty_is_object:
        return {}, raw
    # 415 is for a body in another format; an empty body is simply not JSON (400 below).
    # The header as nearly every client sends it needs no parsing.
    if (
        raw
        and request.headers.get("Content-Type") != "application/json"
        and request.content_type != "application/json"
    ):
        raise HTTPProblem(415, "the body must be application/json")
    try:
        return orjson.loads(raw), raw
    except orjson.JSONDecodeError as exc:
        raise HTTPProblem(400, f"the body is not valid JSON: {exc.msg}") from None


def reject_query(request: web.Request) -> None:
    """Refuse with 400 a query string on a route that takes none."""
    # The raw string first: parsing an absent query (request.query) costs every POST.
    if request.query_string and request.query:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(request.query))}")


def idempotency_of(request: web.Request, data: Any, raw: bytes) -> Idempotency | None:
    """Return the request's Idempotency-Key with the fingerprint of method, path and body."""
    keys = request.headers.getall("Idempotency-Key", ())
    if not keys:
        return None
    if len(keys) > 1:
        raise HTTPProblem(400, "the Idempotency-Key header is sent more than once; send it once")
    key = keys[0]
    if IDEMPOTENCY_KEY.fullmatch(key) is None:
        raise HTTPProblem(400, "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return Idempotency(key=key, fingerprint=request_fingerprint(request.method, request.path, data))


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """Fingerprint a request by method, path and JSON body, whatever transport carried it.

    The body is hashed in one canonical form (keys sorted, no spaces), so the same request
    over HTTP or as a WebSocket frame, or with its fields in another order, is the same
    request: a retry over either transport replays the first answer instead of a 422.
    """
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return _digest(method.encode(), path.encode(), canonical)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


_PAGE_NAMES = frozenset({"limit", "after"})
_ORDERED_PAGE_NAMES = _PAGE_NAMES | {"order"}


class PageParams:
    """The limit, after and order of a listing."""

    __slots__ = ("after", "limit", "order")

    def __init__(self, limit: int, after: str | None, order: str) -> None:
        self.limit = limit
        self.after = after
        self.order = order


def page_params(request: web.Request, *, orders: tuple[str, ...] = ()) -> PageParams:
    """Parse limit, after (and order where allowed); anything else or malformed is 400."""
    allowed = _ORDERED_PAGE_NAMES if orders else _PAGE_NAMES
    query = request.query
    names = set(query)
    if not names <= allowed:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(names - allowed))}")
    if len(names) != len(query):
        for name in query:
            if len(query.getall(name)) > 1:
                raise HTTPProblem(400, f"query parameter {name} is given more than once")
    limit = DEFAULT_LIMIT
    if "limit" in query:
        text = query["limit"]
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise HTTPProblem(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(text)
    order = orders[0] if orders else ""
    if "order" in query:
        order = query["order"]
        if order not in orders:
            raise HTTPProblem(400, f"order must be one of: {', '.join(orders)}")
    after = query.get("after")
    if after is not None and CURSOR.fullmatch(after) is None:
        raise HTTPProblem(400, "after must be a cursor from a previous page")
    return PageParams(limit, after, order)


def json_response(status: int, data: Any, *, headers: dict[str, str] | None = None) -> web.Response:
    """Render JSON with orjson."""
    return web.Response(
        status=status, body=orjson.dumps(data), content_type="application/json", headers=headers
    )


def json_bytes_response(status: int, body: bytes) -> web.Response:
    """Answer with JSON already serialised."""
    return web.Response(status=status, body=body, content_type="application/json")


async def send_command(request: web.Request, command: Any, status: int) -> web.Response:
    """Send a command on the bus; answer its view with status, or a replay as first answered."""
    result = await request.app[CORE].bus.send(command)
    if isinstance(result, Replay):
        return replay_response(result)
    return json_response(status, result.to_json())


def replay_response(replay: Replay, *, headers: dict[str, str] | None = None) -> web.Response:
    """Answer a repeated idempotent request with the stored first answer."""
    merged = {"Idempotent-Replayed": "true", **(headers or {})}
    return web.Response(
        status=replay.status, body=replay.body, content_type="application/json", headers=merged
    )
