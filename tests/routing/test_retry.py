"""Retry rules: which outcomes retry, where (mode), how long to wait, when to stop."""

import random
from collections.abc import Callable

from switchboard.api.profile import RetryPolicy
from switchboard.proxy.routing import Outcome, Plan, Router, RouteRequest
from switchboard.proxy.routing.retry import backoff_delay
from tests.fixtures.engine import FakeClock, make_config, provider

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")
RETRYABLE = [
    Outcome("rate_limited", 0.1, status=429),
    Outcome("server_error", 0.1, status=503),
    Outcome("timeout", 5.0),
    Outcome("connection_error", 0.0),
]


def plan_of(make_router: Build, n: int = 3, **retry: object) -> tuple[Router, Plan]:
    router = make_router(make_config([provider(f"p{i}") for i in range(n)], retry=retry))
    return router, router.plan(REQ)


def test_retryable_outcomes_move_to_next_provider(make_router: Build) -> None:
    router, plan = plan_of(make_router)
    for outcome in RETRYABLE:
        step = router.next_step(plan, 0, outcome, retries_done=0)
        assert step is not None and step.index == 1, outcome.kind


def test_client_errors_and_success_are_never_retried(make_router: Build) -> None:
    router, plan = plan_of(make_router)
    for status in (400, 401, 403, 404, 413, 422):
        assert router.next_step(plan, 0, Outcome("client_error", 0.1, status=status), 0) is None
    assert router.next_step(plan, 0, Outcome("success", 0.1), 0) is None


def test_max_retries_bounds_the_request(make_router: Build) -> None:
    router, plan = plan_of(make_router, n=5, maxRetries=2)
    failure = RETRYABLE[1]
    assert router.next_step(plan, 1, failure, retries_done=1) is not None
    assert router.next_step(plan, 2, failure, retries_done=2) is None


def test_same_provider_mode_repeats_the_attempt_until_its_circuit_opens(make_router: Build) -> None:
    cfg = make_config(
        [provider("a", circuitBreaker={"consecutiveFailures": 2}), provider("b")],
        retry={"mode": "same-provider"},
    )
    router = make_router(cfg)
    plan = router.plan(REQ)
    failure = RETRYABLE[1]
    router.started(plan.attempts[0])
    router.finished(plan.attempts[0], failure)
    step = router.next_step(plan, 0, failure, 0)
    assert step is not None and step.index == 0
    router.started(plan.attempts[0])
    router.finished(plan.attempts[0], failure)  # trips a's breaker
    step = router.next_step(plan, 0, failure, 1)
    assert step is not None and step.index == 1


def test_same_provider_leaves_a_circuit_that_opened_even_once_it_half_opens(
    make_router: Build, clock: FakeClock
) -> None:
    """A short openSeconds must not let same-provider spend every retry probing the provider that just failed."""
    breaker = {"consecutiveFailures": 1, "openSeconds": 0.001}
    cfg = make_config([provider("a", circuitBreaker=breaker), provider("b")], retry={"mode": "same-provider"})
    router = make_router(cfg)
    plan = router.plan(REQ)
    failure = RETRYABLE[1]
    router.started(plan.attempts[0])
    router.finished(plan.attempts[0], failure)  # opens a's circuit...
    clock.advance(0.01)  # ...which half-opens before the retry
    step = router.next_step(plan, 0, failure, 0)
    assert step is not None and plan.attempts[step.index].provider.name == "b"
    only_a = make_router(make_config([provider("a", circuitBreaker=breaker)], retry={"mode": "same-provider"}))
    plan = only_a.plan(REQ)
    only_a.started(plan.attempts[0])
    only_a.finished(plan.attempts[0], failure)
    clock.advance(0.01)
    step = only_a.next_step(plan, 0, failure, 0)
    assert step is not None and step.index == 0  # nothing else admits a call: probing it is all that is left


def test_next_provider_skips_attempts_whose_circuit_opened(make_router: Build) -> None:
    cfg = make_config([provider("a"), provider("b", circuitBreaker={"consecutiveFailures": 1}), provider("c")])
    router = make_router(cfg)
    plan = router.plan(REQ)
    router.started(plan.attempts[1])
    router.finished(plan.attempts[1], RETRYABLE[2])  # b trips while a is being tried
    step = router.next_step(plan, 0, RETRYABLE[1], 0)
    assert step is not None and step.index == 2


def test_retry_after_is_a_floor_only_for_the_same_provider(make_router: Build) -> None:
    limited = Outcome("rate_limited", 0.1, status=429, retry_after_s=1.5)
    router, plan = plan_of(make_router, mode="same-provider", deadlineSeconds=10)
    step = router.next_step(plan, 0, limited, 0)
    assert step is not None and step.index == 0 and step.delay_s >= 1.5
    router, plan = plan_of(make_router)
    step = router.next_step(plan, 0, limited, 0)
    assert step is not None and step.index == 1 and step.delay_s <= 0.1


def test_deadline_stops_retries(make_router: Build) -> None:
    limited = Outcome("rate_limited", 0.1, status=429, retry_after_s=5)
    router, plan = plan_of(make_router, mode="same-provider", deadlineSeconds=4)
    assert router.next_step(plan, 0, limited, 0) is None
    router, plan = plan_of(make_router, deadlineSeconds=4)
    assert router.next_step(plan, 0, RETRYABLE[1], 0, elapsed_s=4.0) is None


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    policy = RetryPolicy(backoff_base_ms=100, backoff_max_ms=1000)
    rng = random.Random(1)
    for retry_number, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)):
        delays = [backoff_delay(policy, retry_number, rng) for _ in range(2000)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > 0.9 * ceiling  # the whole range is used (full jitter)
        assert abs(sum(delays) / len(delays) - ceiling / 2) < 0.05 * ceiling
