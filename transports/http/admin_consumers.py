"""Durable consumers over HTTP: admins create them, read after their checkpoint, and ack.

Idempotency-Key is checked and has nothing to record: an ack is idempotent by nature and
a repeated create is a 409 that changes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from aiohttp import web
from attrs import frozen
from multidict import MultiMapping

from chat_core.consumers import MAX_READ, MAX_WAIT
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.problems import HTTPProblem
from transports.http.requests import (
    FieldErrors,
    decode_body,
    idempotency_key,
    json_response,
    read_json,
    reject_query,
)

__all__ = ["AckBody", "CreateConsumerBody", "routes"]

DEFAULT_READ = 100
MAX_POSITION = 2**63 - 1
routes = web.RouteTableDef()


@frozen(kw_only=True)
class CreateConsumerBody:
    """The body of POST /admin/consumers."""

    name: str
    types: list[str] = attrs.Factory(list)
    start: Literal["beginning", "end"] = "beginning"

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds (the name is checked by the core)."""
        return []


@frozen(kw_only=True)
class AckBody:
    """The body of POST /admin/consumers/{name}/ack."""

    # Checked here rather than structured as int, which would take 1.5 or "1" for 1.
    position: Any

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        value = self.position
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POSITION:
            return [("position", "must be a non-negative integer")]
        return []


@routes.post("/admin/consumers")
async def create_consumer(request: web.Request) -> web.Response:
    """Make a durable consumer of this tenant and env: admins only."""
    reject_query(request)
    idempotency_key(request)
    body = decode_body(await read_json(request, empty_is_object=False), CreateConsumerBody)
    view = await request.app[CORE].consumers.create(
        request[CONTEXT], request[AUTH], name=body.name, types=body.types, start=body.start
    )
    return json_response(201, view.to_json())


@routes.get("/admin/consumers")
async def list_consumers(request: web.Request) -> web.Response:
    """List this tenant and env's consumers with their positions and lags."""
    reject_query(request)
    views = await request.app[CORE].consumers.list(request[CONTEXT], request[AUTH])
    return json_response(200, {"data": [view.to_json() for view in views]})


@routes.get("/admin/consumers/{name}")
async def show_consumer(request: web.Request) -> web.Response:
    """Show one consumer with its position and lag."""
    reject_query(request)
    view = await request.app[CORE].consumers.get(
        request[CONTEXT], request[AUTH], request.match_info["name"]
    )
    return json_response(200, view.to_json())


@routes.get("/admin/consumers/{name}/events")
async def read_consumer(request: web.Request) -> web.Response:
    """Return the consumer's events after its checkpoint, waiting for one when asked."""
    limit, wait = _read_params(request)
    batch = await request.app[CORE].consumers.read(
        request[CONTEXT], request[AUTH], request.match_info["name"], limit=limit, wait=wait
    )
    return json_response(200, {"data": batch.events, "next_position": batch.next_position})


@routes.post("/admin/consumers/{name}/ack")
async def ack_consumer(request: web.Request) -> web.Response:
    """Move the consumer's checkpoint forward to a position."""
    reject_query(request)
    idempotency_key(request)
    body = decode_body(await read_json(request, empty_is_object=False), AckBody)
    consumer = await request.app[CORE].consumers.ack(
        request[CONTEXT], request[AUTH], request.match_info["name"], body.position
    )
    return json_response(200, {"name": consumer.name, "position": consumer.position})


@routes.delete("/admin/consumers/{name}")
async def delete_consumer(request: web.Request) -> web.Response:
    """Delete a consumer and its checkpoint."""
    reject_query(request)
    await request.app[CORE].consumers.delete(
        request[CONTEXT], request[AUTH], request.match_info["name"]
    )
    return web.Response(status=204)


def _read_params(request: web.Request) -> tuple[int, int]:
    query = request.query
    unknown = set(query) - {"limit", "wait"}
    if unknown:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(unknown))}")
    limit = _integer(query, "limit", DEFAULT_READ, 1, MAX_READ)
    wait = _integer(query, "wait", 0, 0, MAX_WAIT)
    return limit, wait


def _integer(query: MultiMapping[str], name: str, default: int, low: int, high: int) -> int:
    values = query.getall(name, [])
    if not values:
        return default
    text = values[0]
    if len(values) > 1 or not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise HTTPProblem(400, f"{name} must be one integer from {low} to {high}")
    return int(text)
