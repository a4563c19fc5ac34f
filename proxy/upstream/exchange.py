"""One exchange with an upstream, for each endpoint: encode, send, decode.

These run inside ``owned_attempt``; they record the usage they learn on the
scope and raise the adapter's ``UpstreamError`` for a non-2xx answer so the
owner can classify it. Upstream error texts are scrubbed of the provider's key.
"""

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import aiohttp

from switchboard.proxy.adapters.base import UpstreamError, UpstreamRequest
from switchboard.proxy.routing.headroom import upstream_headroom
from switchboard.proxy.snapshot import Snapshot
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.transport import client_timeout, read_body, send

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


async def chat_once(snap: Snapshot, scope: AttemptScope, body: Body) -> dict[str, Any]:
    """A complete chat answer in OpenAI format."""
    adapter = snap.adapter(scope.attempt.provider)
    target = snap.target(scope.attempt.provider, scope.attempt.model)
    with _scrubbing(target.api_key):
        raw = await _exchange(snap, scope, adapter.chat_request(target, body, stream=False), body)
        payload, scope.usage = adapter.chat_response(target, str(body["model"]), raw)
    return payload


async def embeddings_once(snap: Snapshot, scope: AttemptScope, body: Body) -> dict[str, Any]:
    adapter = snap.adapter(scope.attempt.provider)
    target = snap.target(scope.attempt.provider, scope.attempt.model)
    with _scrubbing(target.api_key):
        raw = await _exchange(snap, scope, adapter.embeddings_request(target, body), body)
        payload, scope.usage = adapter.embeddings_response(target, str(body["model"]), raw)
    return payload


def _sending(
    snap: Snapshot, scope: AttemptScope, upstream: UpstreamRequest, body: Body
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """The provider's pool, or for a Service-backed provider one endpoint's (recorded on the scope)."""
    provider = scope.attempt.provider
    timeout = client_timeout(scope.attempt.timeouts)
    if snap.endpoint_calls is not None and snap.endpoint_calls.follows(provider):
        return snap.endpoint_calls.sending(provider, upstream, timeout, body, scope.use_endpoint)
    return send(snap.session(provider), upstream, timeout)


async def _exchange(snap: Snapshot, scope: AttemptScope, upstream: UpstreamRequest, body: Body) -> bytes:
    """Send a complete (non-streaming) request; the answer's body, or the adapter's UpstreamError."""
    provider = scope.attempt.provider
    async with _sending(snap, scope, upstream, body) as response:
        raw = await read_body(response)
        if response.status >= 300:
            raise snap.adapter(provider).error(response.status, raw, response.headers)
        scope.headroom = upstream_headroom(response.headers)
    return raw


@asynccontextmanager
async def open_stream(
    snap: Snapshot, scope: AttemptScope, upstream: UpstreamRequest, api_key: str | None, body: Body
) -> AsyncIterator[aiohttp.ClientResponse]:
    """An upstream stream answered 2xx, released on exit; errors raised inside are scrubbed of ``api_key``."""
    provider = scope.attempt.provider
    with _scrubbing(api_key):
        async with _sending(snap, scope, upstream, body) as response:
            if response.status >= 300:
                raise snap.adapter(provider).error(response.status, await read_body(response), response.headers)
            scope.headroom = upstream_headroom(response.headers)
            yield response
