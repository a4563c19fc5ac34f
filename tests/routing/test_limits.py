"""Rate limits (provider and profile, fleet share), concurrency caps and Retry-After."""

from collections.abc import Callable

import pytest

from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from switchboard.proxy.routing.windows import TokenBucket
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")


def run(router: Router, request: RouteRequest = REQ, outcome: Outcome | None = None) -> str:
    attempt = router.plan(request).attempts[0]
    router.started(attempt)
    router.finished(attempt, outcome or Outcome("success", 0.1))
    return attempt.provider.name


def test_token_bucket_refills_continuously() -> None:
    bucket = TokenBucket(60, now=0.0)
    bucket.take(0.0, 60)
    assert not bucket.admits(0.0, 1)
    assert bucket.wait_s(0.0, 1) == 1.0
    assert bucket.admits(1.0, 1)
    assert bucket.available(1000.0) == 60  # capped at capacity


def test_provider_requests_per_minute_spills_to_the_next(make_router: Build, clock: FakeClock) -> None:
    cfg = make_config([provider("a", limits={"requestsPerMinute": 2}), provider("b")])
    router = make_router(cfg)
    assert [run(router) for _ in range(3)] == ["a", "a", "b"]
    assert router.plan(REQ).excluded == {"a": Exclusion(ExclusionKind.LIMITED, "over requests-per-minute limit")}
    clock.advance(30)  # one request refilled
    assert run(router) == "a"


def test_fleet_replicas_each_enforce_their_share(make_router: Build) -> None:
    cfg = make_config([provider("a", limits={"requestsPerMinute": 4}), provider("b")], replicas=2)
    router = make_router(cfg)
    assert [run(router) for _ in range(3)] == ["a", "a", "b"]


def test_provider_tokens_per_minute(make_router: Build) -> None:
    cfg = make_config([provider("a", limits={"tokensPerMinute": 1000}), provider("b")])
    router = make_router(cfg)
    used = Outcome("success", 0.1, prompt_tokens=700, completion_tokens=200)
    assert run(router, RouteRequest(model="gpt-4o", prompt_tokens=700), used) == "a"
    plan = router.plan(RouteRequest(model="gpt-4o", prompt_tokens=500))
    assert plan.attempts[0].provider.name == "b"
    assert plan.excluded["a"] == Exclusion(ExclusionKind.LIMITED, "over tokens-per-minute limit")


def test_every_provider_rate_limited_is_429(make_router: Build) -> None:
    cfg = make_config([provider("a", limits={"requestsPerMinute": 1}), provider("b", "other")])
    router = make_router(cfg)
    run(router)
    with pytest.raises(NoRoute) as err:
        router.plan(REQ)
    assert err.value.status == 429


def test_profile_rate_limit_is_429_and_counts_requests_not_attempts(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b")], rateLimit={"requestsPerMinute": 2})
    router = make_router(cfg)
    router.plan(REQ)
    router.plan(REQ)
    with pytest.raises(NoRoute) as err:
        router.plan(REQ)
    assert err.value.status == 429
    assert "retry in 30.000s" in err.value.message


def test_profile_tokens_per_minute(make_router: Build) -> None:
    router = make_router(make_config([provider("a")], rateLimit={"tokensPerMinute": 100}))
    router.plan(RouteRequest(model="gpt-4o", prompt_tokens=80))
    with pytest.raises(NoRoute) as err:
        router.plan(RouteRequest(model="gpt-4o", prompt_tokens=80))
    assert err.value.status == 429


def test_max_concurrency_per_replica(make_router: Build) -> None:
    cfg = make_config([provider("a", limits={"maxConcurrency": 3}), provider("b")], replicas=2)
    router = make_router(cfg)
    plan = router.plan(REQ)
    router.started(plan.attempts[0])
    assert router.plan(REQ).attempts[0].provider.name == "a"
    router.started(plan.attempts[0])  # ceil(3 / 2) = 2 per replica
    assert router.plan(REQ).excluded == {"a": Exclusion(ExclusionKind.LIMITED, "at max concurrency (2 per replica)")}
    router.finished(plan.attempts[0], Outcome("success", 0.1))
    assert router.plan(REQ).attempts[0].provider.name == "a"


def test_retry_after_cools_a_provider_down(make_router: Build, clock: FakeClock) -> None:
    router = make_router(make_config([provider("a"), provider("b")]))
    run(router, outcome=Outcome("rate_limited", 0.1, status=429, retry_after_s=5))
    assert router.plan(REQ).attempts[0].provider.name == "b"
    clock.advance(5)
    assert router.plan(REQ).attempts[0].provider.name == "a"


def test_a_token_buckets_wait_is_not_stretched_by_float_error() -> None:
    bucket = TokenBucket(2, now=1000.0)  # one request per 30 s
    bucket.take(1000.0, 2)
    assert bucket.wait_s(1000.0, 1) == 30.0
    assert bucket.wait_s(1020.0, 1) == 10.0  # 1 - 20 * (2 / 60) is 0.33333333333333337 tokens short
