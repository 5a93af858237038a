"""The event tooling subcommands: events, export, verify, replay, copy and stats."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import chat_core.payloads  # noqa: F401  (registers the chat event types in the codec)
from events.codec import CodecError, EventCodec
from events.store import StoreError, open_store
from events.store.base import EventStore
from events.tooling.parallel import WorkerFailed
from transports.cli.dataset_cli import DATASET_FORMATS, add_dataset_flags
from transports.cli.keys_cli import add_key_commands, run_erase, run_rotate
from transports.cli.tooling_args import add_filter_flags, add_jobs_flag, add_store_flag, store_url
from transports.cli.tooling_check import run_copy, run_replay, run_verify
from transports.cli.tooling_read import run_events, run_export, run_stats

__all__ = ["TOOLING_COMMANDS", "add_tooling_commands", "run_tooling"]

StoreCommand = Callable[[argparse.Namespace, EventStore, EventCodec, TextIO], Awaitable[int]]
_STORE_COMMANDS: dict[str, StoreCommand] = {
    "events": run_events,
    "export": run_export,
    "verify": run_verify,
    "replay": run_replay,
    "stats": run_stats,
    "erase": run_erase,
    "rotate-master-key": run_rotate,
}
TOOLING_COMMANDS = frozenset({*_STORE_COMMANDS, "copy"})


def add_tooling_commands(commands: Any) -> None:
    """Add the tooling subcommands to the chat-core parser's subparsers."""
    events = commands.add_parser("events", help="print events, one line each")
    add_store_flag(events)
    add_filter_flags(events)
    events.add_argument("--follow", action="store_true", help="stay live, printing new events")
    events.add_argument("--json", action="store_true", help="print each event as export JSON")
    export = commands.add_parser(
        "export", help="write events as JSON Lines (gzip by .gz), or as Parquet"
    )
    add_store_flag(export)
    add_filter_flags(export)
    export.add_argument("-o", "--output", required=True, help="FILE[.gz], or - for stdout")
    export.add_argument(
        "--format",
        choices=("events", *DATASET_FORMATS, "parquet"),
        default="events",
        help="events: DatasetEvent JSON Lines (default); chat: a conversation path per line;"
        " preference: a pair of sibling replies rated up and down per line;"
        " parquet: one row per event (-o FILE)",
    )
    add_dataset_flags(export)
    add_jobs_flag(export)
    verify = commands.add_parser("verify", help="check the whole log; exit 1 on any fault")
    add_store_flag(verify)
    add_jobs_flag(verify)
    replay = commands.add_parser("replay", help="rebuild derived state from the log")
    add_store_flag(replay)
    replay.add_argument("--check", action="store_true", help="compare with the live state")
    copy = commands.add_parser("copy", help="copy a log between stores, ids and order kept")
    copy.add_argument("source", metavar="SRC_URL")
    copy.add_argument("destination", metavar="DST_URL")
    stats = commands.add_parser("stats", help="count events per tenant, env and type")
    add_store_flag(stats)
    add_filter_flags(stats)
    add_key_commands(commands)


def run_tooling(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run one tooling subcommand and return its exit status (2 for a store it cannot read)."""
    out = sys.stdout if out is None else out
    try:
        return asyncio.run(_run(args, out))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except (StoreError, CodecError, FileNotFoundError, ValueError, WorkerFailed) as exc:
        print(f"chat-core {args.command}: {exc}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    codec = EventCodec()
    if args.command == "copy":
        return await run_copy(args, codec, out)
    store = await open_store(store_url(args), codec=codec)
    try:
        return await _STORE_COMMANDS[args.command](args, store, codec, out)
    finally:
        await store.close()
