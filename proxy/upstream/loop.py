"""The attempt loop: try the plan's attempts as the router decides, each one owned by ``OwnedAttempt``.

Thin by design: the router chooses order, retry delays and when to stop; this
loop runs attempts, sleeps, and keeps to the profile's overall deadline. It
never retries after the client went away or after the client received bytes.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from switchboard.api.provider import ProviderConfig, ProviderModel
from switchboard.proxy.adapters.base import AdapterRequestError
from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.app_keys import ATTEMPTS_HEADER, PROVIDERS_TRIED_HEADER, RequestState
from switchboard.proxy.routing.types import Plan
from switchboard.proxy.upstream.attempt import AttemptScope, OwnedAttempt
from switchboard.proxy.upstream.outcomes import UPSTREAM_FAILURES, client_error_for, is_fallback

T = TypeVar("T")
P = TypeVar("P")

AttemptBody = Callable[[AttemptScope, P], Awaitable[T]]
"""One attempt's work on its prepared request: raises an UPSTREAM_FAILURES error, or returns the value to serve."""


@dataclass(slots=True)
class Served(Generic[T]):
    """What served the request (never changed; not ``frozen``, whose ``__init__`` costs two to four times as much)."""

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


async def run_attempts(
    state: RequestState,
    plan: Plan,
    requested_model: str,
    prepare: Callable[[ProviderConfig, ProviderModel], P],
    body: AttemptBody[P, T],
) -> Served[T]:
    """Serve with the first attempt that succeeds; the client's error when none does.

    ``prepare`` builds each attempt's request before it starts; a provider that
    cannot express the request is skipped (not an attempt, not a failure) and the
    next capable one serves; a 400 only when no provider of the plan can.
    Raises ``ApiError`` (every attempt failed), ``StreamBroken`` (failed after the
    commit), and lets ``ClientGone`` and cancellation through untouched.
    """
    arrived = state.started_at
    deadline = arrived + plan.profile.retry.deadline_seconds  # the request's whole budget runs out then
    if not plan.attempts:
        raise ApiError(503, f"no provider available for profile {plan.profile.name!r}", code="no_provider_available")
    runtime = state.runtime
    metrics, router = runtime.metrics, runtime.router
    profile = plan.profile.key  # "namespace/name": same-named objects of two namespaces never share a series
    metrics.decisions.count((profile, plan.strategy, plan.attempts[0].key[0]))  # key: (provider key, model)
    if plan.spilled:
        _report_spill(state, plan)
    last: tuple[BaseException, AttemptScope] | None = None
    unsupported: dict[str, str] = {}  # provider key -> why it cannot take this request
    tried: list[str] = []  # providers whose attempts failed, in order
    index, number = 0, 0
    while True:
        attempt = plan.attempts[index]
        try:
            prepared = prepare(attempt.provider, attempt.model)
        except AdapterRequestError as error:
            unsupported[attempt.provider.key] = str(error)
            following = _next_capable(plan, index, unsupported)
            if following is None:
                break
            index = following
            continue
        began = time.monotonic()  # one reading: the deadline's check and the attempt's start
        if began >= deadline:
            break
        number += 1
        if number > 1:
            metrics.retries.labels(profile, attempt.provider.key).inc()
            metrics.retried_by_profile[plan.profile.key] += 1
        scope = OwnedAttempt(state, attempt, number, deadline, began)
        try:
            with scope:
                value = await body(scope, prepared)
        except UPSTREAM_FAILURES as error:
            assert scope.outcome is not None
            if scope.committed:
                raise StreamBroken(scope, error) from error
            last = (error, scope)
            if attempt.provider.name not in tried:
                tried.append(attempt.provider.name)
            now = time.monotonic()
            step = router.next_step(plan, index, scope.outcome, number - 1, now - arrived)
            if step is None or step.delay_s >= deadline - now:
                break
            await asyncio.sleep(step.delay_s)
            index = step.index
            continue
        if is_fallback(plan, attempt, requested_model):
            metrics.fallbacks.labels(profile).inc()
        return Served(value, scope)
    if last is not None:
        failure, failed = last
        answer = client_error_for(failure, failed.attempt.provider.name)
        answer.add_headers({ATTEMPTS_HEADER: str(number), PROVIDERS_TRIED_HEADER: ",".join(tried)})
        raise answer
    if unsupported:
        reasons = "; ".join(f"{key}: {reason}" for key, reason in unsupported.items())
        raise ApiError(400, f"no provider of model {requested_model!r} can take this request ({reasons})")
    raise ApiError(504, "request deadline passed before any upstream answered", code="deadline_exceeded")


def _next_capable(plan: Plan, index: int, unsupported: Mapping[str, str]) -> int | None:
    """The next attempt of the plan whose provider is not known to be unable to take the request."""
    return next(
        (i for i in range(index + 1, len(plan.attempts)) if plan.attempts[i].provider.key not in unsupported), None
    )


def _report_spill(state: RequestState, plan: Plan) -> None:
    """Count and label the providers this request passed over because their endpoints could not take it."""
    parts = []
    for key, reason in plan.spilled:  # provider keys: "namespace/name", like every other provider label
        state.runtime.metrics.spillovers.labels(plan.profile.key, key, reason).inc()
        parts.append(f"{key}:{reason}")
    state.spill = ",".join(parts)
