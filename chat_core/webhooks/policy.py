"""Which webhook URLs the server may call: public https, or what CHAT_CORE_WEBHOOK_ALLOW lists.

A host that is, or resolves to, an address that is not globally reachable (loopback,
private, link-local, unique-local, the cloud metadata addresses, CGNAT, multicast,
reserved) is refused, unless the allow-list names the host or a network holding every
address it resolves to; such a listed host may also use plain http. The check runs at
registration and again before each delivery, resolving afresh each time, and the sender
connects only to the addresses vetted here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import SplitResult, urlsplit

from attrs import frozen

__all__ = ["PolicyRefused", "Target", "UrlPolicy"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_URL = 2000


class PolicyRefused(Exception):
    """The URL may not be called: its scheme, its form, or where its host leads."""


@frozen(kw_only=True)
class Target:
    """A URL cleared for one delivery, with the addresses its host resolved to just now."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _public(address: Address) -> bool:
    return address.is_global and not address.is_multicast


class UrlPolicy:
    """Vet webhook URLs against the public-address rule and the configured allow-list."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        self._hosts: set[str] = set()
        self._networks: list[Network] = []
        for entry in (item.strip().lower() for item in allow):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.strip("[]"))

    @staticmethod
    def parse(text: str) -> SplitResult:
        """Return a URL's parts if it is an absolute http(s) URL with a host, else refuse."""
        if len(text) > MAX_URL or not text.isascii() or any(c.isspace() for c in text):
            raise PolicyRefused(f"must be an ASCII URL of at most {MAX_URL} characters")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 -- raises on a malformed port
        except ValueError:
            raise PolicyRefused("is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PolicyRefused("must be an http or https URL with a host")
        if parts.username is not None or parts.password is not None:
            raise PolicyRefused("must not carry credentials; sign with the webhook secret")
        return parts

    def listed(self, host: str, addresses: Sequence[str] = ()) -> bool:
        """Tell whether the allow-list names the host, or networks holding all its addresses."""
        if host.lower() in self._hosts:
            return True
        found = [_address(text) for text in addresses or (host,)]
        return bool(found) and all(
            address is not None and any(address in network for network in self._networks)
            for address in found
        )

    async def vet(self, url: str) -> Target:
        """Resolve the URL's host and clear it for a call now, else raise PolicyRefused."""
        parts = self.parse(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self.addresses(host, port)
        if parts.scheme != "https" and not self.listed(host, addresses):
            raise PolicyRefused("must use https (plain http only for hosts the allow-list names)")
        return Target(url=url, host=host, port=port, addresses=tuple(addresses))

    async def addresses(self, host: str, port: int) -> list[str]:
        """Resolve a host now and return its addresses if it may be called, else refuse."""
        addresses = await self._resolve(host, port)
        if self.listed(host, addresses):
            return addresses
        for text in addresses:
            address = _address(text)
            if address is None or not _public(address):
                raise PolicyRefused(
                    f"{host} is or resolves to {text}, which is not a public address"
                    " (loopback, private, link-local, unique-local and metadata addresses"
                    " are refused unless CHAT_CORE_WEBHOOK_ALLOW lists them)"
                )
        return addresses

    @staticmethod
    async def _resolve(host: str, port: int) -> list[str]:
        literal = _address(host)
        if literal is not None:
            return [str(literal)]
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            raise PolicyRefused(f"{host} does not resolve") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if not addresses:
            raise PolicyRefused(f"{host} does not resolve")
        return addresses
