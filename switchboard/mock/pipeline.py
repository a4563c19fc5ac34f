"""The request pipeline every mock API shares: auth, faults, latency, delivery."""

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from switchboard.mock.conversation import BadRequest, Reply, Turn, reply_to
from switchboard.mock.dialect import Dialect, sse
from switchboard.mock.faults import FaultSpec, FaultSpecError, faults_from_headers
from switchboard.mock.state import MockState

STATE: web.AppKey[MockState] = web.AppKey("mock_state", MockState)
MALFORMED_JSON = b'{"id": "broken", "choices": [{"message": '
MALFORMED_SSE = b"data: {this is not json\n\n"
HANG_LIMIT_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request that passed auth and fault checks and should be answered."""

    body: Any
    faults: FaultSpec


def error_response(dialect: Dialect, status: int, message: str, *, retry_after: str | None = None) -> web.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return web.json_response(dialect.error_body(status, message), status=status, headers=headers, dumps=_dumps)


def _dumps(data: Any) -> str:
    return orjson.dumps(data).decode()


async def _sleep_ms(state: MockState, milliseconds: float) -> None:
    if milliseconds > 0:
        await asyncio.sleep(milliseconds / 1000.0)


async def _hang(state: MockState) -> None:
    """Never answer (until the server shuts down, so tests end cleanly)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.closing.wait(), HANG_LIMIT_SECONDS)


def _first_byte_delay(state: MockState, faults: FaultSpec) -> float:
    jitter = state.rng.uniform(0, faults.jitter_ms) if faults.jitter_ms else 0.0
    return (faults.latency_ms or 0.0) + jitter


async def admit(
    request: web.Request, dialect: Dialect, model_of: Callable[[Any], str | None]
) -> Admitted | web.StreamResponse:
    """Everything before the reply: auth, JSON, faults, latency. Returns a response to stop early."""
    state = request.app[STATE]
    state.total_requests += 1
    expected = state.options.api_key
    if expected is not None and dialect.api_key(request) != expected:
        return error_response(dialect, 401, "Incorrect API key provided.")
    problem = dialect.header_problem(request)
    if problem is not None:
        return error_response(dialect, 400, problem)
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return error_response(dialect, 400, f"the request body is not valid JSON: {exc}")
    model = model_of(body) or "unknown"
    state.count_request(model)
    try:
        faults = faults_from_headers(request.headers).over(state.faults_for(model))
    except FaultSpecError as exc:
        return error_response(dialect, 400, f"bad x-mock header: {exc}")
    await _sleep_ms(state, _first_byte_delay(state, faults))
    if faults.hang:
        await _hang(state)
        return error_response(dialect, 504, "the mock hung until shutdown")
    if faults.status is not None and state.rng.random() < (1.0 if faults.fail_rate is None else faults.fail_rate):
        state.record_error(model)
        message = f"injected failure {faults.status}"
        return error_response(dialect, faults.status, message, retry_after=faults.retry_after)
    return Admitted(body, faults)


async def handle_chat(
    request: web.Request, dialect: Dialect, *, path_model: str | None = None, stream_route: bool = False
) -> web.StreamResponse:
    admitted = await admit(request, dialect, lambda b: path_model or (b.get("model") if isinstance(b, dict) else None))
    if not isinstance(admitted, Admitted):
        return admitted
    state = request.app[STATE]
    try:
        turn = dialect.parse_chat(admitted.body, path_model=path_model, stream_route=stream_route)
    except BadRequest as exc:
        state.record_error(path_model)
        return error_response(dialect, 400, str(exc))
    traceparent = request.headers.get("traceparent")
    state.remember(dialect.name, turn.model, admitted.body, stream=turn.stream, traceparent=traceparent)
    if turn.stream:
        return await _stream(request, dialect, turn, admitted.faults)
    reply = _reply(turn, admitted.faults)
    await _sleep_ms(state, (admitted.faults.latency_per_token_ms or 0.0) * reply.completion_tokens)
    if admitted.faults.malformed is not None:
        return web.Response(body=MALFORMED_JSON, content_type="application/json")
    return web.json_response(dialect.chat_body(turn, reply), dumps=_dumps, headers=quota_headers(admitted.faults))


def _reply(turn: Turn, faults: FaultSpec) -> Reply:
    """The answer to ``turn``; ``repeat_reply`` says its text comes N times over (pieces and tokens)."""
    reply = reply_to(turn)
    if faults.repeat_reply is None or faults.repeat_reply == 1 or reply.tool_call is not None:
        return reply
    times, reasoning = faults.repeat_reply, reply.reasoning_tokens
    completion = (reply.completion_tokens - reasoning) * times + reasoning
    return dataclasses.replace(reply, pieces=reply.pieces * times, completion_tokens=completion)


QUOTA = 1000


def quota_headers(faults: FaultSpec) -> dict[str, str]:
    """Rate-limit headers as OpenAI and Anthropic send them, when ``quota_left`` is set."""
    if faults.quota_left is None:
        return {}
    left = str(round(faults.quota_left * QUOTA))
    return {
        "x-ratelimit-limit-requests": str(QUOTA),
        "x-ratelimit-remaining-requests": left,
        "anthropic-ratelimit-requests-limit": str(QUOTA),
        "anthropic-ratelimit-requests-remaining": left,
    }


def _error_event(dialect: Dialect) -> bytes:
    """An in-band error that ends a 200 stream: Anthropic's ``overloaded_error``, OpenAI's error object."""
    overloaded = 529 if dialect.name == "anthropic" else 503
    body = dialect.error_body(overloaded, "mock in-band error: overloaded")
    return sse(body, event="error" if dialect.name == "anthropic" else None)


async def _stream(request: web.Request, dialect: Dialect, turn: Turn, faults: FaultSpec) -> web.StreamResponse:
    """Write the events one by one, with per-token latency, a cut or a malformed event if asked."""
    state = request.app[STATE]
    events = dialect.chat_events(turn, _reply(turn, faults))
    if faults.cut_stream_after is not None:
        events = events[: faults.cut_stream_after]
    if faults.error_event_after is not None:
        events = [*events[: faults.error_event_after], _error_event(dialect)]
    if faults.malformed is not None:
        at = 1 if faults.malformed_after is None else faults.malformed_after
        events = [*events[:at], MALFORMED_SSE, *events[at:]]
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **quota_headers(faults)}
    response = web.StreamResponse(headers=headers)
    try:
        await response.prepare(request)
        for index, event in enumerate(events):
            if index == faults.stall_after:
                await _hang(state)
            if index:
                await _sleep_ms(state, faults.latency_per_token_ms or 0.0)
            await response.write(event)
            state.stream_bytes += len(event)
        await response.write_eof()
    except ConnectionError:  # the caller (the proxy) left mid-stream: normal, not a mock error
        pass
    return response


async def handle_json(
    request: web.Request,
    dialect: Dialect,
    build: Callable[[Any], dict[str, Any]],
    model_of: Callable[[Any], str | None],
) -> web.StreamResponse:
    """A non-chat JSON endpoint (embeddings) through the same auth and fault pipeline."""
    admitted = await admit(request, dialect, model_of)
    if not isinstance(admitted, Admitted):
        return admitted
    state = request.app[STATE]
    try:
        answer = build(admitted.body)
    except BadRequest as exc:
        return error_response(dialect, 400, str(exc))
    model = str(answer.get("model", "unknown"))
    state.remember(dialect.name, model, admitted.body, stream=False, traceparent=request.headers.get("traceparent"))
    if admitted.faults.malformed is not None:
        return web.Response(body=MALFORMED_JSON, content_type="application/json")
    return web.json_response(answer, dumps=_dumps)
