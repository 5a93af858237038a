"""A real identity provider's key endpoints on 127.0.0.1: a JWKS that rotates, and discovery.

Serves ``/jwks.json`` (the keys it holds now, with the Cache-Control it is told) and
``/.well-known/openid-configuration`` (naming itself as issuer and that JWKS), from a thread,
so a server in this process or another fetches it over a real socket. ``down`` makes every
answer a 503, as during an outage; ``requests`` counts the JWKS fetches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc.jwk import Key, KeySet

__all__ = ["JwksServer", "jwks_server"]


class JwksServer:
    """The state one test's identity provider serves, changed by the test as it goes."""

    def __init__(self, keys: list[Key], *, cache_control: str | None = "max-age=300") -> None:
        self.keys = list(keys)
        self.cache_control = cache_control
        self.down = False
        self.requests = 0
        self.discovery_requests = 0
        self.issuer_override: str | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """Return the issuer URL: the server's root."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        """Return the JWKS URL."""
        return f"{self.base_url}/jwks.json"

    def rotate(self, keys: list[Key]) -> None:
        """Publish these keys from now on, in place of the ones before."""
        self.keys = list(keys)

    def document(self) -> dict[str, Any]:
        """Return the public JWKS it serves now."""
        return dict(KeySet(self.keys).as_dict(private=False))

    def discovery(self) -> dict[str, Any]:
        """Return its OpenID configuration."""
        return {
            "issuer": self.issuer_override or self.base_url,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        }


def _handler(state: JwksServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/jwks.json":
                state.requests += 1
                body: dict[str, Any] | None = state.document()
            elif self.path == "/.well-known/openid-configuration":
                state.discovery_requests += 1
                body = state.discovery()
            else:
                body = None
            if state.down or body is None:
                self.send_response(503 if state.down else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if state.cache_control is not None:
                self.send_header("Cache-Control", state.cache_control)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def jwks_server(
    keys: list[Key], *, cache_control: str | None = "max-age=300"
) -> Iterator[JwksServer]:
    """Run a JwksServer on a free loopback port for the length of the block."""
    state = JwksServer(keys, cache_control=cache_control)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
