"""POST /v1/embeddings."""

import dataclasses

from aiohttp import web

from switchboard.proxy.errors import ApiError
from switchboard.proxy.fleet.http import admitted
from switchboard.proxy.http.common import complete_answer, plan_for, read_body, runtime_and_router
from switchboard.proxy.routing_input import route_request
from switchboard.proxy.upstream_calls import embeddings_once
from switchboard.proxy.validation import decode_json_object, parse_embeddings


async def embeddings(request: web.Request) -> web.Response:
    body = decode_json_object(await read_body(request))
    parsed = parse_embeddings(body)
    runtime, router = runtime_and_router(request)
    async with runtime.lease() as snap:
        route = route_request(body, request.headers, "embeddings")
        plan = plan_for(request, router, route)
        # Providers whose API has no embeddings are skipped, not tried and failed.
        capable = tuple(a for a in plan.attempts if snap.adapter(a.provider).supports_embeddings)
        if not capable:
            raise ApiError(400, f"no provider of model {parsed.model!r} supports embeddings", param="model")
        plan = dataclasses.replace(plan, attempts=capable)
        async with admitted(request, plan, route, snap.config.fleet.replicas) as plan:
            response, _ = await complete_answer(
                request,
                router,
                plan,
                parsed.model,
                lambda attempt, deadline: embeddings_once(snap, attempt, deadline, body),
            )
            return response
