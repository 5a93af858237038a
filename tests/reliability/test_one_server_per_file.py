"""One server per SQLite file: a second refuses to start, naming the first; a dead one frees it.

The file is known by what it is, not by how it is named: a second server reaching the
first one's database through a symbolic or a hard link refuses too.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from tests.reliability.server import ServerProcess


def _healthy(server: ServerProcess) -> bool:
    with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5) as answer:
        return bool(answer.status == 200)


def test_a_second_server_on_the_same_file_refuses_to_start(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/chat.db"
    with ServerProcess(store_url, tmp_path / "first.log") as first:
        second = ServerProcess(store_url, tmp_path / "second.log")
        with pytest.raises(RuntimeError, match="exited at start"):
            second.start()
        assert second.wait(10) == 2
        log = second.log_text()
        assert f"another chat-core server (pid {first.pid}) is serving" in log
        assert _healthy(first), "the first server stopped serving"


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_a_second_server_through_a_link_to_the_file_refuses_to_start(
    tmp_path: Path, link: str
) -> None:
    database = tmp_path / "chat.db"
    with ServerProcess(f"sqlite:///{database}", tmp_path / "first.log") as first:
        other = tmp_path / "elsewhere" / "other.db"
        other.parent.mkdir()
        if link == "symlink":
            other.symlink_to(database)
        else:
            os.link(database, other)
        second = ServerProcess(f"sqlite:///{other}", tmp_path / "second.log")
        with pytest.raises(RuntimeError, match="exited at start"):
            second.start()
        assert second.wait(10) == 2
        lines = second.log_text().strip().splitlines()
        assert lines == [
            f"chat-core: another chat-core server (pid {first.pid}) is serving {other}; "
            "one server per SQLite file (use PostgreSQL to run several)"
        ]
        assert _healthy(first), "the first server stopped serving"


@pytest.mark.parametrize("stop", ["sigkill", "sigterm"])
def test_the_file_is_free_again_once_its_server_is_gone(tmp_path: Path, stop: str) -> None:
    store_url = f"sqlite:///{tmp_path}/chat.db"
    first = ServerProcess(store_url, tmp_path / "first.log").start()
    if stop == "sigkill":
        first.kill()
    else:
        assert first.terminate() == 0
    with ServerProcess(store_url, tmp_path / "second.log") as second:
        assert _healthy(second)


def test_servers_on_different_files_run_side_by_side(tmp_path: Path) -> None:
    with (
        ServerProcess(f"sqlite:///{tmp_path}/a.db", tmp_path / "a.log") as a,
        ServerProcess(f"sqlite:///{tmp_path}/b.db", tmp_path / "b.log") as b,
    ):
        assert _healthy(a) and _healthy(b)
