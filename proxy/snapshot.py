"""An immutable view of one loaded config and everything built from it.

A request captures the snapshot when it starts and uses only that, so a reload
mid-request never mixes two configs: in-flight requests finish on the config,
keys and connection pools they started with.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from switchboard.api.config import ProxyConfig
from switchboard.api.provider import ProviderConfig, ProviderModel, Timeouts
from switchboard.proxy.adapters.base import Adapter, Target
from switchboard.proxy.credentials import ApiKey
from switchboard.proxy.endpoints.calls import EndpointCalls
from switchboard.proxy.upstream.transport import PoolKey, client_timeout


@dataclass(slots=True)
class Upstream(Target):
    """A provider model's ``Target`` with what carries its attempts in one snapshot: the adapter, the pool's
    session, the provider's own connect limit and, for a Service-backed provider, the endpoint calls.

    Built once per config (``Snapshot.targets``); an attempt's codec holds it as its target, so its exchange
    finds all of this on the one object it already has (no look-ups by provider key per attempt). Adapters see
    a plain ``Target``: the transport stays apart from them.
    """

    adapter: Adapter = field(kw_only=True, repr=False)
    session: aiohttp.ClientSession = field(kw_only=True, repr=False)
    timeouts: Timeouts = field(kw_only=True, repr=False)
    """The provider's own ``timeouts``: an attempt with them (no profile's of its own) connects within ``connect``."""
    connect: aiohttp.ClientTimeout = field(kw_only=True, repr=False)
    endpoint_calls: EndpointCalls | None = field(kw_only=True, repr=False)
    """Set for a Service-backed provider only: its calls go to the endpoint each picks, while the router follows
    the Service's endpoints."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    config: ProxyConfig
    adapters: Mapping[str, Adapter] = field(repr=False)  # provider key -> codec
    credentials: Mapping[str, ApiKey] = field(repr=False)
    pools: Mapping[str, PoolKey] = field(repr=False)  # provider key -> pool identity
    sessions: Mapping[PoolKey, aiohttp.ClientSession] = field(repr=False)
    endpoint_calls: EndpointCalls | None = field(default=None, repr=False)  # shared by every snapshot
    client_timeouts: Mapping[int, tuple[Timeouts, aiohttp.ClientTimeout]] = field(default_factory=dict, repr=False)
    """Each of the config's timeouts as aiohttp's, built once per config rather than per attempt; keyed by the
    object's ``id`` (hashing a pydantic model costs a microsecond per attempt), the entry holding the object itself."""
    provider_sessions: Mapping[str, aiohttp.ClientSession] = field(init=False, repr=False)
    """Provider key -> its pool's session (``sessions`` of ``pools``): no ``PoolKey`` hash per look-up (a frozen
    dataclass's ``__hash__`` is Python code)."""
    targets: Mapping[int, Upstream] = field(init=False, repr=False)
    """Each provider model's ``Upstream`` (with the key this config resolved), built once per config rather than
    per attempt; keyed by the model object's ``id``, like ``client_timeouts``."""

    def __post_init__(self) -> None:
        sessions = {key: self.sessions[pool] for key, pool in self.pools.items()}
        object.__setattr__(self, "provider_sessions", sessions)
        targets = {id(m): self._upstream(p, m) for p in self.config.providers for m in p.models}
        object.__setattr__(self, "targets", targets)

    def adapter(self, provider: ProviderConfig) -> Adapter:
        return self.adapters[provider.key]

    def client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        """The prebuilt one when ``timeouts`` is this config's own object (an equal one from elsewhere is built)."""
        built = self.client_timeouts.get(id(timeouts))
        if built is not None and built[0] is timeouts:
            return built[1]
        return client_timeout(timeouts)

    def target(self, provider: ProviderConfig, model: ProviderModel) -> Upstream:
        """The prebuilt one for this config's own provider and model objects (others are built)."""
        built = self.targets.get(id(model))
        if built is not None and built.model is model and built.provider is provider:
            return built
        return self._upstream(provider, model)

    def _upstream(self, provider: ProviderConfig, model: ProviderModel) -> Upstream:
        key = self.credentials.get(provider.key)
        return Upstream(
            provider=provider,
            model=model,
            api_key=key.reveal() if key else None,
            adapter=self.adapters[provider.key],
            session=self.provider_sessions[provider.key],
            timeouts=provider.timeouts,
            connect=self.client_timeout(provider.timeouts),
            endpoint_calls=self.endpoint_calls if provider.service is not None else None,
        )
