"""/readyz says whether the store can take a write: a full disk or a read-only database is
503, though the store still answers reads; the probe is kept for about a second."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, build_app, create_thread
from tests.pg import fresh_database, server_url
from transports.http.readiness import Readiness

Client = TestClient[Any, Any]
# How long a test waits for /readyz to follow the store (the probe is kept about 1 s).
SETTLE = 15.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Probes:
    """A store's write probe that counts its calls and fails, or hangs, when told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.failure: Exception | None = None
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self) -> None:
        self.calls += 1
        await self.release.wait()
        if self.failure is not None:
            raise self.failure


async def test_a_probe_is_kept_for_a_second() -> None:
    clock, probes = FakeClock(), Probes()
    readiness = Readiness(probes, clock=clock)
    assert await readiness.ready() and await readiness.ready()
    assert probes.calls == 1
    probes.failure = OSError(errno.ENOSPC, "No space left on device")
    clock.now = 0.9
    assert await readiness.ready()
    clock.now = 1.0
    assert not await readiness.ready()
    assert probes.calls == 2


async def test_polls_at_once_share_one_probe() -> None:
    probes = Probes()
    probes.release.clear()
    readiness = Readiness(probes, clock=FakeClock())
    waiting = [asyncio.create_task(readiness.ready()) for _ in range(5)]
    await asyncio.sleep(0)
    probes.release.set()
    assert await asyncio.gather(*waiting) == [True] * 5
    assert probes.calls == 1


async def test_a_probe_past_its_timeout_is_not_ready() -> None:
    probes = Probes()
    probes.release.clear()
    readiness = Readiness(probes, timeout=0.01, clock=FakeClock())
    assert not await readiness.ready()


async def _readyz_becomes(client: Client, status: int) -> None:
    """Poll /readyz until it answers status, then see it hold past the next two probes."""
    async with asyncio.timeout(SETTLE):
        while True:
            if (await client.get("/readyz")).status == status:
                break
            await asyncio.sleep(0.1)
    for _ in range(3):
        await asyncio.sleep(0.6)
        assert (await client.get("/readyz")).status == status


async def _reads_work(client: Client, headers: dict[str, str]) -> None:
    """Wait until the server reads again (its pool has replaced the ended sessions)."""
    async with asyncio.timeout(SETTLE):
        while True:
            if (await client.get("/chat/threads", headers=headers)).status == 200:
                break
            await asyncio.sleep(0.1)


@contextlib.contextmanager
def _small_disk(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of size at path (root only), and unmount it afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs, a real filesystem to fill, needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; return it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


async def test_a_full_disk_makes_the_server_unready_until_space_returns(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    with _small_disk(tmp_path / "disk", "8m") as disk:
        client: Client = await aiohttp_client(await build_app(store_url=f"sqlite:///{disk}/c.db"))
        try:
            headers = auth_headers()
            thread = await create_thread(client, headers)
            path = f"/chat/threads/{thread['id']}/messages"
            assert (await client.post(path, json={"content": "a"}, headers=headers)).status == 201
            assert (await client.get("/readyz")).status == 200
            filler = _fill(disk)
            await _readyz_becomes(client, 503)
            assert (await client.get("/healthz")).status == 200
            posted = await client.post(path, json={"content": "b" * 4000}, headers=headers)
            assert posted.status != 201
            filler.unlink()
            await _readyz_becomes(client, 200)
            assert (await client.post(path, json={"content": "c"}, headers=headers)).status == 201
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def _database() -> AsyncIterator[tuple[str, Any]]:
    """Yield a fresh database's URL and a superuser connection to the server."""
    asyncpg = pytest.importorskip("asyncpg")
    async with fresh_database() as url:
        admin = await asyncpg.connect(server_url(), timeout=5)
        try:
            yield url, admin
        finally:
            await admin.close()


async def _reconnect_everyone(admin: Any, url: str) -> None:
    """End the database's sessions: the server's pool reconnects under the new defaults."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )


@pytest.mark.postgres
async def test_a_read_only_database_makes_the_server_unready(aiohttp_client: Any) -> None:
    # The closest fault to a full disk on a shared server: the database turns read-only
    # (as a standby promoted wrongly, or one left read-only), while reads go on.
    async with _database() as (url, admin):
        name = url.rsplit("/", 1)[1].split("?")[0]
        client: Client = await aiohttp_client(await build_app(store_url=url))
        try:
            headers = auth_headers()
            await create_thread(client, headers)
            assert (await client.get("/readyz")).status == 200
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            await _reconnect_everyone(admin, url)
            await _reads_work(client, headers)
            await _readyz_becomes(client, 503)
            assert (await client.get("/chat/threads", headers=headers)).status == 200
            assert (await client.post("/chat/threads", json={}, headers=headers)).status != 201
            await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            await _reconnect_everyone(admin, url)
            await _reads_work(client, headers)
            await _readyz_becomes(client, 200)
            assert (await client.post("/chat/threads", json={}, headers=headers)).status == 201
        finally:
            await client.close()
