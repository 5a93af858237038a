"""Erasures: an admin crypto-shreds a subject's messages in the tenant, and asks if it is done."""

from __future__ import annotations

import re

from aiohttp import web
from attrs import frozen

from chat_core.commands import EraseSubject
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.requests import (
    FieldErrors,
    decode_body,
    idempotency_of,
    json_response,
    read_json,
    reject_query,
    send_command,
)

__all__ = ["SUBJECT_PATTERN", "ErasureBody", "routes"]

# A token's sub as issuers write it: printable ASCII without spaces.
SUBJECT_PATTERN = "^[!-~]{1,255}$"
_SUBJECT = re.compile(SUBJECT_PATTERN)

routes = web.RouteTableDef()


@frozen(kw_only=True)
class ErasureBody:
    """The body of POST /admin/erasures."""

    subject: str

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        if _SUBJECT.fullmatch(self.subject) is None:
            return [("subject", "must be 1 to 255 printable ASCII characters without spaces")]
        return []


@routes.post("/admin/erasures")
async def erase_subject(request: web.Request) -> web.Response:
    """Destroy a subject's data keys in this tenant and record the erasure: admins only."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, ErasureBody)
    command = EraseSubject(
        context=request[CONTEXT],
        auth=request[AUTH],
        subject=body.subject,
        idempotency=idempotency_of(request, data),
    )
    return await send_command(request, command, 202)


@routes.get("/admin/erasures/{erasure_id}")
async def show_erasure(request: web.Request) -> web.Response:
    """Tell whether an erasure of this tenant and env is completed or pending: admins only."""
    reject_query(request)
    view = await request.app[CORE].erasures.show(
        request[CONTEXT], request[AUTH], request.match_info["erasure_id"]
    )
    return json_response(200, view.to_json())
