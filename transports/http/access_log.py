"""An access log that prints the path without its query, so stream tickets never reach logs."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

__all__ = ["PathOnlyAccessLogger"]


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Log remote, method, path, status, size and time; never the query string."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line for a finished request."""
        self.logger.info(
            '%s "%s %s" %d %d %.6f',
            request.remote or "-",
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )
