"""Logging set-up: plain text for people, JSON lines for collectors.

Every record goes to stderr through one handler, BatchedStreamHandler. Access lines (one
per request, transports.http.access_log) skip the logging machinery and wait in its batch,
written with one write at least every FLUSH_SECONDS, once BATCH_LINES wait, before any
other record (so the stream stays in order) and at exit (logging.shutdown flushes every
handler): the way nginx's `access_log ... buffer= flush=` writes. Other records are written
and flushed one by one, as logging.StreamHandler does.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections import deque
from datetime import UTC, datetime
from typing import TextIO

import orjson

from transports.http.access_log import send_access_lines_to

__all__ = [
    "BATCH_LINES",
    "FLUSH_SECONDS",
    "TEXT_FORMAT",
    "BatchedStreamHandler",
    "JsonFormatter",
    "configure_logging",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLUSH_SECONDS = 1.0
# About 40 KiB of text lines, 110 KiB of JSON: one write per that many requests.
BATCH_LINES = 256


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record's time, level, logger, message and any exception."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that also takes finished lines and writes them in batches.

    Lines are appended to `batch` by any thread without a lock (deque.append is atomic);
    they are written under the handler's lock, which also orders them before the records:
    a record is written after every line appended before it. A thread writes the batch
    every flush_seconds, so a line waits at most that long however quiet the server is.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batch_lines: int = BATCH_LINES,
    ) -> None:
        super().__init__(stream)
        lock = self.lock  # Handler.__init__ made it: an RLock, so flush may nest in emit
        assert lock is not None
        self._lock = lock
        self.batch: deque[str] = deque()
        self.batch_lines = batch_lines
        self._stopped = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(flush_seconds,), name="log-flush", daemon=True
        )
        self._flusher.start()

    def add_line(self, line: str) -> None:
        """Take one finished line (ending in a newline); write the batch once it is full."""
        self.batch.append(line)
        if len(self.batch) >= self.batch_lines:
            self.write_batch()

    def write_batch(self) -> None:
        """Write the lines waiting, in order, with one write."""
        with self._lock:
            self._write_batch()

    def emit(self, record: logging.LogRecord) -> None:
        """Write the lines batched so far, then the record (handle() holds the lock)."""
        self._write_batch()
        super().emit(record)

    def flush(self) -> None:
        """Write the batch and flush the stream."""
        with self._lock:
            self._write_batch()
            super().flush()

    def close(self) -> None:
        """Stop the timed flushes and write what is left; the stream stays open.

        A line added later is written at once: no timer would write it.
        """
        self._stopped.set()
        self.batch_lines = 0
        try:
            self.flush()
        except (OSError, ValueError):  # the stream was closed first: nothing can be written
            pass
        finally:
            super().close()

    def _write_batch(self) -> None:
        batch = self.batch
        if not batch:
            return
        # Only what is there now: lines appended meanwhile wait for the next write.
        text = "".join([batch.popleft() for _ in range(len(batch))])
        try:
            self.stream.write(text)
        except Exception:  # the stream failed: say so once per batch, as Handler.handleError
            if logging.raiseExceptions and sys.stderr is not None:
                traceback.print_exc(file=sys.stderr)

    def _flush_every(self, seconds: float) -> None:
        while not self._stopped.wait(seconds):
            with self._lock:
                try:
                    # Nothing batched, nothing to do: an idle handler leaves its stream be.
                    if self.batch and not self._stopped.is_set():
                        self.flush()
                except Exception:  # a failed flush must not end the timed flushes
                    if logging.raiseExceptions and sys.stderr is not None:
                        traceback.print_exc(file=sys.stderr)


def configure_logging(*, log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send logs to stream (stderr by default) in the chosen format."""
    handler = BatchedStreamHandler(sys.stderr if stream is None else stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for previous in root.handlers:
        if isinstance(previous, BatchedStreamHandler):
            previous.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    send_access_lines_to(handler, log_format=log_format)
    # Warnings (a library's SecurityWarning, say) become records of the py.warnings logger,
    # so they reach stderr in the chosen format too: one JSON object per line, always.
    logging.captureWarnings(True)
