"""The flags the event tooling shares: the store URL and the filters, turned into a Selection."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from chat_core.settings import DEFAULT_STORE
from events.envelope import Env
from events.store.base import EventFilter
from events.store.url import sqlite_path
from events.tooling import Selection
from events.tooling.parallel import usable_cores

__all__ = [
    "add_filter_flags",
    "add_jobs_flag",
    "add_store_flag",
    "rfc3339_time",
    "selection_of",
    "store_url",
]


def rfc3339_time(text: str) -> datetime:
    """Parse an RFC 3339 time with its offset into an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset (add Z or +00:00)")
    return moment.astimezone(UTC)


def _position(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a position is 0 or more")
    return value


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    """Add --store, which falls back to $CHAT_CORE_STORE and then the default."""
    parser.add_argument(
        "--store", default=None, help="event store URL (overrides $CHAT_CORE_STORE)"
    )


def _jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("--jobs is 1 or more")
    return value


def add_jobs_flag(parser: argparse.ArgumentParser) -> None:
    """Add --jobs: worker processes for a SQLite log (1 reads it in this process alone)."""
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=usable_cores(),
        metavar="N",
        help="worker processes over a SQLite log (default: the usable cores; 1: none)",
    )


def add_filter_flags(parser: argparse.ArgumentParser, *, positions: bool = True) -> None:
    """Add the repeatable filters, the time window and, unless told not to, the position window."""
    group = parser.add_argument_group("filters")
    group.add_argument("--tenant", action="append", default=[], help="repeatable")
    group.add_argument("--env", action="append", default=[], choices=[e.value for e in Env])
    group.add_argument("--type", action="append", default=[], dest="types", help="event type")
    group.add_argument("--stream", action="append", default=[], dest="streams")
    group.add_argument("--since", type=rfc3339_time, help="occurred at or after (RFC 3339)")
    group.add_argument("--until", type=rfc3339_time, help="occurred before (RFC 3339)")
    if positions:
        group.add_argument("--after", type=_position, default=0, help="positions after this")
        group.add_argument("--before", type=_position, default=None, help="positions before this")


def selection_of(args: argparse.Namespace) -> Selection:
    """Build the Selection the filter flags describe."""
    event_filter = EventFilter(
        tenants=args.tenant,
        envs=[Env(env) for env in args.env],
        types=args.types,
        streams=args.streams,
        since=args.since,
        until=args.until,
    )
    unfiltered = event_filter == EventFilter()
    return Selection(
        after=getattr(args, "after", 0),
        before=getattr(args, "before", None),
        event_filter=None if unfiltered else event_filter,
    )


def store_url(args: argparse.Namespace, *, must_exist: bool = True) -> str:
    """Return the store URL from --store, $CHAT_CORE_STORE or the default; check a file exists."""
    url: str = args.store or os.environ.get("CHAT_CORE_STORE") or DEFAULT_STORE
    if must_exist and url.startswith("sqlite:") and not Path(sqlite_path(url)).is_file():
        raise FileNotFoundError(f"no event log at {url}")
    return url
