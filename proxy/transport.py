"""Upstream HTTP: one pooled aiohttp session per provider, per-attempt timeouts.

Sessions are keyed by everything that shapes the pool (provider, base URL,
concurrency limit) so a reload that leaves a provider unchanged keeps its warm
connections, and one that changes or drops it gets a fresh pool while the old
one drains.
"""

from dataclasses import dataclass

import aiohttp

from switchboard.api.provider import ProviderConfig, Timeouts
from switchboard.proxy.adapters.base import UpstreamRequest

DEFAULT_POOL_SIZE = 256


@dataclass(frozen=True, slots=True)
class PoolKey:
    provider: str
    base_url: str
    max_concurrency: int | None

    @classmethod
    def of(cls, provider: ProviderConfig) -> "PoolKey":
        return cls(provider.key, provider.effective_base_url, provider.limits.max_concurrency)


def open_session(key: PoolKey) -> aiohttp.ClientSession:
    """A session whose connector caps concurrent upstream connections at ``limits.maxConcurrency``."""
    connector = aiohttp.TCPConnector(limit=key.max_concurrency or DEFAULT_POOL_SIZE, limit_per_host=0)
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        raise_for_status=False,
        timeout=aiohttp.ClientTimeout(total=None),
    )


def client_timeout(timeouts: Timeouts, remaining_s: float) -> aiohttp.ClientTimeout:
    """Connect and first-byte limits from the attempt, total capped by the request deadline.

    ``sock_read`` bounds every read, so it is both the time to the first byte and
    the longest silence allowed inside a stream.
    """
    return aiohttp.ClientTimeout(
        total=max(0.001, min(timeouts.total_seconds, remaining_s)),
        sock_connect=timeouts.connect_seconds,
        sock_read=timeouts.first_byte_seconds,
    )


def send(
    session: aiohttp.ClientSession, request: UpstreamRequest, timeout: aiohttp.ClientTimeout
) -> "aiohttp.client._RequestContextManager":
    """Start the upstream call; use as ``async with send(...) as response``."""
    return session.request(
        request.method, request.url, headers=dict(request.headers), data=request.body, timeout=timeout
    )
