"""The OpenAPI document is valid 3.1 and describes exactly the routes the app registers."""

from __future__ import annotations

from aiohttp import web
from openapi_spec_validator import validate

from transports.http.openapi import OPERATIONS, openapi_document


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
            assert refs[:3] == [
                "#/components/parameters/TenantId",
                "#/components/parameters/Env",
                "#/components/parameters/RequestId",
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
