"""Exclusion kinds decide 429 vs 503 (never the reason text): the pure rule, and the engine using it."""

from collections.abc import Callable
from typing import get_args

import pytest

from switchboard.proxy.endpoints.pool import UnavailableKind
from switchboard.proxy.routing import NoRoute, Outcome, Router, RouteRequest
from switchboard.proxy.routing.exclusion import SPILL, Exclusion, ExclusionKind, no_route_status
from tests.fixtures.engine import make_config, provider

Build = Callable[..., Router]
REQ = RouteRequest(model="gpt-4o")
K = ExclusionKind


def _all(*kinds: ExclusionKind) -> list[Exclusion]:
    return [Exclusion(kind, "any text: the kind decides") for kind in kinds]


@pytest.mark.parametrize(
    ("kinds", "status"),
    [
        ((K.LIMITED,), 429),
        ((K.SATURATED,), 429),
        ((K.LIMITED, K.SATURATED), 429),
        ((K.LIMITED, K.DISABLED, K.NO_MODEL, K.NOT_IN_RULE), 429),  # static exclusions do not count
        ((K.CIRCUIT_OPEN,), 503),
        ((K.LIMITED, K.CIRCUIT_OPEN), 503),  # one provider is broken, not only busy
        ((K.LIMITED, K.CONTEXT_WINDOW), 503),
        ((K.LIMITED, K.ALL_EJECTED), 503),
        ((K.NO_ENDPOINTS,), 503),
        ((K.NO_READY_ENDPOINTS,), 503),
        ((K.CANNOT_EXPRESS,), 503),
        ((K.DISABLED,), 503),
        ((K.NO_MODEL, K.NOT_IN_RULE), 503),
        ((), 503),
    ],
)
def test_status_follows_the_kinds(kinds: tuple[ExclusionKind, ...], status: int) -> None:
    assert no_route_status(_all(*kinds)) == status


def test_reason_text_is_never_read() -> None:
    """A throttling text on a non-throttling kind (and the reverse) changes nothing."""
    assert no_route_status([Exclusion(K.CIRCUIT_OPEN, "rate limited upstream")]) == 503
    assert no_route_status([Exclusion(K.LIMITED, "circuit open")]) == 429


def test_every_endpoint_unavailability_is_a_spill_kind() -> None:
    assert {ExclusionKind(kind) for kind in get_args(UnavailableKind)} == SPILL


def test_engine_answers_429_when_every_provider_is_limited(make_router: Build) -> None:
    router = make_router(make_config([provider("a", limits={"requestsPerMinute": 1}), provider("off", disabled=True)]))
    attempt = router.plan(REQ).attempts[0]
    router.started(attempt)
    router.finished(attempt, Outcome("success", 0.1))
    with pytest.raises(NoRoute) as refused:
        router.plan(REQ)
    assert refused.value.status == 429
    assert {k: e.kind for k, e in refused.value.excluded.items()} == {"a": K.LIMITED, "off": K.DISABLED}
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s >= 1


def test_engine_answers_503_when_a_limited_provider_sits_beside_an_open_circuit(make_router: Build) -> None:
    breaker = {"consecutiveFailures": 1, "openSeconds": 30}
    cfg = make_config([provider("a", limits={"requestsPerMinute": 1}), provider("b", circuitBreaker=breaker)])
    router = make_router(cfg)
    for outcome in (Outcome("success", 0.1), Outcome("server_error", 0.1, status=500)):
        attempt = router.plan(REQ).attempts[0]
        router.started(attempt)
        router.finished(attempt, outcome)
    with pytest.raises(NoRoute) as refused:
        router.plan(REQ)
    assert refused.value.status == 503
    assert {k: e.kind for k, e in refused.value.excluded.items()} == {"a": K.LIMITED, "b": K.CIRCUIT_OPEN}
