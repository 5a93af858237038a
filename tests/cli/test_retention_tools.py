"""replay --check and copy on a log where a key's record was purged and the key used again."""

from __future__ import annotations

import asyncio
import contextlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat_core.bootstrap import bootstrap
from chat_core.commands import CreateThread, Idempotency, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.idempotency import purge_expired
from chat_core.settings import IDEMPOTENCY_TTL
from chat_core.views import MessageView, ThreadView
from events.envelope import Env
from tests.http.helpers import settings
from transports.cli.main import main

DAY = timedelta(seconds=IDEMPOTENCY_TTL)
MINUTE = timedelta(minutes=1)
ADA = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})


def _post(thread_id: str, request_id: str) -> PostMessage:
    return PostMessage(
        context=RequestContext(tenant="t_acme", env=Env.DEV, request_id=request_id),
        auth=ADA,
        thread_id=thread_id,
        role="user",
        content="hello",
        idempotency=Idempotency(key="k-reused", fingerprint="same request"),
    )


async def _log_with_a_reused_key(url: str) -> list[str]:
    """Post with a key a day ago, purge it, post again with it a minute ago; return ids."""
    real = datetime.now(UTC)
    now = [real - DAY - 2 * MINUTE]
    core = await bootstrap(settings=settings(store_url=url), clock=lambda: now[0])
    try:
        context = RequestContext(tenant="t_acme", env=Env.DEV, request_id="req-thread")
        thread = await core.bus.send(CreateThread(context=context, auth=ADA, title="t"))
        assert isinstance(thread, ThreadView)
        first = await core.bus.send(_post(thread.id, "req-first"))
        now[0] = real - MINUTE
        assert await purge_expired(core.store, now=now[0], ttl=DAY) == 1
        second = await core.bus.send(_post(thread.id, "req-second"))
    finally:
        await core.close()
    assert isinstance(first, MessageView) and isinstance(second, MessageView)
    assert first.id != second.id
    return [first.id, second.id]


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(list(argv))
    return status, out.getvalue()


async def _cli(*argv: str) -> tuple[int, str]:
    """Run chat-core in a thread: it runs its own event loop."""
    return await asyncio.to_thread(_run, *argv)


async def test_replay_check_and_copy_keep_the_newer_answer_of_a_reused_key(
    tmp_path: Path,
) -> None:
    source = f"sqlite:///{tmp_path / 'source' / 'chat.db'}"
    copy = f"sqlite:///{tmp_path / 'copy' / 'chat.db'}"
    await _log_with_a_reused_key(source)

    status, out = await _cli("replay", "--check", "--store", source)
    assert status == 0, out
    assert "2 idempotency records (1 past the retention)" in out
    assert "live state matches" in out

    status, out = await _cli("copy", source, copy)
    assert status == 0, out
    status, out = await _cli("replay", "--check", "--store", copy)
    assert status == 0, out
    assert "live state matches" in out
