"""Serving one routed request of any inbound API through the one request lifecycle.

Chat completions, Responses and Messages differ only in their codecs (a
``CodecFactory`` per attempt); planning, attempts, failover before the stream
commits, the relay, cost and metrics are the same code for all of them.
"""

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from switchboard.api.provider import ProviderConfig, ProviderModel
from switchboard.proxy.adapters.base import Adapter, AdapterRequestError
from switchboard.proxy.adapters.wire import require_messages
from switchboard.proxy.apis.codec import Codec, CodecFactory
from switchboard.proxy.errors import ApiError, invalid_param
from switchboard.proxy.fleet.http import Admitted, admission
from switchboard.proxy.http.app_keys import STATE, RequestState
from switchboard.proxy.http.common import (
    json_headers,
    json_in_chunks,
    leased,
    plan_for,
    takes_without_waiting,
)
from switchboard.proxy.http.stream_relay import ClientStream, relay
from switchboard.proxy.routing.types import Plan, RouteRequest
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.upstream.exchange import codec_once, codec_preparer
from switchboard.proxy.upstream.loop import Served, StreamBroken, run_attempts
from switchboard.proxy.upstream.outcomes import ClientGone


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
    """The chat translation of ``body`` (its messages checked once, for every adapter); if it has none,
    only ``native`` upstreams can serve it.

    (A hosted tool or a document block is fine for the upstream that speaks the
    client's API natively, and a 400 naming the part for everyone else.)
    """
    try:
        chat = translate(body)
        require_messages(chat)
    except AdapterRequestError as empty:
        untranslatable = invalid_param("messages", f"the request has no chat translation: {empty}")
    except ApiError as error:
        untranslatable = error
    else:
        return chat, None
    return None, Capability(native, functools.partial(_refuse, untranslatable))


def _refuse(error: ApiError) -> web.StreamResponse:
    raise error


async def serve(
    request: web.Request,
    route: RouteRequest,
    make: CodecFactory,
    *,
    stream: bool,
    prompt: Mapping[str, Any],
    capability: Capability | None = None,
) -> web.StreamResponse:
    """Plan ``route``, run its attempts with the codec ``make`` builds for each, and answer.

    ``prompt`` is the request in chat form (for the other APIs their chat translation, or the client's body
    when it has none): what a profile that captures content records on the request span, and what a
    Service-backed provider's endpoint picking hashes the prompt prefix of.
    """
    state = request[STATE]
    runtime = state.runtime
    with leased(runtime) as snap:
        plan = plan_for(state, runtime.router, route, prompt)
        if capability is not None:
            capable = tuple(a for a in plan.attempts if capability.accepts(snap.adapter(a.provider), a.provider))
            if not capable:
                return capability.otherwise()
            plan = dataclasses.replace(plan, attempts=capable)
        prepare = codec_preparer(snap, make, prompt)
        gate = admission(runtime.fleet, state, plan, route, snap.config.fleet.replicas)
        if gate is not None:  # something to reserve: the answer runs inside the reservation
            return await _admitted(gate, request, snap, state, route.model, prepare, stream=stream)
        if stream:
            return await _relayed(request, snap, state, plan, route.model, prepare)
        # No client key, budget or state store (nothing to reserve): the whole answer's attempts run right here,
        # with no coroutine of ours between (each is one more frame resumed at every wait on the upstream).
        served = await run_attempts(state, plan, route.model, prepare, functools.partial(codec_once, snap))
        return await _whole_answer(request, state, plan, served)


async def _admitted(
    gate: Admitted,
    request: web.Request,
    snap: Snapshot,
    state: RequestState,
    model: str,
    prepare: Callable[[ProviderConfig, ProviderModel], Codec],
    *,
    stream: bool,
) -> web.StreamResponse:
    """The answer inside the request's reservation, with the plan the fleet limiter admitted."""
    async with gate as plan:
        if stream:
            return await _relayed(request, snap, state, plan, model, prepare)
        served = await run_attempts(state, plan, model, prepare, functools.partial(codec_once, snap))
        return await _whole_answer(request, state, plan, served)


async def _whole_answer(
    request: web.Request, state: RequestState, plan: Plan, served: Served[bytes]
) -> web.StreamResponse:
    """The whole JSON answer: returned unsent (the lifecycle stamps it, aiohttp sends it) when the client's
    transport takes it without waiting, else written ``json_in_chunks``. Awaited once the attempts are done,
    so it is never resumed while they wait on the upstream."""
    if takes_without_waiting(request, len(served.value)):
        return web.Response(body=served.value, headers=json_headers(plan, served.scope))
    return await json_in_chunks(request, state, plan, served)


async def _relayed(
    request: web.Request,
    snap: Snapshot,
    state: RequestState,
    plan: Plan,
    model: str,
    prepare: Callable[[ProviderConfig, ProviderModel], Codec],
) -> web.StreamResponse:
    """Run ``plan``'s attempts for a stream, relayed to the client as it comes."""
    client = ClientStream(request)
    try:  # each attempt awaits ``relay`` itself: no coroutine of ours between, resumed per streamed chunk
        await run_attempts(state, plan, model, prepare, functools.partial(relay, snap, plan, client))
    except StreamBroken as broken:
        try:
            await client.end_broken(broken.scope, broken.error)
        except ClientGone:
            state.client_gone = True
    except ClientGone:
        state.client_gone = True
    return client.response or web.Response(status=499)
