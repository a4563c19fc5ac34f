"""Streaming an upstream answer to the client, with one commit point.

Events are held back until the first one that carries output (content, a tool
call, a refusal; the translator's ``output_seen`` tells, per client API): before
that, a role-only chunk, ``response.created``, ``message_start``, comments or
keep-alives commit nothing and any failure still fails over to the next
attempt, like a non-streamed request. From the commit on, the client has bytes
of this attempt and an upstream failure ends the stream with the client API's
own error events (the translator's ``fail``: for chat one error event and
``[DONE]``) so SDKs raise a clear error instead of seeing a silent truncation.

Writes to the client go through ``AttemptScope.to_client``: aiohttp's write
waits for the socket to drain, so a slow reader holds the upstream read back
(bounded memory) and its errors are the client's, never the provider's.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from switchboard.proxy.adapters.base import StreamTranslator, Usage
from switchboard.proxy.apis.codec import Codec
from switchboard.proxy.http.app_keys import STATE
from switchboard.proxy.http.common import attempt_headers
from switchboard.proxy.routing.types import Plan
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.exchange import UpstreamStream
from switchboard.proxy.upstream.outcomes import describe

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _SSEResponse(web.StreamResponse):
    """Headers leave with the first events, in one write: the stream opens only when it has events to send."""

    _send_headers_immediately = False


class ClientStream:
    """The client's side of one streamed answer: opened at the commit, ended once."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._translator: StreamTranslator | None = None
        self._traced: Callable[[list[bytes]], None] | None = None
        """The attempt span's ``saw_events``, when it records (looked up once, not per chunk)."""
        self._writer: AbstractStreamWriter | None = None
        self.response: web.StreamResponse | None = None

    def answer(self, headers: dict[str, str]) -> web.StreamResponse:
        """The response an attempt's events would go out in (built once its upstream answered, before the
        commit: the wait for the first token pays for it, not the token)."""
        answer = {**SSE_HEADERS, **headers}
        self._request[STATE].stamp(answer)  # sent here, not by the lifecycle
        return _SSEResponse(status=200, headers=answer)

    async def open(self, scope: AttemptScope, response: web.StreamResponse, translator: StreamTranslator) -> None:
        """Commit to ``scope``'s attempt with its ``response``; its ``translator`` words the error if the
        stream breaks later."""
        scope.commit()
        self._translator = translator
        if scope.trace is not None and scope.trace.span.is_recording():
            self._traced = scope.trace.saw_events
        self.response = response
        await scope.to_client(self._prepare(response))

    async def _prepare(self, response: web.StreamResponse) -> None:
        self._writer = await response.prepare(self._request)

    def write(self, scope: AttemptScope, events: list[bytes]) -> Awaitable[None]:
        """The write of ``events`` (after ``open``), to await: a function, not a coroutine, since it runs per chunk.

        Straight to the response's writer (what ``StreamResponse.write`` awaits, after checks that hold here).
        """
        assert self._writer is not None
        if self._traced is not None:
            self._traced(events)
        return scope.to_client(self._writer.write(b"".join(events)))

    async def end(self, scope: AttemptScope, events: list[bytes]) -> None:
        """The last ``events`` and the end of the body, in one write."""
        if events and self._traced is not None:
            self._traced(events)
        if self.response is not None:
            await scope.to_client(self.response.write_eof(b"".join(events)))

    async def end_broken(self, scope: AttemptScope, error: BaseException) -> None:
        """After the commit: the client API's error events (chat: one error event, then ``[DONE]``)."""
        closing = self._translator.fail(f"stream interrupted: {describe(error)}") if self._translator else []
        await self.end(scope, closing)


async def relay(snap: Snapshot, plan: Plan, client: ClientStream, scope: AttemptScope, codec: Codec) -> None:
    """One streamed attempt of any inbound API: open upstream, hold events back until the commit, relay, end.

    Until the commit the provider's ``firstTokenSeconds`` (when set) bounds the wait; unset, no
    ``asyncio.Timeout`` is built (it costs its state checks on every stream). The usage seen so far
    is the attempt's however the stream ends (a cut stream is accounted up to the cut).
    """
    limit = scope.attempt.timeouts.first_token_seconds
    async with asyncio.timeout(limit) if limit is not None else contextlib.nullcontext() as first_token:
        async with UpstreamStream(snap, scope, codec) as upstream:
            translator = codec.open_stream()
            answer = client.answer(attempt_headers(plan, scope))
            try:
                read = upstream.content.readany  # b"" at the end; awaited directly, not through an async iterator
                held: list[bytes] = []
                while chunk := await read():
                    scope.heard()
                    events = translator.feed(chunk)
                    if translator.output_seen:
                        if first_token is not None:
                            first_token.reschedule(None)
                        await client.open(scope, answer, translator)
                        await client.write(scope, [*held, *events])
                        held = []
                        break
                    held += events
                while chunk := await read():  # committed (or already at the end): relayed as they come
                    scope.heard()
                    events = translator.feed(chunk)
                    if events:
                        await client.write(scope, events)
                closing = translator.finish()
            finally:
                scope.usage = translator.usage
        if first_token is not None:
            first_token.reschedule(None)
    scope.usage = translator.usage or Usage()
    if not scope.committed:  # a complete answer without output (an empty completion)
        await client.open(scope, answer, translator)
    await client.end(scope, [*held, *closing])
