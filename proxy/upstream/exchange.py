"""One exchange with an upstream, for each endpoint: encode, send, decode.

These run inside ``OwnedAttempt``; they record the usage they learn on the
scope and raise the adapter's ``UpstreamError`` for a non-2xx answer so the
owner can classify it. Upstream error texts are scrubbed of the provider's key.
"""

import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from switchboard.api.provider import ProviderConfig, ProviderModel
from switchboard.proxy.adapters.base import AdapterRequestError, UpstreamError
from switchboard.proxy.apis.codec import Codec, CodecFactory
from switchboard.proxy.routing.headroom import upstream_headroom
from switchboard.proxy.snapshot import Snapshot, Upstream
from switchboard.proxy.upstream.attempt import AttemptScope
from switchboard.proxy.upstream.transport import read_upstream_body, send

Body = Mapping[str, Any]
REDACTED = "***"


def scrub(error: BaseException, api_key: str | None) -> BaseException:
    """Blank the provider's key out of an upstream error's text, in place (every exchange re-raises
    its ``UpstreamError`` through this: a ``try`` costs nothing when no error passes, unlike a context manager).

    Some upstreams quote the credential they were sent ("Incorrect API key
    provided: sk-..."); that text becomes client error bodies and log lines.
    """
    if api_key and isinstance(error, UpstreamError) and api_key in error.message:
        error.message = error.message.replace(api_key, REDACTED)
        error.args = (error.message,)
    return error


AnyPrepare = Callable[[ProviderConfig, ProviderModel], object]
"""Builds a request for a provider's model; raises ``AdapterRequestError`` when the provider cannot express it."""


def codec_preparer(snap: Snapshot, make: CodecFactory, body: Body) -> Callable[[ProviderConfig, ProviderModel], Codec]:
    """Prepares with the client API's codec; the adapter raises ``AdapterRequestError`` for what it cannot express.

    ``body`` is the request in chat form where it has one (what endpoint picking hashes the prompt prefix of).
    A partial of ``_prepared`` rather than a closure: no function object and cells built per request.
    """
    return functools.partial(_prepared, snap, make, body)


def _prepared(snap: Snapshot, make: CodecFactory, body: Body, provider: ProviderConfig, model: ProviderModel) -> Codec:
    target = snap.target(provider, model)
    return make(target.adapter, target, body)


def unsupported_reason(prepare: AnyPrepare, provider: ProviderConfig, model: ProviderModel) -> str | None:
    """Why ``provider`` cannot take the request (``unsupported request: ...``), or None when it can."""
    try:
        prepare(provider, model)
    except AdapterRequestError as error:
        return f"unsupported request: {error}"
    return None


async def codec_once(snap: Snapshot, scope: AttemptScope, codec: Codec) -> bytes:
    """A complete answer of any inbound API (embeddings too): the client's bytes (its usage set on the
    scope, its object told to the trace), or the adapter's ``UpstreamError`` for a non-2xx answer.

    The exchange itself is inline rather than a coroutine of its own: one per request fewer.
    """
    try:
        async with _sending(snap, scope, codec) as response:
            raw = await read_upstream_body(response, scope.heard)
            if response.status >= 300:
                raise snap.adapter(scope.attempt.provider).error(response.status, raw, response.headers)
            scope.headroom = upstream_headroom(response.headers)
        payload, body, scope.usage = codec.decode(raw)
    except UpstreamError as error:
        raise scrub(error, codec.target.api_key) from None
    if scope.trace is not None:
        scope.trace.answered(payload)
    return orjson.dumps(payload) if body is None else body


def _sending(snap: Snapshot, scope: AttemptScope, codec: Codec) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """The provider's pool, or for a Service-backed provider one endpoint's (recorded on the scope, which
    starts the wait for its first byte over: one whose connect failed was skipped for it); both found on the
    codec's target, the snapshot's ``Upstream`` for the attempt's provider model.

    The upstream's silence (the first byte, then between a body's or a stream's chunks) is bounded by the
    attempt's own timer (``scope.silent_since``, moved on by ``scope.heard``): one timer per attempt rather
    than aiohttp's ``sock_read``, a timer re-armed on every read. The first byte is waited for from the
    attempt's (or the endpoint's) start: a new connection's connect, which ``sock_connect`` bounds, counts in it.
    """
    target = codec.target
    if not isinstance(target, Upstream):  # a codec made on a Target of its own: the snapshot's for its model
        target = snap.target(target.provider, target.model)
    timeouts = scope.attempt.timeouts  # the profile's, when it sets its own
    timeout = target.connect if timeouts is target.timeouts else snap.client_timeout(timeouts)
    calls = target.endpoint_calls
    if calls is not None and calls.follows(target.provider):
        return calls.sending(target.provider, codec.request, timeout, codec.prompt, scope.use_endpoint)
    return send(target.session, codec.request, timeout)


class UpstreamStream:
    """``async with UpstreamStream(snap, scope, codec) as response``: an upstream stream answered 2xx,
    released on exit; an ``UpstreamError`` raised on the way in or inside (a non-2xx answer, a stream's
    in-band error) leaves scrubbed of the key.

    Its reader tells ``scope.heard`` of every chunk: the attempt's timer bounds the silences between them.
    A class rather than an ``asynccontextmanager``: no generator and wrapper object driven per stream.
    """

    __slots__ = ("_codec", "_scope", "_sending", "_snap")

    def __init__(self, snap: Snapshot, scope: AttemptScope, codec: Codec) -> None:
        self._snap, self._scope, self._codec = snap, scope, codec
        self._sending = _sending(snap, scope, codec)

    async def __aenter__(self) -> aiohttp.ClientResponse:
        response = None
        try:
            response = await self._sending.__aenter__()
            if response.status >= 300:
                raw = await read_upstream_body(response, self._scope.heard)
                raise self._snap.adapter(self._scope.attempt.provider).error(response.status, raw, response.headers)
            self._scope.headroom = upstream_headroom(response.headers)
        except BaseException as error:
            if response is not None:
                await self._sending.__aexit__(type(error), error, error.__traceback__)
            scrub(error, self._codec.target.api_key)
            raise
        return response

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._sending.__aexit__(kind, error, traceback)
        if error is not None:
            scrub(error, self._codec.target.api_key)
