"""Settings from CHAT_CORE_* environment variables or matching flags, checked at start.

The values that are more than a number are parsed in setting_values, whose SettingsError
and TemperatureDefaults are re-exported here as `name as name`.
"""

from __future__ import annotations

import base64
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from attrs import field, frozen

from chat_core import setting_values as values
from chat_core.caches import CACHE_BYTES
from chat_core.setting_values import SettingsError as SettingsError
from chat_core.setting_values import TemperatureDefaults as TemperatureDefaults
from chat_core.tokens.sources import MIN_SECRET_BYTES
from events.envelope import Env

__all__ = [
    "DEFAULT_STORE",
    "IDEMPOTENCY_TTL",
    "Settings",
    "dev_master_key",
    "dev_secret",
    "idempotency_ttl",
    "load_settings",
]

DEFAULT_STORE = "sqlite:///./data/chat.db"
DEV_ISSUER = "chat-core-dev"
DEV_AUDIENCE = "chat-core"
SECRET_FILE = "dev-hs256.secret"  # noqa: S105 -- a file name, not a secret
MASTER_KEY_FILE = "dev-master.key"
# API.md: idempotency keys are kept at least 24 h; this is also the shortest retention allowed.
IDEMPOTENCY_TTL = 24 * 60 * 60
_TTL_RANGE = (IDEMPOTENCY_TTL, 366 * IDEMPOTENCY_TTL)
WEBHOOK_RETRIES = (5.0, 30.0, 120.0, 600.0, 3600.0)
GENERATION_TIMEOUT = 300.0


@frozen(kw_only=True)
class Settings:
    """Everything the server is configured with."""

    store_url: str = DEFAULT_STORE
    host: str = "127.0.0.1"
    port: int = 8080
    mode: str = "dev"
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE
    hs256_secret: bytes | None = None
    jwks: str | None = None
    # An OpenID Provider whose discovery document names the JWKS URL (tokens.fetching).
    oidc_issuer: str | None = None
    algorithms: tuple[str, ...] | None = None
    envs: frozenset[Env] = frozenset(Env)
    max_body: int = 65536
    leeway: int = 30
    temperature_defaults: TemperatureDefaults = field(factory=TemperatureDefaults)
    log_format: str = "text"
    log_level: str = "INFO"
    # Requests per second and burst per tenant; None turns the limit off.
    rate_limit: tuple[float, int] | None = (1000.0, 2000)
    cache_messages: int = 50_000
    # Bytes the thread cache may hold: kept messages go first, then whole folds.
    cache_bytes: int = CACHE_BYTES
    # Idempotency records are kept this many seconds, then purged (the contract: >= 24 h).
    idempotency_ttl: int = IDEMPOTENCY_TTL
    # Idle keep-alive, slow request headers and slow bodies are cut after this many seconds.
    client_timeout: float = 30.0
    # How long SIGTERM waits for requests in flight before cancelling them.
    shutdown_timeout: float = 10.0
    # Label request metrics with the tenant id: off by default, metrics carry no tenant.
    metrics_tenant_labels: bool = False
    # Browser origins answered as CORS (transports/http/cors.py); none by default.
    cors_origins: tuple[str, ...] = ()
    # Wraps every data key; dev mode keeps one beside the dev secret when none is given.
    master_key: bytes | None = field(default=None, repr=False)
    # Webhooks: hosts and CIDRs exempt from the public-address rule, and the retry waits.
    webhook_allow: tuple[str, ...] = ()
    webhook_retries: tuple[float, ...] = WEBHOOK_RETRIES
    # Seconds a generation may go without a chunk before it fails as timed out.
    generation_timeout: float = GENERATION_TIMEOUT

    @property
    def data_dir(self) -> Path:
        """Return the folder beside the SQLite file, or ./data for other stores."""
        if self.store_url.startswith("sqlite:///"):
            return Path(self.store_url.removeprefix("sqlite:///")).parent
        return Path("data")


ENV_NAMES = {
    "store_url": "CHAT_CORE_STORE",
    "host": "CHAT_CORE_HOST",
    "port": "CHAT_CORE_PORT",
    "mode": "CHAT_CORE_MODE",
    "issuer": "CHAT_CORE_ISSUER",
    "audience": "CHAT_CORE_AUDIENCE",
    "hs256_secret": "CHAT_CORE_HS256_SECRET",
    "jwks": "CHAT_CORE_JWKS",
    "oidc_issuer": "CHAT_CORE_OIDC_ISSUER",
    "algorithms": "CHAT_CORE_ALGORITHMS",
    "envs": "CHAT_CORE_ENVS",
    "max_body": "CHAT_CORE_MAX_BODY",
    "leeway": "CHAT_CORE_LEEWAY",
    "temperature_defaults": "CHAT_CORE_TEMPERATURE_DEFAULTS",
    "log_format": "CHAT_CORE_LOG_FORMAT",
    "log_level": "CHAT_CORE_LOG_LEVEL",
    "rate_limit": "CHAT_CORE_RATE_LIMIT",
    "cache_messages": "CHAT_CORE_CACHE_MESSAGES",
    "cache_bytes": "CHAT_CORE_CACHE_BYTES",
    "idempotency_ttl": "CHAT_CORE_IDEMPOTENCY_TTL",
    "client_timeout": "CHAT_CORE_CLIENT_TIMEOUT",
    "shutdown_timeout": "CHAT_CORE_SHUTDOWN_TIMEOUT",
    "metrics_tenant_labels": "CHAT_CORE_METRICS_TENANT_LABELS",
    "master_key": "CHAT_CORE_MASTER_KEY",
    "cors_origins": "CHAT_CORE_CORS_ORIGINS",
    "webhook_allow": "CHAT_CORE_WEBHOOK_ALLOW",
    "webhook_retries": "CHAT_CORE_WEBHOOK_RETRIES",
    "generation_timeout": "CHAT_CORE_GENERATION_TIMEOUT",
}


def load_settings(
    environ: Mapping[str, str], flags: Mapping[str, str | None] | None = None
) -> Settings:
    """Build Settings from flags, then CHAT_CORE_* variables, then defaults."""
    raw: dict[str, str] = {}
    for name, variable in ENV_NAMES.items():
        value = (flags or {}).get(name)
        if value is None:
            value = environ.get(variable)
        if value is not None and value != "":
            raw[name] = value
    mode = raw.get("mode", "dev")
    if mode not in ("dev", "prod"):
        raise SettingsError(f"CHAT_CORE_MODE must be dev or prod, not {mode!r}")
    if mode == "prod":
        _require_prod(raw)
    secret = raw.get("hs256_secret")
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(f"CHAT_CORE_HS256_SECRET must be at least {MIN_SECRET_BYTES} bytes")
    return Settings(
        store_url=raw.get("store_url", DEFAULT_STORE),
        host=raw.get("host", "127.0.0.1"),
        port=_int(raw, "port", 8080, 0, 65535),
        mode=mode,
        # Unset, the issuer is the OpenID Provider's (as its discovery document spells it).
        issuer=raw.get("issuer", raw.get("oidc_issuer", DEV_ISSUER)),
        audience=raw.get("audience", DEV_AUDIENCE),
        hs256_secret=None if secret is None else secret.encode(),
        jwks=raw.get("jwks"),
        oidc_issuer=raw.get("oidc_issuer"),
        algorithms=values.algorithms(raw.get("algorithms")),
        envs=values.envs(raw.get("envs")),
        max_body=_int(raw, "max_body", 65536, 1, 64 * 1024 * 1024),
        leeway=_int(raw, "leeway", 30, 0, 3600),
        temperature_defaults=values.temperature(raw.get("temperature_defaults")),
        log_format=_choice(raw, "log_format", "text", ("text", "json")),
        log_level=raw.get("log_level", "INFO").upper(),
        rate_limit=values.rate_limit(raw.get("rate_limit")),
        cache_messages=_int(raw, "cache_messages", 50_000, 100, 100_000_000),
        cache_bytes=_int(raw, "cache_bytes", CACHE_BYTES, 1 << 20, 1 << 40),
        idempotency_ttl=_int(raw, "idempotency_ttl", IDEMPOTENCY_TTL, *_TTL_RANGE),
        client_timeout=_seconds(raw, "client_timeout", 30.0),
        shutdown_timeout=_seconds(raw, "shutdown_timeout", 10.0),
        metrics_tenant_labels=_flag(raw, "metrics_tenant_labels"),
        master_key=values.master_key(raw.get("master_key")),
        cors_origins=values.origins(raw.get("cors_origins")),
        webhook_allow=tuple(
            entry.strip() for entry in raw.get("webhook_allow", "").split(",") if entry.strip()
        ),
        webhook_retries=_retries(raw.get("webhook_retries")),
        generation_timeout=_generation_timeout(raw.get("generation_timeout")),
    )


def _generation_timeout(text: str | None) -> float:
    if text is None:
        return GENERATION_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise SettingsError("CHAT_CORE_GENERATION_TIMEOUT must be a number of seconds") from None
    if not 0.1 <= value <= 86400:
        raise SettingsError("CHAT_CORE_GENERATION_TIMEOUT must be between 0.1 and 86400 seconds")
    return value


def idempotency_ttl(environ: Mapping[str, str]) -> int:
    """Read just CHAT_CORE_IDEMPOTENCY_TTL, as tools that check or copy records need it."""
    raw = {"idempotency_ttl": environ.get(ENV_NAMES["idempotency_ttl"], "")}
    if not raw["idempotency_ttl"]:
        return IDEMPOTENCY_TTL
    return _int(raw, "idempotency_ttl", IDEMPOTENCY_TTL, *_TTL_RANGE)


def _retries(text: str | None) -> tuple[float, ...]:
    """Parse the comma-separated waits, in seconds, between a webhook's delivery attempts."""
    if text is None:
        return WEBHOOK_RETRIES
    try:
        waits = tuple(float(part) for part in text.split(","))
    except ValueError:
        waits = ()
    if not waits or not all(math.isfinite(w) and 0 <= w <= 7 * 86400 for w in waits):
        raise SettingsError(
            "CHAT_CORE_WEBHOOK_RETRIES must be comma-separated seconds (0 to 604800 each)"
        )
    return waits


def _require_prod(raw: Mapping[str, str]) -> None:
    missing = [ENV_NAMES["audience"]] if "audience" not in raw else []
    if "issuer" not in raw and "oidc_issuer" not in raw:
        missing.insert(0, "CHAT_CORE_ISSUER (or CHAT_CORE_OIDC_ISSUER)")
    if not {"hs256_secret", "jwks", "oidc_issuer"} & raw.keys():
        missing.append("CHAT_CORE_HS256_SECRET, CHAT_CORE_JWKS or CHAT_CORE_OIDC_ISSUER")
    if "master_key" not in raw:
        missing.append(ENV_NAMES["master_key"])
    if missing:
        raise SettingsError(f"prod mode refuses to start without {', '.join(missing)}")


def _int(raw: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = raw.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{ENV_NAMES[name]} must be an integer, not {text!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{ENV_NAMES[name]} must be between {low} and {high}")
    return value


def _seconds(raw: Mapping[str, str], name: str, default: float) -> float:
    text = raw.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{ENV_NAMES[name]} must be a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise SettingsError(f"{ENV_NAMES[name]} must be between 0.1 and 3600 seconds")
    return value


def _flag(raw: Mapping[str, str], name: str) -> bool:
    text = raw.get(name, "false").strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{ENV_NAMES[name]} must be true or false")
    return text in ("true", "1", "yes")


def _choice(raw: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(name, default)
    if value not in allowed:
        raise SettingsError(f"{ENV_NAMES[name]} must be one of {', '.join(allowed)}")
    return value


def dev_master_key(data_dir: Path) -> bytes:
    """Return the dev master key kept in data_dir, making it (mode 0600) the first time."""
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.b64decode(path.read_bytes().strip(), validate=True)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(values.MASTER_KEY_BYTES)).decode())
    return base64.b64decode(path.read_bytes().strip(), validate=True)


def dev_secret(data_dir: Path) -> bytes:
    """Return the dev HS256 secret kept in data_dir, making it (mode 0600) the first time."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()
