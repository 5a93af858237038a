"""gzip for large JSON answers, when the request's Accept-Encoding takes it; never for streams.

Only a whole JSON answer already in memory (a web.Response with a bytes body of at least
GZIP_MIN_BYTES) is offered: SSE responses and WebSocket handshakes are prepared by their
handlers and never reach here, and below the threshold gzip saves a packet at most while
it costs more than the rest of a small answer's work. aiohttp compresses the body once,
as it sends it (off the event loop when the body is large), and sets Content-Encoding and
Content-Length. Every answer large enough carries `Vary: Accept-Encoding`, compressed or
not, so a cache keeps the two apart.
"""

from __future__ import annotations

from aiohttp import hdrs, web

__all__ = ["GZIP_MIN_BYTES", "accepts_gzip", "offer_gzip"]

# Below this, a page of messages fits a few packets anyway (a page of 20 short ones is ~6 KB).
GZIP_MIN_BYTES = 8192


def accepts_gzip(accept_encoding: str) -> bool:
    """Tell whether an Accept-Encoding value takes gzip (RFC 9110 12.5.3: q=0 refuses)."""
    chosen = None
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding != "*" or chosen is None:
            chosen = quality > 0
    return bool(chosen)


def offer_gzip(request: web.Request, response: web.Response) -> None:
    """Have the answer gzipped as it is sent if the client takes gzip; say that it varies."""
    if hdrs.CONTENT_ENCODING in response.headers:
        return
    content_type = response.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        return
    response.headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
    if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
        response.enable_compression(web.ContentCoding.gzip)
