"""One attempt against one upstream, for each endpoint: encode, send, decode.

These are the ``AttemptCall`` bodies the dispatch loop runs. A non-2xx answer
becomes the adapter's ``UpstreamError`` so the loop can classify it.
"""

from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from switchboard.proxy.adapters.base import StreamTranslator, UpstreamError, UpstreamRequest, Usage
from switchboard.proxy.apis.exchange import ExchangeFactory, chat_exchange
from switchboard.proxy.dispatch import Deadline
from switchboard.proxy.routing.types import Attempt
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.transport import client_timeout, read_body, send

Body = Mapping[str, Any]
REDACTED = "***"


def scrub(error: BaseException, api_key: str | None) -> BaseException:
    """Blank the provider's key out of an upstream error's text, in place.

    Some upstreams quote the credential they were sent ("Incorrect API key
    provided: sk-..."); that text becomes client error bodies and log lines.
    """
    if api_key and isinstance(error, UpstreamError) and api_key in error.message:
        error.message = error.message.replace(api_key, REDACTED)
        error.args = (error.message,)
    return error


@contextmanager
def _scrubbing(api_key: str | None) -> Iterator[None]:
    try:
        yield
    except UpstreamError as error:
        raise scrub(error, api_key) from None


async def chat_once(snap: Snapshot, attempt: Attempt, deadline: Deadline, body: Body) -> tuple[dict[str, Any], Usage]:
    return await exchange_once(snap, attempt, deadline, chat_exchange(body, stream=False))


async def exchange_once(
    snap: Snapshot, attempt: Attempt, deadline: Deadline, make: ExchangeFactory
) -> tuple[dict[str, Any], Usage]:
    """One complete (non-streaming) call of any inbound API: the client's answer and its usage."""
    target = snap.target(attempt.provider, attempt.model)
    with _scrubbing(target.api_key):
        exchange = make(snap.adapter(attempt.provider), target)
        return exchange.decode(await _exchange(snap, attempt, deadline, exchange.request))


async def embeddings_once(
    snap: Snapshot, attempt: Attempt, deadline: Deadline, body: Body
) -> tuple[dict[str, Any], Usage]:
    adapter = snap.adapter(attempt.provider)
    target = snap.target(attempt.provider, attempt.model)
    with _scrubbing(target.api_key):
        raw = await _exchange(snap, attempt, deadline, adapter.embeddings_request(target, body))
        return adapter.embeddings_response(target, str(body["model"]), raw)


async def _exchange(snap: Snapshot, attempt: Attempt, deadline: Deadline, upstream: UpstreamRequest) -> bytes:
    """Send a complete (non-streaming) request; the answer's body, or the adapter's UpstreamError."""
    timeout = client_timeout(attempt.timeouts, deadline.remaining)
    async with send(snap.session(attempt.provider), upstream, timeout) as response:
        raw = await read_body(response)
        if response.status >= 300:
            raise snap.adapter(attempt.provider).error(response.status, raw, response.headers)
    return raw


@dataclass(slots=True)
class OpenStream:
    """An upstream stream that produced its first client events (or ended cleanly)."""

    response: aiohttp.ClientResponse
    translator: StreamTranslator
    first_events: list[bytes]
    ended: bool
    resources: AsyncExitStack
    api_key: str | None = field(default=None, repr=False)  # to scrub it from mid-stream upstream errors

    def scrub(self, error: BaseException) -> BaseException:
        return scrub(error, self.api_key)

    async def close(self) -> None:
        await self.resources.aclose()


async def open_chat_stream(
    snap: Snapshot, attempt: Attempt, deadline: Deadline, body: Body, *, include_usage: bool
) -> tuple[OpenStream, Usage]:
    return await open_stream(snap, attempt, deadline, chat_exchange(body, stream=True, include_usage=include_usage))


async def open_stream(
    snap: Snapshot, attempt: Attempt, deadline: Deadline, make: ExchangeFactory
) -> tuple[OpenStream, Usage]:
    """Send the request and read until the first client event exists.

    Everything before that point may still fail over to another attempt,
    because the client has not received a byte yet.
    """
    adapter = snap.adapter(attempt.provider)
    target = snap.target(attempt.provider, attempt.model)
    exchange = make(adapter, target)
    upstream = exchange.request
    timeout = client_timeout(attempt.timeouts, deadline.remaining)
    resources = AsyncExitStack()
    try:
        response = await resources.enter_async_context(send(snap.session(attempt.provider), upstream, timeout))
        if response.status >= 300:
            raise adapter.error(response.status, await read_body(response), response.headers)
        translator = exchange.open_stream()
        events: list[bytes] = []
        async for chunk in response.content.iter_any():
            events = translator.feed(chunk)
            if events:
                return OpenStream(response, translator, events, False, resources, target.api_key), Usage()
        return OpenStream(response, translator, translator.finish(), True, resources, target.api_key), Usage()
    except BaseException as error:
        await resources.aclose()
        scrub(error, target.api_key)
        raise
