"""POST webhook deliveries with aiohttp: vetted addresses only, no redirect, a 10 s limit.

The connector resolves through the webhook URL policy on every new connection (no DNS
cache), so a name that resolved to a public address when the delivery was vetted cannot
be pointed at a private one when the connection is made.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from chat_core.webhooks import SendResult, UrlPolicy
from chat_core.webhooks.dispatcher import TIMEOUT
from chat_core.webhooks.policy import Target
from transports.http.app_keys import CORE

__all__ = ["AiohttpSender", "deliver_webhooks"]

# Connections kept open to receivers, across every webhook this instance delivers.
CONNECTIONS = 100


class _VettingResolver(AbstractResolver):
    """Resolve a host through the webhook URL policy: only addresses it clears come back."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._policy.addresses(host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in found
        ]

    async def close(self) -> None:
        pass


class AiohttpSender:
    """Send deliveries through one pooled session."""

    def __init__(self, policy: UrlPolicy, *, timeout: float = TIMEOUT) -> None:
        connector = aiohttp.TCPConnector(
            resolver=_VettingResolver(policy), use_dns_cache=False, limit=CONNECTIONS
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"User-Agent": "chat-core-webhooks"},
            trust_env=False,
        )

    async def send(self, target: Target, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            async with self._session.post(
                target.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            return SendResult(status=None, error="no answer within the time limit")
        except aiohttp.ClientError as exc:
            return SendResult(status=None, error=f"{type(exc).__name__}: {exc}"[:500])
        if 300 <= status < 400:
            return SendResult(status=status, error=f"answered {status}; redirects are not followed")
        return SendResult(status=status)

    async def close(self) -> None:
        """Close the session and its connections."""
        await self._session.close()


async def deliver_webhooks(app: web.Application) -> AsyncIterator[None]:
    """Run this instance's webhook deliveries while the app runs (a cleanup context)."""
    webhooks = app[CORE].webhooks
    sender = AiohttpSender(webhooks.policy)
    webhooks.dispatcher.start(sender)
    yield
    await webhooks.dispatcher.stop()
    await sender.close()
