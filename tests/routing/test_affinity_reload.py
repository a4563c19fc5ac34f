"""Session affinity, hot reload keeping learned state, and side-effect-free explain."""

from collections.abc import Callable

from switchboard.proxy.routing import Outcome, Router, RouteRequest
from switchboard.proxy.routing.affinity import SessionStore
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]
AFFINITY = {"enabled": True, "header": "X-Session-Id", "maxSessions": 100, "ttlSeconds": 60}


def session(sid: str) -> RouteRequest:
    return RouteRequest(model="gpt-4o", headers={"x-session-id": sid})


def test_session_sticks_to_its_provider_under_round_robin(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b"), provider("c")], strategy="round-robin", sessionAffinity=AFFINITY)
    router = make_router(cfg)
    first = router.plan(session("s1")).attempts[0].provider.name
    for _ in range(5):
        router.plan(RouteRequest(model="gpt-4o"))  # others rotate the turn
        assert router.plan(session("s1")).attempts[0].provider.name == first


def test_user_field_is_a_session_key(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b")], strategy="random", sessionAffinity=AFFINITY)
    router = make_router(cfg)
    picks = {router.plan(RouteRequest(model="gpt-4o", user="u1")).attempts[0].provider.name for _ in range(20)}
    assert len(picks) == 1


def test_session_moves_when_its_provider_is_unhealthy(make_router: Build) -> None:
    ups = [provider("a", circuitBreaker={"consecutiveFailures": 1}), provider("b")]
    router = make_router(make_config(ups, sessionAffinity=AFFINITY))
    attempt = router.plan(session("s1")).attempts[0]
    assert attempt.provider.name == "a"
    router.started(attempt)
    router.finished(attempt, Outcome("server_error", 0.1, status=500))
    assert router.plan(session("s1")).attempts[0].provider.name == "b"


def test_session_store_is_bounded_lru_with_ttl() -> None:
    store = SessionStore(max_sessions=2, ttl_s=10)
    store.bind("s1", "a", now=0)
    store.bind("s2", "b", now=0)
    assert store.get("s1", now=1) == "a"
    store.bind("s1", "a", now=1)  # s1 most recently used
    store.bind("s3", "c", now=1)
    assert len(store) == 2 and store.get("s2", now=1) is None
    assert store.get("s1", now=11.5) is None  # expired


def test_reload_keeps_state_of_remaining_providers_and_drops_others(make_router: Build, clock: FakeClock) -> None:
    ups = [provider("a", circuitBreaker={"consecutiveFailures": 1}), provider("b"), provider("c")]
    router = make_router(make_config(ups))
    plan = router.plan(RouteRequest(model="gpt-4o"))
    for attempt in plan.attempts:
        router.started(attempt)
        router.finished(
            attempt,
            Outcome("server_error", 0.1, status=500) if attempt.provider.name == "a" else Outcome("success", 0.2),
        )
    router.update_config(make_config(ups[:2]))
    assert router.plan(RouteRequest(model="gpt-4o")).excluded == {
        "a": Exclusion(ExclusionKind.CIRCUIT_OPEN, "circuit open")
    }
    assert {row.provider for row in router.latency_report()} == {"b"}
    assert set(router.provider_health()) == {"a", "b"}


def test_explain_has_no_side_effects(make_router: Build) -> None:
    cfg = make_config(
        [provider("a", limits={"requestsPerMinute": 1}), provider("b"), provider("c")],
        strategy="round-robin",
        rateLimit={"requestsPerMinute": 1},
    )
    router = make_router(cfg)
    for _ in range(5):
        explanation = router.explain(RouteRequest(model="gpt-4o"))
    assert [c.provider for c in explanation.ranked] == ["a", "b", "c"]
    assert explanation.strategy == "round-robin" and explanation.blocked is None
    plan = router.plan(RouteRequest(model="gpt-4o"))  # neither the turn nor the profile token was used
    assert plan.attempts[0].provider.name == "a"
    blocked = router.explain(RouteRequest(model="gpt-4o"))
    assert blocked.blocked is not None and "profile over requests-per-minute" in blocked.blocked


def test_explain_lists_scores_and_exclusions(make_router: Build) -> None:
    ups = [
        {
            "name": "a",
            "type": "openai",
            "models": [{"name": "gpt-4o", "pricing": {"inputPerMillion": 1, "outputPerMillion": 2}}],
        },
        provider("b", disabled=True),
        provider("c"),
    ]
    router = make_router(make_config(ups, strategy="least-cost"))
    explanation = router.explain(RouteRequest(model="gpt-4o", prompt_tokens=1_000_000, max_tokens=1))
    assert [(c.provider, round(c.score or 0, 4)) for c in explanation.ranked] == [("a", 1.0), ("c", 2.5)]
    assert explanation.excluded == {"b": Exclusion(ExclusionKind.DISABLED, "disabled")}
