"""The OpenAPI document is valid 3.1 and describes exactly the routes the app registers."""

from __future__ import annotations

from aiohttp import web
from openapi_spec_validator import validate

import chat_core.payloads  # noqa: F401  (registers the chat payload types)
from events.codec import default_registry
from transports.http.admission import TICKET_ROUTES
from transports.http.openapi import OPERATIONS, openapi_document
from transports.http.openapi_events import EVENT_DATA


def _registered(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }


def test_document_is_valid_openapi_3_1() -> None:
    validate(openapi_document())


def test_operations_equal_the_registered_routes(app: web.Application) -> None:
    assert set(OPERATIONS) == _registered(app)


def test_private_routes_take_the_context_headers_and_public_ones_need_no_token() -> None:
    for (method, path), operation in OPERATIONS.items():
        # Inline parameters (a public route's path parameter) are not context headers.
        refs = [p["$ref"] for p in operation.get("parameters", []) if "$ref" in p]
        if operation.get("security") == []:
            assert refs == [], (method, path)
        else:
            context = (
                ("StreamTenantId", "StreamEnv") if path in TICKET_ROUTES else ("TenantId", "Env")
            )
            assert refs[:4] == [
                f"#/components/parameters/{name}" for name in (*context, "RequestId", "TraceParent")
            ], (method, path)
            assert {"400", "401", "403", "500"} <= set(operation["responses"]), (method, path)


def test_every_reference_resolves() -> None:
    document = openapi_document()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str):
                section, name = target.removeprefix("#/components/").split("/")
                assert name in document["components"][section], target
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(document["paths"])


def test_stream_routes_need_no_context_headers_with_a_ticket() -> None:
    document = openapi_document()
    parameters = document["components"]["parameters"]
    for path in TICKET_ROUTES:
        listed = document["paths"][path]["get"]["parameters"]
        named = [parameters[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in listed]
        required = {p["name"] for p in named if p["in"] == "header" and p["required"]}
        assert required == set(), path
        assert "ticket" in {p["name"] for p in named if p["in"] == "query"}, path


def _defaults(node: object, where: str, *, schema: bool = True) -> list[str]:
    """List where a schema under node uses the default keyword (a property named so is not)."""
    if isinstance(node, list):
        return [w for i, child in enumerate(node) for w in _defaults(child, f"{where}/{i}")]
    if not isinstance(node, dict):
        return []
    found = [where] if schema and "default" in node else []
    for key, child in node.items():
        found += _defaults(child, f"{where}/{key}", schema=key != "properties")
    return found


def test_no_request_body_schema_has_a_default() -> None:
    # openapi-typescript makes a field with a default required, even in a request body.
    document = openapi_document()
    schemas = document["components"]["schemas"]
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"].get("$ref", "")
        for item in document["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    }
    names = {ref.rsplit("/", 1)[1] for ref in bodies if ref} | {"ClientFrame", "PostFrame"}
    assert [w for name in sorted(names) for w in _defaults(schemas[name], name)] == []


def test_every_registered_event_type_has_a_data_schema() -> None:
    # Other tests register payload types of their own; the product's are chat_core's.
    registered = {
        cls.event_type for cls in default_registry.types() if cls.__module__.startswith("chat_core")
    }
    assert sorted(registered - set(EVENT_DATA)) == []


def test_stream_events_are_told_apart_by_type() -> None:
    schemas = openapi_document()["components"]["schemas"]
    union = schemas["StreamEvent"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(EVENT_DATA)
    for event_type, target in union["discriminator"]["mapping"].items():
        variant = schemas[target.rsplit("/", 1)[1]]
        assert variant["properties"]["type"]["const"] == event_type
        assert variant["properties"]["data"] == EVENT_DATA[event_type]
