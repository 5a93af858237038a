"""Reading a request and answering it in JSON, for every view.

The body: its size, content type and JSON, then the view's strict body class, decoded by
one cattrs converter that never coerces (each class lists what breaks the contract's
bounds; a 422 names every field). The Idempotency-Key and the request's fingerprint; a
query string on a route that takes none. Listings read their query with pages.page_params.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, get_args, get_origin

import cattrs
import orjson
from aiohttp import web
from cattrs.cols import list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from chat_core.commands import Idempotency
from chat_core.views import Replay
from transports.http.app_keys import CORE
from transports.http.problems import HTTPProblem

__all__ = [
    "IDEMPOTENCY_KEY",
    "FieldErrors",
    "check_length",
    "decode_body",
    "idempotency_key",
    "idempotency_of",
    "json_bytes_response",
    "json_response",
    "read_json",
    "reject_query",
    "replay_response",
    "request_fingerprint",
    "send_command",
]

IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
FieldErrors = list[tuple[str, str]]


class Body(Protocol):
    def problems(self) -> FieldErrors: ...


B = TypeVar("B", bound=Body)


def check_length(errors: FieldErrors, name: str, value: str | None, low: int, high: int) -> None:
    """Note a string field outside low..high characters (None, a field left out, is fine)."""
    if value is not None and not low <= len(value) <= high:
        errors.append((name, f"must be {low} to {high} characters"))


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _strict_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("must be a number")
    return float(value)


def _strict_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be an integer")
    return value


def _strict_bool(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _is_list(type_: Any) -> bool:
    return get_origin(type_) is list


def _strict_list(type_: Any, converter: cattrs.Converter) -> Callable[[object, Any], list[Any]]:
    """Structure a JSON array only: cattrs alone would take any iterable (a string's
    characters, an object's keys) as the list."""
    items = list_structure_factory(type_, converter)

    def structure(value: object, type_: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError("must be an array")
        structured: list[Any] = items(value, type_)
        return structured

    return structure


def _build() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook_factory(_is_list, _strict_list)
    converter.register_structure_hook(str, _strict_str)
    # An optional string may be left out (its default None), but an explicit null is not a str.
    converter.register_structure_hook(str | None, _strict_str)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(bool | None, _strict_bool)
    return converter


_CONVERTER = _build()


def _describe(exc: BaseException, type_: Any) -> str:
    if "not in literal" in str(exc):
        return "must be one of " + ", ".join(repr(choice) for choice in get_args(type_))
    if isinstance(exc, TypeError) and str(exc).startswith("must be"):
        return str(exc)
    return format_exception(exc, type_)


def decode_body(data: Any, body_type: type[B]) -> B:
    """Structure parsed JSON into a body class, else a 422 problem listing each field."""
    if not isinstance(data, dict):
        raise HTTPProblem(422, "the body must be a JSON object", errors=[("$", "expected object")])
    try:
        body = _CONVERTER.structure(data, body_type)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        errors = [
            _field_error(line) for line in cattrs.transform_error(exc, format_exception=_describe)
        ]
        raise HTTPProblem(422, "the body fails validation", errors=errors) from None
    problems = body.problems()
    if problems:
        raise HTTPProblem(422, "the body fails validation", errors=problems)
    return body


def _field_error(line: str) -> tuple[str, str]:
    message, _, path = line.rpartition(" @ ")
    name = path.removeprefix("$").removeprefix(".") or "$"
    if message.startswith("extra fields found ("):
        return message.removeprefix("extra fields found (").rstrip(")"), "is not a known field"
    return name, message or line


async def read_json(request: web.Request, *, empty_is_object: bool) -> Any:
    """Return the parsed JSON body, refusing with 413, 415 or 400."""
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
        return {}
    # 415 is for a body in another format; an empty body is simply not JSON (400 below).
    # The header as nearly every client sends it needs no parsing.
    if (
        raw
        and request.headers.get("Content-Type") != "application/json"
        and request.content_type != "application/json"
    ):
        raise HTTPProblem(415, "the body must be application/json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HTTPProblem(400, f"the body is not valid JSON: {exc.msg}") from None


def reject_query(request: web.Request) -> None:
    """Refuse with 400 a query string on a route that takes none."""
    # The raw string first: parsing an absent query (request.query) costs every POST.
    if request.query_string and request.query:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(request.query))}")


def idempotency_key(request: web.Request) -> str | None:
    """Return the request's Idempotency-Key, or None; 400 when it is malformed or sent twice.

    Routes with nothing to record (an ack, a webhook registration) call it too: the
    contract documents the header on them, so a malformed one is refused there as well.
    """
    keys = request.headers.getall("Idempotency-Key", ())
    if not keys:
        return None
    if len(keys) > 1:
        raise HTTPProblem(400, "the Idempotency-Key header is sent more than once; send it once")
    key = keys[0]
    if IDEMPOTENCY_KEY.fullmatch(key) is None:
        raise HTTPProblem(400, "Idempotency-Key must be 1 to 255 printable ASCII characters")
    return key


def idempotency_of(request: web.Request, data: Any) -> Idempotency | None:
    """Return the request's Idempotency-Key with the fingerprint of method, path and body."""
    key = idempotency_key(request)
    if key is None:
        return None
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
