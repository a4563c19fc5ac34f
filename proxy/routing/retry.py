"""Retry decisions: whether to try again after an outcome, where, and when.

Semantics (documented for operators):
- Only retryable outcomes (429, 5xx, timeouts, connection errors) are retried;
  any other 4xx ends the request at once.
- ``retry.maxRetries`` bounds the retries of one request whatever the mode.
- ``next-provider`` moves down the plan (next provider, then fallback models);
  ``same-provider`` repeats the same attempt while its circuit stays closed; once it
  opened (even if it already half-opens again) the retry moves on to a provider
  that admits calls, and comes back only when none does.
- Delay: exponential backoff with full jitter, ``uniform(0, min(max, base * 2**(n-1)))``
  for the n-th retry; a Retry-After from the provider about to be retried is a floor.
- A step whose delay would overrun ``retry.deadlineSeconds`` is not taken.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.api.profile import RetryPolicy
from switchboard.proxy.routing.types import Attempt, Outcome, Plan


@dataclass(frozen=True, slots=True)
class RetryStep:
    """Try ``plan.attempts[index]`` after sleeping ``delay_s`` seconds."""

    index: int
    delay_s: float


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff for the ``retry_number``-th retry (1-based), seconds."""
    exponent = min(max(retry_number - 1, 0), 30)
    ceiling_ms = min(policy.backoff_max_ms, policy.backoff_base_ms * (2**exponent))
    return rng.uniform(0.0, ceiling_ms) / 1000.0


def next_step(
    plan: Plan,
    index: int,
    outcome: Outcome,
    retries_done: int,
    elapsed_s: float,
    rng: random.Random,
    admits: Callable[[Attempt], bool],
    closed: Callable[[Attempt], bool] | None = None,
) -> RetryStep | None:
    """The next attempt after ``plan.attempts[index]`` ended with ``outcome``, or None to stop.

    ``admits`` says whether an attempt's circuit still lets calls through now,
    so a provider that tripped since planning is skipped; ``closed`` whether its
    circuit is closed (default: ``admits``), which ``same-provider`` needs to stay.
    """
    policy = plan.profile.retry
    if outcome.kind == "success" or not outcome.retryable or retries_done >= policy.max_retries:
        return None
    target = _target(plan, index, policy, admits, closed or admits)
    if target is None:
        return None
    delay = backoff_delay(policy, retries_done + 1, rng)
    same = plan.attempts[target].provider.key == plan.attempts[index].provider.key
    if same and outcome.retry_after_s is not None:
        delay = max(delay, outcome.retry_after_s)
    if elapsed_s + delay >= policy.deadline_seconds:
        return None
    return RetryStep(index=target, delay_s=delay)


def _target(
    plan: Plan,
    index: int,
    policy: RetryPolicy,
    admits: Callable[[Attempt], bool],
    closed: Callable[[Attempt], bool],
) -> int | None:
    same = policy.mode == "same-provider"
    if same and closed(plan.attempts[index]):
        return index
    onwards = next((i for i in range(index + 1, len(plan.attempts)) if admits(plan.attempts[i])), None)
    if onwards is None and same and admits(plan.attempts[index]):
        return index  # nothing else admits a call: the half-open probe is the best left
    return onwards
