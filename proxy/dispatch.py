"""The attempt loop: try the plan's attempts as the router decides.

Thin by design: the router chooses order, retry delays and when to stop; this
loop only runs attempts, reports every outcome back (so breakers and latency
stats learn), sleeps, and keeps to the profile's overall deadline.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp

from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamError, Usage
from switchboard.proxy.cost import cost_usd
from switchboard.proxy.errors import ApiError
from switchboard.proxy.metrics import ProxyMetrics
from switchboard.proxy.outcomes import client_error_for, describe, failure_outcome, is_fallback, success_outcome
from switchboard.proxy.router_port import RouterPort
from switchboard.proxy.routing.pricing import PricingTable
from switchboard.proxy.routing.types import Attempt, Outcome, Plan
from switchboard.proxy.telemetry.setup import Telemetry
from switchboard.proxy.telemetry.spans import AttemptTrace, attempt_span

T = TypeVar("T")

UPSTREAM_FAILURES = (UpstreamError, aiohttp.ClientError, asyncio.TimeoutError, TimeoutError)


@dataclass(frozen=True, slots=True)
class AttemptTracing:
    """What an attempt's span needs: the tracer, the GenAI operation, prices for its cost."""

    telemetry: Telemetry
    operation: str
    pricing: PricingTable


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    value: T
    attempt: Attempt
    attempts: int
    started_at: float
    trace: AttemptTrace | None = None
    """Streams (``report_success=False``): the attempt's still open span; the relay reports its outcome..."""
    span_scope: ExitStack = field(default_factory=ExitStack)
    """...and then closes this, which ends the span."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.started_at = time.monotonic()
        self._end = self.started_at + seconds

    @property
    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_at


AttemptCall = Callable[[Attempt, Deadline], Awaitable[tuple[T, Usage]]]
"""Runs one attempt; raises an UPSTREAM_FAILURES error, or returns a value and its usage.

For streams the usage is unknown when the attempt "succeeds" (first byte
reached); such callers report the final outcome themselves (``report=False``).
"""


async def run_attempts(
    router: RouterPort,
    metrics: ProxyMetrics,
    plan: Plan,
    requested_model: str,
    call: AttemptCall[T],
    *,
    tracing: AttemptTracing,
    report_success: bool = True,
) -> Served[T]:
    deadline = Deadline(plan.profile.retry.deadline_seconds)
    if not plan.attempts:
        raise ApiError(503, f"no provider available for profile {plan.profile.name!r}", code="no_provider_available")
    profile = plan.profile.name
    metrics.decisions.labels(profile, plan.strategy, plan.attempts[0].provider.name).inc()
    last: tuple[BaseException, Attempt] | None = None
    index, tries = 0, 0
    while deadline.remaining > 0:
        attempt = plan.attempts[index]
        tries += 1
        if tries > 1:
            metrics.retries.labels(profile, attempt.provider.name).inc()
            metrics.retried_by_profile[plan.profile.key] += 1
        router.started(attempt)
        began = time.monotonic()
        span_scope = ExitStack()
        traced = span_scope.enter_context(
            attempt_span(tracing.telemetry, plan, attempt, operation=tracing.operation, number=tries)
        )
        try:
            value, usage = await call(attempt, deadline)
        except UPSTREAM_FAILURES as error:
            outcome = failure_outcome(error, time.monotonic() - began)
            router.finished(attempt, outcome)
            traced.ended(outcome, error=describe(error))
            span_scope.close()
            metrics.upstream_errors.labels(attempt.provider.name, outcome.kind).inc()
            last = (error, attempt)
            step = router.next_step(plan, index, outcome, tries - 1, deadline.elapsed)
            if step is None or step.delay_s >= deadline.remaining:
                break
            await asyncio.sleep(step.delay_s)
            index = step.index
            continue
        except AdapterRequestError as error:
            # The body cannot be expressed for this upstream: the client's problem, not the provider's.
            outcome = Outcome(kind="client_error", latency_s=time.monotonic() - began, status=400)
            router.finished(attempt, outcome)
            traced.ended(outcome, error=str(error))
            span_scope.close()
            raise ApiError(400, f"provider {attempt.provider.name!r} cannot take this request: {error}") from None
        except BaseException:
            # Cancelled (client went away) or a bug: the router must still see the attempt end,
            # as a client-side outcome so the provider is not blamed for it.
            outcome = Outcome(kind="client_error", latency_s=time.monotonic() - began)
            router.finished(attempt, outcome)
            traced.ended(outcome, error="the request ended before the attempt did")
            span_scope.close()
            raise
        if is_fallback(plan, attempt, requested_model):
            metrics.fallbacks.labels(profile).inc()
        if not report_success:
            return Served(value, attempt, tries, deadline.started_at, traced, span_scope)
        outcome = success_outcome(time.monotonic() - began, usage)
        router.finished(attempt, outcome)
        traced.ended(outcome, usage=usage, cost_usd=cost_usd(tracing.pricing, attempt.model, usage))
        span_scope.close()
        return Served(value, attempt, tries, deadline.started_at)
    if last is None:
        raise ApiError(504, "request deadline passed before any upstream answered", code="deadline_exceeded")
    failure, failed_attempt = last
    raise client_error_for(failure, failed_attempt.provider.name)
