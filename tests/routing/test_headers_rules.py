"""Client routing headers (only when allowed) and the rules strategy."""

from collections.abc import Callable

import pytest

from switchboard.api.config import parse_config
from switchboard.proxy.routing import NoRoute, Router, RouteRequest
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from tests.fixtures.engine import make_config, provider, rated

Build = Callable[..., Router]


def req(**headers: str) -> RouteRequest:
    return RouteRequest(model="gpt-4o", headers={k.replace("_", "-"): v for k, v in headers.items()})


def test_provider_hint_moves_a_healthy_provider_first(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b"), provider("c", disabled=True)], allowClientRouting=True)
    router = make_router(cfg)
    assert [a.provider.name for a in router.plan(req(x_provider_hint="b")).attempts] == ["b", "a"]
    assert router.plan(req(x_provider_hint="c")).attempts[0].provider.name == "a"  # unhealthy: ignored


def test_headers_are_ignored_unless_client_routing_is_allowed(make_router: Build) -> None:
    router = make_router(make_config([provider("a"), provider("b")]))
    plan = router.plan(req(x_provider_hint="b", x_routing_preference="nonsense"))
    assert plan.attempts[0].provider.name == "a"


def test_preference_header_switches_to_preference_routing(make_router: Build) -> None:
    ups = [rated("fast", 10, 1, 1), rated("cheap", 1, 10, 1)]
    router = make_router(make_config(ups, allowClientRouting=True, topN=1))
    assert router.plan(req(x_routing_preference="cost")).attempts[0].provider.name == "cheap"
    plan = router.plan(req(x_routing_preference="speed"))
    assert plan.attempts[0].provider.name == "fast" and plan.strategy == "preference"
    with pytest.raises(NoRoute) as err:
        router.plan(req(x_routing_preference="fastest"))
    assert err.value.status == 400


OLD = "2026-01-01T00:00:00Z"


def two_profiles(allow: bool) -> Router:
    cfg = parse_config(
        {
            "providers": [provider("a"), provider("b")],
            "profiles": [
                # "alt" sorts first by name; the older timestamp makes "main" the owner of gpt-4o
                {"name": "main", "models": ["gpt-4o"], "providers": [{"name": "a"}], "creationTimestamp": OLD},
                {"name": "alt", "models": ["gpt-4o"], "providers": [{"name": "b"}], "allowClientRouting": allow},
            ],
        }
    )
    return Router(cfg)


def test_routing_profile_header_selects_an_allowing_profile() -> None:
    assert two_profiles(True).plan(req(x_routing_profile="alt")).profile.name == "alt"
    assert two_profiles(False).plan(req(x_routing_profile="alt")).profile.name == "main"
    with pytest.raises(NoRoute) as err:
        two_profiles(True).plan(req(x_routing_profile="nope"))
    assert err.value.status == 404


RULES = {
    "strategy": "rules",
    "rules": [
        {"name": "big", "priority": 10, "match": {"minPromptTokens": 1000}, "providers": ["b"]},
        {"name": "stream", "priority": 20, "match": {"stream": True}, "preference": "speed"},
        {"name": "tenant", "priority": 5, "match": {"headers": {"X-Tenant": "gold"}}, "strategy": "least-cost"},
        {
            "name": "meta",
            "priority": 30,
            "match": {"metadata": {"tier": "batch"}, "models": ["gpt-4*"]},
            "strategy": "round-robin",
        },
    ],
    "defaultRule": {"name": "default", "strategy": "failover"},
}


def test_rules_pick_by_priority_and_condition(make_router: Build) -> None:
    ups = [rated("a", 1, 10, 5), rated("b", 10, 1, 5)]
    router = make_router(make_config(ups, **RULES))
    big = router.plan(RouteRequest(model="gpt-4o", prompt_tokens=5000, stream=True))
    assert big.strategy == "rules(big):failover" and [a.provider.name for a in big.attempts] == ["b"]
    assert big.excluded == {"a": Exclusion(ExclusionKind.NOT_IN_RULE, "not selected by the matching rule")}
    stream = router.plan(RouteRequest(model="gpt-4o", stream=True))
    assert stream.strategy == "rules(stream):preference" and stream.attempts[0].provider.name == "b"
    gold = router.plan(RouteRequest(model="gpt-4o", stream=True, headers={"x-tenant": "gold"}))
    assert gold.strategy == "rules(tenant):least-cost"
    batch = router.plan(RouteRequest(model="gpt-4o", metadata={"tier": "batch"}))
    assert batch.strategy == "rules(meta):round-robin"
    assert router.plan(RouteRequest(model="gpt-4o")).strategy == "rules(default):failover"


def test_rules_without_a_match_or_default_use_failover(make_router: Build) -> None:
    rules = {"strategy": "rules", "rules": [{"name": "never", "match": {"models": ["x"]}, "strategy": "random"}]}
    router = make_router(make_config([provider("a"), provider("b")], **rules))
    plan = router.plan(RouteRequest(model="gpt-4o"))
    assert plan.strategy == "failover" and [a.provider.name for a in plan.attempts] == ["a", "b"]
