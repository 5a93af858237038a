"""Check a whole log row by row: every event decodes, carries a real context, and fits its stream.

Faults found, each by kind:
    undecodable        a row that does not decode into a valid DatasetEvent
    tenant             a tenant that is malformed or the reserved t_unknown
    env                an env outside the Env enum
    request_id         a missing, blank or padded request id
    version_gap        a stream whose versions skip a number (or do not start at 1)
    version_duplicate  a stream holding one version twice
    position_order     positions that do not rise, in the log or along a stream
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import attrs
from attrs import frozen

from events.codec import CodecError, EventCodec
from events.envelope import Env, InvalidContext, check_request_id, check_tenant
from events.store.raw import RawLog, RawRow, StreamEntry
from events.store.sqlite_row_checker import RowChecker
from events.store.sqlite_rows import RowDecoder
from events.tooling.selection import Progress

__all__ = ["Fault", "LogVerifier", "stream_faults"]

_ENVS = frozenset(env.value for env in Env)
# Stand-ins for context fields already reported, so the rest of the row is still checked.
_STAND_IN = {6: "t_verify", 7: Env.DEV.value, 8: "verify"}


@frozen(kw_only=True)
class Fault:
    """One thing wrong with the log, where it was found."""

    kind: str
    detail: str
    position: int | None = None
    stream: str | None = None

    def __str__(self) -> str:
        where = [] if self.position is None else [f"position {self.position}"]
        where += [] if self.stream is None else [f"stream {self.stream}"]
        return f"{self.kind}: {self.detail} ({', '.join(where)})" if where else self.detail


@attrs.define
class _StreamRun:
    stream: str | None = None
    version: int = 0
    position: int = 0


class LogVerifier:
    """Walk a raw log once in position order and once by stream, yielding every fault."""

    def __init__(self, raw: RawLog, codec: EventCodec) -> None:
        self._raw = raw
        self._rows = RowDecoder(codec)
        self._quick = RowChecker(codec).record
        self.checked = 0

    async def faults(self, *, progress: Progress | None = None) -> AsyncIterator[Fault]:
        """Yield each fault as it is found; `checked` counts the rows read."""
        entries = self._raw.stream_entries()
        # Without a stream-ordered scan, versions are tracked per stream during the one pass.
        versions: dict[str, tuple[int, int]] | None = {} if entries is None else None
        async for fault in self.row_faults(versions=versions, progress=progress):
            yield fault
        if entries is not None:
            async for fault in stream_faults(entries):
                yield fault

    async def row_faults(
        self,
        *,
        after: int = 0,
        before: int | None = None,
        versions: dict[str, tuple[int, int]] | None = None,
        progress: Progress | None = None,
    ) -> AsyncIterator[Fault]:
        """Yield the faults of the rows between two positions; versions only when given a dict."""
        last_position = after
        async for page in self._raw.pages(after_position=after, before_position=before):
            for fault in self._check_page(page, last_position, versions):
                yield fault
            last_position = page[-1][0]
            self.checked += len(page)
            if progress is not None:
                progress(len(page))

    def _check_page(
        self, page: list[RawRow], last_position: int, versions: dict[str, tuple[int, int]] | None
    ) -> Iterator[Fault]:
        for row in page:
            if row[0] <= last_position:
                yield Fault(
                    kind="position_order",
                    detail=f"follows position {last_position}",
                    position=row[0],
                    stream=row[2],
                )
            last_position = row[0]
            if versions is not None:
                yield from _check_version(versions, row[2], row[3], row[0])
        # A row the checker is sure of decodes; the others are decoded, all at once, and
        # when that fails, one by one, to find every fault.
        quick = self._quick
        unsure = [row for row in page if quick(row, False) is None]
        if not unsure:
            return
        try:
            self._rows.decode(unsure)
        except (CodecError, ValueError, TypeError):
            for row in unsure:
                yield from self._check_row(row)

    def _check_row(self, row: RawRow) -> Iterator[Fault]:
        position, stream = row[0], row[2]
        faults = list(_context_faults(row))
        yield from faults
        patched = list(row)
        for fault in faults:
            index = {"tenant": 6, "env": 7, "request_id": 8}[fault.kind]
            patched[index] = _STAND_IN[index]
        try:
            self._rows.decode([tuple(patched)])
        except (CodecError, ValueError, TypeError) as exc:
            yield Fault(kind="undecodable", detail=str(exc), position=position, stream=stream)


async def stream_faults(entries: AsyncIterator[list[StreamEntry]]) -> AsyncIterator[Fault]:
    """Yield the version faults of a stream-ordered walk that holds whole streams."""
    run = _StreamRun()
    async for entry_page in entries:
        for fault in _check_entries(entry_page, run):
            yield fault


def _context_faults(row: RawRow) -> Iterator[Fault]:
    position, stream, tenant, env, request_id = row[0], row[2], row[6], row[7], row[8]
    try:
        check_tenant(tenant)
    except InvalidContext as exc:
        yield Fault(kind="tenant", detail=str(exc), position=position, stream=stream)
    if env not in _ENVS:
        detail = f"env {env!r} is not one of {sorted(_ENVS)}"
        yield Fault(kind="env", detail=detail, position=position, stream=stream)
    try:
        check_request_id(request_id)
    except InvalidContext as exc:
        yield Fault(kind="request_id", detail=str(exc), position=position, stream=stream)


def _check_version(
    versions: dict[str, tuple[int, int]], stream: str, version: int, position: int
) -> Iterator[Fault]:
    last_version, last_position = versions.get(stream, (0, 0))
    yield from _version_faults(stream, last_version, last_position, version, position)
    versions[stream] = (max(version, last_version), position)


def _check_entries(page: list[StreamEntry], run: _StreamRun) -> Iterator[Fault]:
    for stream, version, position in page:
        if stream != run.stream:
            run.stream, run.version, run.position = stream, 0, 0
        yield from _version_faults(stream, run.version, run.position, version, position)
        run.version, run.position = version, position


def _version_faults(
    stream: str, last_version: int, last_position: int, version: int, position: int
) -> Iterator[Fault]:
    if version == last_version:
        detail = f"version {version} is recorded twice"
        yield Fault(kind="version_duplicate", detail=detail, position=position, stream=stream)
    elif version != last_version + 1:
        detail = f"version {version} follows version {last_version}"
        yield Fault(kind="version_gap", detail=detail, position=position, stream=stream)
    if position <= last_position:
        detail = f"version {version} at position {position} precedes position {last_position}"
        yield Fault(kind="position_order", detail=detail, position=position, stream=stream)
