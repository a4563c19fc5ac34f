"""Helpers every API handler shares: reading the body, planning, headers, usage."""

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from opentelemetry import trace

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.auth import require_profile
from switchboard.proxy.cost import cost_usd, format_cost
from switchboard.proxy.dispatch import AttemptTracing, Deadline, Served, run_attempts
from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.keys import LABELS, PRICING, RUNTIME, TELEMETRY, RouteLabels
from switchboard.proxy.http.tracing import annotate
from switchboard.proxy.router_port import RouterPort
from switchboard.proxy.routing.types import Attempt, NoRoute, Plan, RouteRequest
from switchboard.proxy.runtime import NotReady, Runtime
from switchboard.proxy.telemetry import content
from switchboard.proxy.telemetry.spans import answer_attributes, plan_attributes, served_attributes


def runtime_and_router(request: web.Request) -> tuple[Runtime, RouterPort]:
    runtime = request.app[RUNTIME]
    router = runtime.router
    if not runtime.ready or router is None:
        raise ApiError(503, f"proxy not ready: {runtime.not_ready_reason}", code="not_ready")
    return runtime, router


def plan_for(request: web.Request, router: RouterPort, route: RouteRequest) -> Plan:
    """The router's plan for ``route``, once the client is known to be allowed its profile.

    Raises the OpenAI-format error the client gets: the engine's ``NoRoute``
    (404/429/503), or a 403 from client auth when the key may not use the
    profile the router chose.
    """
    plan = _plan(router, route)
    labels(request).profile = plan.profile.name
    annotate(request, plan_attributes(plan, route.endpoint, route.model))
    require_profile(request, plan.profile.key)
    return plan


def attempt_tracing(request: web.Request) -> AttemptTracing:
    """What the request's attempt spans need; the GenAI operation follows the endpoint."""
    operation = "embeddings" if labels(request).endpoint == "embeddings" else "chat"
    return AttemptTracing(request.app[TELEMETRY], operation, request.app[PRICING])


def capture_input(request: web.Request, plan: Plan, body: dict[str, Any]) -> None:
    """The prompt on the request span, for profiles whose ``tracing.captureContent`` is on."""
    if plan.profile.tracing.capture_content:
        annotate(request, content.input_attributes(body))


def no_route_error(e: NoRoute) -> ApiError:
    """The client's error for the engine's ``NoRoute``, the same on every endpoint that routes."""
    code = {400: "invalid_routing_header", 404: "model_not_found", 429: "rate_limited"}.get(
        e.status, "no_provider_available"
    )
    # The engine's hint (a bucket refill, a circuit half-opening); one second when it cannot tell.
    retry_after = (e.retry_after_s or 1.0) if e.status in (429, 503) else None
    param = "model" if e.status == 404 else None
    return ApiError(e.status, e.message, code=code, param=param, retry_after=retry_after)


def _plan(router: RouterPort, route: RouteRequest) -> Plan:
    try:
        return router.plan(route)
    except NoRoute as e:
        raise no_route_error(e) from None
    except NotReady as e:
        raise ApiError(503, f"proxy not ready: {e}", code="not_ready") from None


def labels(request: web.Request) -> RouteLabels:
    return request.get(LABELS) or RouteLabels(endpoint="unmatched")


def attempt_headers(plan: Plan, attempt: Attempt, attempts: int) -> dict[str, str]:
    return {
        "x-switchboard-provider": attempt.provider.name,
        "x-switchboard-model": attempt.model.name,
        "x-switchboard-strategy": plan.strategy,
        "x-switchboard-attempts": str(attempts),
    }


def record_usage(request: web.Request, attempt: Attempt, usage: Usage) -> float:
    """Tokens and spend into the metrics; returns the cost in USD."""
    metrics = request.app[RUNTIME].metrics
    profile, provider = attempt.profile.name, attempt.provider.name
    cost = cost_usd(request.app[PRICING], attempt.model, usage)
    metrics.tokens.labels(profile, provider, "prompt").inc(usage.prompt_tokens)
    metrics.tokens.labels(profile, provider, "completion").inc(usage.completion_tokens)
    metrics.cost.labels(profile, provider).inc(cost)
    labels(request).cost_usd = cost
    annotate(request, served_attributes(attempt, usage, cost))
    return cost


def served_headers(request: web.Request, plan: Plan, attempt: Attempt, attempts: int, usage: Usage) -> dict[str, str]:
    """Headers of a complete (non-streaming) answer, including its cost."""
    labels(request).provider = attempt.provider.name
    cost = record_usage(request, attempt, usage)
    return {**attempt_headers(plan, attempt, attempts), "x-switchboard-cost-usd": format_cost(cost)}


async def read_body(request: web.Request) -> bytes:
    """The raw body; aiohttp raises 413 past ``client_max_size`` (--max-body-bytes)."""
    return await request.read()


Answer = tuple[dict[str, Any], Usage]
OnceCall = Callable[[Attempt, Deadline], Awaitable[Answer]]
"""One complete (non-streaming) upstream call: the client's JSON answer and its usage."""


async def complete_answer(
    request: web.Request, router: RouterPort, plan: Plan, model: str, once: OnceCall
) -> tuple[web.Response, Served[Answer]]:
    """Run ``plan`` with ``once`` per attempt; the JSON response (cost header included) and what served it."""

    async def call(attempt: Attempt, deadline: Deadline) -> tuple[Answer, Usage]:
        answer = await once(attempt, deadline)
        attempt_span = trace.get_current_span()  # the attempt's own span while it runs
        if attempt_span.is_recording():
            attempt_span.set_attributes(answer_attributes(answer[0]))
        return answer, answer[1]

    done = await run_attempts(router, request.app[RUNTIME].metrics, plan, model, call, tracing=attempt_tracing(request))
    payload, usage = done.value
    annotate(request, answer_attributes(payload))
    if plan.profile.tracing.capture_content:
        annotate(request, content.output_attributes(payload))
    headers = served_headers(request, plan, done.attempt, done.attempts, usage)
    return web.Response(body=orjson.dumps(payload), content_type="application/json", headers=headers), done
