"""Rebuild the chat's derived state by folding the log, and compare it with the live state.

Derived state: each thread's read model, each tenant and env's temperature config, and
each idempotency record, rebuilt from the metadata of the events that answered it with
the answers the pipeline rendered, so a rebuilt body is byte for byte the stored one. A
record's created_at is when it was stored, which the log knows only as its event's time,
so the check allows CREATED_AT_SLACK between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import attrs
import orjson

from chat_core.answers import render_answer
from chat_core.idempotency import IDEMPOTENCY_FINGERPRINT, IDEMPOTENCY_SCOPE, IDEMPOTENCY_STATUS
from chat_core.readmodel import StreamCache, TemperatureState, ThreadState, apply_event
from events.envelope import DatasetEvent
from events.store.base import EventStore, IdempotencyRecord
from events.tooling.selection import Progress

__all__ = ["ReplayResult", "idempotency_record", "replay_log"]

THREAD_PREFIX = "chat/"
TEMPERATURE_PREFIX = "temperature/"
CREATED_AT_SLACK = timedelta(seconds=5)


@attrs.define
class ReplayResult:
    """What the fold rebuilt, and every way it differs from the live state when checked."""

    events: int = 0
    threads: dict[str, ThreadState] = attrs.Factory(dict)
    temperatures: dict[str, TemperatureState] = attrs.Factory(dict)
    idempotency_records: int = 0
    differences: list[str] = attrs.Factory(list)

    @property
    def messages(self) -> int:
        """Return how many messages the rebuilt threads hold."""
        return sum(state.message_count for state in self.threads.values())


def idempotency_record(event: DatasetEvent) -> IdempotencyRecord | None:
    """Rebuild the idempotency record an event's metadata names, or None when it names none."""
    metadata = event.metadata
    scope = metadata.get(IDEMPOTENCY_SCOPE)
    answer = None if scope is None else render_answer(event)
    if scope is None or answer is None:
        return None
    return IdempotencyRecord(
        key=scope,
        fingerprint=metadata.get(IDEMPOTENCY_FINGERPRINT, ""),
        status=int(metadata.get(IDEMPOTENCY_STATUS, "0")),
        body=orjson.dumps(answer.record_json()),
        created_at=event.occurred_at,
    )


async def replay_log(
    store: EventStore, *, check: bool = False, progress: Progress | None = None
) -> ReplayResult:
    """Fold the whole log into derived state; with check, list where the live state differs."""
    result = ReplayResult()
    last_scope: str | None = None
    pending = 0
    async for item in store.read_all():
        event = item.event
        result.events += 1
        _fold(result, event)
        # An idempotent answer's events are appended together: its record is built once.
        record = idempotency_record(event)
        scope = None if record is None else record.key
        if record is not None and scope != last_scope:
            result.idempotency_records += 1
            if check:
                await _check_record(store, record, item.position, result.differences)
        last_scope = scope
        pending += 1
        if progress is not None and pending == 1000:
            progress(pending)
            pending = 0
    if progress is not None and pending:
        progress(pending)
    if check:
        await _check_streams(store, result)
    return result


def _fold(result: ReplayResult, event: DatasetEvent) -> None:
    stream = event.stream
    if stream.startswith(THREAD_PREFIX):
        thread = result.threads.get(stream)
        if thread is None:
            thread = result.threads[stream] = ThreadState()
        apply_event(thread, event)
    elif stream.startswith(TEMPERATURE_PREFIX):
        temperature = result.temperatures.get(stream)
        if temperature is None:
            temperature = result.temperatures[stream] = TemperatureState()
        apply_event(temperature, event)


async def _check_record(
    store: EventStore, rebuilt: IdempotencyRecord, position: int, differences: list[str]
) -> None:
    live = await store.get_idempotency(rebuilt.key)
    where = f"idempotency record {rebuilt.key[:12]}… (event at position {position})"
    if live is None:
        differences.append(f"{where}: missing from the store")
        return
    changed = [
        name
        for name in ("fingerprint", "status", "body")
        if getattr(rebuilt, name) != getattr(live, name)
    ]
    if abs(rebuilt.created_at - live.created_at) > CREATED_AT_SLACK:
        changed.append("created_at")
    if changed:
        differences.append(f"{where}: {', '.join(changed)} differ")


async def _check_streams(store: EventStore, result: ReplayResult) -> None:
    # Capacity 1: the live path is the request path, but nothing is kept once compared.
    threads = StreamCache(store, ThreadState, capacity=1)
    for stream, thread in sorted(result.threads.items()):
        _compare(stream, thread, await threads.load(stream), result.differences)
    temperatures = StreamCache(store, TemperatureState, capacity=1)
    for stream, temperature in sorted(result.temperatures.items()):
        _compare(stream, temperature, await temperatures.load(stream), result.differences)


def _compare(
    stream: str,
    rebuilt: ThreadState | TemperatureState,
    live: ThreadState | TemperatureState,
    differences: list[str],
) -> None:
    changed = _changed_fields(rebuilt, live)
    if changed:
        differences.append(f"{stream}: {', '.join(changed)} differ from the live state")


def _changed_fields(
    rebuilt: ThreadState | TemperatureState, live: ThreadState | TemperatureState
) -> Sequence[str]:
    names = [field.name for field in attrs.fields(type(rebuilt))]
    return [name for name in names if getattr(rebuilt, name) != getattr(live, name)]
