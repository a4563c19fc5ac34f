"""Priority tiers through the Router: a Service-backed first tier, spill-over to an API provider and back."""

from typing import Any

import pytest

from switchboard.api.config import parse_config
from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind

SATURATED = Exclusion(ExclusionKind.SATURATED, "saturated: 2 of 2 endpoints full (in flight >= 1)")

SLICE = {
    "metadata": {"name": "vllm-1", "namespace": "ml", "labels": {"kubernetes.io/service-name": "vllm"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 8000}],
    "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
}


def router(**picking: Any) -> Router:
    config = parse_config(
        {
            "providers": [
                {
                    "name": "local",
                    "namespace": "ml",
                    "type": "openai-compatible",
                    "service": {"name": "vllm", "port": "http"},
                    "endpointPicking": picking,
                    "models": [{"name": "llama"}],
                },
                {"name": "cloud", "namespace": "ml", "type": "openai", "models": [{"name": "llama"}]},
            ],
            "profiles": [
                {
                    "name": "p",
                    "namespace": "ml",
                    "models": ["llama"],
                    "providers": [{"name": "cloud", "priority": 1}, {"name": "local", "priority": 0}],
                }
            ],
        }
    )
    r = Router(config)
    r.endpoints.update([SLICE])
    return r


def test_traffic_stays_on_the_first_tier_spills_when_saturated_and_returns() -> None:
    r = router(saturation={"maxInFlight": 1})
    request = RouteRequest(model="llama")
    plan = r.plan(request)
    assert [a.provider.name for a in plan.attempts] == ["local", "cloud"] and plan.spilled == ()
    held = [r.pick_endpoint("ml/local", None, frozenset()) for _ in range(2)]
    assert all(m is not None for m in held)
    plan = r.plan(request)
    assert [a.provider.name for a in plan.attempts] == ["cloud"]
    assert plan.spilled == (("ml/local", "saturated"),)
    explained = r.explain(request)
    assert explained.spilled == {"ml/local": "saturated"}
    assert explained.excluded["ml/local"] == SATURATED
    member = held[0]
    assert member is not None
    r.endpoint_finished("ml/local", member, failed=False)
    assert [a.provider.name for a in r.plan(request).attempts] == ["local", "cloud"]


def test_endpoint_failures_never_open_the_providers_own_circuit() -> None:
    r = router(ejection={"consecutiveFailures": 1})
    first = r.pick_endpoint("ml/local", None, frozenset())
    assert first is not None
    plan = r.plan(RouteRequest(model="llama"))
    r.started(plan.attempts[0])
    r.endpoint_finished("ml/local", first, failed=True)
    r.finished(plan.attempts[0], Outcome("connection_error", 0.01))
    assert r.provider_health()["ml/local"].circuit == "closed"
    assert r.provider_health()["ml/local"].endpoints == "1/2"
    second = r.pick_endpoint("ml/local", None, frozenset())
    assert second is not None and second is not first
    r.endpoint_finished("ml/local", second, failed=True)
    health = r.provider_health()["ml/local"]
    assert (health.circuit, health.endpoints) == ("open", "0/2")
    assert [s.state for s in health.endpoint_states] == ["ejected", "ejected"]
    plan = r.plan(RouteRequest(model="llama"))
    assert plan.spilled == (("ml/local", "all_ejected"),)


def test_a_reload_keeps_endpoint_state() -> None:
    r = router(saturation={"maxInFlight": 1})
    held = r.pick_endpoint("ml/local", None, frozenset())
    assert held is not None
    r.update_config(r.config)
    assert r.endpoints.pools["ml/local"].members[held.key].in_flight == 1


def test_a_saturated_only_tier_answers_429_with_a_wait_hint() -> None:
    r = router(saturation={"maxInFlight": 1})
    profile = r.config.profiles[0]
    only_local = profile.model_copy(update={"providers": profile.providers[1:]})
    r.update_config(r.config.model_copy(update={"profiles": (only_local,)}))
    for _ in range(2):
        assert r.pick_endpoint("ml/local", None, frozenset()) is not None
    with pytest.raises(NoRoute) as refused:
        r.plan(RouteRequest(model="llama"))
    assert refused.value.status == 429 and refused.value.retry_after_s is not None
    assert refused.value.excluded == {"ml/local": SATURATED}
