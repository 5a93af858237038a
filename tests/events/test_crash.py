"""Kill a process mid-append and prove every acknowledged event survived intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 600


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash" / "events.db"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.events.crash_child", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    acks = []
    try:
        for line in child.stdout:
            acks.append(line.split())
            if len(acks) >= ACKS_BEFORE_KILL:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert len(acks) >= ACKS_BEFORE_KILL

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {
            (str(position), stream, str(version)): event_id
            for position, event_id, stream, version in conn.execute(
                "SELECT position, event_id, stream, version FROM events"
            )
        }
        for position, event_id, stream, version in acks:
            assert stored[(position, stream, version)].hex() == event_id.replace("-", "")
        for (stream,) in conn.execute("SELECT DISTINCT stream FROM events"):
            versions = [
                v
                for (v,) in conn.execute(
                    "SELECT version FROM events WHERE stream = ? ORDER BY version", (stream,)
                )
            ]
            assert versions == list(range(1, len(versions) + 1))
            assert len(versions) % 2 == 0
