"""Fingerprints: one canonical form per request; a record under another is another request."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from chat_core.commands import Idempotency
from chat_core.errors import IdempotencyMismatch
from chat_core.idempotency import IdempotencyGuard
from events.store.base import IdempotencyRecord
from events.store.memory import MemoryEventStore
from tests.events.factories import make_event
from transports.http.requests import request_fingerprint

SCOPE = "scope-1"


async def _guard_with_record(fingerprint: str) -> IdempotencyGuard:
    store = MemoryEventStore()
    record = IdempotencyRecord(
        key=SCOPE, fingerprint=fingerprint, status=201, body=b"{}", created_at=datetime.now(UTC)
    )
    await store.append("s-1", [make_event("s-1", 1)], 0, idempotency=record)
    return IdempotencyGuard(store)


async def test_a_record_under_another_fingerprint_is_another_request() -> None:
    guard = await _guard_with_record("someone-else")
    with pytest.raises(IdempotencyMismatch):
        await guard.replay(SCOPE, Idempotency(key="k", fingerprint="new"))


def test_the_canonical_form_ignores_key_order_and_spacing_but_not_values() -> None:
    path = "/chat/threads/th_1/messages"
    one = request_fingerprint("POST", path, {"content": "hi", "metadata": {"a": "1", "b": "2"}})
    same = request_fingerprint("POST", path, {"metadata": {"b": "2", "a": "1"}, "content": "hi"})
    assert one == same
    assert one != request_fingerprint("POST", path, {"content": "hi!", "metadata": {}})
    assert one != request_fingerprint("PUT", path, {"content": "hi", "metadata": {}})
    assert one != request_fingerprint("POST", path + "x", {"content": "hi", "metadata": {}})
    # Length-prefixed parts: moving a byte from the path into the body changes the digest.
    assert request_fingerprint("POST", "/a", "b") != request_fingerprint("POST", "/", "ab")
    assert len(one) == len(hashlib.sha256().hexdigest())
