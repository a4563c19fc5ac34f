"""Relaying an opened upstream stream to the client, event by event.

Once the first byte reached the client there is no failing over: an upstream
failure mid-stream ends the stream with the client API's own error events
(the translator's ``fail``) so SDKs raise a clear error instead of hanging or
seeing a silent truncation.
"""

import time

from aiohttp import web

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.dispatch import UPSTREAM_FAILURES, Served
from switchboard.proxy.http.common import observe_first_byte, record_usage
from switchboard.proxy.http.keys import RUNTIME
from switchboard.proxy.outcomes import describe, failure_outcome, success_outcome
from switchboard.proxy.router_port import RouterPort
from switchboard.proxy.routing.types import Outcome
from switchboard.proxy.upstream_calls import OpenStream

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def relay_stream(
    request: web.Request, router: RouterPort, served: Served[OpenStream], headers: dict[str, str]
) -> web.StreamResponse:
    stream, attempt = served.value, served.attempt
    outcome = Outcome(kind="client_error", latency_s=0.0)  # replaced unless the client went away
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    try:
        await response.prepare(request)
        for event in stream.first_events:
            await response.write(event)
        observe_first_byte(request, attempt, served.started_at)
        try:
            if not stream.ended:
                async for chunk in stream.response.content.iter_any():
                    for event in stream.translator.feed(chunk):
                        await response.write(event)
                for event in stream.translator.finish():
                    await response.write(event)
            usage = stream.translator.usage or Usage()
            outcome = success_outcome(time.monotonic() - served.started_at, usage)
            record_usage(request, attempt, usage)
        except UPSTREAM_FAILURES as error:
            stream.scrub(error)
            outcome = failure_outcome(error, time.monotonic() - served.started_at)
            request.app[RUNTIME].metrics.upstream_errors.labels(attempt.provider.name, outcome.kind).inc()
            for event in stream.translator.fail(f"stream interrupted: {describe(error)}"):
                await response.write(event)
        await response.write_eof()
    finally:
        await stream.close()
        router.finished(attempt, outcome)
    return response
