"""Everything the Router learns at run time, and how outcomes update it."""

from switchboard.proxy.routing.breaker import Breaker
from switchboard.proxy.routing.latency import LatencyStats
from switchboard.proxy.routing.state import ProfileState, ProviderState
from switchboard.proxy.routing.types import Attempt, Outcome

DEFAULT_LATENCY_SETTINGS = (0.3, 200)


class Live:
    """Learned state, keyed by provider key, profile key or (provider key, model name)."""

    __slots__ = ("breakers", "latency", "latency_settings", "profiles", "providers")

    def __init__(self) -> None:
        self.providers: dict[str, ProviderState] = {}
        self.profiles: dict[str, ProfileState] = {}
        self.breakers: dict[tuple[str, str], Breaker] = {}
        self.latency: dict[tuple[str, str], LatencyStats] = {}
        self.latency_settings: dict[str, tuple[float, int]] = {}

    def admits(self, attempt: Attempt, now: float) -> bool:
        """Whether the attempt's circuit lets a call through now."""
        breaker = self.breakers.get((attempt.provider.key, attempt.model.name))
        return breaker is None or breaker.admits(now)

    def on_started(self, attempt: Attempt, now: float) -> None:
        state = self.providers.get(attempt.provider.key)
        if state is not None:
            state.inflight += 1
            if state.requests is not None:
                state.requests.take(now, 1)
        breaker = self.breakers.get((attempt.provider.key, attempt.model.name))
        if breaker is not None:
            breaker.on_start(now)

    def on_finished(self, attempt: Attempt, outcome: Outcome, now: float) -> None:
        key = (attempt.provider.key, attempt.model.name)
        failed = None if outcome.kind == "client_error" else outcome.kind != "success"
        state = self.providers.get(key[0])
        if state is None:  # provider removed by a reload while the call was in flight
            return
        state.inflight = max(0, state.inflight - 1)
        if state.tokens is not None:
            state.tokens.take(now, outcome.prompt_tokens + outcome.completion_tokens)
        state.activity.add(now, bool(failed))
        if failed:
            state.last_error = _describe(outcome)
        if outcome.kind == "rate_limited" and outcome.retry_after_s:
            state.cooldown_until = max(state.cooldown_until, now + outcome.retry_after_s)
        breaker = self.breakers.get(key)
        if breaker is None:
            breaker = self.breakers[key] = Breaker(attempt.provider.circuit_breaker)
        breaker.on_result(now, failed)
        if outcome.kind == "success":
            self._latency(key).observe(outcome.latency_s)
            state.latency.observe(outcome.latency_s)

    def _latency(self, key: tuple[str, str]) -> LatencyStats:
        stats = self.latency.get(key)
        if stats is None:
            alpha, window = self.latency_settings.get(key[0], DEFAULT_LATENCY_SETTINGS)
            stats = self.latency[key] = LatencyStats(alpha, window)
        return stats


def _describe(outcome: Outcome) -> str:
    """A short, secret-free description of a failed outcome for status and metrics."""
    kind = outcome.kind.replace("_", " ")
    return f"{kind} (HTTP {outcome.status})" if outcome.status is not None else kind
