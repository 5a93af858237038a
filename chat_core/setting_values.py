"""The values of settings that are more than a number: each parsed from its variable's text.

Each parser takes the text of one CHAT_CORE_* variable (None when it is unset) and
returns the value Settings holds, or raises SettingsError saying what the variable
must be; chat_core.settings reads the variables and calls them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from types import MappingProxyType

import orjson
from attrs import field, frozen

from chat_core.state import TemperatureState
from chat_core.temperature import TEMPERATURE_CEILING, TEMPERATURE_FLOOR, check_temperature
from events.envelope import Env

__all__ = [
    "MASTER_KEY_BYTES",
    "SettingsError",
    "TemperatureDefaults",
    "algorithms",
    "envs",
    "master_key",
    "origins",
    "rate_limit",
    "temperature",
]

MASTER_KEY_BYTES = 32


class SettingsError(ValueError):
    """A setting that is missing or malformed; the server refuses to start."""


@frozen(kw_only=True)
class TemperatureDefaults:
    """The temperature config served before any write."""

    default: float = 1.0
    min: float = TEMPERATURE_FLOOR
    max: float = TEMPERATURE_CEILING
    overrides: Mapping[str, float] = field(factory=lambda: MappingProxyType({}))

    def state(self) -> TemperatureState:
        """Return the defaults as a version-0 state."""
        return TemperatureState(
            default=self.default, min=self.min, max=self.max, overrides=self.overrides
        )


def rate_limit(text: str | None) -> tuple[float, int] | None:
    """Parse ``RATE`` or ``RATE:BURST`` (requests per second per tenant), or ``off``."""
    if text is None:
        return (1000.0, 2000)
    if text.strip().lower() == "off":
        return None
    rate_text, _, burst_text = text.partition(":")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text else max(1, math.ceil(rate * 2))
    except ValueError:
        raise SettingsError("CHAT_CORE_RATE_LIMIT must be RATE, RATE:BURST or off") from None
    if not (math.isfinite(rate) and rate > 0 and burst >= 1):
        raise SettingsError("CHAT_CORE_RATE_LIMIT needs a rate > 0 and a burst >= 1")
    return (rate, burst)


def algorithms(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise SettingsError("CHAT_CORE_ALGORITHMS names no algorithm")
    return names


def envs(text: str | None) -> frozenset[Env]:
    if text is None:
        return frozenset(Env)
    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        envs = frozenset(Env(name) for name in names)
    except ValueError:
        raise SettingsError("CHAT_CORE_ENVS must be a subset of dev,staging,prod") from None
    if not envs:
        raise SettingsError("CHAT_CORE_ENVS names no env")
    return envs


_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::([0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origins(text: str | None) -> tuple[str, ...]:
    """Parse comma-separated origins, each as a browser's Origin header spells it."""
    if text is None:
        return ()
    origins = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _ORIGIN.fullmatch(entry.lower().removesuffix("/"))
        if match is None:
            raise SettingsError(
                f"CHAT_CORE_CORS_ORIGINS: {entry!r} is not an origin "
                "(scheme://host or scheme://host:port, no path; no wildcard)"
            )
        scheme, host, port = match.groups()
        number = None if port is None else int(port)
        if number is not None and not 0 < number < 65536:
            raise SettingsError(f"CHAT_CORE_CORS_ORIGINS: {entry!r} has no valid port")
        if number is None or _DEFAULT_PORTS.get(scheme) == number:
            origins.append(f"{scheme}://{host}")
        else:
            origins.append(f"{scheme}://{host}:{number}")
    return tuple(dict.fromkeys(origins))


def temperature(text: str | None) -> TemperatureDefaults:
    if text is None:
        return TemperatureDefaults()
    try:
        data = orjson.loads(text)
        overrides = {str(k): float(v) for k, v in data.get("overrides", {}).items()}
        defaults = TemperatureDefaults(
            default=float(data.get("default", 1.0)),
            min=float(data.get("min", TEMPERATURE_FLOOR)),
            max=float(data.get("max", TEMPERATURE_CEILING)),
            overrides=MappingProxyType(overrides),
        )
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        raise SettingsError("CHAT_CORE_TEMPERATURE_DEFAULTS must be a JSON object") from None
    problems = check_temperature(defaults.default, defaults.min, defaults.max, overrides)
    if problems or not all(math.isfinite(v) for v in overrides.values()):
        detail = "; ".join(f"{name} {message}" for name, message in problems)
        raise SettingsError(f"CHAT_CORE_TEMPERATURE_DEFAULTS is out of bounds: {detail}")
    return defaults


def master_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise SettingsError(f"CHAT_CORE_MASTER_KEY must be base64 of {MASTER_KEY_BYTES} bytes")
    return key
