"""One routing decision: profile, strategy, filters, ordering, affinity, hints, fallbacks.

``Engine`` pairs an immutable ``ConfigIndex`` with the Router's ``Live`` state.
``decide(commit=False)`` is side-effect free (used by ``explain``);
``commit=True`` also takes profile rate-limit tokens, advances the round-robin
turn and binds the session.
"""

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from switchboard.api.profile import Preference, ProfileConfig, Rule, Strategy
from switchboard.proxy.routing.affinity import session_key
from switchboard.proxy.routing.decision import Explanation, RankedCandidate
from switchboard.proxy.routing.index import Candidate, ConfigIndex, Route
from switchboard.proxy.routing.live import Live
from switchboard.proxy.routing.pricing import estimated_completion_tokens
from switchboard.proxy.routing.rules import select_rule, sorted_rules
from switchboard.proxy.routing.strategies import Signals, demote_slow_starters, order, score
from switchboard.proxy.routing.types import NoRoute, Plan, RouteRequest

PROFILE_HEADER = "x-routing-profile"
PREFERENCE_HEADER = "x-routing-preference"
HINT_HEADER = "x-provider-hint"
PREFERENCES: frozenset[str] = frozenset({"cost", "speed", "quality", "balanced"})
THROTTLE_PREFIXES = ("rate limited", "over ", "at max concurrency")
NOT_IN_RULE = "not selected by the matching rule"


@dataclass(frozen=True, slots=True)
class Decision:
    profile: ProfileConfig
    strategy: str  # label for the plan and metrics: "weighted", "rules(cheap):least-cost"
    rule: str | None
    ordered: Sequence[Candidate]
    fallbacks: Sequence[Candidate]
    excluded: dict[str, str]
    signals: Signals
    base_strategy: Strategy = field(default="failover")

    def plan(self) -> Plan:
        attempts = tuple(c.attempt for c in self.ordered) + tuple(c.attempt for c in self.fallbacks)
        return Plan(profile=self.profile, strategy=self.strategy, attempts=attempts, excluded=self.excluded)


class Engine:
    __slots__ = ("index", "live", "rules")

    def __init__(self, index: ConfigIndex, live: Live) -> None:
        self.index = index
        self.live = live
        self.rules = {key: sorted_rules(p) for key, p in index.profiles.items()}

    def select_profile(self, request: RouteRequest) -> ProfileConfig:
        wanted = request.headers.get(PROFILE_HEADER)
        if wanted:
            chosen = self.index.profiles.get(wanted)
            if chosen is None:
                raise NoRoute(404, f"unknown routing profile {wanted!r}")
            if chosen.allow_client_routing:
                if request.model not in chosen.models:
                    raise NoRoute(404, f"routing profile {wanted!r} does not serve model {request.model!r}")
                return chosen
        profile = self.index.profile_by_model.get(request.model)
        if profile is None:
            raise NoRoute(404, f"model {request.model!r} is not served here")
        return profile

    def route_for(self, request: RouteRequest) -> Route:
        profile = self.select_profile(request)
        route = self.index.route(profile, request.model)
        assert route is not None  # every served model of a profile has a route
        return route

    def decide(self, request: RouteRequest, now: float, rng: random.Random, commit: bool) -> Decision:
        route = self.route_for(request)
        profile = route.profile
        pstate = self.live.profiles[profile.key]
        blocked = pstate.blocked_reason(now, request.prompt_tokens)
        if blocked is not None:
            raise NoRoute(429, f"{blocked}; retry in {pstate.retry_after_s(now, request.prompt_tokens):.3f}s")
        strategy, preference, rule = self._strategy(profile, request)
        eligible, excluded = self._filter(route, request, now, rule.providers if rule else ())
        signals = self._signals(pstate.turn, preference, profile.top_n, rng, request)
        ordered = order(strategy, eligible, signals)
        ordered = demote_slow_starters(ordered, self._slow_factors(eligible, now), rng)
        ordered = self._stick_to_session(profile, request, ordered, now, commit)
        ordered = _apply_hint(profile, request, ordered)
        fallbacks = self._fallbacks(profile, request, now)
        if not ordered and not fallbacks:
            raise _no_route(request.model, excluded, route.static_excluded)
        if commit:
            pstate.admit(now, request.prompt_tokens)
            if strategy == "round-robin":
                pstate.turn += 1
        label = f"rules({rule.name}):{strategy}" if rule is not None else strategy
        return Decision(profile, label, rule.name if rule else None, ordered, fallbacks, excluded, signals, strategy)

    def blocked_explanation(self, request: RouteRequest, error: NoRoute) -> Explanation:
        profile = self.select_profile(request)
        return Explanation(profile.key, profile.strategy, None, (), error.excluded, (), error.message)

    def _strategy(self, profile: ProfileConfig, request: RouteRequest) -> tuple[Strategy, Preference, Rule | None]:
        strategy: Strategy = profile.strategy
        preference: Preference = profile.preference
        rule: Rule | None = None
        if strategy == "rules":
            rule = select_rule(self.rules[profile.key], profile.default_rule, request)
            strategy = "failover"
            if rule is not None:
                preference = rule.preference or preference
                strategy = rule.strategy or ("preference" if rule.preference else "failover")
        if profile.allow_client_routing:
            asked = request.headers.get(PREFERENCE_HEADER)
            if asked is not None:
                if asked not in PREFERENCES:
                    raise NoRoute(400, f"{PREFERENCE_HEADER} must be one of cost, speed, quality, balanced")
                preference, strategy = asked, "preference"  # type: ignore[assignment]
        return strategy, preference, rule

    def _filter(
        self, route: Route, request: RouteRequest, now: float, subset: Sequence[str]
    ) -> tuple[list[Candidate], dict[str, str]]:
        """Candidates that can take the request now, and why each other one cannot."""
        eligible: list[Candidate] = []
        excluded = dict(route.static_excluded)
        breakers = self.live.breakers
        providers = self.live.providers
        tokens = request.prompt_tokens
        for c in route.candidates:
            if subset and c.name not in subset:
                excluded[c.provider_key] = NOT_IN_RULE
                continue
            breaker = breakers.get(c.model_key)
            if breaker is not None and not breaker.admits(now):
                excluded[c.provider_key] = f"circuit {breaker.state(now)}"
                continue
            reason = providers[c.provider_key].blocked_reason(now, tokens)
            if reason is not None:
                excluded[c.provider_key] = reason
                continue
            if c.context_window is not None and tokens > c.context_window:
                excluded[c.provider_key] = f"context window {c.context_window} < estimated prompt {tokens} tokens"
                continue
            eligible.append(c)
        return eligible, excluded

    def _signals(
        self, turn: int, preference: Preference, top_n: int, rng: random.Random, request: RouteRequest
    ) -> Signals:
        latency = self.live.latency
        inflight = self.live.providers

        def ema(c: Candidate) -> float | None:
            stats = latency.get(c.model_key)
            return None if stats is None else stats.ema

        def cost(c: Candidate) -> float | None:
            if c.price is None:
                return None
            completion = estimated_completion_tokens(request.max_tokens, c.attempt.model)
            return c.price.cost(request.prompt_tokens, completion)

        return Signals(rng, turn, preference, top_n, ema, lambda c: inflight[c.provider_key].inflight, cost)

    def _slow_factors(self, eligible: Sequence[Candidate], now: float) -> dict[tuple[str, str], float]:
        factors: dict[tuple[str, str], float] = {}
        breakers = self.live.breakers
        for c in eligible:
            breaker = breakers.get(c.model_key)
            if breaker is not None:
                f = breaker.slow_start_factor(now)
                if f < 1.0:
                    factors[c.model_key] = f
        return factors

    def _stick_to_session(
        self, profile: ProfileConfig, request: RouteRequest, ordered: list[Candidate], now: float, commit: bool
    ) -> list[Candidate]:
        """Keep a session on its provider while that provider is eligible; else rebind."""
        if not profile.session_affinity.enabled or not ordered:
            return ordered
        key = session_key(profile.session_affinity, request)
        if key is None:
            return ordered
        sessions = self.live.profiles[profile.key].sessions
        bound = sessions.get(key, now) if commit else sessions.peek(key, now)
        if bound is not None:
            ordered = _to_front(ordered, lambda c: c.provider_key == bound)
        if commit:
            sessions.bind(key, ordered[0].provider_key, now)
        return ordered

    def _fallbacks(self, profile: ProfileConfig, request: RouteRequest, now: float) -> list[Candidate]:
        """Eligible providers of each fallback model, in order, each list in failover order."""
        result: list[Candidate] = []
        for model in profile.fallback_models:
            route = self.index.fallback_route(profile, model)
            if route is not None and model != request.model:
                result.extend(self._filter(route, request, now, ())[0])
        return result


def explain_decision(decision: Decision, engine: Engine) -> Explanation:
    def ranked(cands: Sequence[Candidate], strategy: Strategy) -> tuple[RankedCandidate, ...]:
        return tuple(
            RankedCandidate(c.provider_key, c.attempt.model.name, score(strategy, c, decision.signals)) for c in cands
        )

    return Explanation(
        profile=decision.profile.key,
        strategy=decision.strategy,
        rule=decision.rule,
        ranked=ranked(decision.ordered, decision.base_strategy),
        excluded=decision.excluded,
        fallbacks=ranked(decision.fallbacks, "failover"),
    )


def _apply_hint(profile: ProfileConfig, request: RouteRequest, ordered: list[Candidate]) -> list[Candidate]:
    hint = request.headers.get(HINT_HEADER) if profile.allow_client_routing else None
    if not hint:
        return ordered
    return _to_front(ordered, lambda c: hint in (c.name, c.provider_key))


def _to_front(ordered: list[Candidate], wanted: Callable[[Candidate], bool]) -> list[Candidate]:
    for i, c in enumerate(ordered):
        if wanted(c):
            return [c, *ordered[:i], *ordered[i + 1 :]] if i else ordered
    return ordered


def _no_route(model: str, excluded: dict[str, str], static: Iterable[str]) -> NoRoute:
    """429 when every provider that could serve now is only throttled, else 503."""
    ignored = set(static)
    live = [r for k, r in excluded.items() if k not in ignored and r != NOT_IN_RULE]
    throttled = bool(live) and all(r.startswith(THROTTLE_PREFIXES) for r in live)
    if throttled:
        return NoRoute(429, f"every provider for model {model!r} is rate limited", excluded)
    return NoRoute(503, f"no healthy provider for model {model!r}", excluded)
