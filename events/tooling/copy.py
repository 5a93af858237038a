"""Copy a log from one store to another: event ids, stream versions and order kept, resumable.

Consecutive events of one stream (and one idempotent answer: its key and its request)
go in one append, whose
expected version is the version the source had before them, so the destination can never
take an event out of its stream's order. Appends are sent in windows that the store's
group commit turns into few transactions; a window is committed in order, so an
interrupted copy leaves the destination a prefix of the source, and a rerun picks up
from the destination's head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import attrs

from events.envelope import DatasetEvent
from events.store.base import EventStore, IdempotencyRecord, RecordedEvent, StoreError
from events.tooling.selection import Progress

__all__ = ["CopyError", "CopyResult", "IdempotencyOf", "copy_log"]

IdempotencyOf = Callable[[DatasetEvent], IdempotencyRecord | None]
WINDOW = 512


class CopyError(StoreError):
    """The destination is not a prefix of the source, or refused an event."""


@attrs.define
class CopyResult:
    """What a copy did: where it resumed, how many events it copied, positions kept or not."""

    resumed_after: int = 0
    copied: int = 0
    positions_kept: bool = True


@attrs.define
class _Append:
    stream: str
    records: list[RecordedEvent]
    idempotency: IdempotencyRecord | None
    key: tuple[str, str] | None


async def copy_log(
    source: EventStore,
    destination: EventStore,
    *,
    idempotency_of: IdempotencyOf | None = None,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy every source event the destination lacks, in source order."""
    result = CopyResult(resumed_after=await _resume_point(source, destination))
    window: list[_Append] = []
    async for item in source.read_all(after_position=result.resumed_after):
        record = None if idempotency_of is None else idempotency_of(item.event)
        # A key used again after its record was purged starts another answer.
        key = None if record is None else (record.key, item.event.request_id)
        last = window[-1] if window else None
        if last is not None and last.stream == item.event.stream and last.key == key:
            last.records.append(item)
            continue
        if len(window) == WINDOW:
            await _send(destination, window, result, progress)
            window = []
        window.append(_Append(item.event.stream, [item], record, key))
    await _send(destination, window, result, progress)
    return result


async def _resume_point(source: EventStore, destination: EventStore) -> int:
    """Return the source position the destination has copied up to, checking it is a prefix."""
    head = await destination.head_position()
    if head == 0:
        return 0
    newest = [item async for item in destination.read_all(descending=True, limit=1)]
    event = newest[0].event
    async for item in source.read_all(after_position=head - 1, before_position=head + 1):
        if item.event.event_id == event.event_id:
            return item.position
    # Positions were not kept (a source with holes): look the event up by its stream.
    for item in await source.read_stream(event.stream, after_version=event.version - 1, limit=1):
        if item.event.event_id == event.event_id:
            return item.position
    raise CopyError(f"the destination's newest event {event.event_id} is not in the source")


async def _send(
    destination: EventStore, window: list[_Append], result: CopyResult, progress: Progress | None
) -> None:
    if not window:
        return
    outcomes = await asyncio.gather(
        *(
            destination.append(
                item.stream,
                [recorded.event for recorded in item.records],
                item.records[0].event.version - 1,
                idempotency=item.idempotency,
            )
            for item in window
        ),
        return_exceptions=True,
    )
    for item, outcome in zip(window, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            first = item.records[0]
            raise CopyError(
                f"the destination refused the event at source position {first.position}: {outcome}"
            ) from outcome
        for source_item, copied in zip(item.records, outcome, strict=True):
            if copied.position != source_item.position:
                result.positions_kept = False
        result.copied += len(item.records)
    if progress is not None:
        progress(sum(len(item.records) for item in window))
