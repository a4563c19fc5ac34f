"""Everything the Router learns at run time, and how outcomes update it."""

import time
from collections.abc import Callable

from switchboard.api.status import CircuitState
from switchboard.proxy.endpoints.table import EndpointTable
from switchboard.proxy.routing.breaker import Breaker
from switchboard.proxy.routing.headroom import LOW_HEADROOM
from switchboard.proxy.routing.latency import LatencyStats
from switchboard.proxy.routing.state import ProfileState, ProviderState
from switchboard.proxy.routing.types import UPSTREAM_FAILURE_KINDS, Attempt, Outcome

DEFAULT_LATENCY_SETTINGS = (0.3, 200, 60.0)  # EMA alpha, window, decay half-life (s)


class Live:
    """Learned state, keyed by provider key, profile key or (provider key, model name)."""

    __slots__ = (
        "breakers",
        "clock",
        "endpoints",
        "guarded",
        "latency",
        "latency_settings",
        "monotonic",
        "profiles",
        "providers",
        "ramping",
        "strained",
        "tripped",
    )

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock  # the router's: outcomes are learned at its time
        self.monotonic = clock is time.monotonic  # then a caller's own reading of it is that time too
        self.providers: dict[str, ProviderState] = {}
        self.profiles: dict[str, ProfileState] = {}
        self.breakers: dict[tuple[str, str], Breaker] = {}
        self.latency: dict[tuple[str, str], LatencyStats] = {}
        self.latency_settings: dict[str, tuple[float, int, float]] = {}
        self.ramping: set[tuple[str, str]] = set()  # breakers in slow start, so plans skip the rest
        # Fast flags so a plan checks only what can exclude a provider: breakers not
        # closed, and providers with limits or a Retry-After cooldown.
        self.tripped: set[tuple[str, str]] = set()
        self.guarded: set[str] = set()
        # Service-backed providers: their circuit is their endpoints' (open only when none can serve).
        self.endpoints = EndpointTable()
        # Providers whose upstream said it is nearly out of quota, and when (plans try them last for a minute).
        self.strained: dict[str, float] = {}

    def refresh_flags(self) -> None:
        """Recompute ``tripped`` and ``guarded`` from scratch (after a reload)."""
        self.tripped = {key for key, breaker in self.breakers.items() if breaker.tripped}
        self.guarded = {key for key, state in self.providers.items() if state.guarded}

    def admits(self, attempt: Attempt, now: float) -> bool:
        """Whether the attempt's circuit (a Service-backed provider: some endpoint) lets a call through now."""
        pool = self.endpoints.pools.get(attempt.provider.key)
        if pool is not None:
            return pool.unavailable(now) is None
        breaker = self.breakers.get((attempt.provider.key, attempt.model.name))
        return breaker is None or breaker.admits(now)

    def circuit(self, attempt: Attempt, now: float) -> CircuitState:
        breaker = self.breakers.get((attempt.provider.key, attempt.model.name))
        return "closed" if breaker is None else breaker.state(now)

    def closed(self, attempt: Attempt, now: float) -> bool:
        """Whether the attempt's circuit is closed now (not open, not probing)."""
        return self.circuit(attempt, now) == "closed"

    def on_started(self, attempt: Attempt, at: float | None = None) -> None:
        """An attempt goes upstream now (``Router.started``); ``at``: ``time.monotonic()`` as the caller just read
        it, taken for now when that is the router's clock (the attempt's one reading serves both)."""
        now = at if at is not None and self.monotonic else self.clock()
        key = attempt.key
        state = self.providers.get(key[0])
        if state is not None:
            state.start(now)
        if self.tripped and key in self.tripped:  # a closed breaker has no probe slots to take
            self.breakers[key].on_start(now)

    def on_finished(
        self, attempt: Attempt, outcome: Outcome, at: float | None = None
    ) -> tuple[CircuitState, CircuitState] | None:
        """Learn from one attempt's outcome now (``at``: as ``on_started``); returns how the attempt's circuit
        changed (before, after), or None."""
        now = at if at is not None and self.monotonic else self.clock()
        key = attempt.key
        state = self.providers.get(key[0])
        if state is None:  # provider removed by a reload while the call was in flight
            return None
        kind = outcome.kind
        # Outcome.party, inlined: only upstream failures count against the provider; client and proxy are neutral.
        failed = False if kind == "success" else True if kind in UPSTREAM_FAILURE_KINDS else None
        state.finish(now, outcome.prompt_tokens + outcome.completion_tokens, failed)
        if failed is False:
            stats = self.latency.get(key)
            if stats is None:
                stats = self.latency[key] = LatencyStats(*self.latency_settings.get(key[0], DEFAULT_LATENCY_SETTINGS))
            stats.observe(outcome.latency_s, now)
        else:
            if failed:
                state.last_error = _describe(outcome)
            if kind == "rate_limited" and outcome.retry_after_s:
                state.cool_down(now + outcome.retry_after_s)
                self.guarded.add(key[0])
        if key[0] in self.endpoints.pools:
            return None  # each endpoint's breaker learned it already
        if outcome.headroom is not None:
            if outcome.headroom < LOW_HEADROOM:
                self.strained[key[0]] = now
            else:
                self.strained.pop(key[0], None)
        if failed is False:
            breaker = self.breakers.get(key)
            if breaker is not None and not breaker.tripped:  # closed: a success counts, and never trips it
                breaker.on_result(now, False)
                return None
        return self._breaker_learns(attempt, failed, now)

    def _breaker_learns(
        self, attempt: Attempt, failed: bool | None, now: float
    ) -> tuple[CircuitState, CircuitState] | None:
        """Feed the attempt's breaker; the circuit's change, or None (the flag sets change only with it)."""
        key = attempt.key
        breaker = self.breakers.get(key)
        if breaker is None:
            breaker = self.breakers[key] = Breaker(attempt.provider.circuit_breaker)
        was_tripped = breaker.tripped
        before: CircuitState = breaker.state(now) if was_tripped else "closed"
        breaker.on_result(now, failed)
        if not breaker.tripped:
            if not was_tripped:
                return None
            self.tripped.discard(key)
            if breaker.ramping:  # closing is the only way into slow start
                self.ramping.add(key)
            return before, "closed"
        if not was_tripped:
            self.tripped.add(key)
        after = breaker.state(now)
        return None if after == before else (before, after)


def _describe(outcome: Outcome) -> str:
    """A short, secret-free description of a failed outcome for status and metrics."""
    kind = outcome.kind.replace("_", " ")
    return f"{kind} (HTTP {outcome.status})" if outcome.status is not None else kind
