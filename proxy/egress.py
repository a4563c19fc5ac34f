"""The egress policy at connect time: a DNS resolver that drops forbidden addresses.

aiohttp asks the connector's resolver for every new connection; this one asks
the real resolver, then keeps only the addresses the policy allows for the
provider's namespace. A name that resolves only to forbidden addresses fails
like an unreachable host (an upstream connection error), with the reason.
Literal IPs in a URL go through the resolver as well, so they are checked too.
"""

import errno
import ipaddress
import logging
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from switchboard.api.egress import EgressPolicy
from switchboard.api.object_key import split_key

log = logging.getLogger(__name__)


class EgressRefused(OSError):
    """Every address of the host is forbidden by the egress policy."""


class PolicyResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy, namespace: str, provider: str, inner: AbstractResolver | None = None):
        self._policy = policy
        self._namespace = namespace
        self._provider = provider
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        static = self._policy.check_host(self._namespace, host)
        if static is not None:
            raise self._refused(static)
        results = await self._inner.resolve(host, port, family)
        allowed, reasons = [], []
        for result in results:
            reason = self._policy.check_address(self._namespace, ipaddress.ip_address(result["host"]), host)
            if reason is None:
                allowed.append(result)
            else:
                reasons.append(reason)
        if not allowed:
            raise self._refused(reasons[0] if reasons else f"{host} resolves to nothing")
        return allowed

    def _refused(self, reason: str) -> EgressRefused:
        log.error("egress policy: provider %s may not connect: %s", self._provider, reason)
        return EgressRefused(errno.EACCES, f"egress policy refuses the connection: {reason}")

    async def close(self) -> None:
        await self._inner.close()


def resolver_for(policy: EgressPolicy | None, provider_key: str) -> Any:
    """The resolver for one provider's pool, or None (aiohttp's default) without a policy."""
    if policy is None:
        return None
    namespace, _ = split_key(provider_key)
    return PolicyResolver(policy, namespace, provider_key)
