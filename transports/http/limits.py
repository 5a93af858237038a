"""The server's connection bounds: header sizes and how long a slow or idle client may hold on."""

from __future__ import annotations

from typing import Any

from chat_core.settings import Settings

__all__ = ["MAX_FIELD_SIZE", "MAX_HEADERS", "MAX_LINE_SIZE", "server_options"]

# Room for a bearer token a little over the verifier's 8 KiB limit, so an oversized token is
# refused by the verifier with a 401 rather than by the parser with a bare 400.
MAX_FIELD_SIZE = 16_384
MAX_LINE_SIZE = 8_190
MAX_HEADERS = 64


def server_options(settings: Settings) -> dict[str, Any]:
    """Return the aiohttp server keyword arguments that bound every connection."""
    return {
        # Also the deadline for a new connection's first request: aiohttp arms it when the
        # connection opens, so a client trickling its headers byte by byte is cut off too.
        "keepalive_timeout": settings.client_timeout,
        "max_field_size": MAX_FIELD_SIZE,
        "max_line_size": MAX_LINE_SIZE,
        "max_headers": MAX_HEADERS,
    }
