"""Per-config lookup tables, built once on every reload so the hot path only
does dictionary lookups and comparisons (no pydantic attribute walks).

A *route* is what one profile offers for one requested model name: its
providers in failover order (priority, unset = 0, then list order), each already bound
to the provider model to send and prebuilt as the ``Attempt`` the shell gets.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig, ProviderRef
from switchboard.api.provider import ProviderConfig, ProviderModel, Ratings
from switchboard.proxy.routing.pricing import Price, PricingTable
from switchboard.proxy.routing.types import Attempt


@dataclass(frozen=True, slots=True)
class Candidate:
    """One provider of a route, with everything a decision needs precomputed."""

    attempt: Attempt
    provider_key: str
    model_key: tuple[str, str]  # (provider key, provider model name): breaker and latency key
    name: str  # the ProviderRef name, as clients write it in X-Provider-Hint
    rank: int  # failover position
    weight: int  # profile override or provider weight
    context_window: int | None
    ratings: Ratings
    price: Price | None


@dataclass(frozen=True, slots=True)
class Route:
    profile: ProfileConfig
    model: str
    candidates: tuple[Candidate, ...]  # statically eligible, failover order
    static_excluded: Mapping[str, str]  # provider key -> reason (disabled, model not served)


class ConfigIndex:
    """Immutable after construction; swapped atomically by ``Router.update_config``."""

    __slots__ = ("config", "profile_by_model", "profiles", "routes")

    def __init__(self, config: ProxyConfig, pricing: PricingTable) -> None:
        self.config = config
        self.profiles: dict[str, ProfileConfig] = {}
        self.profile_by_model: dict[str, ProfileConfig] = {}
        self.routes: dict[tuple[str, str], Route] = {}
        for profile in config.profiles:
            self.profiles[profile.key] = profile
            self.profiles.setdefault(profile.name, profile)
            for model in profile.models:
                self.profile_by_model.setdefault(model, profile)
        for profile in config.profiles:
            for model in (*profile.models, *profile.fallback_models):
                self.routes[(profile.key, model)] = _build_route(config, profile, model, pricing)

    def route(self, profile: ProfileConfig, model: str) -> Route | None:
        return self.routes.get((profile.key, model))

    def fallback_route(self, profile: ProfileConfig, model: str) -> Route | None:
        """A fallback model through this profile's providers, else through its own profile."""
        route = self.routes.get((profile.key, model))
        if route is not None and route.candidates:
            return route
        owner = self.profile_by_model.get(model)
        return self.routes.get((owner.key, model)) if owner is not None else route


def _build_route(config: ProxyConfig, profile: ProfileConfig, model: str, pricing: PricingTable) -> Route:
    ordered = sorted(
        enumerate(profile.providers),
        key=lambda item: (item[1].priority or 0, item[0]),  # unset priority is 0; ties keep list order
    )
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    for position, ref in ordered:
        provider = config.provider_for(profile, ref.name)
        served = _served_model(provider, ref, model)
        if provider.disabled:
            excluded[provider.key] = "disabled"
        elif served is None:
            excluded[provider.key] = f"does not serve model {model!r}"
        else:
            candidates.append(_candidate(profile, provider, ref, served, position, pricing))
    return Route(profile=profile, model=model, candidates=tuple(candidates), static_excluded=excluded)


def _served_model(provider: ProviderConfig, ref: ProviderRef, model: str) -> ProviderModel | None:
    """The provider model to send: the profile's override, else the same public name."""
    return provider.model(ref.model) if ref.model is not None else provider.model(model)


def _candidate(
    profile: ProfileConfig,
    provider: ProviderConfig,
    ref: ProviderRef,
    served: ProviderModel,
    position: int,
    pricing: PricingTable,
) -> Candidate:
    attempt = Attempt(provider=provider, model=served, profile=profile, timeouts=profile.timeouts or provider.timeouts)
    return Candidate(
        attempt=attempt,
        provider_key=provider.key,
        model_key=(provider.key, served.name),
        name=ref.name,
        rank=position,
        weight=ref.weight if ref.weight is not None else provider.weight,
        context_window=served.context_window,
        ratings=provider.ratings,
        price=pricing.price_of(served),
    )
