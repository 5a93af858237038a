"""Views for the per-tenant LLM temperature config."""

from __future__ import annotations

import math

import orjson
from aiohttp import web
from attrs import field, frozen

from chat_core.commands import SetTemperatureConfig
from chat_core.temperature import TEMPERATURE_CEILING, TEMPERATURE_FLOOR
from chat_core.views import Replay
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.requests import (
    FieldErrors,
    decode_body,
    idempotency_of,
    json_response,
    read_json,
    reject_query,
    replay_response,
)

__all__ = ["TemperatureBody", "routes"]


@frozen(kw_only=True)
class TemperatureBody:
    """The body of PUT /temperature/config."""

    default: float
    min: float
    max: float
    overrides: dict[str, float] = field(factory=dict)

    def problems(self) -> FieldErrors:
        """List numbers outside 0..2, so a bad body is 422 before If-Match can make it 412."""
        values = {"default": self.default, "min": self.min, "max": self.max}
        values.update({f"overrides.{k}": v for k, v in self.overrides.items()})
        return [
            (name, f"must be a number from {TEMPERATURE_FLOOR} to {TEMPERATURE_CEILING}")
            for name, v in values.items()
            if not (math.isfinite(v) and TEMPERATURE_FLOOR <= v <= TEMPERATURE_CEILING)
        ]


routes = web.RouteTableDef()


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


@routes.get("/temperature/config")
async def get_config(request: web.Request) -> web.Response:
    """Show the temperature config to a member."""
    reject_query(request)
    config = await request.app[CORE].queries.get_temperature(request[CONTEXT], request[AUTH])
    return json_response(200, config.to_json(), headers=_etag(config.version))


@routes.put("/temperature/config")
async def put_config(request: web.Request) -> web.Response:
    """Replace the temperature config: admins only, guarded by If-Match when given."""
    reject_query(request)
    data = await read_json(request, empty_is_object=False)
    body = decode_body(data, TemperatureBody)
    command = SetTemperatureConfig(
        context=request[CONTEXT],
        auth=request[AUTH],
        default=body.default,
        min=body.min,
        max=body.max,
        overrides=body.overrides,
        if_match=request.headers.get("If-Match"),
        idempotency=idempotency_of(request, data),
    )
    result = await request.app[CORE].bus.send(command)
    if isinstance(result, Replay):
        version = int(orjson.loads(result.body)["version"])
        return replay_response(result, headers=_etag(version))
    return json_response(200, result.to_json(), headers=_etag(result.version))
