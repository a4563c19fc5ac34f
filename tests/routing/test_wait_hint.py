"""``NoRoute.retry_after_s``: when the engine expects a candidate to serve again (fake clock)."""

from collections.abc import Callable

import pytest

from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")
OK = Outcome("success", 0.1)


def serve(router: Router, outcome: Outcome = OK) -> None:
    attempt = router.plan(REQ).attempts[0]
    router.started(attempt)
    router.finished(attempt, outcome)


def refused(router: Router) -> NoRoute:
    with pytest.raises(NoRoute) as err:
        router.plan(REQ)
    return err.value


def test_a_provider_bucket_tells_when_it_refills(make_router: Build, clock: FakeClock) -> None:
    router = make_router(make_config([provider("a", limits={"requestsPerMinute": 2})]))
    serve(router)
    serve(router)
    error = refused(router)
    assert (error.status, error.retry_after_s) == (429, 30.0)  # one request per 30 s
    clock.advance(20)
    assert refused(router).retry_after_s == pytest.approx(10.0, abs=0.001)  # wait_s rounds up to ms


def test_the_earliest_of_several_candidates_wins(make_router: Build, clock: FakeClock) -> None:
    cfg = make_config([provider("a", limits={"requestsPerMinute": 1}), provider("b", limits={"requestsPerMinute": 4})])
    router = make_router(cfg)
    for _ in range(5):
        serve(router)
    assert refused(router).retry_after_s == 15.0  # b refills one request in 15 s, a in 60 s


def test_an_open_circuit_tells_when_it_half_opens(make_router: Build, clock: FakeClock) -> None:
    breaker = {"consecutiveFailures": 1, "openSeconds": 30}
    router = make_router(make_config([provider("a", circuitBreaker=breaker)]))
    serve(router, Outcome("server_error", 0.1, status=500))
    clock.advance(12)
    error = refused(router)
    assert (error.status, error.retry_after_s) == (503, 18.0)


def test_an_upstream_retry_after_is_passed_on(make_router: Build, clock: FakeClock) -> None:
    router = make_router(make_config([provider("a")]))
    serve(router, Outcome("rate_limited", 0.1, status=429, retry_after_s=7))
    assert refused(router).retry_after_s == 7.0


def test_the_hint_is_never_below_one_second(make_router: Build, clock: FakeClock) -> None:
    router = make_router(make_config([provider("a", limits={"requestsPerMinute": 600})]))
    for _ in range(600):
        serve(router)
    assert refused(router).retry_after_s == 1.0  # 0.1 s to refill, but Retry-After has whole seconds


def test_a_profile_limit_tells_when_it_refills(make_router: Build) -> None:
    router = make_router(make_config([provider("a")], rateLimit={"requestsPerMinute": 3}))
    for _ in range(3):
        serve(router)
    error = refused(router)
    assert (error.status, error.retry_after_s) == (429, 20.0)


def test_a_full_concurrency_cap_gives_no_hint(make_router: Build) -> None:
    router = make_router(make_config([provider("a", limits={"maxConcurrency": 1})]))
    router.started(router.plan(REQ).attempts[0])  # still in flight
    error = refused(router)
    assert error.retry_after_s is None  # frees when a request ends, which no clock predicts
