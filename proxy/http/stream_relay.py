"""Streaming an upstream answer to the client, with one commit point.

Events are held back until the first one that carries output (content, a tool
call, a refusal): before that, a role-only chunk, comments or keep-alives
commit nothing and any failure still fails over to the next attempt, like a
non-streamed request. From the commit on, the client has bytes of this attempt
and an upstream failure ends the stream with one OpenAI-format error event and
``[DONE]`` so SDKs raise a clear error instead of seeing a silent truncation.

Writes to the client go through ``AttemptScope.to_client``: aiohttp's write
waits for the socket to drain, so a slow reader holds the upstream read back
(bounded memory) and its errors are the client's, never the provider's.
"""

import asyncio
from typing import Any

import orjson
from aiohttp import web

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.http.common import attempt_headers
from switchboard.proxy.routing.types import Plan
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.exchange import Prepared, open_stream
from switchboard.proxy.upstream.outcomes import describe

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"
_OUTPUT_FIELDS = ("content", "tool_calls", "function_call", "refusal", "reasoning_content")


def sse_error(message: str, code: str) -> bytes:
    body = {"error": {"message": message, "type": "upstream_error", "code": code, "param": None}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def carries_output(event: bytes) -> bool:
    """Whether an OpenAI chat-completion chunk event carries output (so the stream commits to it)."""
    if not event.startswith(b"data: {"):
        return False
    try:
        payload: Any = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return False
    choices = payload.get("choices") if isinstance(payload, dict) else None
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(name) for name in _OUTPUT_FIELDS):
            return True
    return False


class ClientStream:
    """The client's side of one streamed answer: opened at the commit, ended once."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response: web.StreamResponse | None = None

    async def open(self, scope: AttemptScope, headers: dict[str, str]) -> None:
        scope.commit()
        self.response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
        await scope.to_client(self.response.prepare(self._request))

    async def write(self, scope: AttemptScope, events: list[bytes]) -> None:
        if events and scope.trace is not None:
            scope.trace.saw_events(events)
        if events and self.response is not None:
            await scope.to_client(self.response.write(b"".join(events)))

    async def end(self, scope: AttemptScope) -> None:
        if self.response is not None:
            await scope.to_client(self.response.write_eof())

    async def end_broken(self, scope: AttemptScope, error: BaseException) -> None:
        """After the commit: the one error event, then ``[DONE]``."""
        message = sse_error(f"stream interrupted: {describe(error)}", "upstream_stream_error")
        await self.write(scope, [message, DONE])
        await self.end(scope)


async def relay_chat(
    snap: Snapshot,
    scope: AttemptScope,
    prepared: Prepared,
    plan: Plan,
    public_model: str,
    *,
    include_usage: bool,
    client: ClientStream,
) -> None:
    """One streamed chat attempt: open upstream, hold events back until the commit, relay, end.

    Until the commit the provider's ``firstTokenSeconds`` (when set) bounds the wait.
    """
    attempt, target = scope.attempt, prepared.target
    async with asyncio.timeout(attempt.timeouts.first_token_seconds) as first_token:
        async with open_stream(snap, scope, prepared) as response:
            translator = snap.adapter(attempt.provider).chat_stream(target, public_model, include_usage=include_usage)
            held: list[bytes] = []
            async for chunk in response.content.iter_any():
                events = translator.feed(chunk)
                if scope.committed:
                    await client.write(scope, events)
                elif any(carries_output(event) for event in events):
                    first_token.reschedule(None)
                    await client.open(scope, attempt_headers(plan, scope))
                    await client.write(scope, [*held, *events])
                    held = []
                else:
                    held.extend(events)
                if translator.usage is not None:
                    scope.usage = translator.usage
            closing = translator.finish()
        first_token.reschedule(None)
    scope.usage = translator.usage or Usage()
    if not scope.committed:  # a complete answer without output (an empty completion)
        await client.open(scope, attempt_headers(plan, scope))
    await client.write(scope, [*held, *closing])
    await client.end(scope)
