"""The checking and moving commands: verify, replay and copy."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from chat_core.bootstrap import master_key_mismatch
from chat_core.replay import kept_idempotency_record, replay_log
from chat_core.settings import (
    ENV_NAMES,
    MASTER_KEY_FILE,
    Settings,
    SettingsError,
    dev_master_key,
    idempotency_ttl,
)
from events.codec import EventCodec
from events.crypto import MasterKey, new_data_key, parse_master_key
from events.keys import KeyRing, open_key_store, rewrap
from events.store import open_store
from events.store.base import EventStore
from events.store.raw import open_raw_log
from events.store.url import redact_url, sqlite_path
from events.tooling import LogVerifier, Selection, copy_log
from events.tooling.parallel import ParallelLog, ParallelVerifier
from transports.cli.keys_cli import configured_master_key, open_key_ring
from transports.cli.progress import progress_bar
from transports.cli.tooling_args import store_url

__all__ = ["SOURCE_MASTER_KEY", "run_copy", "run_replay", "run_verify"]

SOURCE_MASTER_KEY = "CHAT_CORE_SOURCE_MASTER_KEY"


async def run_verify(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Check every row of the log as stored; list each fault and exit 1 when there is any."""
    url = store_url(args)
    plan = None
    if url.startswith("sqlite:"):
        plan = ParallelLog.of(sqlite_path(url), codec, Selection(), jobs=args.jobs)
    raw = open_raw_log(url, store, codec)
    verifier = LogVerifier(raw, codec) if plan is None else ParallelVerifier(plan)
    faults = 0
    try:
        with progress_bar("verify", total=await store.head_position()) as progress:
            async for fault in verifier.faults(progress=progress):
                faults += 1
                out.write(f"{fault}\n")
    finally:
        await raw.close()
    verdict = "no fault" if not faults else f"{faults} fault{'s' * (faults != 1)}"
    out.write(f"verified {verifier.checked} events: {verdict}\n")
    return 1 if faults else 0


async def run_replay(
    args: argparse.Namespace, store: EventStore, codec: EventCodec, out: TextIO
) -> int:
    """Rebuild the derived state from the log; with --check, exit 1 on any difference.

    Each difference is written as it is found, so none is held however many there are.
    """

    def differs(difference: str) -> None:
        out.write(f"differs: {difference}\n")

    # The search index holds opened words: it is rebuilt with the authors' keys.
    keys = await open_key_ring(store_url(args))
    try:
        with progress_bar("replay", total=await store.head_position()) as progress:
            result = await replay_log(
                store,
                check=args.check,
                progress=progress,
                on_difference=differs,
                idempotency_ttl=timedelta(seconds=idempotency_ttl(os.environ)),
                keys=keys,
            )
    finally:
        await keys.store.close()
    if result.search_skipped is not None:
        print(
            f"chat-core: the search index was not replayed: {result.search_skipped}",
            file=sys.stderr,
        )
    expired = f" ({result.expired_records} past the retention)" if result.expired_records else ""
    out.write(
        f"replayed {result.events} events: {result.threads} threads, "
        f"{result.messages} messages, {result.temperature_configs} temperature configs, "
        f"{result.idempotency_records} idempotency records{expired}, "
        f"{result.search_documents} messages in the search index\n"
    )
    if args.check:
        count = result.differences
        out.write("live state matches\n" if not count else f"{count} differences\n")
    return 1 if result.differences else 0


async def run_copy(args: argparse.Namespace, codec: EventCodec, out: TextIO) -> int:
    """Copy the source log into the destination store, resuming where it stopped."""
    if args.source == args.destination:
        raise ValueError("the source and the destination are the same store")
    source_url = _existing(args.source)
    # Refuse before anything is copied when the data keys could not be carried over.
    source_master, destination_master = await _copy_masters(source_url, args.destination)
    source = await open_store(source_url, codec=codec)
    try:
        destination = await open_store(args.destination, codec=codec)
        try:
            total = await source.head_position() - await destination.head_position()
            expired_before = datetime.now(UTC) - timedelta(seconds=idempotency_ttl(os.environ))
            with progress_bar("copy", total=total) as progress:
                result = await copy_log(
                    source,
                    destination,
                    idempotency_of=lambda event: kept_idempotency_record(event, expired_before),
                    progress=progress,
                )
        finally:
            await destination.close()
    finally:
        await source.close()
    await _copy_keys(source_url, args.destination, source_master, destination_master)
    await _rebuild_index(args.destination, destination_master, codec)
    print(
        f"chat-core: the copy's data keys are wrapped by master key {destination_master.key_id}; "
        f"start its servers with that {ENV_NAMES['master_key']}",
        file=sys.stderr,
    )
    kept = "positions kept" if result.positions_kept else "positions renumbered (source has holes)"
    out.write(
        f"copied {result.copied} events after source position {result.resumed_after}; {kept}\n"
    )
    return 0


async def _rebuild_index(url: str, master: MasterKey, codec: EventCodec) -> None:
    """Build the copy's search index from its log, with the keys now carried over."""
    store = await open_store(url, codec=codec)
    try:
        keys = KeyRing(await open_key_store(url), master)
        try:
            with progress_bar("index", total=await store.head_position()) as progress:
                await replay_log(store, progress=progress, keys=keys)
        finally:
            await keys.store.close()
    finally:
        await store.close()


async def _copy_masters(source_url: str, destination_url: str) -> tuple[MasterKey, MasterKey]:
    """Return the master keys that open the source's data keys and will open the copy's.

    The source's is $CHAT_CORE_SOURCE_MASTER_KEY, the dev key beside a SQLite source, or
    $CHAT_CORE_MASTER_KEY (in dev mode, the dev key): whichever wraps its keys. The copy's
    is the one its servers will start with: $CHAT_CORE_MASTER_KEY, or in dev mode the dev
    key a dev server there would use; a copy whose keys another master wraps is refused
    with the command to mend it.
    """
    source_keys = await open_key_store(source_url)
    try:
        source_master = None
        for candidate in _source_masters(source_url):
            if await source_keys.foreign_master(candidate.key_id) is None:
                source_master = candidate
                break
        foreign = await source_keys.foreign_master("")
        if source_master is None and foreign is None:
            source_master = MasterKey(new_data_key())  # no live key: nothing to unwrap
        if source_master is None:
            raise SettingsError(
                f"the data keys of {redact_url(source_url)} are wrapped by master key {foreign}: "
                f"set {SOURCE_MASTER_KEY} to that key (base64 of 32 bytes) to copy them"
            )
    finally:
        await source_keys.close()
    destination_master = configured_master_key(destination_url)
    destination_keys = await open_key_store(destination_url)
    try:
        foreign = await destination_keys.foreign_master(destination_master.key_id)
    finally:
        await destination_keys.close()
    if foreign is not None:
        raise SettingsError(
            master_key_mismatch(destination_url, foreign, destination_master.key_id)
        )
    return source_master, destination_master


def _source_masters(source_url: str) -> list[MasterKey]:
    """Return the master keys that may wrap the source's data keys, most specific first."""
    found = []
    if text := os.environ.get(SOURCE_MASTER_KEY):
        found.append(parse_master_key(text))
    beside = Settings(store_url=source_url).data_dir / MASTER_KEY_FILE
    if source_url.startswith("sqlite:") and beside.exists():
        found.append(MasterKey(dev_master_key(beside.parent)))
    if text := os.environ.get(ENV_NAMES["master_key"]):
        found.append(parse_master_key(text))
    elif os.environ.get(ENV_NAMES["mode"], "dev") == "dev":
        found.append(configured_master_key(source_url))  # the dev key a dev server would use
    return found


async def _copy_keys(
    source_url: str, destination_url: str, source_master: MasterKey, destination_master: MasterKey
) -> int:
    """Copy the data keys (tombstones too), rewrapped for the destination's master key."""
    source = await open_key_store(source_url)
    try:
        destination = await open_key_store(destination_url)
        try:
            stored = await source.all_keys()
            for key in stored:
                await destination.add_key(rewrap(key, source_master, destination_master))
        finally:
            await destination.close()
    finally:
        await source.close()
    return len(stored)


def _existing(url: str) -> str:
    return store_url(argparse.Namespace(store=url))
