"""POST /v1/embeddings: validate -> plan -> run attempts -> write."""

from aiohttp import web

from switchboard.proxy.fleet.http import Admitted
from switchboard.proxy.http.common import (
    capture_input,
    json_answer,
    plan_for,
    read_request_body,
    ready_runtime,
    reporting,
)
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.upstream.exchange import embeddings_once, embeddings_preparer
from switchboard.proxy.upstream.loop import run_attempts
from switchboard.proxy.validation import decode_json_object, parse_embeddings


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_request_body(request))
    parsed = parse_embeddings(body)
    runtime = ready_runtime(request)
    with runtime.lease() as snap:
        route = route_request(body, request.headers, "embeddings")
        plan = plan_for(request, runtime.router, route)
        capture_input(request, plan, body)
        async with Admitted(request, plan, route, snap.config.fleet.replicas) as plan:
            report = reporting(request, runtime, "embeddings")
            # Providers whose API has no embeddings are skipped, not tried and failed.
            served = await run_attempts(
                report,
                plan,
                parsed.model,
                embeddings_preparer(snap, body),
                lambda scope, prepared: embeddings_once(snap, scope, prepared, parsed.model),
            )
            return await json_answer(request, plan, served)
