"""Per-config lookup tables, built once on every reload so the hot path only
does dictionary lookups and comparisons (no pydantic attribute walks).

A *route* is what one profile offers for one requested model name: its
providers in failover order (priority, unset = 0, then list order), each already bound
to the provider model to send and prebuilt as the ``Attempt`` the shell gets.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import get_args

from switchboard.api.config import ProxyConfig
from switchboard.api.precedence import Claim, claims
from switchboard.api.profile import Preference, ProfileConfig, ProviderRef
from switchboard.api.provider import ProviderConfig, ProviderModel, Ratings
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from switchboard.proxy.routing.pricing import Price, PricingTable
from switchboard.proxy.routing.types import Attempt, Plan

Grants = Callable[[str], bool]
"""Whether the caller may use the profile with this ``namespace/name`` key."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One provider of a route, with everything a decision needs precomputed."""

    attempt: Attempt
    provider_key: str
    model_key: tuple[str, str]  # (provider key, provider model name): breaker and latency key
    name: str  # the ProviderRef name, as clients write it in X-Provider-Hint
    rank: int  # failover position
    weight: int  # profile override or provider weight
    exponent: float  # 1 / weight (0.0 for weight 0): the weighted shuffle's key is random() ** exponent
    context_window: int | None
    output_cap: int | None  # the served model's max output tokens (caps the cost estimate)
    ratings: Ratings
    preference_scores: Mapping[Preference, int]  # static: ratings never change between reloads
    price: Price | None


@dataclass(frozen=True, slots=True)
class Route:
    """Everything about one (profile, model) pair that does not change until the next reload."""

    profile: ProfileConfig
    profile_key: str
    model: str
    candidates: tuple[Candidate, ...]  # statically eligible, failover order
    static_excluded: Mapping[str, Exclusion]  # provider key -> disabled, model not served
    model_keys: frozenset[tuple[str, str]]  # breaker keys of the candidates
    provider_keys: frozenset[str]
    min_context_window: int | None  # prompts up to this size fit every candidate (None: no limit)
    fixed_plan: Plan | None = None
    """The plan while nothing live excludes or reorders a candidate, when the profile's settings leave
    nothing else to decide per request (``fixed_plan``); the engine then hands it out as is."""


class ConfigIndex:
    """Immutable after construction; swapped atomically by ``Router.update_config``.

    Profiles are keyed by ``namespace/name`` only: two namespaces may both have a
    profile ``fast``. A model name several profiles serve goes to the winner of
    ``switchboard.api.precedence`` (``claims``), never to whichever came first.
    """

    __slots__ = ("claims", "config", "default_routes", "profile_by_model", "profiles", "routes")

    def __init__(self, config: ProxyConfig, pricing: PricingTable) -> None:
        self.config = config
        self.profiles: dict[str, ProfileConfig] = {p.key: p for p in config.profiles}
        self.claims: Mapping[str, Claim] = claims(config.profiles)
        self.profile_by_model: dict[str, ProfileConfig] = {m: c.winner for m, c in self.claims.items()}
        self.routes: dict[tuple[str, str], Route] = {}
        for profile in config.profiles:
            for model in (*profile.models, *profile.fallback_models):
                self.routes[(profile.key, model)] = _build_route(config, profile, model, pricing)
        self.default_routes: dict[str, Route] = {
            model: self.routes[(profile.key, model)] for model, profile in self.profile_by_model.items()
        }

    def route(self, profile: ProfileConfig, model: str) -> Route | None:
        return self.routes.get((profile.key, model))

    def owner(self, model: str, may_use: Grants | None = None) -> ProfileConfig | None:
        """The profile serving ``model``: the rule's winner among those ``may_use`` admits.

        When the caller may use none of them, the overall winner: the shell then
        refuses it with a 403 naming the profile.
        """
        claim = self.claims.get(model)
        if claim is None:
            return None
        if may_use is not None:
            for profile in claim.profiles:
                if may_use(profile.key):
                    return profile
        return claim.winner

    def fallback_route(self, profile: ProfileConfig, model: str, may_use: Grants | None = None) -> Route | None:
        """A fallback model through this profile's providers, else through its own profile."""
        route = self.routes.get((profile.key, model))
        if route is not None and route.candidates:
            return route
        owner = self.owner(model, may_use)
        return self.routes.get((owner.key, model)) if owner is not None else route


def _build_route(config: ProxyConfig, profile: ProfileConfig, model: str, pricing: PricingTable) -> Route:
    # Unset priority is 0; sorted() is stable, so ties keep list order.
    ordered = sorted(profile.providers, key=lambda ref: ref.priority or 0)
    candidates: list[Candidate] = []
    excluded: dict[str, Exclusion] = {}
    for ref in ordered:
        provider = config.provider_for(profile, ref.name)
        served = _served_model(provider, ref, model)
        if provider.disabled:
            excluded[provider.key] = Exclusion(ExclusionKind.DISABLED, "disabled")
        elif served is None:
            excluded[provider.key] = Exclusion(ExclusionKind.NO_MODEL, f"does not serve model {model!r}")
        else:
            candidates.append(_candidate(profile, provider, ref, served, len(candidates), pricing))
    windows = [c.context_window for c in candidates if c.context_window is not None]
    return Route(
        profile=profile,
        profile_key=profile.key,
        model=model,
        candidates=tuple(candidates),
        static_excluded=excluded,
        model_keys=frozenset(c.model_key for c in candidates),
        provider_keys=frozenset(c.provider_key for c in candidates),
        min_context_window=min(windows, default=None),
        fixed_plan=fixed_plan(profile, candidates, excluded),
    )


def fixed_plan(
    profile: ProfileConfig, candidates: Sequence[Candidate], excluded: Mapping[str, Exclusion]
) -> Plan | None:
    """The one plan a route can have while every candidate is eligible, or None when a request can change it.

    Failover order (or a single candidate, which every strategy but round-robin's turn leaves as is), with no rule,
    client routing header, session or fallback model to consult: ``Engine.decide`` would build this very plan.
    """
    strategy = profile.strategy
    if (
        not candidates
        or (strategy != "failover" and (len(candidates) > 1 or strategy in ("round-robin", "rules")))
        or profile.allow_client_routing
        or profile.session_affinity.enabled
        or profile.fallback_models
    ):
        return None
    # Only kinds that hold for every request are excluded here, none of them a spill-over.
    return Plan(profile, strategy, tuple(c.attempt for c in candidates), MappingProxyType(dict(excluded)))


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
    timeouts = profile.timeouts or provider.timeouts
    attempt = Attempt(
        provider=provider, model=served, profile=profile, timeouts=timeouts, price=pricing.price_of(served)
    )
    weight = ref.weight if ref.weight is not None else provider.weight
    return Candidate(
        attempt=attempt,
        provider_key=provider.key,
        model_key=(provider.key, served.name),
        name=ref.name,
        rank=position,
        weight=weight,
        exponent=1.0 / weight if weight > 0 else 0.0,
        context_window=served.context_window,
        output_cap=served.max_output_tokens,
        ratings=provider.ratings,
        preference_scores={p: preference_score(provider.ratings, p) for p in get_args(Preference)},
        price=attempt.price,
    )


def preference_score(ratings: Ratings, preference: Preference) -> int:
    """speed: 2*speed+quality, cost: 2*cost+quality, quality: 3*quality, balanced: sum."""
    if preference == "speed":
        return 2 * ratings.speed + ratings.quality
    if preference == "cost":
        return 2 * ratings.cost + ratings.quality
    if preference == "quality":
        return 3 * ratings.quality
    return ratings.speed + ratings.cost + ratings.quality
