"""The chat-core command line: serve, token and the event tooling."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from aiohttp import web

from chat_core.bootstrap import bootstrap, hs256_secret
from chat_core.settings import ENV_NAMES, SECRET_FILE, Settings, SettingsError, load_settings
from chat_core.tokens import mint_token, parse_tenant_roles
from events.store.base import StoreError
from events.store.sqlite_lock import FileServed, serving_lock
from events.store.url import redact_url, sqlite_path
from transports.cli.logs import configure_logging
from transports.cli.tooling import TOOLING_COMMANDS, add_tooling_commands, run_tooling
from transports.http.app import create_app
from transports.http.key_refresh import reload_keys_on_hangup
from transports.http.limits import server_options
from transports.http.log_redaction import redact_parser_errors

__all__ = ["main", "new_loop"]

SWITCH_INTERVAL = 0.0005
GC_THRESHOLDS = (100_000, 50, 100)
DEV_SUB = "u_dev"
DEV_TENANT = "t_dev"


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for name, variable in ENV_NAMES.items():
        flag = "--" + variable.removeprefix("CHAT_CORE_").lower().replace("_", "-")
        parser.add_argument(flag, dest=name, default=None, help=f"overrides ${variable}")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP server")
    _add_setting_flags(serve)
    token = commands.add_parser("token", help="print a token signed with the HS256 secret")
    _add_setting_flags(token)
    token.add_argument("--sub", required=True, help="the token's subject")
    token.add_argument(
        "--tenant",
        action="append",
        required=True,
        dest="tenants",
        help="t_acme:member,admin (repeatable)",
    )
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    add_tooling_commands(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    flags = {name: getattr(args, name, None) for name in ENV_NAMES}
    return load_settings(os.environ, flags)


def _signing_secret(settings: Settings) -> bytes:
    """Return the secret `chat-core token` signs with; never make a dev secret for it.

    A dev secret made here, in a folder the server does not use, would sign tokens that
    server refuses: say where the server keeps its secret instead.
    """
    if settings.hs256_secret is None and (settings.jwks or settings.oidc_issuer) is not None:
        source = "CHAT_CORE_JWKS" if settings.jwks is not None else "CHAT_CORE_OIDC_ISSUER"
        raise SettingsError(
            f"this server verifies tokens with {source} only: mint them with the identity "
            "provider that holds its private keys (chat-core token signs HS256 only)"
        )
    if settings.hs256_secret is None and settings.mode == "dev":
        kept = settings.data_dir / SECRET_FILE
        if not kept.exists():
            raise SettingsError(
                f"no dev secret at {kept}: run chat-core token where chat-core serve runs "
                "(or give it the server's --store), or set CHAT_CORE_HS256_SECRET"
            )
    secret = hs256_secret(settings)
    if secret is None:
        raise SettingsError("no HS256 secret is configured, so no token can be signed here")
    return secret


def _token(settings: Settings, sub: str, tenants: dict[str, list[str]], ttl: int) -> str:
    secret = _signing_secret(settings)
    return mint_token(
        secret=secret,
        issuer=settings.issuer,
        audience=settings.audience,
        sub=sub,
        tenants=tenants,
        ttl=ttl,
    )


class StartupFault(Exception):
    """The server could not start: the message is the one line the operator reads."""


def _announce(settings: Settings, running: str) -> None:
    """Print the line that says where the server listens; in dev mode the token beside it.

    aiohttp calls this with its own "Running on ..." text once every socket is bound, so
    nothing is printed (above all no token) for a server that never listens.
    """
    bound = re.search(r"Running on (.+?) =", running)
    where = bound.group(1) if bound else f"http://{settings.host}:{settings.port}"
    print(
        f"chat-core listening on {where} ({settings.mode} mode, store "
        f"{redact_url(settings.store_url)})",
        flush=True,
    )
    if settings.mode != "dev" or hs256_secret(settings) is None:
        return  # no dev token to show: prod, or the identity provider's keys only
    token = _token(settings, DEV_SUB, {DEV_TENANT: ["member", "admin"]}, 24 * 3600)
    base = where.split(",")[0]
    print(f"dev token for {DEV_SUB}, admin of {DEV_TENANT}, valid 24 h:\n{token}\n", flush=True)
    print(
        f"curl -s {base}/temperature/config -H 'Authorization: Bearer {token}' "
        f"-H 'X-Tenant-Id: {DEV_TENANT}' -H 'X-Env: dev'\n",
        flush=True,
    )


def _serve(settings: Settings) -> None:
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    redact_parser_errors()
    # The store's writer and reader threads run Python between SQLite calls; with the
    # default 5 ms switch interval the event loop can wait that long for the GIL, which
    # showed up as 40-50 ms p99 latencies on POST. Hand the GIL over sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # The read model keeps many long-lived objects; at the default thresholds the collector
    # walked them often enough to put 35-50 ms pauses into POST p99. Collect young objects
    # in larger batches (measured: POST p99 48 ms -> 10 ms under wrk, 32 connections).
    gc.set_threshold(*GC_THRESHOLDS)

    async def make_app() -> web.Application:
        app = create_app(await bootstrap(settings=settings))
        reload_keys_on_hangup(app)
        return app

    try:
        with _sole_server(settings.store_url):
            _run(settings, make_app)
    except FileServed:
        raise  # its own line already names the other server
    except (StoreError, sqlite3.Error) as exc:
        raise StartupFault(
            f"cannot open the store {redact_url(settings.store_url)}: {exc}"
        ) from None
    except OSError as exc:
        if "bind" in str(exc):
            reason = str(exc).rsplit(": ", 1)[-1]
            raise StartupFault(
                f"cannot listen on {settings.host}:{settings.port}: {reason}"
            ) from None
        if exc.filename is not None and exc.strerror is not None:
            raise StartupFault(f"cannot start: {exc.filename}: {exc.strerror.lower()}") from None
        raise StartupFault(f"cannot start: {exc}") from None


def _sole_server(store_url: str) -> AbstractContextManager[None]:
    """Hold a SQLite file's serving lock while serving it; other stores need none."""
    if store_url.startswith("sqlite:"):
        return serving_lock(sqlite_path(store_url))
    return nullcontext()


def _run(settings: Settings, make_app: Callable[[], Awaitable[web.Application]]) -> None:
    """Serve until SIGTERM or SIGINT; announce the address once every socket is bound."""
    web.run_app(
        make_app(),
        host=settings.host,
        port=settings.port,
        print=lambda running: _announce(settings, running),
        # SIGTERM: stop listening, close streams, wait this long for requests in flight,
        # then the app's cleanup flushes the store's writer; the process exits 0.
        shutdown_timeout=settings.shutdown_timeout,
        # The request gate (transports/http/admission.py) writes the one access line.
        access_log=None,
        loop=new_loop(),
        **server_options(settings),
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """Return a uvloop loop where uvloop is installed (it serves HTTP faster), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.command in TOOLING_COMMANDS:
        return run_tooling(args)
    try:
        settings = _settings(args)
        if args.command == "serve":
            _serve(settings)
            return 0
        tenants: dict[str, list[str]] = {}
        for spec in args.tenants:
            tenants.update(parse_tenant_roles(spec))
        print(_token(settings, args.sub, tenants, args.ttl))
        return 0
    except (SettingsError, ValueError, FileServed, StartupFault) as exc:
        print(f"chat-core: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
