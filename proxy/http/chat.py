"""POST /v1/chat/completions: validate -> plan -> run attempts -> write (JSON or SSE)."""

from aiohttp import web

from switchboard.proxy.fleet.http import admitted
from switchboard.proxy.http.common import capture_input, json_answer, plan_for, read_body, ready_runtime, reporting
from switchboard.proxy.http.routing_input import route_request
from switchboard.proxy.http.stream_relay import ClientStream, relay_chat
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.exchange import Prepared, chat_once, chat_preparer
from switchboard.proxy.upstream.loop import StreamBroken, run_attempts
from switchboard.proxy.upstream.outcomes import ClientGone
from switchboard.proxy.validation import decode_json_object, parse_chat


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_body(request))
    chat = parse_chat(body)
    runtime = ready_runtime(request)
    async with runtime.lease() as snap:
        route = route_request(body, request.headers, "chat")
        plan = plan_for(request, runtime.router, route)
        capture_input(request, plan, body)
        async with admitted(request, plan, route, snap.config.fleet.replicas) as plan:
            report = reporting(request, runtime, "chat/completions")
            prepare = chat_preparer(snap, body, stream=chat.stream)
            if not chat.stream:
                served = await run_attempts(
                    report,
                    plan,
                    chat.model,
                    prepare,
                    lambda scope, prepared: chat_once(snap, scope, prepared, chat.model),
                )
                return json_answer(plan, served)
            client = ClientStream(request)
            final_plan = plan

            async def relay(scope: AttemptScope, prepared: Prepared) -> None:
                await relay_chat(
                    snap, scope, prepared, final_plan, chat.model, include_usage=chat.include_usage, client=client
                )

            try:
                await run_attempts(report, plan, chat.model, prepare, relay)
            except StreamBroken as broken:
                try:
                    await client.end_broken(broken.scope, broken.error)
                except ClientGone:
                    report.labels.client_gone = True
            except ClientGone:
                report.labels.client_gone = True
            return client.response or web.Response(status=499)
