"""The config holder: validates, builds and atomically swaps snapshots.

This is the seam cluster mode plugs into (``switchboard.proxy.kube``, through
its ``ClusterRuntime`` view): it watches ConfigMaps, merges them and calls
``await runtime.apply(config)``; it passes a ``SecretResolver`` for
``apiKey.secret`` references and reads ``provider_health()`` and
``failovers_by_profile()`` to publish status and Events. Standalone mode
applies configs from a file (``switchboard.proxy.config_source``).

Contract for callers:
- ``apply(config)`` raises ``ConfigError`` (message names the field) and leaves
  the serving snapshot untouched; on success the swap is atomic and the
  router keeps its learned stats (``update_config``).
- ``router`` exists from the start (empty until the first config) and is
  built with the app's pricing table, the one billing uses too.
- ``ready`` is True once any config was applied; ``not_ready_reason`` says why not.
- ``lease()`` is how a request pins a snapshot; pools dropped by a reload are
  closed once the last request holding the old snapshot ends.
- ``close()`` on shutdown.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp

from switchboard.api.aggregation import SpendView
from switchboard.api.config import ConfigError, ProxyConfig
from switchboard.api.egress import EgressPolicy
from switchboard.api.status import ProviderHealth
from switchboard.proxy.adapters.base import Adapter
from switchboard.proxy.adapters.registry import get_adapter
from switchboard.proxy.credentials import SecretResolver, resolve_credentials
from switchboard.proxy.egress import resolver_for
from switchboard.proxy.endpoints.calls import EndpointCalls
from switchboard.proxy.fleet.admission import FleetLimiter
from switchboard.proxy.metrics import ProxyMetrics
from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.routing.router import Clock, Router
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.telemetry.setup import Telemetry
from switchboard.proxy.upstream.transport import PoolKey, client_timeout, open_session

log = logging.getLogger("switchboard.proxy.runtime")


class NotReady(Exception):
    """No valid config has been loaded yet."""


class Runtime:
    def __init__(
        self,
        *,
        metrics: ProxyMetrics,
        pricing: PricingTable,
        fleet: FleetLimiter,
        secrets: SecretResolver | None = None,
        egress: EgressPolicy | None = None,
        routing_clock: Clock = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._secrets = secrets
        self._egress = egress  # checked at connect time, after DNS (cluster mode); None: unrestricted
        self.metrics = metrics
        self.telemetry = telemetry or Telemetry.off()
        """Each attempt gets a child span of the request's (tracing on) and GenAI measurements (metrics on)."""
        self.pricing = pricing
        self.router = Router(pricing=pricing, clock=routing_clock)
        self.endpoint_calls = EndpointCalls(self.router)
        self._current: Snapshot | None = None
        self._lease: Lease | None = None  # the current snapshot's
        self._retired: dict[int, Snapshot] = {}
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self.not_ready_reason = "no config loaded yet"
        self.fleet = fleet  # the fleet-wide limits and budgets (a state store's, else this replica's share)

    @property
    def ready(self) -> bool:
        return self._current is not None

    async def profile_spend(self) -> Mapping[str, SpendView]:
        """Each served profile with a budget: its spend this window (read through the fleet limiter)."""
        if self._current is None:
            return {}
        return await self.fleet.spend(self._current.config.profiles, datetime.now(UTC))

    @property
    def snapshot(self) -> Snapshot:
        if self._current is None:
            raise NotReady(self.not_ready_reason)
        return self._current

    async def apply(self, config: ProxyConfig) -> Snapshot:
        """Validate and swap in ``config``; raises ConfigError and keeps the old one on failure."""
        async with self._lock:
            try:
                snapshot = await self._build(config)
            except ConfigError:
                self.metrics.reloads.labels("failure").inc()
                raise
            self.router.update_config(config)
            self.endpoint_calls.reap()
            previous, self._lease = self._lease, Lease(self, snapshot)
            self._current = snapshot
            self.metrics.reloads.labels("success").inc()
            self.metrics.config_loaded.set(1)
            if previous is not None:
                self._retire(previous)
            return snapshot

    async def _build(self, config: ProxyConfig) -> Snapshot:
        credentials = await resolve_credentials(config, self._secrets)
        adapters: dict[str, Adapter] = {}
        for index, provider in enumerate(config.providers):
            try:
                adapters[provider.key] = get_adapter(provider.type)
            except KeyError:
                raise ConfigError(f"providers[{index}].type: no adapter for {provider.type!r}") from None
        pools = {p.key: PoolKey.of(p) for p in config.providers}
        live = self._live_sessions()
        sessions = {
            key: live.get(key) or open_session(key, resolver_for(self._egress, key.provider))
            for key in set(pools.values())
        }
        version = (self._current.version + 1) if self._current else 1
        timeouts = [p.timeouts for p in config.providers] + [p.timeouts for p in config.profiles if p.timeouts]
        return Snapshot(
            version,
            config,
            adapters,
            credentials,
            pools,
            sessions,
            self.endpoint_calls,
            client_timeouts={id(t): (t, client_timeout(t)) for t in timeouts},
        )

    def _live_sessions(self) -> dict[PoolKey, aiohttp.ClientSession]:
        live: dict[PoolKey, aiohttp.ClientSession] = {}
        for snap in (*self._retired.values(), *([self._current] if self._current else [])):
            live.update((k, s) for k, s in snap.sessions.items() if not s.closed)
        return live

    def _retire(self, old: "Lease") -> None:
        self._retired[old.snapshot.version] = old.snapshot
        old.retired = True
        if not old.holders:
            self._drop(old.snapshot)

    def _drop(self, old: Snapshot) -> None:
        """Close the old snapshot's pools that no live snapshot still uses."""
        self._retired.pop(old.version, None)
        in_use = {id(s) for snap in self._holders() for s in snap.sessions.values()}
        for session in old.sessions.values():
            if id(session) not in in_use and not session.closed:
                task = asyncio.get_running_loop().create_task(session.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    def _holders(self) -> list[Snapshot]:
        return [*self._retired.values(), *([self._current] if self._current else [])]

    def lease(self) -> "Lease":
        """Pin the current snapshot for the duration of one request (``with runtime.lease() as snap``)."""
        lease = self._lease
        if lease is None:
            raise NotReady(self.not_ready_reason)
        return lease

    def provider_health(self) -> Mapping[str, ProviderHealth]:
        """Each provider's health as this replica sees it (empty before the first config)."""
        return self.router.provider_health()

    def failovers_by_profile(self) -> Mapping[str, int]:
        """Retried attempts per profile key since start (a copy: the tally keeps counting)."""
        return dict(self.metrics.retried_by_profile)

    def follow_slices(self, slices: list[Mapping[str, Any]]) -> None:
        """The EndpointSlices now seen (cluster mode): the pools follow, pools of departed endpoints close."""
        self.router.endpoints.update(slices)
        self.endpoint_calls.reap()

    async def close(self) -> None:
        sessions = {id(s): s for snap in self._holders() for s in snap.sessions.values()}
        self._retired.clear()
        self._current = self._lease = None
        self.not_ready_reason = "shutting down"
        await asyncio.gather(*(s.close() for s in sessions.values() if not s.closed), *self._closing)
        await self.endpoint_calls.close()


class Lease:
    """The requests' hold on one snapshot: ``with runtime.lease() as snap`` pins it for one request, however it ends.

    One per snapshot, not per request: entering counts a holder and leaving uncounts it, so a request costs
    no object and no lookup. Once a reload retired the snapshot, the last holder to leave closes the pools
    no live snapshot uses any more. A plain (not async) context manager: pinning and releasing never await.
    """

    __slots__ = ("_runtime", "holders", "retired", "snapshot")

    def __init__(self, runtime: Runtime, snapshot: Snapshot) -> None:
        self._runtime = runtime
        self.snapshot = snapshot
        self.holders = 0
        self.retired = False  # set once by the reload that replaced it; no request enters it after that

    def __enter__(self) -> Snapshot:
        self.holders += 1
        return self.snapshot

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.holders -= 1
        if self.retired and not self.holders:
            self._runtime._drop(self.snapshot)
