"""The attempt loop: try the plan's attempts as the router decides, each one owned by ``owned_attempt``.

Thin by design: the router chooses order, retry delays and when to stop; this
loop runs attempts, sleeps, and keeps to the profile's overall deadline. It
never retries after the client went away or after the client received bytes.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.errors import ApiError
from switchboard.proxy.routing.types import Plan
from switchboard.proxy.upstream.attempt import AttemptScope, Deadline, Reporting, owned_attempt
from switchboard.proxy.upstream.outcomes import UPSTREAM_FAILURES, client_error_for, is_fallback

T = TypeVar("T")

AttemptBody = Callable[[AttemptScope], Awaitable[T]]
"""One attempt's work: raises an UPSTREAM_FAILURES error, or returns the value to serve."""


@dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    value: T
    scope: AttemptScope  # the attempt that served it

    @property
    def attempts(self) -> int:
        return self.scope.number


class StreamBroken(Exception):
    """The upstream failed after the client received bytes of its answer: no failover is possible."""

    def __init__(self, scope: AttemptScope, error: BaseException) -> None:
        super().__init__(str(error))
        self.scope = scope
        self.error = error


async def run_attempts(reporting: Reporting, plan: Plan, requested_model: str, body: AttemptBody[T]) -> Served[T]:
    """Serve with the first attempt that succeeds; the client's error when none does.

    Raises ``ApiError`` (every attempt failed), ``StreamBroken`` (failed after the
    commit), and lets ``ClientGone`` and cancellation through untouched.
    """
    deadline = Deadline(plan.profile.retry.deadline_seconds)
    if not plan.attempts:
        raise ApiError(503, f"no provider available for profile {plan.profile.name!r}", code="no_provider_available")
    metrics, router = reporting.metrics, reporting.router
    profile = plan.profile.key  # "namespace/name": same-named objects of two namespaces never share a series
    metrics.decisions.labels(profile, plan.strategy, plan.attempts[0].provider.key).inc()
    if plan.spilled:
        _report_spill(reporting, plan)
    last: tuple[BaseException, AttemptScope] | None = None
    index, number = 0, 0
    while deadline.remaining > 0:
        attempt = plan.attempts[index]
        number += 1
        if number > 1:
            metrics.retries.labels(profile, attempt.provider.key).inc()
            metrics.retried_by_profile[plan.profile.key] += 1
        scope: AttemptScope | None = None
        try:
            async with owned_attempt(reporting, attempt, number, deadline) as scope:
                value = await body(scope)
        except UPSTREAM_FAILURES as error:
            assert scope is not None and scope.outcome is not None
            if scope.committed:
                raise StreamBroken(scope, error) from error
            last = (error, scope)
            step = router.next_step(plan, index, scope.outcome, number - 1, deadline.elapsed)
            if step is None or step.delay_s >= deadline.remaining:
                break
            await asyncio.sleep(step.delay_s)
            index = step.index
            continue
        except AdapterRequestError as error:
            raise ApiError(400, f"provider {attempt.provider.name!r} cannot take this request: {error}") from None
        assert scope is not None
        if is_fallback(plan, attempt, requested_model):
            metrics.fallbacks.labels(profile).inc()
        return Served(value, scope)
    if last is None:
        raise ApiError(504, "request deadline passed before any upstream answered", code="deadline_exceeded")
    failure, failed = last
    raise client_error_for(failure, failed.attempt.provider.name)


def _report_spill(reporting: Reporting, plan: Plan) -> None:
    """Count and label the providers this request passed over because their endpoints could not take it."""
    parts = []
    for key, reason in plan.spilled:  # provider keys: "namespace/name", like every other provider label
        reporting.metrics.spillovers.labels(plan.profile.key, key, reason).inc()
        parts.append(f"{key}:{reason}")
    reporting.labels.spill = ",".join(parts)
