"""Read-only views of the Router's state for metrics, status and cost previews."""

from collections.abc import Iterable, Mapping

from switchboard.api.provider import ProviderConfig
from switchboard.api.status import CircuitState, ProviderHealth, worst_circuit
from switchboard.proxy.routing.decision import CostEstimate
from switchboard.proxy.routing.index import Candidate
from switchboard.proxy.routing.latency import LatencyStats, LatencySummary, percentile
from switchboard.proxy.routing.live import Live
from switchboard.proxy.routing.pricing import estimated_completion_tokens
from switchboard.proxy.routing.state import ACTIVITY_WINDOW_S
from switchboard.proxy.routing.types import RouteRequest


def cost_estimate(candidate: Candidate, request: RouteRequest) -> CostEstimate:
    model = candidate.attempt.model
    completion = estimated_completion_tokens(request.max_tokens, model)
    price = candidate.price
    return CostEstimate(
        provider=candidate.provider_key,
        model=model.name,
        prompt_tokens=request.prompt_tokens,
        completion_tokens=completion,
        cost_usd=None if price is None else price.cost(request.prompt_tokens, completion),
    )


def latency_report(latency: Mapping[tuple[str, str], LatencyStats]) -> list[LatencySummary]:
    return [latency[key].summary(*key) for key in sorted(latency)]


def provider_health(providers: Iterable[ProviderConfig], live: Live, now: float) -> dict[str, ProviderHealth]:
    """One ProviderHealth per configured provider, as this replica sees it."""
    result: dict[str, ProviderHealth] = {}
    for provider in providers:
        state = live.providers.get(provider.key)
        if state is None:
            continue
        breakers = (live.breakers.get((provider.key, m.name)) for m in provider.models)
        circuits: Iterable[CircuitState] = (b.state(now) if b is not None else "closed" for b in breakers)
        total, failures = state.activity.counts(now)
        ema, ordered = _provider_latency(
            [live.latency.get((provider.key, name)) for name in {m.name for m in provider.models}]
        )
        endpoints = live.endpoints.health(provider.key, now)
        pool = live.endpoints.pools.get(provider.key)
        if pool is not None:  # a Service-backed provider is open only when no endpoint can serve
            unavailable = pool.unavailable(now)
            circuits = ["open" if unavailable is not None and unavailable.kind != "saturated" else "closed"]
        result[provider.key] = ProviderHealth(
            endpoints=endpoints[0] if endpoints else None,
            endpoint_states=endpoints[1] if endpoints else None,
            circuit=worst_circuit(circuits),
            ema_ms=_ms(ema),
            p50_ms=_ms(percentile(ordered, 50)),
            p95_ms=_ms(percentile(ordered, 95)),
            error_rate=failures / total if total else 0.0,
            requests_per_minute=total * 60.0 / ACTIVITY_WINDOW_S,
            last_error=state.last_error,
        )
    return result


def _provider_latency(models: list[LatencyStats | None]) -> tuple[float | None, list[float]]:
    """A provider's latency from its models' (learned once per attempt, not twice): the average of their EMAs
    weighted by their recent samples, and those samples sorted. (A provider of one model: that model's.)"""
    known = [stats for stats in models if stats is not None and stats.ema is not None]
    if len(known) == 1:
        return known[0].ema, sorted(known[0].samples)
    weights = sum(len(stats.samples) for stats in known)
    if not weights:
        return None, []
    ema = sum(stats.ema * len(stats.samples) for stats in known if stats.ema is not None) / weights
    return ema, sorted(sample for stats in known for sample in stats.samples)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
