"""Keep request bytes that aiohttp's parser quotes in its errors out of the logs.

aiohttp logs every unparsable request at ERROR with the exception, whose message quotes up
to 100 bytes of the offending line: the start of a bearer token in an oversized
`Authorization` header, or a stream ticket in an over-long request line.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["ParserErrorRedactor", "redact_parser_errors"]


class ParserErrorRedactor(logging.Filter):
    """Log a parser error by its type and status only, never by its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip the quoted bytes from a parser error; let every other record through."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.msg}: {type(error).__name__} ({error.code}), request not quoted"
            record.exc_info = None
            record.exc_text = None
        return True


def redact_parser_errors() -> None:
    """Install the redactor on the logger aiohttp's server reports parser errors to."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(item, ParserErrorRedactor) for item in logger.filters):
        logger.addFilter(ParserErrorRedactor())
