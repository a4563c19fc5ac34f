"""Helpers every API handler shares: readiness, planning, reporting, headers, JSON answers."""

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from aiohttp.base_protocol import BaseProtocol
from opentelemetry.trace import INVALID_SPAN

from switchboard.proxy.auth import Client, require_profile
from switchboard.proxy.cost import format_cost
from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.app_keys import (
    ATTEMPTS_HEADER,
    COST_HEADER,
    MODEL_HEADER,
    PROFILE_HEADER,
    PROVIDER_HEADER,
    STRATEGY_HEADER,
    RequestState,
)
from switchboard.proxy.routing.router import Router
from switchboard.proxy.routing.types import NoRoute, Plan, RouteRequest
from switchboard.proxy.runtime import Lease, NotReady, Runtime
from switchboard.proxy.telemetry.attributes import plan_attributes
from switchboard.proxy.telemetry.content import input_attributes
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.loop import Served
from switchboard.proxy.upstream.outcomes import ClientGone


def ready_runtime(runtime: Runtime) -> Runtime:
    """``runtime`` (the request's, ``RequestState.runtime``) once a config is loaded; until then the client's 503."""
    if not runtime.ready:
        raise not_ready(runtime.not_ready_reason)
    return runtime


def leased(runtime: Runtime) -> Lease:
    """The current snapshot's lease (``with leased(runtime) as snap``); no config loaded yet: the client's 503.
    Asked of the lease itself, which knows (no ``ready`` check before it, a property call per request)."""
    try:
        return runtime.lease()
    except NotReady as e:
        raise not_ready(str(e)) from None


def not_ready(reason: str) -> ApiError:
    return ApiError(503, f"proxy not ready: {reason}", code="not_ready")


def plan_for(state: RequestState, router: Router, route: RouteRequest, prompt: Mapping[str, Any]) -> Plan:
    """The router's plan for ``route``, once the client is known to be allowed its profile, told to the
    request span (with ``prompt``, the request in chat form, for profiles whose ``tracing.captureContent`` is on).

    Raises the OpenAI-format error the client gets: the engine's ``NoRoute``
    (404/429/503), or a 403 from client auth when the key may not use the
    profile the router chose.
    """
    client = state.client
    try:
        plan = router.plan(route if client is None else within_grants(client, route))
    except NoRoute as e:
        profile = router.profile_of(route)
        if profile is not None:  # a 429 or 503 of a known profile: metrics and log name it
            state.profile = profile.key
            require_profile(client, profile.key)
        raise no_route_error(e) from None
    except NotReady as e:
        raise not_ready(str(e)) from None
    state.profile = plan.profile.key
    span = state.span
    # Attributes are built only for a span that keeps them (tracing on, sampled in); tracing off, there is none.
    if span is not INVALID_SPAN and span.is_recording():
        span.set_attributes(plan_attributes(plan, route.endpoint, route.model))
        if plan.profile.tracing.capture_content:
            span.set_attributes(input_attributes(prompt))
    if client is not None:  # auth on
        require_profile(client, plan.profile.key)
    return plan


def within_grants(client: Client | None, route: RouteRequest) -> RouteRequest:
    """``route`` resolved among the profiles the caller's key may use (unchanged when auth is off)."""
    return route if client is None else route._replace(may_use=client.may_use)


def no_route_error(e: NoRoute) -> ApiError:
    """The client's error for the engine's ``NoRoute``, the same on every endpoint that routes."""
    code = {400: "invalid_routing_header", 404: "model_not_found", 429: "rate_limited"}.get(
        e.status, "no_provider_available"
    )
    # The engine's hint (a bucket refill, a circuit half-opening); one second when it cannot tell.
    retry_after = (e.retry_after_s or 1.0) if e.status in (429, 503) else None
    param = "model" if e.status == 404 else None
    return ApiError(e.status, e.message, code=code, param=param, retry_after=retry_after)


def attempt_headers(plan: Plan, scope: AttemptScope) -> dict[str, str]:
    return {
        PROVIDER_HEADER: scope.attempt.provider.name,
        MODEL_HEADER: scope.attempt.model.name,
        PROFILE_HEADER: plan.profile.key,
        STRATEGY_HEADER: plan.strategy,
        ATTEMPTS_HEADER: str(scope.number),
    }


_ANSWER_CHUNK_BYTES = 64 * 1024
_HEADERS_ALLOWANCE = 16 * 1024
"""More than the status line and headers of any answer take: aiohttp refuses header blocks past 8 KiB itself."""


def json_headers(plan: Plan, scope: AttemptScope) -> dict[str, str]:
    """A complete JSON answer's headers: what served it, and its cost when the price is known."""
    headers = attempt_headers(plan, scope)
    headers[hdrs.CONTENT_TYPE] = "application/json"
    if scope.cost_usd is not None:
        headers[COST_HEADER] = format_cost(scope.cost_usd)
    return headers


async def json_in_chunks(
    request: web.Request, state: RequestState, plan: Plan, served: Served[bytes]
) -> web.StreamResponse:
    """A complete answer that the client's transport cannot take without pausing (``takes_without_waiting``).

    A client must take it within the serving attempt's ``totalSeconds``: one that does not is gone
    (499) and its connection is closed, so a slow reader holds one answer's bytes for a bounded time,
    never more. It is written in chunks that each wait for the client's socket to drain, under that time limit.
    """
    headers = json_headers(plan, served.scope)
    state.stamp(headers)  # sent here, not by the lifecycle
    body = served.value
    response = web.StreamResponse(headers=headers)
    response.content_length = len(body)
    try:
        async with asyncio.timeout(served.scope.attempt.timeouts.total_seconds):
            await _write_in_chunks(request, response, memoryview(body))
    except (TimeoutError, ConnectionError, aiohttp.ClientConnectionError):
        state.client_gone = True
        if request.transport is not None:
            request.transport.abort()  # what the transport still holds for it is freed now
    return response


async def _write_in_chunks(request: web.Request, response: web.StreamResponse, body: memoryview) -> None:
    """Each chunk waits for the transport to take it: first for the earlier answers it still holds
    (a pipelining client that reads none of them), then for this one's previous chunk."""
    writer = await response.prepare(request)
    assert writer is not None  # a fresh response is prepared once
    await writer.drain()
    for start in range(0, len(body), _ANSWER_CHUNK_BYTES):
        await response.write(body[start : start + _ANSWER_CHUNK_BYTES])
        await writer.drain()
    await response.write_eof()


def takes_without_waiting(request: web.Request, size: int) -> bool:
    """True when ``size`` more bytes (and headers) cannot pause the client's open transport: writing them never
    waits, nor fails.

    Such an answer is returned unsent: aiohttp writes headers and body in one write right after the handler
    returns, with nothing run in between (nothing to time, nothing that can fail). A larger one, or one for
    a client that has not taken earlier answers yet (or has gone), goes ``json_in_chunks``.

    The transport pauses its protocol (and aiohttp's drain waits) once more than its high-water mark is
    pending; a protocol paused by earlier answers the client has not taken yet stays paused.
    """
    transport = request.transport
    if transport is None or transport.is_closing():  # the client is gone: writing fails (a 499)
        return False
    protocol = transport.get_protocol()
    if not isinstance(protocol, BaseProtocol) or protocol.writing_paused:
        return False
    pending = transport.get_write_buffer_size() + size + _HEADERS_ALLOWANCE
    return pending <= transport.get_write_buffer_limits()[1]


async def read_request_body(request: web.Request) -> bytes:
    """The raw body; aiohttp raises 413 past ``client_max_size`` (--max-body-bytes).

    A client that disconnects while sending it is gone (499), not a proxy error.
    """
    try:
        return await request.read()
    except (ConnectionError, aiohttp.ClientConnectionError):
        raise ClientGone("the client disconnected while sending its request") from None
