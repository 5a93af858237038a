"""Write a log's events as one Parquet file: a row per event, the envelope as typed columns.

`occurred_at` is a UTC timestamp (microseconds); `payload` and `metadata` are JSON strings
(as the JSON Lines export shows them, through the same view). Rows go out ROW_GROUP at a
time, so memory stays flat whatever the log's size, and nothing of the moment or the
machine is written: the same log gives the same bytes (for one pyarrow version, which the
file names in its footer). pyarrow is the optional `parquet` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from events.codec import EventCodec
from events.store.base import EventStore, RecordedEvent
from events.tooling.export import PayloadView, export_record
from events.tooling.selection import Progress, Selection, read_selection

__all__ = ["PARQUET_COLUMNS", "ParquetUnavailable", "export_parquet"]

ROW_GROUP = 10_000
# Column name and Arrow type name, in file order.
PARQUET_COLUMNS = (
    ("position", "int64"),
    ("event_id", "string"),
    ("type", "string"),
    ("schema_version", "int32"),
    ("stream", "string"),
    ("version", "int64"),
    ("tenant", "string"),
    ("env", "string"),
    ("request_id", "string"),
    ("trace_id", "string"),
    ("actor", "string"),
    ("occurred_at", "timestamp[us, tz=UTC]"),
    ("payload", "string"),
    ("metadata", "string"),
)


class ParquetUnavailable(ValueError):
    """pyarrow is not installed: pip install 'chat-core[parquet]' (a usage error, exit 2)."""


def _schema(pa: Any) -> Any:
    types = {
        "int64": pa.int64(),
        "int32": pa.int32(),
        "string": pa.string(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema(
        [pa.field(name, types[kind], nullable=False) for name, kind in PARQUET_COLUMNS]
    )


async def export_parquet(
    store: EventStore,
    codec: EventCodec,
    selection: Selection,
    path: str | Path,
    *,
    progress: Progress | None = None,
    view: PayloadView | None = None,
) -> int:
    """Write every selected event as a row of a Parquet file and return how many were written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ParquetUnavailable(
            "--format parquet needs pyarrow: pip install 'chat-core[parquet]'"
        ) from None
    schema = _schema(pa)
    count = 0
    items: list[RecordedEvent] = []
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        async for item in read_selection(store, selection):
            items.append(item)
            if len(items) == ROW_GROUP:
                count += await _write(pa, writer, schema, codec, items, progress, view)
        count += await _write(pa, writer, schema, codec, items, progress, view)
    return count


async def _write(
    pa: Any,
    writer: Any,
    schema: Any,
    codec: EventCodec,
    items: list[RecordedEvent],
    progress: Progress | None,
    view: PayloadView | None,
) -> int:
    written = len(items)
    if not written:
        return 0
    if view is not None:
        await view.prepare(items)
    columns: dict[str, list[Any]] = {name: [] for name, _ in PARQUET_COLUMNS}
    for item in items:
        record = export_record(codec, item, view)
        record["occurred_at"] = item.event.occurred_at
        record["payload"] = orjson.dumps(record["payload"]).decode()
        record["metadata"] = orjson.dumps(record["metadata"]).decode()
        for name, values in columns.items():
            values.append(record[name])
    items.clear()
    writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    if progress is not None:
        progress(written)
    return written
