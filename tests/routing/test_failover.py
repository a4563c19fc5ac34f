"""Failover order, plan shape, fallback models and NoRoute statuses."""

from collections.abc import Callable

import pytest

from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from tests.fixtures.engine import make_config, provider

Build = Callable[..., Router]


def names(plan: object) -> list[str]:
    return [a.provider.name for a in plan.attempts]  # type: ignore[attr-defined]


def test_failover_follows_priority_then_list_order(make_router: Build) -> None:
    cfg = make_config(
        [provider("a"), provider("b"), provider("c")],
        providers=[{"name": "a", "priority": 2}, {"name": "b"}, {"name": "c", "priority": 1}],
    )
    plan = make_router(cfg).plan(RouteRequest(model="gpt-4o"))
    assert names(plan) == ["b", "c", "a"]
    assert plan.strategy == "failover"


def test_unknown_model_is_404_without_listing_models(make_router: Build) -> None:
    router = make_router(make_config([provider("a")]))
    with pytest.raises(NoRoute) as err:
        router.plan(RouteRequest(model="secret-model"))
    assert err.value.status == 404
    assert "gpt-4o" not in err.value.message


def test_disabled_and_non_serving_providers_are_excluded_with_reasons(make_router: Build) -> None:
    cfg = make_config([provider("a", disabled=True), provider("b", "other"), provider("c")])
    plan = make_router(cfg).plan(RouteRequest(model="gpt-4o"))
    assert names(plan) == ["c"]
    assert plan.excluded == {
        "a": Exclusion(ExclusionKind.DISABLED, "disabled"),
        "b": Exclusion(ExclusionKind.NO_MODEL, "does not serve model 'gpt-4o'"),
    }


def test_all_excluded_is_503(make_router: Build) -> None:
    cfg = make_config([provider("a", disabled=True)])
    with pytest.raises(NoRoute) as err:
        make_router(cfg).plan(RouteRequest(model="gpt-4o"))
    assert err.value.status == 503
    assert err.value.excluded == {"a": Exclusion(ExclusionKind.DISABLED, "disabled")}


def test_provider_model_override_sends_that_model(make_router: Build) -> None:
    cfg = make_config([provider("a", "gpt-4o-mini")], providers=[{"name": "a", "model": "gpt-4o-mini"}])
    plan = make_router(cfg).plan(RouteRequest(model="gpt-4o"))
    assert plan.attempts[0].model.name == "gpt-4o-mini"


def test_fallback_models_follow_every_provider_of_the_model(make_router: Build) -> None:
    cfg = make_config(
        [provider("a", "gpt-4o", "gpt-4o-mini"), provider("b", "gpt-4o")],
        fallbackModels=["gpt-4o-mini"],
    )
    plan = make_router(cfg).plan(RouteRequest(model="gpt-4o"))
    assert [(a.provider.name, a.model.name) for a in plan.attempts] == [
        ("a", "gpt-4o"),
        ("b", "gpt-4o"),
        ("a", "gpt-4o-mini"),
    ]


def test_context_window_falls_back_to_a_larger_model(make_router: Build) -> None:
    small = {"name": "a", "type": "openai", "models": [{"name": "gpt-4o", "contextWindow": 1000}, {"name": "big"}]}
    cfg = make_config([small], fallbackModels=["big"])
    plan = make_router(cfg).plan(RouteRequest(model="gpt-4o", prompt_tokens=5000))
    assert [a.model.name for a in plan.attempts] == ["big"]
    assert (
        plan.excluded["a"].kind == ExclusionKind.CONTEXT_WINDOW and "context window 1000" in plan.excluded["a"].reason
    )


def test_failover_walks_the_plan_on_server_errors(make_router: Build) -> None:
    router = make_router(make_config([provider("a"), provider("b")]))
    plan = router.plan(RouteRequest(model="gpt-4o"))
    failure = Outcome("server_error", 0.2, status=502)
    router.started(plan.attempts[0])
    router.finished(plan.attempts[0], failure)
    step = router.next_step(plan, 0, failure, retries_done=0)
    assert step is not None and step.index == 1
    assert 0 <= step.delay_s <= 0.1
    assert router.next_step(plan, 1, failure, retries_done=1) is None  # end of plan
