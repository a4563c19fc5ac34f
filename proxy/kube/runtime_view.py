"""The one view cluster mode has of the proxy runtime.

``switchboard.proxy.runtime.Runtime`` implements it; the cluster-mode tests'
recording runtime does too, and is type-checked against it. Every cluster-mode
task (config sync, status reporter, health Events, EndpointSlice follower)
takes this one handle instead of a view of its own.
"""

from collections.abc import Mapping
from typing import Any, Protocol

from switchboard.api.aggregation import SpendView
from switchboard.api.config import ProxyConfig
from switchboard.api.status import ProviderHealth
from switchboard.proxy.fleet.admission import FleetLimiter


class ClusterRuntime(Protocol):
    async def apply(self, config: ProxyConfig) -> object:
        """Swap in the merged config; raises ``ConfigError`` and keeps the old one when it is refused."""
        ...

    def provider_health(self) -> Mapping[str, ProviderHealth]:
        """This replica's view of each provider it routes to, by provider key ("namespace/name")."""
        ...

    def failovers_by_profile(self) -> Mapping[str, int]:
        """Running count of retried attempts per profile key, since the replica started."""
        ...

    def follow_slices(self, slices: list[Mapping[str, Any]]) -> None:
        """The EndpointSlices of Service-backed providers, as now seen."""
        ...

    @property
    def fleet(self) -> FleetLimiter | None:
        """The fleet-wide limits, budgets and state store (their health and budget news become Events)."""
        ...

    async def profile_spend(self) -> Mapping[str, SpendView]:
        """Each served profile with a budget: its spend this window, by profile key (fleet-wide with a store)."""
        ...
