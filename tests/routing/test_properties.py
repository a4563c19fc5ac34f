"""Hypothesis properties of plans over random configs and learned state."""

import random
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.api.config import parse_config
from switchboard.api.profile import Strategy
from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.strategies import weighted_shuffle

STRATEGIES = [s for s in get_args(Strategy) if s != "rules"]  # rules picks a strategy per request

provider_spec = st.fixed_dictionaries(
    {
        "disabled": st.booleans(),
        "weight": st.integers(0, 5),
        "rpm": st.none() | st.integers(1, 3),
        "serves": st.booleans(),
        "fails": st.integers(0, 3),
    }
)


def build(specs: list[dict[str, object]], strategy: str) -> Router:
    providers = [
        {
            "name": f"p{i}",
            "type": "openai",
            "models": [{"name": "gpt-4o" if s["serves"] else "other"}],
            "disabled": s["disabled"],
            "weight": s["weight"],
            "limits": {"requestsPerMinute": s["rpm"]} if s["rpm"] else {},
            "circuitBreaker": {"consecutiveFailures": 2},
        }
        for i, s in enumerate(specs)
    ]
    profile = {
        "name": "p",
        "models": ["gpt-4o"],
        "strategy": strategy,
        "providers": [{"name": p["name"]} for p in providers],
    }
    router = Router(
        parse_config({"providers": providers, "profiles": [profile]}), clock=lambda: 0.0, rng=random.Random(0)
    )
    return router


@settings(max_examples=150, deadline=None)
@given(st.lists(provider_spec, min_size=1, max_size=8), st.sampled_from(STRATEGIES), st.integers(0, 6))
def test_plan_never_contains_excluded_providers(specs: list[dict[str, object]], strategy: str, calls: int) -> None:
    router = build(specs, strategy)
    for i, spec in enumerate(specs):  # teach failures so some circuits open
        for _ in range(int(spec["fails"])):  # type: ignore[call-overload]
            plan_attempt = _attempt_for(router, f"p{i}")
            if plan_attempt is not None:
                router.started(plan_attempt)
                router.finished(plan_attempt, Outcome("server_error", 0.1, status=500))
    for _ in range(calls):
        try:
            plan = router.plan(RouteRequest(model="gpt-4o"))
        except NoRoute as err:
            assert err.status in (429, 503)
            assert len(err.excluded) == len(specs)
            continue
        planned = [a.provider.name for a in plan.attempts]
        assert len(planned) == len(set(planned))
        assert not set(planned) & set(plan.excluded)
        assert set(planned) | set(plan.excluded) == {f"p{i}" for i in range(len(specs))}
        for name in planned:
            spec = specs[int(name[1:])]
            assert spec["serves"] and not spec["disabled"]
        if planned:
            router.started(plan.attempts[0])
            router.finished(plan.attempts[0], Outcome("success", 0.1))


def _attempt_for(router: Router, name: str) -> object:
    try:
        plan = router.plan(RouteRequest(model="gpt-4o"))
    except NoRoute:
        return None
    return next((a for a in plan.attempts if a.provider.name == name), None)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=12), st.integers(0, 2**32))
def test_weighted_shuffle_is_a_permutation_with_zero_weights_last(weights: list[int], seed: int) -> None:
    items = list(range(len(weights)))
    ordered = weighted_shuffle(items, weights, random.Random(seed))  # type: ignore[arg-type]
    assert sorted(ordered) == items  # type: ignore[type-var]
    positive = [i for i in items if weights[i] > 0]
    assert set(ordered[: len(positive)]) == set(positive)  # type: ignore[arg-type]
