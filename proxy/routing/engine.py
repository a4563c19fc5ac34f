"""One routing decision: profile, strategy, filters, ordering, affinity, hints, fallbacks.

``Engine`` pairs an immutable ``ConfigIndex`` with the Router's ``Live`` state.
``decide(commit=False)`` is side-effect free (used by ``explain``);
``commit=True`` also takes profile rate-limit tokens, advances the round-robin
turn and binds the session.
"""

import random
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import NamedTuple

from switchboard.api.precedence import why_shadowed
from switchboard.api.profile import Preference, ProfileConfig, Rule, Strategy
from switchboard.proxy.routing.affinity import rendezvous_index, session_key
from switchboard.proxy.routing.decision import Explanation, RankedCandidate
from switchboard.proxy.routing.exclusion import EVERY_REQUEST, SPILL, Exclusion, ExclusionKind, no_route_status
from switchboard.proxy.routing.headroom import demote_strained
from switchboard.proxy.routing.index import Candidate, ConfigIndex, Route
from switchboard.proxy.routing.live import Live
from switchboard.proxy.routing.rules import compile_rules, select_rule
from switchboard.proxy.routing.strategies import Signals, demote_slow_starters, order, score
from switchboard.proxy.routing.types import NoRoute, Plan, RouteRequest

PROFILE_HEADER = "x-routing-profile"
PREFERENCE_HEADER = "x-routing-preference"
HINT_HEADER = "x-provider-hint"
PREFERENCES: frozenset[str] = frozenset({"cost", "speed", "quality", "balanced"})
SPREADING: frozenset[str] = frozenset({"round-robin", "weighted", "random", "least-busy"})
"""Strategies whose first pick is not the same on every replica."""
NOT_IN_RULE = Exclusion(ExclusionKind.NOT_IN_RULE, "not selected by the matching rule")
_NEVER_NOW = EVERY_REQUEST | {ExclusionKind.CONTEXT_WINDOW}
"""Exclusions no wait lifts: they give no Retry-After hint."""


_ATTEMPT = attrgetter("attempt")
_NO_CANDIDATES: tuple[Candidate, ...] = ()


class Decision(NamedTuple):
    profile: ProfileConfig
    strategy: str  # label for the plan and metrics: "weighted", "rules(cheap):least-cost"
    rule: str | None
    ordered: Sequence[Candidate]
    fallbacks: Sequence[Candidate]
    excluded: dict[str, Exclusion]
    signals: Signals
    base_strategy: Strategy = "failover"

    def plan(self) -> Plan:
        attempts = tuple(map(_ATTEMPT, self.ordered))
        if self.fallbacks:
            attempts += tuple(map(_ATTEMPT, self.fallbacks))
        spilled = tuple(self.spilled().items()) if self.excluded else ()
        return Plan(self.profile, self.strategy, attempts, self.excluded, spilled)

    def spilled(self) -> dict[str, str]:
        """Service-backed providers passed over because their endpoints could not take the request."""
        return {key: e.kind.value for key, e in self.excluded.items() if e.kind in SPILL}


class Engine:
    __slots__ = ("index", "live", "rng", "rules")

    def __init__(self, index: ConfigIndex, live: Live, rng: random.Random) -> None:
        self.index = index
        self.live = live
        self.rng = rng  # the router's: plans draw from it
        self.rules = {key: compile_rules(p) for key, p in index.profiles.items()}

    def select_profile(self, request: RouteRequest) -> ProfileConfig:
        wanted = request.headers.get(PROFILE_HEADER)
        if wanted:
            chosen = self.index.profiles.get(wanted)
            if chosen is None:
                raise NoRoute(404, f"unknown routing profile {wanted!r}{self._qualified_hint(wanted)}")
            if chosen.allow_client_routing:
                if request.model not in chosen.models:
                    raise NoRoute(404, f"routing profile {wanted!r} does not serve model {request.model!r}")
                return chosen
        profile = self.index.owner(request.model, request.may_use)
        if profile is None:
            raise NoRoute(404, f"model {request.model!r} is not served here")
        return profile

    def _qualified_hint(self, wanted: str) -> str:
        """Profiles are named ``namespace/name``; point a bare name at its qualified forms."""
        if "/" in wanted:
            return ""
        matches = sorted(k for k, p in self.index.profiles.items() if p.name == wanted and p.namespace)
        return f"; name it as namespace/name: {', '.join(matches)}" if matches else ""

    def route_for(self, request: RouteRequest) -> Route:
        if PROFILE_HEADER not in request.headers:
            route = self.index.default_routes.get(request.model)
            if route is not None and (request.may_use is None or request.may_use(route.profile_key)):
                return route
        # a profile header, a winner the caller may not use, or an unknown model: the slow path decides
        route = self.index.route(self.select_profile(request), request.model)
        assert route is not None  # every served model of a profile has a route
        return route

    def plan(self, request: RouteRequest) -> Plan:
        """``decide(commit=True).plan()`` now (``Router.plan``); a route's fixed plan as is while nothing live can
        change it (no profile limit to take, no candidate excluded, ramping up or strained): the clock is then
        read only when a provider's limits must be asked."""
        route = self.route_for(request)
        fixed, live = route.fixed_plan, self.live
        if (
            fixed is not None
            and not (live.ramping or live.strained or live.profiles[route.profile_key].limited)
            and self._all_eligible(route, request.prompt_tokens, None)
        ):
            return fixed
        return self.decide(request, live.clock(), self.rng, commit=True, route=route).plan()

    def decide(
        self, request: RouteRequest, now: float, rng: random.Random, commit: bool, *, route: Route | None = None
    ) -> Decision:
        """The full decision; ``route``: ``route_for(request)`` when the caller has it already."""
        if route is None:
            route = self.route_for(request)
        profile = route.profile
        pstate = self.live.profiles[route.profile_key]
        if pstate.limited:
            blocked = pstate.blocked_reason(now, request.prompt_tokens)
            if blocked is not None:
                wait = pstate.retry_after_s(now, request.prompt_tokens)
                raise NoRoute(429, f"{blocked}; retry in {wait:.3f}s", retry_after_s=client_wait(wait))
        # Each step below runs only when the profile's settings let it change the order (else it returns it as is).
        if profile.strategy == "rules" or profile.allow_client_routing:
            strategy, preference, rule = self._strategy(profile, request)
        else:
            strategy, preference, rule = profile.strategy, profile.preference, None
        eligible, excluded = self._filter(route, request, now, rule.providers if rule else ())
        live = self.live
        signals = Signals(
            rng, pstate.turn, preference, profile.top_n, live.latency, live.providers, request.prompt_tokens,
            request.max_tokens, profile.latency.exploration_share,
        )  # fmt: skip
        ordered = order(strategy, eligible, signals)
        if live.ramping:
            ordered = demote_slow_starters(ordered, self._slow_factors(now), rng)
        if live.strained:
            ordered = demote_strained(ordered, live.strained, now)
        if profile.session_affinity.enabled:
            ordered = self._stick_to_session(profile, request, ordered, now, commit, strategy in SPREADING)
        if profile.allow_client_routing:
            ordered = _apply_hint(profile, request, ordered)
        fallbacks = self._fallbacks(profile, request, now) if profile.fallback_models else _NO_CANDIDATES
        if not ordered and not fallbacks:
            hint = self._wait_hint(route, now, request.prompt_tokens, excluded)
            raise _no_route(request.model, excluded, hint)
        if commit:
            if pstate.limited:
                pstate.admit(now, request.prompt_tokens)
            if strategy == "round-robin":
                pstate.turn += 1
        label = f"rules({rule.name}):{strategy}" if rule is not None else strategy
        return Decision(profile, label, rule.name if rule else None, ordered, fallbacks, excluded, signals, strategy)

    def blocked_explanation(self, request: RouteRequest, error: NoRoute) -> Explanation:
        profile = self.select_profile(request)
        passed = self.passed_over(request, profile)
        return Explanation(
            profile.key, profile.strategy, None, (), error.excluded, (), error.message, passed_over=passed
        )

    def passed_over(self, request: RouteRequest, chosen: ProfileConfig) -> dict[str, str]:
        """The other profiles serving the requested model, each with why it was not chosen."""
        claim = self.index.claims.get(request.model)
        if claim is None:
            return {}
        named = PROFILE_HEADER in request.headers and chosen.key == request.headers[PROFILE_HEADER]
        reasons = {}
        for other in claim.profiles:
            if other.key == chosen.key:
                continue
            if request.may_use is not None and not request.may_use(other.key):
                reasons[other.key] = "not granted to this API key"
            elif named:
                reasons[other.key] = f"{PROFILE_HEADER} named {chosen.key}"
            else:
                reasons[other.key] = f"shadowed: {why_shadowed(chosen, other)}"
        return reasons

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
    ) -> tuple[Sequence[Candidate], dict[str, Exclusion]]:
        """Candidates that can take the request now, and why each other one cannot.

        Fast path: when no rule subset, context window, tripped breaker or
        limited provider can exclude anyone, every candidate is eligible and
        nothing is scanned (a limited provider costs one check, not one per candidate).
        """
        tokens = request.prompt_tokens
        if not subset and self._all_eligible(route, tokens, now):
            return route.candidates, dict(route.static_excluded)
        return self._filter_each(route, tokens, now, subset)

    def _all_eligible(self, route: Route, tokens: int, now: float | None) -> bool:
        """No context window, tripped breaker, endpoint pool or limit of the route can exclude a candidate.

        ``now``: None reads the clock, only if a limit must be asked."""
        live, pools = self.live, self.live.endpoints.pools
        return (  # each set asked only when not empty (the usual case: nothing tripped, no Service-backed provider)
            (route.min_context_window is None or tokens <= route.min_context_window)
            and (not live.tripped or route.model_keys.isdisjoint(live.tripped))
            and (not pools or route.provider_keys.isdisjoint(pools))
            and (not live.guarded or self._limits_admit(route, live.clock() if now is None else now, tokens))
        )

    def _limits_admit(self, route: Route, now: float, tokens: int) -> bool:
        """Whether every limited (or cooling-down) provider of the route can take the request."""
        providers = self.live.providers
        return all(providers[key].admits(now, tokens) for key in route.provider_keys & self.live.guarded)

    def _filter_each(
        self, route: Route, tokens: int, now: float, subset: Sequence[str]
    ) -> tuple[list[Candidate], dict[str, Exclusion]]:
        """The exact per-candidate filter, with every exclusion reason (failover order)."""
        eligible: list[Candidate] = []
        excluded = dict(route.static_excluded)
        breakers = self.live.breakers
        providers = self.live.providers
        pools = self.live.endpoints.pools
        for c in route.candidates:
            if subset and c.name not in subset:
                excluded[c.provider_key] = NOT_IN_RULE
                continue
            breaker = breakers.get(c.model_key)
            if breaker is not None and breaker.tripped and not breaker.admits(now):
                excluded[c.provider_key] = Exclusion(ExclusionKind.CIRCUIT_OPEN, f"circuit {breaker.state(now)}")
                continue
            pool = pools.get(c.provider_key)
            unavailable = pool.unavailable(now) if pool is not None else None
            if unavailable is not None:
                excluded[c.provider_key] = Exclusion(ExclusionKind(unavailable.kind), unavailable.text)
                continue
            state = providers[c.provider_key]
            reason = None if not state.guarded or state.admits(now, tokens) else state.blocked_reason(now, tokens)
            if reason is not None:
                excluded[c.provider_key] = Exclusion(ExclusionKind.LIMITED, reason)
                continue
            if c.context_window is not None and tokens > c.context_window:
                why = f"context window {c.context_window} < estimated prompt {tokens} tokens"
                excluded[c.provider_key] = Exclusion(ExclusionKind.CONTEXT_WINDOW, why)
                continue
            eligible.append(c)
        return eligible, excluded

    def _wait_hint(self, route: Route, now: float, tokens: int, excluded: Mapping[str, Exclusion]) -> float | None:
        """The earliest a candidate excluded for a passing reason (limits, open circuit) can serve again."""
        waits: list[float] = []
        for c in route.candidates:
            exclusion = excluded.get(c.provider_key)
            if exclusion is None or exclusion.kind in _NEVER_NOW:
                continue  # not excluded, or never able to take this prompt
            limits = self.live.providers[c.provider_key].wait_s(now, tokens)
            if limits is None:
                continue  # at max concurrency: frees when a request ends, not at a known time
            breaker = self.live.breakers.get(c.model_key)
            circuit = breaker.reopens_in(now) if breaker is not None and breaker.tripped else 0.0
            waits.append(max(circuit, limits))
        return client_wait(min(waits)) if waits else None

    def _slow_factors(self, now: float) -> dict[tuple[str, str], float]:
        """Slow-start factors of breakers still ramping up (forgetting those done)."""
        ramping = self.live.ramping
        if not ramping:
            return {}
        factors: dict[tuple[str, str], float] = {}
        for key in list(ramping):
            breaker = self.live.breakers.get(key)
            factor = breaker.slow_start_factor(now) if breaker is not None else 1.0
            if factor < 1.0:
                factors[key] = factor
            else:
                ramping.discard(key)
        return factors

    def _stick_to_session(
        self,
        profile: ProfileConfig,
        request: RouteRequest,
        ordered: list[Candidate],
        now: float,
        commit: bool,
        spread: bool,
    ) -> list[Candidate]:
        """Keep a session on its provider while that provider is eligible; else rebind.

        ``spread``: the strategy's first pick differs between replicas (round-robin, random...), so
        an unbound session takes its rendezvous choice instead, the one every replica agrees on.
        """
        if not profile.session_affinity.enabled or not ordered:
            return ordered
        key = session_key(profile.session_affinity, request)
        if key is None:
            return ordered
        sessions = self.live.profiles[profile.key].sessions
        bound = sessions.get(key, now) if commit else sessions.peek(key, now)
        if spread and (bound is None or all(c.provider_key != bound for c in ordered)):
            bound = ordered[rendezvous_index(key, ordered)].provider_key
        if bound is not None:
            ordered = _to_front(ordered, lambda c: c.provider_key == bound)
        if commit:
            sessions.bind(key, ordered[0].provider_key, now)
        return ordered

    def _fallbacks(self, profile: ProfileConfig, request: RouteRequest, now: float) -> list[Candidate]:
        """Eligible providers of each fallback model, in order, each list in failover order."""
        result: list[Candidate] = []
        for model in profile.fallback_models:
            route = self.index.fallback_route(profile, model, request.may_use)
            if route is not None and model != request.model:
                result.extend(self._filter(route, request, now, ())[0])
        return result


def explain_decision(decision: Decision, engine: Engine, request: RouteRequest) -> Explanation:
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
        spilled=decision.spilled(),
        passed_over=engine.passed_over(request, decision.profile),
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


def client_wait(seconds: float) -> float:
    """A wait hint for clients: at least one second (Retry-After has whole seconds; 0 invites a hot loop)."""
    return max(1.0, seconds)


def _no_route(model: str, excluded: dict[str, Exclusion], wait: float | None) -> NoRoute:
    """429 or 503 as the exclusions' kinds decide (``no_route_status``); ``wait``: the hint."""
    if no_route_status(excluded.values()) == 429:
        return NoRoute(429, f"every provider for model {model!r} is rate limited", excluded, wait)
    return NoRoute(503, f"no healthy provider for model {model!r}", excluded, wait)
