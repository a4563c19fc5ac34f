"""The attempt owner on its own: exactly one outcome per attempt, typed by who failed (pure parts + owner)."""

import asyncio
import time

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.api.config import ProxyConfig
from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamError, UpstreamProtocolError
from switchboard.proxy.http.app_keys import RequestState
from switchboard.proxy.routing.router import Router
from switchboard.proxy.routing.types import Outcome, RouteRequest
from switchboard.proxy.upstream.attempt import AttemptScope, OwnedAttempt
from switchboard.proxy.upstream.loop import run_attempts
from switchboard.proxy.upstream.outcomes import ClientGone, kind_of
from tests.fixtures.engine import make_config, provider
from tests.fixtures.proxy import bare_runtime

BLAMED = [
    (UpstreamError(503, "down"), "server_error"),
    (UpstreamError(401, "bad key of the proxy"), "server_error"),
    (UpstreamError(429, "slow down"), "rate_limited"),
    (UpstreamProtocolError("not json"), "server_error"),
    (TimeoutError(), "timeout"),
    (aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError), "connection_error"),
    (aiohttp.ServerDisconnectedError(), "connection_error"),
]
NOT_BLAMED = [
    (UpstreamError(400, "bad request"), "client_error", "client"),
    (AdapterRequestError("n > 1"), "unsupported", "client"),
    (ClientGone("left"), "client_gone", "client"),
    (asyncio.CancelledError(), "cancelled", "proxy"),
    (KeyError("bug"), "internal_error", "proxy"),
]


@pytest.mark.parametrize(("error", "kind"), BLAMED)
def test_upstream_failures_are_the_upstreams(error: BaseException, kind: str) -> None:
    assert kind_of(error) == kind


@pytest.mark.parametrize(("error", "kind", "party"), NOT_BLAMED)
def test_everything_else_is_not_the_upstreams(error: BaseException, kind: str, party: str) -> None:
    assert kind_of(error) == kind
    assert Outcome(kind=kind_of(error), latency_s=0.0).party == party


def _setup() -> tuple[Router, RequestState]:
    return _request(make_config([provider("a", circuitBreaker={"consecutiveFailures": 1})]))


def _request(config: ProxyConfig) -> tuple[Router, RequestState]:
    """A request's state whose runtime routes ``config``, and that runtime's router."""
    runtime = bare_runtime(config)
    return runtime.router, RequestState(runtime, "req-1", "chat/completions", "chat", time.monotonic())


def _upstream_errors(state: RequestState) -> float:
    families = text_string_to_metric_families(generate_latest(state.runtime.metrics.registry).decode())
    return sum(s.value for f in families for s in f.samples if s.name == "switchboard_upstream_errors_total")


async def _run(state: RequestState, router: Router, error: BaseException | None) -> AttemptScope:
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    seen: list[AttemptScope] = []
    try:
        with OwnedAttempt(state, attempt, 1, time.monotonic() + 30) as scope:
            seen.append(scope)
            if error is not None:
                raise error
    except BaseException as raised:
        assert raised is error
    return seen[0]


@pytest.mark.parametrize(("error", "kind", "party"), NOT_BLAMED)
async def test_the_owner_reports_neutral_outcomes_without_blame(error: BaseException, kind: str, party: str) -> None:
    router, state = _setup()
    for _ in range(3):
        scope = await _run(state, router, error)
        assert scope.outcome is not None and scope.outcome.kind == kind and scope.outcome.party == party
    health = router.provider_health()["a"]
    assert (health.circuit, health.error_rate) == ("closed", 0.0)
    assert _upstream_errors(state) == 0


async def test_the_owner_reports_one_upstream_failure_and_one_success(caplog: pytest.LogCaptureFixture) -> None:
    router, state = _setup()
    scope = await _run(state, router, UpstreamError(503, "down"))
    assert scope.outcome is not None and scope.outcome.party == "upstream"
    assert router.provider_health()["a"].circuit == "open"
    assert _upstream_errors(state) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("provider=a model=gpt-4o kind=server_error status=503 attempt=1" in w for w in warnings), warnings
    assert "circuit of provider a model gpt-4o: closed -> open (after server error)" in warnings
    router, state = _setup()
    scope = await _run(state, router, None)
    assert scope.outcome is not None and scope.outcome.kind == "success" and scope.committed
    assert state.provider == "a"


async def test_the_total_timeout_while_writing_to_the_client_is_the_clients() -> None:
    router, state = _setup()
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    stuck = asyncio.Event()
    with pytest.raises(ClientGone), OwnedAttempt(state, attempt, 1, time.monotonic() + 0.05) as scope:
        await scope.to_client(stuck.wait())  # a reader that never reads
    assert scope.outcome is not None and scope.outcome.kind == "client_gone"
    assert router.provider_health()["a"].circuit == "closed"


async def test_the_total_timeout_ends_an_attempt_waiting_on_the_upstream() -> None:
    router, state = _setup()
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    with pytest.raises(TimeoutError) as raised, OwnedAttempt(state, attempt, 1, time.monotonic() + 0.05) as scope:
        await asyncio.Event().wait()  # an upstream that never answers
    assert isinstance(raised.value.__cause__, asyncio.CancelledError)
    assert scope.outcome is not None and (scope.outcome.kind, scope.outcome.party) == ("timeout", "upstream")
    assert _upstream_errors(state) == 1
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0  # the timer's cancellation was taken back


def _silence_bound(seconds: float) -> tuple[Router, RequestState]:
    """``_setup`` with a provider whose ``firstByteSeconds`` is ``seconds`` (its total and the deadline long)."""
    return _request(make_config([provider("a", timeouts={"firstByteSeconds": seconds})]))


async def test_silence_past_first_byte_ends_an_attempt_waiting_on_the_upstream() -> None:
    router, state = _silence_bound(0.05)
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    with pytest.raises(TimeoutError), OwnedAttempt(state, attempt, 1, time.monotonic() + 30) as scope:
        await asyncio.Event().wait()  # headers that never come
    assert scope.outcome is not None and (scope.outcome.kind, scope.outcome.party) == ("timeout", "upstream")
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_bytes_heard_and_time_on_the_client_are_no_silence() -> None:
    """Chunks a quarter of the bound apart, then a client write four times the bound: the attempt goes on."""
    router, state = _silence_bound(0.2)
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    with OwnedAttempt(state, attempt, 1, time.monotonic() + 30) as scope:
        for _ in range(8):
            scope.heard()
            await asyncio.sleep(0.05)
        await scope.to_client(asyncio.sleep(0.8))  # a slow reader: the upstream is not waited for meanwhile
        scope.heard()
    assert scope.outcome is not None and scope.outcome.kind == "success"


async def _cancelled_attempt(state: RequestState, router: Router, limit: float, *, also_timer: bool) -> AttemptScope:
    """An attempt whose task is cancelled from outside; with ``also_timer``, after its own timer fired too."""
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    scopes: list[AttemptScope] = []

    async def run() -> None:
        with OwnedAttempt(state, attempt, 1, time.monotonic() + limit) as scope:
            scopes.append(scope)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if also_timer:  # the timer fired: the request is cancelled as well before the attempt ends
                    task.cancel()
                    await asyncio.sleep(0)
                raise

    task = asyncio.create_task(run())
    await asyncio.sleep(0.01)
    if not also_timer:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return scopes[0]


@pytest.mark.parametrize(("limit", "also_timer"), [(30.0, False), (0.005, True)])
async def test_a_cancellation_from_outside_stays_a_cancellation(limit: float, also_timer: bool) -> None:
    """Only the owner's own timer becomes ``TimeoutError``; cancelling the request (alone, or after the
    timer fired) leaves as ``CancelledError`` with a neutral outcome."""
    router, state = _setup()
    scope = await _cancelled_attempt(state, router, limit, also_timer=also_timer)
    assert scope.outcome is not None and scope.outcome.kind == "cancelled"
    assert _upstream_errors(state) == 0


async def test_an_attempt_that_ended_leaves_no_timer_behind() -> None:
    router, state = _setup()
    attempt = router.plan(RouteRequest(model="gpt-4o")).attempts[0]
    with OwnedAttempt(state, attempt, 1, time.monotonic() + 0.02):
        pass
    await asyncio.sleep(0.05)  # past the attempt's limit: a timer left running would cancel this task now
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_a_fallback_model_serving_is_counted_and_the_model_asked_for_is_not() -> None:
    """``switchboard_fallbacks_total``: once per request a fallback model served, never for the model asked for."""
    config = make_config([provider("a", "gpt-4o", "gpt-4o-mini")], fallbackModels=["gpt-4o-mini"])
    runtime = bare_runtime(config)
    router, metrics = runtime.router, runtime.metrics
    down: set[str] = set()  # the models whose upstream fails now

    async def body(scope: AttemptScope, prepared: None) -> bytes:
        if scope.attempt.model.name in down:
            raise UpstreamError(503, "down")
        return scope.attempt.model.name.encode()

    def fallbacks() -> float:
        families = text_string_to_metric_families(generate_latest(metrics.registry).decode())
        return sum(s.value for f in families for s in f.samples if s.name == "switchboard_fallbacks_total")

    for failing, served_by, counted in (
        (True, b"gpt-4o-mini", 1.0),
        (False, b"gpt-4o", 1.0),
        (True, b"gpt-4o-mini", 2.0),
    ):
        down.clear()
        down.update({"gpt-4o"} if failing else ())
        state = RequestState(runtime, "req", "chat/completions", "chat", time.monotonic())
        plan = router.plan(RouteRequest(model="gpt-4o"))
        served = await run_attempts(state, plan, "gpt-4o", lambda p, m: None, body)
        assert (served.value, fallbacks()) == (served_by, counted)
