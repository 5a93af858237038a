"""The OpenAPI 3.1 description of the HTTP contract."""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["openapi_document"]


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document, built once."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "chat-core", "version": "0.1.0"},
        "paths": {},
    }
