"""The Router facade: the only stateful part of the engine.

``plan`` decides where a request goes (raising ``NoRoute``), ``started`` and
``finished`` learn from each attempt, ``next_step`` says where a failed attempt
retries; ``switchboard.proxy.upstream.loop.run_attempts`` is the shell that drives them.

Concurrency: every method is synchronous and never awaits, so concurrent
asyncio tasks interleave only between calls and no lock is needed.
Determinism: the clock and the ``random.Random`` are injected.
"""

import random
import time
from collections.abc import Callable

from switchboard.api.config import ProxyConfig
from switchboard.api.profile import ProfileConfig
from switchboard.api.provider import ProviderConfig
from switchboard.api.status import CircuitState, ProviderHealth
from switchboard.proxy.endpoints.pool import Member
from switchboard.proxy.endpoints.table import EndpointTable
from switchboard.proxy.routing import reports
from switchboard.proxy.routing.breaker import Breaker
from switchboard.proxy.routing.decision import CostEstimate, Explanation
from switchboard.proxy.routing.engine import Engine, explain_decision
from switchboard.proxy.routing.index import ConfigIndex, Grants
from switchboard.proxy.routing.latency import LatencySummary
from switchboard.proxy.routing.live import DEFAULT_LATENCY_SETTINGS, Live
from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.routing.retry import RetryStep, next_step
from switchboard.proxy.routing.state import ProfileState, ProviderState
from switchboard.proxy.routing.types import Attempt, NoRoute, Outcome, Plan, RouteRequest

Clock = Callable[[], float]


class Router:
    """Plans requests and learns from their outcomes. One per proxy process."""

    def __init__(
        self,
        config: ProxyConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        pricing: PricingTable | None = None,
    ) -> None:
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._pricing = pricing if pricing is not None else PricingTable.default()
        self._live = Live(clock)
        # ``started(attempt, at=None)``: call just before sending an attempt upstream (counts in-flight, takes
        # probe slots). ``finished(attempt, outcome, at=None)``: once per started attempt with how it ended (feeds
        # breakers, limits and stats); returns how it changed the attempt's circuit, (before, after), or None
        # (a change is worth a log line). ``at``: the caller's ``time.monotonic()`` reading, the time learned
        # when that is the router's clock. The learned state's own methods, no layer between: they run per attempt.
        self.started, self.finished = self._live.on_started, self._live.on_finished
        self._shared_limits = False
        self._engine = Engine(ConfigIndex(ProxyConfig(), self._pricing), self._live)
        if config is not None:
            self.update_config(config)

    @property
    def pricing(self) -> PricingTable:
        """The prices routing uses (least-cost, budgets); billing uses the same table."""
        return self._pricing

    @property
    def config(self) -> ProxyConfig:
        return self._engine.index.config

    @property
    def endpoints(self) -> EndpointTable:
        """Endpoint pools of the Service-backed providers; the EndpointSlice follower updates it."""
        return self._live.endpoints

    def update_config(self, config: ProxyConfig) -> None:
        """Swap in a new config (hot reload).

        Learned state (breakers, latency, in-flight counts, limit levels,
        round-robin turns, sessions) is kept for providers and profiles that
        still exist and dropped for the rest.
        """
        now = self._clock()
        index = ConfigIndex(config, self._pricing)
        live = self._live
        replicas = config.fleet.replicas
        providers = {p.key: p for p in config.providers}
        live.providers = {
            key: _reuse_provider(live.providers.get(key), p, replicas, now) for key, p in providers.items()
        }
        settings = _latency_settings(config)
        model_keys = {(p.key, m.name): p for p in config.providers for m in p.models}
        live.breakers = {
            k: _reuse_breaker(live.breakers.get(k), p) for k, p in model_keys.items() if k in live.breakers
        }
        live.ramping &= set(live.breakers)
        live.strained = {k: at for k, at in live.strained.items() if k in providers}
        live.latency = {k: v for k, v in live.latency.items() if k in model_keys}
        for k, stats in live.latency.items():
            stats.reconfigure(*settings.get(k[0], DEFAULT_LATENCY_SETTINGS))
        live.latency_settings = settings
        live.profiles = {p.key: _reuse_profile(live.profiles.get(p.key), p, replicas, now) for p in config.profiles}
        for profile_state in live.profiles.values():
            profile_state.sessions.forget_providers(set(providers))
        live.refresh_flags()
        live.endpoints.configure(config.providers)
        self._apply_sharing()
        self._engine = Engine(index, live)

    def share_limits(self) -> None:
        """Leave RPM/TPM limits of providers and profiles to the fleet limiter (``--state-store``)."""
        self._shared_limits = True
        self._apply_sharing()

    def _apply_sharing(self) -> None:
        live = self._live
        for provider in live.providers.values():
            provider.share(self._shared_limits)
        for profile in live.profiles.values():
            profile.share(self._shared_limits)
        live.refresh_flags()

    def plan(self, request: RouteRequest) -> Plan:
        """Choose where ``request`` goes: the ordered attempts, then fallback models.

        Side effects: takes the profile's rate-limit tokens, advances its
        round-robin turn and binds the session (if affinity is on).
        Raises NoRoute: 404 unknown model or profile, 400 bad routing header,
        429 rate limited, 503 nothing healthy.
        """
        return self._engine.plan(request, self._clock(), self._rng)

    def explain(self, request: RouteRequest) -> Explanation:
        """What ``plan`` would do, with scores and exclusion reasons, changing nothing.

        Random strategies draw from a copy of the router's generator, so the
        ranking shown is one plausible draw and the next plan is unaffected.
        """
        rng = random.Random()
        rng.setstate(self._rng.getstate())
        try:
            decision = self._engine.decide(request, self._clock(), rng, commit=False)
        except NoRoute as e:
            if e.status in (400, 404):
                raise
            return self._engine.blocked_explanation(request, e)
        return explain_decision(decision, self._engine, request)

    def profile_of(self, request: RouteRequest) -> ProfileConfig | None:
        """The profile ``request`` routes to, or None when it names none (unknown model or profile)."""
        try:
            return self._engine.select_profile(request)
        except NoRoute:
            return None

    def circuit(self, attempt: Attempt) -> CircuitState:
        """The circuit state of the attempt's provider and model now."""
        return self._live.circuit(attempt, self._clock())

    def pick_endpoint(self, provider_key: str, prefix_hash: int | None, avoid: frozenset[str]) -> Member | None:
        """The endpoint for an attempt on a Service-backed provider (None: none usable), counted as started."""
        pool = self._live.endpoints.pools.get(provider_key)
        if pool is None:
            return None
        now = self._clock()
        member = pool.choose(now, self._rng, prefix_hash, avoid)
        if member is not None:
            pool.started(member, now)
        return member

    def endpoint_finished(self, provider_key: str, member: Member, failed: bool | None) -> bool:
        """Pairs ``pick_endpoint``; True when the member left its pool with this (close its connections)."""
        pool = self._live.endpoints.pools.get(provider_key)
        if pool is None:  # the provider left the config (or its service) meanwhile
            return True
        return pool.finished(member, self._clock(), failed)

    def next_step(
        self, plan: Plan, index: int, outcome: Outcome, retries_done: int, elapsed_s: float = 0.0
    ) -> RetryStep | None:
        """After ``plan.attempts[index]`` ended with ``outcome``: where and when to retry, or None.

        ``retries_done`` counts retries already made for this request and
        ``elapsed_s`` the time since the request arrived (for the deadline).
        See ``switchboard.proxy.routing.retry`` for the exact rules.
        """
        now = self._clock()
        live = self._live
        return next_step(
            plan,
            index,
            outcome,
            retries_done,
            elapsed_s,
            self._rng,
            lambda a: live.admits(a, now),
            lambda a: live.closed(a, now),
        )

    def estimate_cost(self, request: RouteRequest) -> list[CostEstimate]:
        """Estimated USD cost of ``request`` on each provider of its route (failover order)."""
        route = self._engine.route_for(request)
        return [reports.cost_estimate(c, request) for c in route.candidates]

    def latency_report(self, may_use: Grants | None = None) -> list[LatencySummary]:
        """Latency per provider and model (EMA, p50/p95/p99, min, max, count), sorted.

        With ``may_use``, only the (provider, model) pairs the profiles it admits route to: a provider
        shared with other profiles shows only for the models of the admitted ones.
        """
        latency = self._live.latency
        if may_use is not None:
            routes = self._engine.index.routes.values()
            allowed = {key for route in routes if may_use(route.profile_key) for key in route.model_keys}
            latency = {key: stats for key, stats in latency.items() if key in allowed}
        return reports.latency_report(latency)

    def provider_health(self) -> dict[str, ProviderHealth]:
        """Per provider key: circuit (aggregated over models), latency, error rate, rpm, last error."""
        return reports.provider_health(self.config.providers, self._live, self._clock())


def _reuse_provider(state: ProviderState | None, provider: ProviderConfig, replicas: int, now: float) -> ProviderState:
    if state is None:
        return ProviderState(provider, replicas, now)
    state.configure(provider, replicas, now)
    return state


def _reuse_breaker(breaker: Breaker | None, provider: ProviderConfig) -> Breaker:
    if breaker is None:
        return Breaker(provider.circuit_breaker)
    breaker.reconfigure(provider.circuit_breaker)
    return breaker


def _reuse_profile(state: ProfileState | None, profile: ProfileConfig, replicas: int, now: float) -> ProfileState:
    if state is None:
        return ProfileState(profile, replicas, now)
    state.configure(profile, replicas, now)
    return state


def _latency_settings(config: ProxyConfig) -> dict[str, tuple[float, int, float]]:
    """EMA alpha, window and decay half-life per provider: those of the first profile that uses it."""
    settings: dict[str, tuple[float, int, float]] = {}
    for profile in config.profiles:
        latency = profile.latency
        for ref in profile.providers:
            settings.setdefault(
                profile.provider_key(ref), (latency.ema_alpha, latency.window_size, latency.decay_half_life_seconds)
            )
    return settings
