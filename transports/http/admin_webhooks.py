"""Webhooks over HTTP: admins register receivers, watch their deliveries and replay parked ones.

Idempotency-Key is checked and has nothing to record: a repeated registration would show
its secret a second time, so each registration is a new webhook, and replay is harmless to
repeat.
"""

from __future__ import annotations

import attrs
from aiohttp import web
from attrs import frozen

from chat_core.webhooks.service import webhook_json
from events.webhooks import DeliveryStatus
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.pages import DEFAULT_LIMIT, MAX_LIMIT
from transports.http.problems import HTTPProblem
from transports.http.requests import (
    FieldErrors,
    decode_body,
    idempotency_key,
    json_response,
    read_json,
    reject_query,
)

__all__ = ["RegisterWebhookBody", "ReplayBody", "routes"]

routes = web.RouteTableDef()


@frozen(kw_only=True)
class RegisterWebhookBody:
    """The body of POST /admin/webhooks."""

    url: str
    types: list[str] = attrs.Factory(list)
    description: str | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds (the URL policy is the core's)."""
        return []


@frozen(kw_only=True)
class ReplayBody:
    """The (empty) body of POST /admin/webhooks/{id}/replay."""

    def problems(self) -> FieldErrors:
        """Nothing to check."""
        return []


@routes.post("/admin/webhooks")
async def register_webhook(request: web.Request) -> web.Response:
    """Register a webhook of this tenant and env; the answer holds its secret, once."""
    reject_query(request)
    idempotency_key(request)
    body = decode_body(await read_json(request, empty_is_object=False), RegisterWebhookBody)
    shown = await request.app[CORE].webhooks.create(
        request[CONTEXT],
        request[AUTH],
        url=body.url,
        types=body.types,
        description=body.description,
    )
    return json_response(201, shown)


@routes.get("/admin/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    """List this tenant and env's webhooks, without their secrets."""
    reject_query(request)
    hooks = await request.app[CORE].webhooks.list(request[CONTEXT], request[AUTH])
    return json_response(200, {"data": [webhook_json(hook) for hook in hooks]})


@routes.get("/admin/webhooks/{webhook_id}")
async def show_webhook(request: web.Request) -> web.Response:
    """Show one webhook, without its secret."""
    reject_query(request)
    hook = await request.app[CORE].webhooks.get(
        request[CONTEXT], request[AUTH], request.match_info["webhook_id"]
    )
    return json_response(200, webhook_json(hook))


@routes.get("/admin/webhooks/{webhook_id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Page through a webhook's pending, failed and parked deliveries by position."""
    status, after, limit = _delivery_params(request)
    page = await request.app[CORE].webhooks.deliveries(
        request[CONTEXT],
        request[AUTH],
        request.match_info["webhook_id"],
        status=status,
        after=after,
        limit=limit,
    )
    return json_response(200, page.to_json())


@routes.post("/admin/webhooks/{webhook_id}/replay")
async def replay_webhook(request: web.Request) -> web.Response:
    """Try the webhook's parked deliveries again, in position order."""
    reject_query(request)
    idempotency_key(request)
    decode_body(await read_json(request, empty_is_object=True), ReplayBody)
    webhook_id = request.match_info["webhook_id"]
    count = await request.app[CORE].webhooks.replay(request[CONTEXT], request[AUTH], webhook_id)
    return json_response(202, {"id": webhook_id, "replayed": count})


@routes.delete("/admin/webhooks/{webhook_id}")
async def delete_webhook(request: web.Request) -> web.Response:
    """Delete a webhook and its deliveries."""
    reject_query(request)
    await request.app[CORE].webhooks.delete(
        request[CONTEXT], request[AUTH], request.match_info["webhook_id"]
    )
    return web.Response(status=204)


def _delivery_params(request: web.Request) -> tuple[DeliveryStatus | None, str | None, int]:
    query = request.query
    unknown = set(query) - {"status", "after", "limit"}
    if unknown:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(unknown))}")
    for name in query:
        if len(query.getall(name)) > 1:
            raise HTTPProblem(400, f"query parameter {name} is given more than once")
    status = None
    if "status" in query:
        try:
            status = DeliveryStatus(query["status"])
        except ValueError:
            raise HTTPProblem(400, "status must be one of: pending, failed, parked") from None
    limit = DEFAULT_LIMIT
    if "limit" in query:
        text = query["limit"]
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise HTTPProblem(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(text)
    after = query.get("after")
    if after is not None and (not after.isascii() or not after.isdigit() or len(after) > 19):
        raise HTTPProblem(400, "after must be a cursor from a previous page")
    return status, after, limit
