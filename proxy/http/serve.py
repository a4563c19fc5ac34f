"""Serving one routed request of any inbound API through the one request lifecycle.

Chat completions, Responses and Messages differ only in their codecs (an
``ExchangeFactory`` per attempt); planning, attempts, failover before the
stream commits, the relay, cost and metrics are the same code for all three.
"""

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from switchboard.api.provider import ProviderConfig
from switchboard.proxy.adapters.base import Adapter, Usage
from switchboard.proxy.apis.exchange import ExchangeFactory
from switchboard.proxy.dispatch import Deadline, run_attempts
from switchboard.proxy.errors import ApiError
from switchboard.proxy.http.common import (
    attempt_headers,
    complete_answer,
    labels,
    observe_first_byte,
    plan_for,
    runtime_and_router,
)
from switchboard.proxy.http.stream_relay import relay_stream
from switchboard.proxy.routing.types import Attempt, RouteRequest
from switchboard.proxy.upstream_calls import OpenStream, exchange_once, open_stream


@dataclass(frozen=True, slots=True)
class Capability:
    """Which upstreams can carry a request at all; the others are skipped, not tried and failed."""

    accepts: Callable[[Adapter, ProviderConfig], bool]
    otherwise: Callable[[], web.StreamResponse]
    """The answer (or the error raised) when no provider of the plan accepts it."""


def translated(
    translate: Callable[[dict[str, Any]], dict[str, Any]],
    body: dict[str, Any],
    native: Callable[[Adapter, ProviderConfig], bool],
) -> tuple[dict[str, Any] | None, Capability | None]:
    """The chat translation of ``body``; if it has none, only ``native`` upstreams can serve it.

    (A hosted tool or a document block is fine for the upstream that speaks the
    client's API natively, and a 400 naming the part for everyone else.)
    """
    try:
        return translate(body), None
    except ApiError as untranslatable:
        return None, Capability(native, functools.partial(_refuse, untranslatable))


def _refuse(error: ApiError) -> web.StreamResponse:
    raise error


async def serve(
    request: web.Request,
    route: RouteRequest,
    exchange: ExchangeFactory,
    *,
    stream: bool,
    capability: Capability | None = None,
) -> web.StreamResponse:
    """Plan ``route``, run its attempts with ``exchange``, and answer (streaming or complete)."""
    runtime, router = runtime_and_router(request)
    async with runtime.lease() as snap:
        plan = plan_for(request, router, route)
        if capability is not None:
            capable = tuple(a for a in plan.attempts if capability.accepts(snap.adapter(a.provider), a.provider))
            if not capable:
                return capability.otherwise()
            plan = dataclasses.replace(plan, attempts=capable)
        if stream:

            async def open_attempt(attempt: Attempt, deadline: Deadline) -> tuple[OpenStream, Usage]:
                return await open_stream(snap, attempt, deadline, exchange)

            opened = await run_attempts(router, runtime.metrics, plan, route.model, open_attempt, report_success=False)
            labels(request).provider = opened.attempt.provider.name
            return await relay_stream(request, router, opened, attempt_headers(plan, opened.attempt, opened.attempts))

        response, done = await complete_answer(
            request,
            router,
            plan,
            route.model,
            lambda attempt, deadline: exchange_once(snap, attempt, deadline, exchange),
        )
        observe_first_byte(request, done.attempt, done.started_at)
        return response
