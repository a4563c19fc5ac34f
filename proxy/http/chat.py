"""POST /v1/chat/completions, non-streaming and SSE streaming."""

import time

from aiohttp import web

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.dispatch import Deadline, run_attempts
from switchboard.proxy.http.common import (
    attempt_headers,
    attempt_tracing,
    capture_input,
    complete_answer,
    labels,
    plan_for,
    read_body,
    runtime_and_router,
)
from switchboard.proxy.http.stream_relay import relay_stream
from switchboard.proxy.routing.types import Attempt
from switchboard.proxy.routing_input import route_request
from switchboard.proxy.upstream_calls import OpenStream, chat_once, open_chat_stream
from switchboard.proxy.validation import decode_json_object, parse_chat


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = decode_json_object(await read_body(request))
    chat = parse_chat(body)
    runtime, router = runtime_and_router(request)
    async with runtime.lease() as snap:
        plan = plan_for(request, router, route_request(body, request.headers, "chat"))
        capture_input(request, plan, body)
        if chat.stream:

            async def open_attempt(attempt: Attempt, deadline: Deadline) -> tuple[OpenStream, Usage]:
                return await open_chat_stream(snap, attempt, deadline, body, include_usage=chat.include_usage)

            opened = await run_attempts(
                router,
                runtime.metrics,
                plan,
                chat.model,
                open_attempt,
                tracing=attempt_tracing(request),
                report_success=False,
            )
            labels(request).provider = opened.attempt.provider.name
            return await relay_stream(request, router, opened, attempt_headers(plan, opened.attempt, opened.attempts))

        response, done = await complete_answer(
            request, router, plan, chat.model, lambda attempt, deadline: chat_once(snap, attempt, deadline, body)
        )
        runtime.metrics.first_byte.labels("chat/completions", plan.profile.name, done.attempt.provider.name).observe(
            time.monotonic() - done.started_at
        )
        return response
