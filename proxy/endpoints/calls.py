"""Calls to Service-backed providers: one endpoint per call, one connection pool per endpoint.

``EndpointCalls.sending`` owns an endpoint's share of one attempt: it picks the
endpoint, counts it in flight, and reports how the call ended to that
endpoint's breaker exactly once. An endpoint that refuses the connection (the
request never left the proxy) is skipped for the next usable one within the
same attempt, so a dead pod costs the client nothing; so does one that does not
answer the connection within ``timeouts.connectSeconds``.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import aiohttp

from switchboard.api.provider import ProviderConfig
from switchboard.proxy.adapters.base import UpstreamRequest
from switchboard.proxy.endpoints.picking import hash64, prompt_prefix
from switchboard.proxy.endpoints.pool import Member
from switchboard.proxy.endpoints.table import member_keys
from switchboard.proxy.routing.router import Router
from switchboard.proxy.upstream.outcomes import failure_outcome
from switchboard.proxy.upstream.transport import PoolKey, open_session, send

SessionKey = tuple[str, str]  # (provider key, endpoint key)
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures to connect: the request never left the proxy, so another endpoint may take it."""


class NoEndpoint(aiohttp.ClientConnectionError):
    """No endpoint of the provider could take the call (none usable, or every one refused it)."""


class EndpointCalls:
    """Connection pools per endpoint, opened on first use and closed when the endpoint leaves."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._sessions: dict[SessionKey, aiohttp.ClientSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def follows(self, provider: ProviderConfig) -> bool:
        return provider.key in self._router.endpoints.pools

    @asynccontextmanager
    async def sending(
        self,
        provider: ProviderConfig,
        upstream: UpstreamRequest,
        client_timeout: aiohttp.ClientTimeout,
        body: Mapping[str, Any],
        on_endpoint: Callable[[str], None] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """``send`` to one endpoint of ``provider``; raises ``NoEndpoint`` when none can take it."""
        prefix = self._prefix_hash(provider, body)
        refused: set[str] = set()
        while True:
            member = self._router.pick_endpoint(provider.key, prefix, frozenset(refused))
            if member is None:
                raise NoEndpoint(_no_endpoint_text(provider, len(refused)))
            if on_endpoint is not None:
                on_endpoint(member.key)
            entered = False
            try:
                async with self._held(provider, member):
                    request = _retarget(upstream, provider, member)
                    async with send(self._session(provider, member), request, client_timeout) as response:
                        entered = True
                        yield response
                return
            except NOT_SENT:
                if entered:
                    raise
                refused.add(member.key)  # nothing was sent: try the next endpoint

    @asynccontextmanager
    async def _held(self, provider: ProviderConfig, member: Member) -> AsyncIterator[None]:
        """The endpoint's in-flight count and breaker for one call; the outcome is reported exactly once."""
        failed: bool | None = None  # neutral unless the endpoint is found at fault or served
        try:
            yield
            failed = False
        except BaseException as error:
            failed = failure_outcome(error, 0.0).party == "upstream" or None
            raise
        finally:
            if self._router.endpoint_finished(provider.key, member, failed):
                self._drop((provider.key, member.key))

    def _prefix_hash(self, provider: ProviderConfig, body: Mapping[str, Any]) -> int | None:
        pool = self._router.endpoints.pools.get(provider.key)
        if pool is None or pool.picking.policy != "prefix-affinity":
            return None
        return hash64(prompt_prefix(body, pool.picking.prefix_chars))

    def _session(self, provider: ProviderConfig, member: Member) -> aiohttp.ClientSession:
        key = (provider.key, member.key)
        session = self._sessions.get(key)
        if session is None or session.closed:
            session = self._sessions[key] = open_session(PoolKey(provider.key, member.key, None))
        return session

    @property
    def pooled(self) -> frozenset[SessionKey]:
        """(provider key, endpoint) of every open per-endpoint connection pool."""
        return frozenset(k for k, s in self._sessions.items() if not s.closed)

    def reap(self) -> None:
        """Close the pools of endpoints no longer in any provider's pool."""
        alive = set(member_keys(self._router.endpoints))
        for key in [k for k in self._sessions if k not in alive]:
            self._drop(key)

    def _drop(self, key: SessionKey) -> None:
        session = self._sessions.pop(key, None)
        if session is not None and not session.closed:
            task = asyncio.get_running_loop().create_task(session.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        await asyncio.gather(*(s.close() for s in sessions.values() if not s.closed), *self._closing)


def _retarget(upstream: UpstreamRequest, provider: ProviderConfig, member: Member) -> UpstreamRequest:
    """The adapter's request, sent to the endpoint instead of the Service's name."""
    service = provider.service
    assert service is not None
    base = provider.effective_base_url
    root = f"{service.scheme}://{member.key}{service.path}".rstrip("/")
    if not upstream.url.startswith(base):
        raise ValueError(f"adapter URL {upstream.url!r} is not under {base!r}")
    return replace(upstream, url=root + upstream.url[len(base) :])


def _no_endpoint_text(provider: ProviderConfig, refused: int) -> str:
    if refused:
        return f"every usable endpoint of provider {provider.name!r} refused the connection ({refused})"
    return f"provider {provider.name!r} has no usable endpoint"
