"""Key commands: erase a subject, rotate the master key; and the key ring export opens with."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import time
import uuid
from datetime import UTC, datetime
from typing import TextIO

import attrs

from chat_core.bootstrap import master_key
from chat_core.caches import StreamCache
from chat_core.commands import EraseSubject
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.erasure import ErasureHandler
from chat_core.erasure_progress import PENDING
from chat_core.settings import ENV_NAMES, Settings, SettingsError
from chat_core.state import ThreadState
from chat_core.views import ErasureView
from chat_core.webhooks.unwrap import rewrap_webhooks
from events.bus import MessageBus
from events.codec import EventCodec
from events.crypto import MasterKey, parse_master_key
from events.envelope import Env
from events.keys import KeyRing, open_key_store, rotate_master_key
from events.store.base import EventStore
from events.webhooks import open_webhook_store
from transports.cli.tooling_args import add_store_flag, store_url

__all__ = ["add_key_commands", "open_key_ring", "run_erase", "run_rotate"]

NEW_MASTER_KEY = "CHAT_CORE_NEW_MASTER_KEY"
# Seconds erase waits for readers to let go of the destroyed keys' bytes before it answers.
ERASE_PATIENCE = 30.0


def add_key_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add erase and rotate-master-key to the chat-core parser's subparsers."""
    erase = commands.add_parser("erase", help="destroy a subject's data keys in a tenant")
    add_store_flag(erase)
    erase.add_argument("--tenant", required=True)
    erase.add_argument("--subject", required=True)
    erase.add_argument("--env", default=Env.PROD.value, choices=[e.value for e in Env])
    rotate = commands.add_parser(
        "rotate-master-key",
        help=f"rewrap every data key under ${NEW_MASTER_KEY}; events are not touched",
    )
    add_store_flag(rotate)


def configured_master_key(url: str) -> MasterKey:
    """Return $CHAT_CORE_MASTER_KEY, or outside prod mode the dev key beside the log."""
    text = os.environ.get(ENV_NAMES["master_key"])
    if text:
        return parse_master_key(text)
    mode = os.environ.get(ENV_NAMES["mode"]) or "dev"
    if mode == "prod":
        raise SettingsError(f"prod mode needs {ENV_NAMES['master_key']}")
    return master_key(Settings(store_url=url), ephemeral=url.startswith("memory:"))


async def open_key_ring(url: str) -> KeyRing:
    """Open the key store of the log a URL names, under the configured master key."""
    return KeyRing(await open_key_store(url), configured_master_key(url))


async def run_erase(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Erase a subject in a tenant, as POST /admin/erasures does, recorded as the operator."""
    url = store_url(args)
    keys = await open_key_ring(url)
    bus = MessageBus()
    handler = ErasureHandler(
        store=store,
        bus=bus,
        keys=keys,
        threads=StreamCache(store, ThreadState, capacity=1),
        clock=lambda: datetime.now(UTC),
    )
    handler.register()
    try:
        operator = f"cli:{getpass.getuser()}"
        view = await bus.send(
            EraseSubject(
                context=RequestContext(
                    tenant=args.tenant, env=Env(args.env), request_id=f"cli-{uuid.uuid4()}"
                ),
                auth=AuthContext(sub=operator, memberships={args.tenant: frozenset({Role.ADMIN})}),
                subject=args.subject,
            )
        )
        assert isinstance(view, ErasureView), "no Idempotency-Key, so never a replay"
        view = await _completed(handler, view)
    finally:
        await handler.close()
        await keys.store.close()
    out.write(f"erased {args.subject} in {args.tenant}: {view.to_json()}\n")
    return 0


async def _completed(handler: ErasureHandler, view: ErasureView) -> ErasureView:
    """Wait up to ERASE_PATIENCE seconds for a pending erasure; return it as it is then.

    Still pending (a reader holds a snapshot of the key bytes), it is finished by the next
    scrub of a process on the log: the next erasure, or the server asked about this one.
    """
    deadline = time.monotonic() + ERASE_PATIENCE
    while view.status == PENDING and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        view = attrs.evolve(view, status=await handler.progress.status(view.erasure_id))
    return view


async def run_rotate(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Rewrap every live data key from the configured master key to the new one."""
    text = os.environ.get(NEW_MASTER_KEY)
    if not text:
        raise SettingsError(f"set {NEW_MASTER_KEY} to the new master key (base64 of 32 bytes)")
    url = store_url(args)
    key_store = await open_key_store(url)
    old, new = configured_master_key(url), parse_master_key(text)
    try:
        rewrapped, done = await rotate_master_key(key_store, old, new)
    finally:
        await key_store.close()
    # Webhook signing secrets are wrapped by the master key too.
    webhook_store = await open_webhook_store(url)
    try:
        hooks, hooks_done = await rewrap_webhooks(webhook_store, old, new)
    finally:
        await webhook_store.close()
    out.write(
        f"rewrapped {rewrapped} data keys ({done} were already under the new key) and "
        f"{hooks} webhook secrets ({hooks_done} already); "
        f"now set {ENV_NAMES['master_key']} to the new key\n"
    )
    return 0
