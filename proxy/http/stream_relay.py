"""Relaying an opened upstream stream to the client, event by event.

Once the first byte reached the client there is no failing over: an upstream
failure mid-stream ends the stream with an SSE error event and ``[DONE]`` so
SDKs raise a clear error instead of hanging or seeing a silent truncation.
"""

import time
from dataclasses import dataclass

import orjson
from aiohttp import web
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GEN_AI_RESPONSE_FINISH_REASONS

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.dispatch import UPSTREAM_FAILURES, Served
from switchboard.proxy.http.common import record_usage
from switchboard.proxy.http.keys import RUNTIME
from switchboard.proxy.http.tracing import annotate
from switchboard.proxy.outcomes import describe, failure_outcome, success_outcome
from switchboard.proxy.router_port import RouterPort
from switchboard.proxy.routing.types import Outcome
from switchboard.proxy.telemetry.content import StreamedOutput
from switchboard.proxy.telemetry.spans import AttemptTrace
from switchboard.proxy.upstream_calls import OpenStream

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"


def sse_error(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "upstream_error", "code": code, "param": None}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def relay_stream(
    request: web.Request, router: RouterPort, served: Served[OpenStream], headers: dict[str, str]
) -> web.StreamResponse:
    stream, attempt = served.value, served.attempt
    outcome = Outcome(kind="client_error", latency_s=0.0)  # replaced unless the client went away
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    relayed = _Relayed(served.trace, StreamedOutput() if attempt.profile.tracing.capture_content else None)
    error_text: str | None = "the client went away"
    try:
        await response.prepare(request)
        await relayed.write(response, stream.first_events)
        relayed.first_token_at = time.monotonic()
        request.app[RUNTIME].metrics.first_byte.labels(
            "chat/completions", attempt.profile.name, attempt.provider.name
        ).observe(time.monotonic() - served.started_at)
        try:
            if not stream.ended:
                async for chunk in stream.response.content.iter_any():
                    await relayed.write(response, stream.translator.feed(chunk))
                await relayed.write(response, stream.translator.finish())
            usage = stream.translator.usage or Usage()
            outcome = success_outcome(time.monotonic() - served.started_at, usage)
            relayed.cost_usd = record_usage(request, attempt, usage)
            relayed.usage, error_text = usage, None
        except UPSTREAM_FAILURES as error:
            stream.scrub(error)
            outcome = failure_outcome(error, time.monotonic() - served.started_at)
            error_text = describe(error)
            request.app[RUNTIME].metrics.upstream_errors.labels(attempt.provider.name, outcome.kind).inc()
            await response.write(sse_error(f"stream interrupted: {error_text}", "upstream_stream_error"))
            await response.write(DONE)
        await response.write_eof()
    finally:
        await stream.close()
        router.finished(attempt, outcome)
        relayed.ended(request, outcome, error_text)
        served.span_scope.close()
    return response


@dataclass(slots=True)
class _Relayed:
    """What the stream's span and the request span learn from the relayed events."""

    trace: AttemptTrace | None
    output: StreamedOutput | None  # profiles that capture content
    first_token_at: float | None = None
    usage: Usage | None = None
    cost_usd: float | None = None

    async def write(self, response: web.StreamResponse, events: list[bytes]) -> None:
        if self.trace is not None:
            self.trace.saw_events(events)
        if self.output is not None:
            self.output.feed(events)
        for event in events:
            await response.write(event)

    def ended(self, request: web.Request, outcome: Outcome, error: str | None) -> None:
        if self.trace is None:
            return
        self.trace.ended(
            outcome, usage=self.usage, cost_usd=self.cost_usd, first_token_at=self.first_token_at, error=error
        )
        if self.trace.finish_reasons:
            annotate(request, {GEN_AI_RESPONSE_FINISH_REASONS: self.trace.finish_reasons})
        if self.output is not None:
            annotate(request, self.output.attributes())
