"""All Service-backed providers' endpoint pools, and the EndpointSlices they follow. Pure.

Two inputs change it: a config reload (``configure``: which providers follow
which Service, how they pick) and the EndpointSlice follower (``update``: what
the Services' slices now say). Both return the member keys that left for good,
so the shell can close their connection pools.
"""

from collections.abc import Iterable, Mapping, Sequence

from switchboard.api.object_key import object_key
from switchboard.api.provider import ProviderConfig
from switchboard.api.status import EndpointHealth
from switchboard.proxy.endpoints.pool import EndpointPool
from switchboard.proxy.endpoints.slices import Slice, addresses, by_service, port_matcher


class EndpointTable:
    """Provider key -> pool; ``namespace/service`` -> slices last seen."""

    __slots__ = ("_providers", "_slices", "pools")

    def __init__(self) -> None:
        self.pools: dict[str, EndpointPool] = {}
        self._providers: dict[str, ProviderConfig] = {}
        self._slices: dict[str, list[Slice]] = {}

    @property
    def services(self) -> frozenset[str]:
        """``namespace/service`` of every Service some provider follows."""
        return frozenset(_service_of(p) for p in self._providers.values())

    def configure(self, providers: Iterable[ProviderConfig]) -> list[tuple[str, str]]:
        """Take the reloaded providers; pools of providers still Service-backed keep their state."""
        wanted = {p.key: p for p in providers if p.service is not None}
        dropped = [(key, m) for key in self.pools.keys() - wanted.keys() for m in self.pools[key].members]
        self.pools = {key: self.pools.get(key) or EndpointPool(p.picking) for key, p in wanted.items()}
        for key, provider in wanted.items():
            assert provider.service is not None
            self.pools[key].configure(provider.picking, provider.service.scheme)
        self._providers = wanted
        return dropped + self._resync(wanted)

    def update(self, slices: Iterable[Slice]) -> list[tuple[str, str]]:
        """The follower's whole view of the watched slices."""
        self._slices = by_service(slices)
        return self._resync(self._providers)

    def _resync(self, providers: Mapping[str, ProviderConfig]) -> list[tuple[str, str]]:
        dropped: list[tuple[str, str]] = []
        for key, provider in providers.items():
            name, number = port_matcher(provider)
            found = addresses(self._slices.get(_service_of(provider), ()), name, number)
            dropped += [(key, member) for member in self.pools[key].sync(found)]
        return dropped

    def health(self, provider_key: str, now: float) -> tuple[str, tuple[EndpointHealth, ...]] | None:
        """``ready/total`` and each endpoint's state, for status; None for a provider without a Service."""
        pool = self.pools.get(provider_key)
        if pool is None:
            return None
        ready, total = pool.counts(now)
        states = tuple(
            EndpointHealth(address=key, state=m.state(pool.picking, now)) for key, m in sorted(pool.members.items())
        )
        return f"{ready}/{total}", states


def _service_of(provider: ProviderConfig) -> str:
    assert provider.service is not None
    return object_key(provider.namespace, provider.service.name)


def member_keys(table: EndpointTable) -> Sequence[tuple[str, str]]:
    """Every (provider key, member key) alive in the table."""
    return [(p, m) for p, pool in table.pools.items() for m in pool.members]
