"""The fleet limiter's seam in the HTTP shell: admit a planned request, answer 429s, add the headers.

Handlers wrap their work in ``async with gate as plan`` when ``admission`` returns a gate (something to
reserve); whatever serves the request settles ``RequestState.reservation`` once its usage is known.
"""

import math
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType

from aiohttp import web

from switchboard.proxy.auth import Client
from switchboard.proxy.errors import ApiError
from switchboard.proxy.fleet.admission import (
    ClientLimit,
    FleetLimiter,
    Reservation,
    admitted_plan,
    request_slots,
)
from switchboard.proxy.fleet.buckets import Level, Verdict
from switchboard.proxy.http.app_keys import RequestState
from switchboard.proxy.routing.types import Attempt, Plan, RouteRequest

FLEET = web.AppKey("switchboard_fleet", FleetLimiter)


def admission(
    limiter: FleetLimiter, state: RequestState, plan: Plan, route: RouteRequest, replicas: int
) -> "Admitted | None":
    """The gate of a planned request, or None when it has nothing to reserve: no client key, no budget, and
    limits that are the router's (no state store). Decided here, synchronously: most requests then enter
    no context manager at all (an ``async with`` costs two coroutines)."""
    if state.client is None and plan.profile.budget is None and limiter.store is None:
        return None
    return Admitted(limiter, state, plan, route, replicas)


class Admitted:
    """The request's share of every fleet-wide limit, reserved on entry for its lifetime and closed exactly once
    on exit; ``async with Admitted(limiter, state, plan, route, replicas) as plan`` yields the admitted plan.

    Raises the 429 (with ``Retry-After`` and ``x-ratelimit-*``) when a limit refuses it. (A class rather than an
    ``@asynccontextmanager``: a generator-based one costs a generator, a wrapper and a ``StopAsyncIteration``.)
    """

    __slots__ = ("_limiter", "_plan", "_replicas", "_reservation", "_route", "_state")

    def __init__(
        self, limiter: FleetLimiter, state: RequestState, plan: Plan, route: RouteRequest, replicas: int
    ) -> None:
        self._limiter, self._state, self._plan, self._route, self._replicas = limiter, state, plan, route, replicas
        self._reservation: Reservation | None = None

    async def __aenter__(self) -> Plan:
        limiter, state, plan, route = self._limiter, self._state, self._plan, self._route
        client = client_limit(state.client)
        slots = request_slots(plan, route, client, shared=limiter.store is not None, now=datetime.now(UTC))
        if slots.empty:
            return plan
        reservation = await limiter.admit(slots, self._replicas)
        verdict = reservation.verdict
        state.rate_headers = rate_headers = rate_limit_headers(verdict.levels)
        over_budget = verdict.budget_refusal()
        if over_budget is not None:
            raise ApiError(429, over_budget, code="budget_exceeded", retry_after=verdict.retry_after_s)
        if not verdict.admitted:
            raise ApiError(
                429,
                refusal_message(verdict, plan.profile.key, route),
                code="rate_limited",
                retry_after=verdict.retry_after_s,
            )
        state.reservation = reservation
        admitted = admitted_plan(plan, verdict, slots)
        if any(level == "soft" and line.budget.soft_action == "downgrade" for line, _, level in verdict.spent):
            admitted = cheapest_first(admitted)
            rate_headers["x-switchboard-budget"] = "downgraded"
        self._reservation = reservation
        return admitted

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        reservation, self._reservation = self._reservation, None
        if reservation is not None:
            reservation.close()


def client_limit(client: Client | None) -> ClientLimit | None:
    """The limits and budget of the request's client key, if it has one."""
    return ClientLimit(client.name, client.rate_limit, client.budget) if client is not None else None


def cheapest_first(plan: Plan) -> Plan:
    """A soft budget's downgrade: the plan's attempts by list price, cheapest first (unknown prices last)."""

    def price(attempt: Attempt) -> float:
        p = attempt.price
        return math.inf if p is None else p.input_per_million + p.output_per_million

    return replace(plan, attempts=tuple(sorted(plan.attempts, key=price)), strategy=f"{plan.strategy}+budget-downgrade")


def refusal_message(verdict: Verdict, profile_key: str, route: RouteRequest) -> str:
    full = [lv for lv in verdict.levels if lv.wait_s > 0]
    if full:
        level = max(full, key=lambda lv: lv.wait_s)
        per = "requests-per-minute" if level.bucket.unit == "requests" else "tokens-per-minute"
        return f"{level.bucket.owner} is over its fleet-wide {per} limit; retry in {verdict.retry_after_s:.3f}s"
    return f"every provider for model {route.model!r} is over its fleet-wide rate limit (profile {profile_key!r})"


def rate_limit_headers(levels: tuple[Level, ...]) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers from the tightest request and token bucket."""
    headers: dict[str, str] = {}
    for unit in ("requests", "tokens"):
        mine = [lv for lv in levels if lv.bucket.unit == unit]
        if not mine:
            continue
        tight = min(mine, key=lambda lv: lv.remaining / lv.bucket.per_minute)
        headers[f"x-ratelimit-limit-{unit}"] = str(math.floor(tight.bucket.per_minute))
        headers[f"x-ratelimit-remaining-{unit}"] = str(max(0, math.floor(tight.remaining)))
        headers[f"x-ratelimit-reset-{unit}"] = duration(tight.reset_s)
    return headers


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    return f"{whole}s" if whole < 60 else f"{whole // 60}m{whole % 60}s"
