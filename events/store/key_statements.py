"""The data_keys statements both key stores run, written once, and a row read back.

They are written in SQLite's `?` placeholders; PostgreSQL's store numbers them
(`numbered`). Only the table's definition and the scrub are each backend's own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from events.keys.keystore import StoredKey

__all__ = [
    "ALL",
    "DESTROY",
    "FOREIGN",
    "INSERT",
    "ONE",
    "REWRAP",
    "SUBJECT",
    "numbered",
    "rewrap_params",
    "stored_key",
]

_COLUMNS = "tenant, subject, key_id, wrapped, master_id, created_at"
# Built from constants only, never from input.
INSERT = (
    f"INSERT INTO data_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "  # noqa: S608
    "ON CONFLICT DO NOTHING"
)
ONE = f"SELECT {_COLUMNS} FROM data_keys WHERE tenant = ? AND subject = ? AND key_id = ?"  # noqa: S608
SUBJECT = f"SELECT {_COLUMNS} FROM data_keys WHERE tenant = ? AND subject = ? ORDER BY key_id"  # noqa: S608
ALL = f"SELECT {_COLUMNS} FROM data_keys ORDER BY tenant, subject, key_id"  # noqa: S608
DESTROY = (
    "UPDATE data_keys SET wrapped = NULL, destroyed_at = ? "
    "WHERE tenant = ? AND subject = ? AND wrapped IS NOT NULL"
)
FOREIGN = "SELECT master_id FROM data_keys WHERE wrapped IS NOT NULL AND master_id <> ? LIMIT 1"
REWRAP = (
    "UPDATE data_keys SET wrapped = ?, master_id = ? WHERE tenant = ? AND subject = ? "
    "AND key_id = ? AND wrapped IS NOT NULL AND master_id = ?"
)


def numbered(sql: str) -> str:
    """Return sql with its `?` placeholders numbered $1, $2, ... in order."""
    counter = itertools.count(1)
    return re.sub(r"\?", lambda _match: f"${next(counter)}", sql)


def rewrap_params(key: StoredKey, previous_master: str) -> tuple[Any, ...]:
    """Return REWRAP's parameters: the key's new wrapping, if it is still under previous_master."""
    return (key.wrapped, key.master_id, key.tenant, key.subject, key.key_id, previous_master)


def stored_key(row: Sequence[Any], decode_time: Callable[[Any], datetime]) -> StoredKey:
    """Return the key a row of ONE, SUBJECT or ALL holds."""
    return StoredKey(
        tenant=row[0],
        subject=row[1],
        key_id=row[2],
        wrapped=None if row[3] is None else bytes(row[3]),
        master_id=row[4],
        created_at=decode_time(row[5]),
    )
