"""One access line per request: request id, tenant, env, route, status and latency.

Never the query string (stream tickets ride there), a header, or a body: nothing here can
carry a token, a secret, a ticket or message content.

Where `chat-core serve` set logging up (transports.cli.logs), the line is built once, as
the exact text or JSON its formatters would print for the record, and handed to the
handler's batch (`send_access_lines_to`): no LogRecord, no formatter, no write per line.
Anywhere else (a test capturing records, an application that added its own handlers) it
goes through `logging` as a record on `chat_core.access`, as every other record does.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Protocol

import orjson
from aiohttp import web

from events.envelope import InvalidContext, check_tenant
from transports.http.app_keys import CONTEXT, REQUEST_ID

__all__ = [
    "ACCESS_LOGGER",
    "UNMATCHED",
    "AccessLines",
    "access_fields",
    "access_line",
    "log_access",
    "route_of",
    "send_access_lines_to",
]

ACCESS_LOGGER = logging.getLogger("chat_core.access")
# The route label of a request no route matched (404, 405): never its raw path.
UNMATCHED = "<unmatched>"
_MAX_PATH = 256
_ROOT = logging.getLogger()
# The text line's head, as logging.Formatter's "%(asctime)s %(levelname)s %(name)s: "
# prints it for an INFO record of ACCESS_LOGGER (transports.cli.logs.TEXT_FORMAT).
_TEXT_HEAD = f" INFO {ACCESS_LOGGER.name}: "


class AccessLines(Protocol):
    """Where finished access lines go: a logging handler that writes them in batches."""

    # Lines (each ending in a newline) waiting for the next write, oldest first; any
    # thread may append (deque.append is atomic), write_batch takes them.
    batch: deque[str]
    # Write once this many lines wait (0 after the handler closed: write each at once).
    batch_lines: int

    def write_batch(self) -> None:
        """Write the lines waiting, in order, with one write."""


class _Target:
    """The handler access lines are handed to, and the format they are built in."""

    __slots__ = ("alone", "json", "lines")

    def __init__(self, lines: AccessLines, json: bool) -> None:
        self.lines = lines
        # What the root's handlers are when lines may skip `logging`: lines alone.
        self.alone: list[object] = [lines]
        self.json = json


_target: _Target | None = None
# The last second a line was built in, as each format prints it (without the fraction).
_TEXT_TIME, _JSON_TIME = "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"
_text_stamp: tuple[int, str] = (-1, "")
_MILLIS = tuple(f"{millis:03d}" for millis in range(1000))
# The latency in whole microseconds is the decimal round() rounds to (see access_line)
# when the float product is far enough from a half: its error is below 0.5 ulp, under
# 1.3e-4 for products below 2**40 (eleven days), and the band leaves 1e-3 either side.
_EXACT_MICROS = float(2**40)
_TIE_LOW, _TIE_HIGH = 0.499, 0.501
_json_stamp: tuple[int, str] = (-1, "")


def send_access_lines_to(lines: AccessLines | None, *, log_format: str = "text") -> None:
    """Hand access lines, built in log_format, to lines while it is the root's only handler.

    None goes back to records through `logging` everywhere.
    """
    global _target
    _target = None if lines is None else _Target(lines, log_format == "json")


def route_of(request: web.BaseRequest) -> str:
    """Return the template of the route that took the request, never the raw path."""
    match_info = getattr(request, "match_info", None)
    if match_info is None or match_info.http_exception is not None:
        return UNMATCHED
    resource = match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


def _tenant_and_env(request: web.BaseRequest) -> tuple[str | None, str | None]:
    context = request.get(CONTEXT)
    if context is not None:
        return context.tenant, context.env._value_
    return _refused_tenant_and_env(request)


def _refused_tenant_and_env(request: web.BaseRequest) -> tuple[str | None, str | None]:
    # Refused before the context was built: name the tenant only when it is well formed.
    tenant = request.headers.get("X-Tenant-Id")
    try:
        check_tenant(tenant or "")
    except InvalidContext:
        tenant = None
    env = request.headers.get("X-Env")
    return tenant, env if env in ("dev", "staging", "prod") else None


def access_fields(
    request: web.BaseRequest, status: int, seconds: float, route: str | None = None
) -> dict[str, Any]:
    """Return what the access line says about a finished request (route: when known)."""
    tenant, env = _tenant_and_env(request)
    return {
        "event": "request",
        "request_id": request.get(REQUEST_ID),
        "method": request.method,
        "route": route_of(request) if route is None else route,
        "path": request.rel_url.raw_path[:_MAX_PATH],
        "status": status,
        "latency_ms": round(seconds * 1000, 3),
        "tenant": tenant,
        "env": env,
    }


def _json_time(created: float) -> str:
    """Return datetime.fromtimestamp(created, UTC).isoformat(), at a fraction of its cost.

    The same rounding: to the nearest microsecond, half to even, into the next second when
    it rounds up to a whole one; no fraction when it is zero.
    """
    global _json_stamp
    second = int(created)
    micros = round((created - second) * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    stamp = _json_stamp
    if stamp[0] != second:
        stamp = _json_stamp = (second, time.strftime(_JSON_TIME, time.gmtime(second)))
    return f"{stamp[1]}.{micros:06d}+00:00" if micros else f"{stamp[1]}+00:00"


def access_line(
    request: web.BaseRequest,
    status: int,
    seconds: float,
    route: str | None,
    created: float,
    *,
    json: bool,
) -> str:
    """Return the line the standard formatters print for the request's access record.

    Text: TEXT_FORMAT's line; JSON: JsonFormatter's object (time, level, logger, message,
    then access_fields' keys), both as of transports.cli.logs, ending in a newline; created
    is the record's time.time(). Built from locals, not from access_fields' dict: this
    runs once per request, so it calls as little as it can (Env._value_: Enum.value is a
    Python-level property).
    """
    global _text_stamp
    try:  # request[...], not request.get: one Python call fewer when it is there
        context = request[CONTEXT]
    except KeyError:
        context = None
    tenant: str | None
    env: str | None
    if context is not None:
        tenant, env = context.tenant, context.env._value_
    else:
        tenant, env = _refused_tenant_and_env(request)
    try:
        request_id: str | None = request[REQUEST_ID]
    except KeyError:
        request_id = None
    method = request.method
    path = request.rel_url.raw_path[:_MAX_PATH]
    if route is None:
        route = route_of(request)
    # latency_ms = round(seconds * 1000, 3) and its text f"{latency_ms:.1f}", as before, in
    # integers where that is exact (round and float formatting were a third of the line).
    micros = seconds * 1000 * 1000
    whole = int(micros)
    fraction = micros - whole
    if 0 <= micros < _EXACT_MICROS and not _TIE_LOW < fraction < _TIE_HIGH:
        rounded = whole + 1 if fraction > 0.5 else whole
        latency_ms = rounded / 1000
        if rounded % 100 == 50:  # a tie in tenths: the binary value decides, as .1f does
            latency = f"{latency_ms:.1f}"
        else:
            tenths = (rounded + 50) // 100
            latency = f"{tenths // 10}.{tenths % 10}"
    else:
        latency_ms = round(seconds * 1000, 3)
        latency = f"{latency_ms:.1f}"
    if not json:
        # created as logging.Formatter's asctime prints it: local time, then ",msecs".
        second = int(created)
        stamp = _text_stamp
        if stamp[0] != second:
            stamp = _text_stamp = (second, time.strftime(_TEXT_TIME, time.localtime(second)))
        return (
            f"{stamp[1]},{_MILLIS[int((created - second) * 1000)]}{_TEXT_HEAD}"
            f"{method} {path} {status} {latency}ms route={route}"
            f" request_id={request_id or '-'} tenant={tenant or '-'} env={env or '-'}\n"
        )
    message = (
        f"{method} {path} {status} {latency}ms route={route}"
        f" request_id={request_id or '-'} tenant={tenant or '-'} env={env or '-'}"
    )
    entry = {
        "time": _json_time(created),
        "level": "INFO",
        "logger": ACCESS_LOGGER.name,
        "message": message,
        "event": "request",
        "request_id": request_id,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "latency_ms": latency_ms,
        "tenant": tenant,
        "env": env,
    }
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE).decode()


def log_access(
    request: web.BaseRequest, status: int, seconds: float, route: str | None = None
) -> None:
    """Write the access line; JSON log collectors get its fields as keys.

    route is the request's route template when the caller has it already (route_of).
    """
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    target = _target
    # Skip `logging` only where its one handler would be the batch's own.
    if (
        target is not None
        and _ROOT.handlers == target.alone
        and not ACCESS_LOGGER.handlers
        and ACCESS_LOGGER.propagate
    ):
        lines = target.lines
        batch = lines.batch
        batch.append(access_line(request, status, seconds, route, time.time(), json=target.json))
        if len(batch) >= lines.batch_lines:
            lines.write_batch()
        return
    fields = access_fields(request, status, seconds, route)
    ACCESS_LOGGER.info(
        "%s %s %d %.1fms route=%s request_id=%s tenant=%s env=%s",
        fields["method"],
        fields["path"],
        status,
        fields["latency_ms"],
        fields["route"],
        fields["request_id"] or "-",
        fields["tenant"] or "-",
        fields["env"] or "-",
        extra={"fields": fields},
    )
