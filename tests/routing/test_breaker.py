"""Circuit breaker transitions per provider and model, on a fake clock."""

from collections.abc import Callable
from typing import Any

import pytest

from switchboard.api.provider import CircuitBreaker
from switchboard.api.status import CircuitState, worst_circuit
from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.breaker import Breaker
from switchboard.proxy.routing.exclusion import Exclusion, ExclusionKind
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")
FAIL = Outcome("server_error", 0.1, status=500)
OK = Outcome("success", 0.1)


def settings(**kw: Any) -> CircuitBreaker:
    return CircuitBreaker.model_validate(kw)


def test_trips_after_consecutive_failures() -> None:
    b = Breaker(settings(consecutiveFailures=3, minimumRequests=100))
    for _ in range(2):
        b.on_result(0.0, True)
    assert b.state(0.0) == "closed"
    b.on_result(0.0, True)
    assert b.state(0.0) == "open" and not b.admits(0.0)


def test_success_resets_the_consecutive_count() -> None:
    b = Breaker(settings(consecutiveFailures=2, minimumRequests=100))
    for failed in (True, False, True, False):
        b.on_result(0.0, failed)
    assert b.state(0.0) == "closed"


def test_trips_on_failure_rate_once_minimum_requests_seen() -> None:
    b = Breaker(settings(consecutiveFailures=100, failureRateThreshold=0.5, minimumRequests=10, windowSeconds=60))
    for i in range(9):
        b.on_result(float(i), i % 2 == 0)  # 5 failures of 9: under the minimum
    assert b.state(9.0) == "closed"
    b.on_result(9.0, True)  # 6 of 10
    assert b.state(9.0) == "open"


def test_failure_rate_forgets_outside_the_window() -> None:
    b = Breaker(settings(consecutiveFailures=100, minimumRequests=4, windowSeconds=10))
    for _ in range(10):
        b.on_result(0.0, False)
    for failed in (True, True, False, True):
        b.on_result(100.0, failed)
    assert b.state(100.0) == "open"  # 3 of 4 in the window; the old successes no longer dilute


def test_client_errors_do_not_count() -> None:
    b = Breaker(settings(consecutiveFailures=1))
    for _ in range(10):
        b.on_result(0.0, None)
    assert b.state(0.0) == "closed"


def test_half_open_admits_limited_probes_then_closes() -> None:
    b = Breaker(settings(consecutiveFailures=1, openSeconds=10, halfOpenProbes=2))
    b.on_result(0.0, True)
    assert b.state(9.9) == "open"
    assert b.state(10.0) == "half-open" and b.admits(10.0)
    b.on_start(10.0)
    b.on_start(10.0)
    assert not b.admits(10.0)  # both probe slots taken
    b.on_result(11.0, False)
    assert b.state(11.0) == "half-open"
    b.on_result(11.0, False)
    assert b.state(11.0) == "closed"


def test_failed_probe_reopens_with_exponential_backoff_up_to_max() -> None:
    b = Breaker(settings(consecutiveFailures=1, openSeconds=10, maxOpenSeconds=25))
    b.on_result(0.0, True)
    now = 0.0
    for expected in (20.0, 25.0, 25.0):
        now += b.reopens_in(now)
        b.on_start(now)
        b.on_result(now, True)
        assert b.reopens_in(now) == expected


def test_slow_start_ramps_share_back() -> None:
    b = Breaker(settings(consecutiveFailures=1, openSeconds=1, slowStartSeconds=100))
    b.on_result(0.0, True)
    b.on_start(1.0)
    b.on_result(1.0, False)
    assert b.state(1.0) == "closed"
    assert b.slow_start_factor(1.0) == pytest.approx(0.1)
    assert b.slow_start_factor(51.0) == pytest.approx(0.5)
    assert b.slow_start_factor(101.0) == 1.0


def test_disabled_breaker_never_opens() -> None:
    b = Breaker(settings(enabled=False, consecutiveFailures=1))
    b.on_result(0.0, True)
    assert b.state(0.0) == "closed"


def test_router_skips_open_circuit_per_model(make_router: Build, clock: FakeClock) -> None:
    cb = {"consecutiveFailures": 2, "openSeconds": 30}
    cfg = make_config([provider("a", "gpt-4o", "gpt-4o-mini", circuitBreaker=cb), provider("b")])
    router = make_router(cfg)
    attempt = router.plan(REQ).attempts[0]
    for _ in range(2):
        router.started(attempt)
        router.finished(attempt, FAIL)
    plan = router.plan(REQ)
    assert [a.provider.name for a in plan.attempts] == ["b"]
    assert plan.excluded == {"a": Exclusion(ExclusionKind.CIRCUIT_OPEN, "circuit open")}
    assert router.provider_health()["a"].circuit == "open"  # gpt-4o open, gpt-4o-mini unaffected
    clock.advance(29.9)
    assert router.provider_health()["a"].circuit == "open"  # for the whole openSeconds, not "half-open"
    clock.advance(0.1)
    assert router.provider_health()["a"].circuit == "half-open"

    assert [a.provider.name for a in router.plan(REQ).attempts] == ["a", "b"]  # half-open probe admitted


def test_all_circuits_open_is_503(make_router: Build) -> None:
    router = make_router(make_config([provider("a", circuitBreaker={"consecutiveFailures": 1})]))
    attempt = router.plan(REQ).attempts[0]
    router.started(attempt)
    router.finished(attempt, Outcome("timeout", 5.0))
    with pytest.raises(NoRoute) as err:
        router.plan(REQ)
    assert err.value.status == 503


def test_slow_start_demotes_a_recovering_provider_probabilistically(make_router: Build, clock: FakeClock) -> None:
    cb = {"consecutiveFailures": 1, "openSeconds": 1, "slowStartSeconds": 100}
    router = make_router(make_config([provider("a", circuitBreaker=cb), provider("b")]), seed=3)
    attempt = router.plan(REQ).attempts[0]
    router.started(attempt)
    router.finished(attempt, FAIL)
    clock.advance(1)
    router.started(attempt)
    router.finished(attempt, OK)  # probe succeeded: closed, ramping at 10%
    share = sum(router.plan(REQ).attempts[0].provider.name == "a" for _ in range(1000)) / 1000
    assert 0.05 < share < 0.16
    clock.advance(100)
    assert all(router.plan(REQ).attempts[0].provider.name == "a" for _ in range(50))


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((), "closed"),
        (("closed", "closed"), "closed"),
        (("open", "closed"), "open"),  # one model open is not "half-open" (that means probing)
        (("closed", "half-open"), "half-open"),
        (("half-open", "open", "closed"), "open"),
        (("open", "open"), "open"),
    ],
)
def test_provider_circuit_is_its_most_severe_model_circuit(states: tuple[CircuitState, ...], expected: str) -> None:
    assert worst_circuit(states) == expected
